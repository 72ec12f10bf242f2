// optim::AdamW: Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's exact update order
// (torch.optim.AdamW, foreach=False). On CPU the update is one fused pass over each parameter
// (Note [fused adamw]); on CUDA one multi-tensor step per (device, dtype) (Note [multi-tensor adamw]);
// elsewhere (float64 or non-contiguous on CUDA) composite tensor ops on the parameter's own device.
// Optional float32 master weights for bfloat16/float16 parameters (Note [adamw master weights]).
#pragma once

#include "tessera/nn/optim/optimizer.h"

namespace tessera::optim {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
  // Use the fused CPU kernel where it applies (contiguous CPU tensors); false forces the composite
  // path every device uses (tests compare the two).
  bool fused = true;
  // bfloat16/float16 parameters get a float32 master copy in their state ("master_param", made from
  // the parameter at its first update): the update runs on the master and the parameter receives the
  // rounded master, so updates smaller than the parameter's half-ulp accumulate instead of being
  // lost (Note [adamw master weights]). No effect on float32/float64 parameters.
  bool master_weights = false;
};

// Per parameter p with gradient g (state exp_avg m, exp_avg_sq v, per-parameter step t), in this order:
//   t += 1;  p *= 1 - lr * wd;  m = lerp(m, g, 1 - beta1);  v = v * beta2 + (1 - beta2) * g * g
//   p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Scalars are computed in double and rounded to the state dtype, as PyTorch does.
// State keys: "exp_avg", "exp_avg_sq", "step" (Note [optimizer state dict]), and "master_param" for
// bfloat16/float16 parameters with master_weights.
// On CUDA, contiguous float32/bfloat16/float16 parameters whose gradient has their dtype are updated
// together by the backend's multi-tensor step (Note [multi-tensor adamw]): one call per device and dtype.
//
// Note [adamw master weights]
// With AdamWOptions::master_weights, a bfloat16/float16 parameter's state holds "master_param", a float32
// copy made from the parameter at its first update (or, after loading a state dict that has none, at the
// next update). Each step updates the master (decay, moments, step; the same arithmetic as without it)
// and stores the master rounded to nearest even into the parameter. The master is the truth: a value
// written into the parameter by hand is overwritten at the next step (reload the optimizer state, or
// build a new optimizer, after changing weights). It is saved as state.<i>.master_param (float32) and
// restored by load_state_dict (Note [optimizer state dict]); loading such a key into an AdamW without
// master_weights is an error rather than a silent drop.
class AdamW : public Optimizer {
 public:
  explicit AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  explicit AdamW(std::vector<ParamGroup> groups, AdamWOptions options = {});

  void step() override;
  // As Optimizer's, with a clear error for master copies when master_weights is off.
  void load_state_dict(const nn::StateDict& state) override;
  const AdamWOptions& options() const { return options_; }

 protected:
  std::vector<std::string> state_keys() const override { return {"exp_avg", "exp_avg_sq", "step"}; }
  std::vector<std::string> optional_state_keys(const Tensor& param) const override;

 private:
  // True for bfloat16/float16 parameters when master_weights is on.
  bool uses_master(const Tensor& param) const;

  AdamWOptions options_;
};

}  // namespace tessera::optim
