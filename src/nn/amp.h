// amp::GradScaler: dynamic loss scaling for float16 training, with torch.amp.GradScaler's semantics:
// scale(loss) multiplies by the scale; unscale_(optimizer) divides the gradients once per step and
// records whether any is inf/NaN; step(optimizer) skips the update when one was; update() backs the
// scale off after an overflow and grows it after growth_interval clean steps.
#pragma once

#include <optional>
#include <unordered_map>

#include "tessera/nn/module.h"
#include "tessera/nn/optim/optimizer.h"
#include "tessera/tensor/tensor.h"

namespace tessera::amp {

struct GradScalerOptions {
  double init_scale = 65536.0;
  double growth_factor = 2.0;
  double backoff_factor = 0.5;
  int64_t growth_interval = 2000;
  bool enabled = true;
};

// Typical loop (float16 autocast, float32 master weights):
//   scaler.scale(loss).backward();
//   scaler.unscale_(opt);  // optional, e.g. before clip_grad_norm_
//   scaler.step(opt);      // skipped when a gradient is inf/NaN
//   scaler.update();
// When disabled, scale() returns the loss, step() just steps, update() does nothing.
class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});
  GradScaler(double init_scale, double growth_factor = 2.0, double backoff_factor = 0.5,
             int64_t growth_interval = 2000, bool enabled = true);

  // loss * scale (differentiable; the scale is a float32 scalar, as in PyTorch).
  Tensor scale(const Tensor& loss);
  // Divides every gradient of `optimizer` by the scale in place and records inf/NaN. At most once
  // per optimizer between update() calls (a second call throws, as in PyTorch).
  void unscale_(optim::Optimizer& optimizer);
  // unscale_ if not done yet, then optimizer.step() unless a gradient was inf/NaN. Returns whether
  // the optimizer stepped. At most once per optimizer between update() calls.
  bool step(optim::Optimizer& optimizer);
  // Adjusts the scale from the inf/NaN found since the last update (over every optimizer stepped):
  // found -> scale *= backoff_factor, tracker = 0; else tracker += 1 and, on reaching growth_interval,
  // scale *= growth_factor (if finite), tracker = 0. new_scale, if given, replaces the scale instead.
  void update(std::optional<double> new_scale = std::nullopt);

  double get_scale() const;
  int64_t growth_tracker() const { return growth_tracker_; }
  bool is_enabled() const { return options_.enabled; }
  const GradScalerOptions& options() const { return options_; }

  // "scale" (0-d float32), "growth_tracker" (0-d int64), "growth_factor", "backoff_factor"
  // (0-d float64), "growth_interval" (0-d int64).
  nn::StateDict state_dict() const;
  void load_state_dict(const nn::StateDict& state);

 private:
  enum class Stage { Ready, Unscaled, Stepped };
  struct PerOptimizer {
    Stage stage = Stage::Ready;
    bool found_inf = false;
  };

  GradScalerOptions options_;
  double scale_;   // a float32 value (rounded like PyTorch's float32 scale tensor)
  int64_t growth_tracker_ = 0;
  std::unordered_map<const optim::Optimizer*, PerOptimizer> per_optimizer_;
};

}  // namespace tessera::amp
