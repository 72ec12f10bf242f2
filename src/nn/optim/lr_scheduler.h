// optim::LRScheduler and the schedules trainers use: WarmupCosineLR and ConstantLR. A schedule is a
// multiplier of each group's base lr (PyTorch's LambdaLR model); its state (last step, base lrs) is
// a tensors-only state dict like the optimizer's.
#pragma once

#include <vector>

#include "tessera/nn/module.h"
#include "tessera/nn/optim/optimizer.h"

namespace tessera::optim {

// Note [lr scheduler steps]
// As in PyTorch, constructing a scheduler records each group's current lr as its base lr and sets
// the lr for step 0 (lr = base * multiplier(0)); each step() advances last_step by one and sets
// lr = base * multiplier(last_step). The loop is: optimizer.step(); scheduler.step();
// so optimizer step k (counting from 0) runs with multiplier(k).
class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  void step();
  // The lr of each group as last set by this scheduler.
  std::vector<double> get_last_lr() const { return last_lr_; }
  int64_t last_step() const { return last_step_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  // The factor applied to the base lr at `step` (step >= 0).
  virtual double multiplier(int64_t step) const = 0;

  // "last_step" (0-d int64) and "base_lrs.<g>" (0-d float64). load_state_dict also re-applies the
  // lr of the restored step to the optimizer.
  nn::StateDict state_dict() const;
  void load_state_dict(const nn::StateDict& state);

 protected:
  explicit LRScheduler(Optimizer& optimizer, std::string name);
  // Called by the derived constructor once it can compute multiplier(0).
  void initialize();

 private:
  void apply();

  Optimizer& optimizer_;
  std::string name_;
  std::vector<double> base_lrs_, last_lr_;
  int64_t last_step_ = 0;
};

// Linear warmup from 0 to the base lr over warmup_steps, then cosine decay to min_lr_ratio * base lr
// at total_steps, constant after:
//   s < warmup:            s / warmup
//   warmup <= s < total:   r + (1 - r) * 0.5 * (1 + cos(pi * (s - warmup) / (total - warmup)))
//   s >= total:            r
class WarmupCosineLR : public LRScheduler {
 public:
  WarmupCosineLR(Optimizer& optimizer, int64_t warmup_steps, int64_t total_steps, double min_lr_ratio = 0.0);
  double multiplier(int64_t step) const override;

 private:
  int64_t warmup_, total_;
  double min_ratio_;
};

// torch.optim.lr_scheduler.ConstantLR: factor until total_iters steps, then 1. The defaults (1, 0)
// give a constant lr (PyTorch's defaults are 1/3 and 5).
class ConstantLR : public LRScheduler {
 public:
  explicit ConstantLR(Optimizer& optimizer, double factor = 1.0, int64_t total_iters = 0);
  double multiplier(int64_t step) const override { return step < total_iters_ ? factor_ : 1.0; }

 private:
  double factor_;
  int64_t total_iters_;
};

}  // namespace tessera::optim
