// nn::Module: registration, traversal, state dicts and device/dtype moves.
#include "tessera/nn/module.h"

#include <fmt/format.h>

#include <algorithm>
#include <ostream>
#include <set>
#include <sstream>

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/ops.h"
#include "tessera/tensor/error.h"

namespace tessera::nn {

Module::Module(std::string type_name) : type_name_(std::move(type_name)) {}

void Module::check_name(const std::string& name, const char* what) const {
  TESSERA_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError,
                "{}.register_{}: name '{}' must be non-empty and contain no '.'", type_name_, what, name);
  auto taken = [&](const auto& v) {
    return std::any_of(v.begin(), v.end(), [&](const auto& s) {
      if constexpr (std::is_same_v<std::decay_t<decltype(s)>, Slot>) return s.name == name;
      else return s.first == name;
    });
  };
  TESSERA_CHECK(!taken(parameters_) && !taken(buffers_) && !taken(children_), ValueError,
                "{}.register_{}: attribute '{}' already exists", type_name_, what, name);
}

Tensor& Module::register_parameter(std::string name, Tensor tensor, bool requires_grad) {
  check_name(name, "parameter");
  TESSERA_CHECK(tensor.defined(), ValueError, "{}.register_parameter('{}'): the tensor is undefined", type_name_,
                name);
  TESSERA_CHECK(!requires_grad || is_floating_point(tensor.dtype()), DTypeError,
                "{}.register_parameter('{}'): only floating-point tensors can require gradients, got {}",
                type_name_, name, dtype_name(tensor.dtype()));
  // A parameter is a leaf: detach whatever graph the initialiser built.
  Tensor leaf = tensor.is_leaf() ? tensor : tensor.detach();
  leaf.requires_grad_(requires_grad);
  parameters_.push_back({std::move(name), std::move(leaf), true});
  return parameters_.back().tensor;
}

Tensor& Module::register_buffer(std::string name, Tensor tensor, bool persistent) {
  check_name(name, "buffer");
  buffers_.push_back({std::move(name), tensor.defined() ? tensor.detach() : tensor, persistent});
  return buffers_.back().tensor;
}

void Module::register_module_impl(std::string name, ModulePtr module) {
  check_name(name, "module");
  TESSERA_CHECK(module != nullptr, ValueError, "{}.register_module('{}'): the module is null", type_name_, name);
  children_.emplace_back(std::move(name), std::move(module));
}

void Module::replace_module(const std::string& name, ModulePtr module) {
  for (auto& [n, m] : children_) {
    if (n == name) {
      m = std::move(module);
      return;
    }
  }
  throw ValueError(fmt::format("{}.replace_module: no child module named '{}'", type_name_, name));
}

void Module::collect(const std::string& prefix, bool params, bool buffers, bool persistent_only, bool recurse,
                     NamedTensors& out) const {
  if (params) {
    for (const auto& s : parameters_) out.emplace_back(prefix + s.name, s.tensor);
  }
  if (buffers) {
    for (const auto& s : buffers_) {
      if (s.tensor.defined() && (s.persistent || !persistent_only)) out.emplace_back(prefix + s.name, s.tensor);
    }
  }
  if (recurse) {
    for (const auto& [n, m] : children_) m->collect(prefix + n + ".", params, buffers, persistent_only, true, out);
  }
}

NamedTensors Module::named_parameters(bool recurse) const {
  NamedTensors out;
  collect("", true, false, false, recurse, out);
  // A tensor shared by two modules (tied embeddings) is listed once, under its first name.
  std::set<const TensorImpl*> seen;
  NamedTensors unique;
  for (auto& p : out) {
    if (seen.insert(p.second.impl()).second) unique.push_back(std::move(p));
  }
  return unique;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters(recurse)) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers(bool recurse) const {
  NamedTensors out;
  collect("", false, true, false, recurse, out);
  return out;
}

std::vector<Tensor> Module::buffers(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_buffers(recurse)) out.push_back(t);
  return out;
}

NamedModules Module::named_children() const { return children_; }

std::vector<ModulePtr> Module::children() const {
  std::vector<ModulePtr> out;
  for (const auto& [n, m] : children_) out.push_back(m);
  return out;
}

NamedModules Module::named_modules() {
  NamedModules out;
  out.emplace_back("", shared_from_this());
  std::function<void(const std::string&, const Module&)> walk = [&](const std::string& prefix, const Module& m) {
    for (const auto& [n, c] : m.children_) {
      out.emplace_back(prefix + n, c);
      walk(prefix + n + ".", *c);
    }
  };
  walk("", *this);
  return out;
}

int64_t Module::num_parameters(bool trainable_only) const {
  int64_t n = 0;
  for (const auto& [name, p] : named_parameters()) {
    if (!trainable_only || p.requires_grad()) n += p.numel();
  }
  return n;
}

