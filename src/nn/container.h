// Containers: ModuleList (an indexed list of child modules named "0", "1", ...) and Sequential
// (a ModuleList of UnaryModules whose forward runs them in order).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tessera/nn/unary_module.h"
#include "tessera/tensor/error.h"

namespace tessera::nn {

class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  explicit ModuleList(std::vector<ModulePtr> modules);
  // Registers `module` as child "<size()>".
  void push_back(ModulePtr module);
  int64_t size() const { return int64_t(named_children().size()); }
  bool empty() const { return size() == 0; }
  // The i-th child (negative i counts from the end); IndexError when out of range.
  ModulePtr operator[](int64_t i) const;
  // The i-th child as a T; ValueError naming both types when it is not a T.
  template <typename T>
  std::shared_ptr<T> at(int64_t i) const {
    ModulePtr m = (*this)[i];
    auto t = std::dynamic_pointer_cast<T>(m);
    TESSERA_CHECK(t != nullptr, ValueError, "{}::at({}): child is a {}, not the requested type", type_name(), i,
                  m->type_name());
    return t;
  }

 protected:
  explicit ModuleList(std::string type_name) : Module(std::move(type_name)) {}
  int64_t checked_index(int64_t i) const;
};

class Sequential : public ModuleList {
 public:
  Sequential() : ModuleList("Sequential") {}
  explicit Sequential(std::vector<std::shared_ptr<UnaryModule>> modules);
  // Runs the children in order; a child that is not a UnaryModule is a ValueError.
  Tensor forward(const Tensor& x);
  Tensor operator()(const Tensor& x) { return forward(x); }
};

}  // namespace tessera::nn
