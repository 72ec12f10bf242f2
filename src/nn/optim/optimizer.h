// optim::Optimizer: the base of SGD and AdamW. It holds parameter groups (each with its own lr and
// weight decay), lazily created per-parameter state tensors, the step counter, zero_grad, and a
// tensors-only state dict (Note [optimizer state dict]) so that a whole training checkpoint fits in
// safetensors files.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tessera/nn/module.h"
#include "tessera/tensor/tensor.h"

namespace tessera::optim {

// A set of parameters sharing hyper-parameters. lr / weight_decay < 0 mean "the optimizer's
// default". `names` is optional (empty, or one name per parameter); it only improves messages.
struct ParamGroup {
  std::vector<Tensor> params;
  std::vector<std::string> names;
  double lr = -1, weight_decay = -1;
};

// Note [optimizer state dict]
// Optimizer::state_dict() is a flat list of tensors, PyTorch's optimizer state dict flattened:
//   "step"                        0-d int64: optimizer steps taken (step_count())
//   "param_groups.<g>.lr"         0-d float64 (and ".weight_decay")
//   "param_groups.<g>.num_params" 0-d int64: checked on load
//   "state.<i>.<key>"             per-parameter state; <i> is the flat index of the parameter over
//                                 all groups in order (PyTorch's numbering), e.g. state.3.exp_avg,
//                                 state.3.step (0-d int64). Parameters without state (never had a
//                                 gradient) have no entries. Optional keys (optional_state_keys(),
//                                 e.g. AdamW's state.3.master_param) appear only where they exist.
// The per-parameter tensors alias the live state (no copy, as in PyTorch): clone them for a
// snapshot. load_state_dict() validates everything first (group count, parameters per group,
// unknown keys, incomplete state, shapes) and only then copies, so a failed load changes nothing.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient (parameters without one are skipped).
  virtual void step() = 0;
  // Clears every parameter's .grad (undefined when set_to_none, else zero-filled), as PyTorch.
  void zero_grad(bool set_to_none = true);

  std::vector<ParamGroup>& param_groups() { return groups_; }
  const std::vector<ParamGroup>& param_groups() const { return groups_; }
  // Adds a group (defaults filled in); its parameters must not be in another group.
  void add_param_group(ParamGroup group);
  // Number of step() calls so far (restored by load_state_dict).
  int64_t step_count() const { return step_count_; }
  // "SGD", "AdamW": used in messages.
  const std::string& name() const { return name_; }

  virtual nn::StateDict state_dict() const;
  virtual void load_state_dict(const nn::StateDict& state);

  // Every parameter over all groups, in flat-index order.
  std::vector<Tensor> parameters() const;
  // The state tensors of the parameter with this flat index (empty before its first update).
  const std::map<std::string, Tensor>& state(size_t flat_index) const;

 protected:
  Optimizer(std::string name, std::vector<ParamGroup> groups, double default_lr, double default_weight_decay);

  // The state keys each parameter gets ("exp_avg", ...); "step" (if listed) is a 0-d int64 CPU tensor,
  // every other key a tensor shaped like the parameter.
  virtual std::vector<std::string> state_keys() const = 0;
  // Keys a parameter's state may also have (load_state_dict accepts them for this parameter but
  // does not require them), e.g. AdamW's "master_param" with master_weights. None by default.
  virtual std::vector<std::string> optional_state_keys(const Tensor& /*param*/) const { return {}; }
  // The dtype of the parameter-shaped state (Note [low-precision optimizer state]).
  static DType state_dtype(const Tensor& param);
  // Mutable state of the parameter with this flat index.
  std::map<std::string, Tensor>& mutable_state(size_t flat_index);
  // A readable name for messages: "parameter 3 (\"fc.weight\")".
  std::string describe_param(size_t flat_index) const;
  // Calls fn(group, param, flat_index) for every parameter that has a gradient.
  template <typename F>
  void for_each_param_with_grad(F&& fn) {
    size_t flat = 0;
    for (auto& g : groups_)
      for (auto& p : g.params) {
        if (p.grad().defined()) fn(g, p, flat);
        ++flat;
      }
  }

  int64_t step_count_ = 0;

 private:
  void check_group(const ParamGroup& group, size_t group_index) const;

  std::string name_;
  double default_lr_, default_weight_decay_;
  std::vector<ParamGroup> groups_;
  std::vector<std::map<std::string, Tensor>> state_;  // by flat index
};

// Note [low-precision optimizer state]
// Optimizer state (momenta) of bfloat16/float16 parameters is kept in float32, the update is
// computed in float32 and rounded once into the parameter. float32/float64 parameters keep state
// of their own dtype. (PyTorch keeps the parameter's dtype; float32 is the safer choice and what
// mixed-precision trainers keep anyway.)

}  // namespace tessera::optim
