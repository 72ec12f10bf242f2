// nn::Module: the base of every layer and model. It owns named parameters, buffers and child
// modules (dotted names like "blocks.0.attn.qkv.weight", as PyTorch and Hugging Face spell them),
// the train/eval flag, state_dict()/load_state_dict() and device/dtype moves.
//
// Modules are held by std::shared_ptr and registered with register_module(); a layer keeps its
// parameters as Tensor members returned by register_parameter() (the handles alias the registered
// tensors, so moves with to() are seen through them: Note [Module::to keeps handles]).
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tessera/tensor/tensor.h"

namespace tessera::nn {

// Ordered (name, tensor) pairs: registration order, parents before children, like PyTorch.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
// A state dict is an ordered list of (dotted name, tensor); see state_dict().
using StateDict = NamedTensors;

class Module;
using ModulePtr = std::shared_ptr<Module>;
using NamedModules = std::vector<std::pair<std::string, ModulePtr>>;

class Module : public std::enable_shared_from_this<Module> {
 public:
  explicit Module(std::string type_name = "Module");
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The class name shown by printing and in error messages ("Linear", "TransformerBlock").
  const std::string& type_name() const { return type_name_; }

  // ---- registration (LibTorch names) ----
  // Registers `tensor` as a parameter (a leaf; requires_grad as given). Returns the stored handle.
  Tensor& register_parameter(std::string name, Tensor tensor, bool requires_grad = true);
  // Buffers are saved in the state dict (persistent) or not, and never get gradients.
  Tensor& register_buffer(std::string name, Tensor tensor, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(std::string name, std::shared_ptr<M> module) {
    register_module_impl(std::move(name), module);
    return module;
  }
  // Replaces a registered child (same name), e.g. to swap a layer for a parallel one.
  void replace_module(const std::string& name, ModulePtr module);

  // ---- access ----
  std::vector<Tensor> parameters(bool recurse = true) const;
  NamedTensors named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  NamedTensors named_buffers(bool recurse = true) const;
  NamedModules named_children() const;
  // This module (name "") and every descendant, depth first.
  NamedModules named_modules();
  std::vector<ModulePtr> children() const;
  // Number of parameter elements (only those with requires_grad when trainable_only).
  int64_t num_parameters(bool trainable_only = false) const;
  // The parameter or buffer with this dotted name; throws a ValueError naming close names if absent.
  Tensor& get(const std::string& dotted_name);

  // ---- modes ----
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Clears every parameter's .grad (undefined when set_to_none, else zero-filled).
  void zero_grad(bool set_to_none = true);

  // ---- state ----
  // Parameters and persistent buffers with dotted names (own first, then children in order).
  StateDict state_dict() const;
  // Copies values in under no-grad. strict: every key must match both ways, else a ValueError lists
  // the missing keys, the unexpected keys and the shape mismatches. Dtype is converted to the
  // module's; device too. Non-strict loading still rejects shape mismatches.
  void load_state_dict(const StateDict& state, bool strict = true);

  // ---- moves (Note [Module::to keeps handles]) ----
  void to(Device device);
  void to(DType dtype);  // floating-point parameters and buffers only, like PyTorch
  void to(Device device, DType dtype);

  // ---- printing ----
  // One line of this module's own settings, e.g. "in_features=4, out_features=8, bias=true".
  virtual std::string extra_repr() const { return ""; }
  void pretty_print(std::ostream& os, int indent = 0) const;

 protected:
  void register_module_impl(std::string name, ModulePtr module);

 private:
  struct Slot {
    std::string name;
    Tensor tensor;
    bool persistent = true;
  };
  void collect(const std::string& prefix, bool params, bool buffers, bool persistent_only, bool recurse,
               NamedTensors& out) const;
  void check_name(const std::string& name, const char* what) const;
  void apply_to_tensors(const std::function<Tensor(const Tensor&)>& fn);

  std::string type_name_;
  bool training_ = true;
  std::vector<Slot> parameters_;
  std::vector<Slot> buffers_;
  std::vector<std::pair<std::string, ModulePtr>> children_;
};

std::ostream& operator<<(std::ostream& os, const Module& module);
std::string to_string(const Module& module);

}  // namespace tessera::nn
