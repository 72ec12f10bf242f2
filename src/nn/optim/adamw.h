// optim::AdamW: Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's exact update order
// (torch.optim.AdamW, foreach=False). On CPU the update is one fused pass over each parameter
// (Note [fused adamw]); elsewhere it is composite tensor ops on the parameter's own device.
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
};

// Per parameter p with gradient g (state exp_avg m, exp_avg_sq v, per-parameter step t), in this order:
//   t += 1;  p *= 1 - lr * wd;  m = lerp(m, g, 1 - beta1);  v = v * beta2 + (1 - beta2) * g * g
//   p -= (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// Scalars are computed in double and rounded to the state dtype, as PyTorch does.
// State keys: "exp_avg", "exp_avg_sq", "step" (Note [optimizer state dict]).
class AdamW : public Optimizer {
 public:
  explicit AdamW(std::vector<Tensor> params, AdamWOptions options = {});
  explicit AdamW(std::vector<ParamGroup> groups, AdamWOptions options = {});

  void step() override;
  const AdamWOptions& options() const { return options_; }

 protected:
  std::vector<std::string> state_keys() const override { return {"exp_avg", "exp_avg_sq", "step"}; }

 private:
  AdamWOptions options_;
};

}  // namespace tessera::optim