Tensor& Module::get(const std::string& dotted_name) {
  auto dot = dotted_name.find('.');
  if (dot != std::string::npos) {
    std::string head = dotted_name.substr(0, dot);
    for (auto& [n, m] : children_) {
      if (n == head) return m->get(dotted_name.substr(dot + 1));
    }
  } else {
    for (auto& s : parameters_) {
      if (s.name == dotted_name) return s.tensor;
    }
    for (auto& s : buffers_) {
      if (s.name == dotted_name) return s.tensor;
    }
  }
  std::string names;
  for (const auto& [n, t] : state_dict()) names += (names.empty() ? "" : ", ") + n;
  throw ValueError(fmt::format("{}.get: no parameter or buffer named '{}' (have: {})", type_name_, dotted_name,
                               names));
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, m] : children_) m->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (auto& p : parameters()) {
    if (!p.grad().defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else {
      NoGradGuard guard;
      p.mutable_grad().zero_();
    }
  }
}

StateDict Module::state_dict() const {
  NamedTensors out;
  collect("", true, true, true, true, out);
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  NamedTensors own;
  collect("", true, true, true, true, own);
  std::set<std::string> own_names;
  for (const auto& [n, t] : own) own_names.insert(n);
  std::vector<std::string> missing, unexpected, mismatched;
  std::vector<std::pair<Tensor, Tensor>> copies;  // (destination, source)
  for (const auto& [n, src] : state) {
    if (!own_names.count(n)) unexpected.push_back(n);
  }
  for (const auto& [n, dst] : own) {
    auto it = std::find_if(state.begin(), state.end(), [&](const auto& kv) { return kv.first == n; });
    if (it == state.end()) {
      missing.push_back(n);
      continue;
    }
    const Tensor& src = it->second;
    if (!src.defined() || src.sizes() != dst.sizes()) {
      mismatched.push_back(fmt::format("{}: checkpoint has shape {}, the model has shape {}", n,
                                       src.defined() ? shape_str(src.sizes()) : std::string("undefined"),
                                       shape_str(dst.sizes())));
      continue;
    }
    copies.emplace_back(dst, src);
  }
  bool bad = !mismatched.empty() || (strict && (!missing.empty() || !unexpected.empty()));
  if (bad) {
    std::string msg = fmt::format("Error(s) in loading state_dict for {}:", type_name_);
    if (strict && !missing.empty()) msg += fmt::format("\n\tMissing key(s) in state_dict: \"{}\".", fmt::join(missing, "\", \""));
    if (strict && !unexpected.empty())
      msg += fmt::format("\n\tUnexpected key(s) in state_dict: \"{}\".", fmt::join(unexpected, "\", \""));
    for (const auto& m : mismatched) msg += fmt::format("\n\tsize mismatch for {}.", m);
    throw ValueError(msg);
  }
  NoGradGuard guard;
  for (auto& [dst, src] : copies) {
    Tensor d = dst;
    d.copy_(src.to(dst.device(), dst.dtype()));
  }
}

// Note [Module::to keeps handles]
// Layers keep their parameters as Tensor members that alias the registered handles (one
// TensorImpl). A move must therefore change the TensorImpl in place (what PyTorch's set_data does),
// not register a new tensor: the new storage/geometry/dtype are swapped into the existing impl, and
// its gradient is dropped (an optimizer's state is tied to the old device/dtype anyway).
void Module::apply_to_tensors(const std::function<Tensor(const Tensor&)>& fn) {
  NoGradGuard guard;
  auto swap_in = [](Tensor& t, const Tensor& moved) {
    if (moved.impl() == t.impl()) return;
    TensorImpl* dst = t.impl();
    dst->storage = moved.impl()->storage;
    dst->sizes = moved.impl()->sizes;
    dst->strides = moved.impl()->strides;
    dst->offset = moved.impl()->offset;
    dst->dtype = moved.impl()->dtype;
  };
  for (auto& s : parameters_) {
    Tensor moved = fn(s.tensor);
    if (moved.impl() == s.tensor.impl()) continue;
    if (s.tensor.grad().defined()) s.tensor.set_grad(Tensor());
    swap_in(s.tensor, moved);
  }
  for (auto& s : buffers_) {
    if (!s.tensor.defined()) continue;
    Tensor moved = fn(s.tensor);
    swap_in(s.tensor, moved);
  }
  for (auto& [n, m] : children_) m->apply_to_tensors(fn);
}

void Module::to(Device device) {
  apply_to_tensors([&](const Tensor& t) { return t.to(device); });
}

void Module::to(DType dtype) {
  apply_to_tensors([&](const Tensor& t) { return is_floating_point(t.dtype()) ? t.to(dtype) : t; });
}

void Module::to(Device device, DType dtype) {
  apply_to_tensors([&](const Tensor& t) { return is_floating_point(t.dtype()) ? t.to(device, dtype) : t.to(device); });
}

void Module::pretty_print(std::ostream& os, int indent) const {
  os << type_name_ << "(" << extra_repr();
  if (!children_.empty()) {
    os << "\n";
    for (const auto& [n, m] : children_) {
      os << std::string(indent + 2, ' ') << "(" << n << "): ";
      m->pretty_print(os, indent + 2);
      os << "\n";
    }
    os << std::string(indent, ' ');
  }
  os << ")";
}

std::ostream& operator<<(std::ostream& os, const Module& module) {
  module.pretty_print(os);
  return os;
}

std::string to_string(const Module& module) {
  std::ostringstream os;
  module.pretty_print(os);
  return os.str();
}

}  // namespace tessera::nn
