// ModuleList and Sequential.
#include "tessera/nn/container.h"

namespace tessera::nn {

ModuleList::ModuleList(std::vector<ModulePtr> modules) : Module("ModuleList") {
  for (auto& m : modules) push_back(std::move(m));
}

void ModuleList::push_back(ModulePtr module) {
  TESSERA_CHECK(module != nullptr, ValueError, "{}::push_back: the module is null", type_name());
  register_module(std::to_string(size()), std::move(module));
}

int64_t ModuleList::checked_index(int64_t i) const {
  const int64_t n = size();
  TESSERA_CHECK(i >= -n && i < n, IndexError, "{}: index {} is out of range for a list of {} modules", type_name(), i,
                n);
  return i < 0 ? i + n : i;
}

ModulePtr ModuleList::operator[](int64_t i) const { return named_children()[size_t(checked_index(i))].second; }

Sequential::Sequential(std::vector<std::shared_ptr<UnaryModule>> modules) : ModuleList("Sequential") {
  for (auto& m : modules) push_back(std::move(m));
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (const auto& [name, m] : named_children()) {
    auto u = std::dynamic_pointer_cast<UnaryModule>(m);
    TESSERA_CHECK(u != nullptr, ValueError,
                  "Sequential.forward: child '{}' is a {}, which does not take one tensor (derive it from "
                  "nn::UnaryModule or call it yourself)",
                  name, m->type_name());
    h = u->forward(h);
  }
  return h;
}

}  // namespace tessera::nn
