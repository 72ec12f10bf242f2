// amp::GradScaler: loss scaling, fused unscale + inf/NaN check, skip-on-overflow step and the scale
// update rule of torch.amp.GradScaler (_amp_update_scale_).
#include "tessera/nn/amp.h"

#include <cmath>
#include <map>

#include "tessera/autograd/grad_mode.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"
#include "tessera/tensor/half.h"
#include "tessera/tensor/raw.h"

namespace tessera::amp {

namespace {

// g *= inv_scale in place; returns whether any element of g (before scaling) was inf/NaN.
template <typename T>
bool unscale_cpu(T* g, int64_t n, float inv_scale) {
  int found = 0;
  cpu::parallel_for(n, 4, [&](int64_t b, int64_t e) {
    int local = 0;
    for (int64_t i = b; i < e; ++i) {
      const float v = float(g[i]);
      local |= !std::isfinite(v);
      g[i] = T(v * inv_scale);
    }
    if (local) {
#pragma omp atomic write
      found = 1;
    }
  });
  return found != 0;
}

bool unscale_tensor(const Tensor& g, float inv_scale) {
  if (g.is_cpu() && g.is_contiguous()) {
    std::optional<bool> found;
    switch (g.dtype()) {
      case DType::Float32: found = unscale_cpu(g.data_ptr<float>(), g.numel(), inv_scale); break;
      case DType::BFloat16: found = unscale_cpu(g.data_ptr<BFloat16>(), g.numel(), inv_scale); break;
      case DType::Float16: found = unscale_cpu(g.data_ptr<Half>(), g.numel(), inv_scale); break;
      default: break;
    }
    if (found) {
      g.bump_version();
      return *found;
    }
  }
  // Any device / dtype: x * 0 is NaN exactly where x is inf/NaN, so the sum is NaN iff one was.
  const double probe = raw::sum(raw::binary(BinaryOp::Mul, g, Scalar(0.0)), {}, false, kFloat32).item<double>();
  raw::binary_(BinaryOp::Mul, g, Scalar(double(inv_scale)));
  return !std::isfinite(probe);
}

}  // namespace

GradScaler::GradScaler(GradScalerOptions options) : options_(options), scale_(float(options.init_scale)) {
  TESSERA_CHECK(options.init_scale > 0 && std::isfinite(options.init_scale), ValueError,
                "GradScaler: init_scale must be a positive finite number, got {}", options.init_scale);
  TESSERA_CHECK(options.growth_factor > 1.0, ValueError, "GradScaler: growth_factor should be > 1, got {}",
                options.growth_factor);
  TESSERA_CHECK(options.backoff_factor > 0 && options.backoff_factor < 1.0, ValueError,
                "GradScaler: backoff_factor should be in (0, 1), got {}", options.backoff_factor);
  TESSERA_CHECK(options.growth_interval > 0, ValueError, "GradScaler: growth_interval should be > 0, got {}",
                options.growth_interval);
}

GradScaler::GradScaler(double init_scale, double growth_factor, double backoff_factor, int64_t growth_interval,
                       bool enabled)
    : GradScaler(GradScalerOptions{init_scale, growth_factor, backoff_factor, growth_interval, enabled}) {}

Tensor GradScaler::scale(const Tensor& loss) {
  if (!options_.enabled) return loss;
  TESSERA_CHECK(loss.defined() && loss.is_floating_point(), DTypeError,
                "GradScaler.scale: expected a floating-point loss tensor, got {}",
                loss.defined() ? std::string(dtype_name(loss.dtype())) : std::string("an undefined tensor"));
  Tensor s = raw::scalar_tensor(scale_, TensorOptions(kFloat32).device(loss.device()));
  return loss * s;
}

void GradScaler::unscale_(optim::Optimizer& optimizer) {
  if (!options_.enabled) return;
  PerOptimizer& st = per_optimizer_[&optimizer];
  TESSERA_CHECK(st.stage == Stage::Ready, RuntimeError,
                "GradScaler.unscale_: {} since the last update(); call it at most once per optimizer per step",
                st.stage == Stage::Unscaled ? "unscale_() has already been called on this optimizer"
                                            : "unscale_() is being called after step()");
  const float inv = float(1.0 / double(scale_));  // PyTorch: scale.double().reciprocal().float()
  NoGradGuard no_grad;
  bool found = false;
  for (auto& g : optimizer.param_groups())
    for (auto& p : g.params) {
      const Tensor& grad = p.grad();
      if (!grad.defined()) continue;
      found |= unscale_tensor(grad, inv);
    }
  st.found_inf = found;
  st.stage = Stage::Unscaled;
}

bool GradScaler::step(optim::Optimizer& optimizer) {
  if (!options_.enabled) {
    optimizer.step();
    return true;
  }
  PerOptimizer& st = per_optimizer_[&optimizer];
  TESSERA_CHECK(st.stage != Stage::Stepped, RuntimeError,
                "GradScaler.step: step() has already been called since the last update(); call update() once per "
                "iteration");
  if (st.stage == Stage::Ready) unscale_(optimizer);
  const bool ok = !st.found_inf;
  if (ok) optimizer.step();
  st.stage = Stage::Stepped;
  return ok;
}

void GradScaler::update(std::optional<double> new_scale) {
  if (!options_.enabled) return;
  if (new_scale) {
    TESSERA_CHECK(*new_scale > 0 && std::isfinite(*new_scale), ValueError,
                  "GradScaler.update: new_scale must be a positive finite number, got {}", *new_scale);
    scale_ = float(*new_scale);
  } else {
    TESSERA_CHECK(!per_optimizer_.empty(), RuntimeError,
                  "GradScaler.update: no inf checks were recorded prior to update(); call step() (or unscale_()) "
                  "first");
    bool found = false;
    for (const auto& [opt, st] : per_optimizer_) found |= st.found_inf;
    if (found) {
      scale_ = float(float(scale_) * float(options_.backoff_factor));
      growth_tracker_ = 0;
    } else if (growth_tracker_ + 1 == options_.growth_interval) {
      const float grown = float(scale_) * float(options_.growth_factor);
      if (std::isfinite(grown)) scale_ = grown;
      growth_tracker_ = 0;
    } else {
      ++growth_tracker_;
    }
  }
  per_optimizer_.clear();
}

double GradScaler::get_scale() const { return options_.enabled ? scale_ : 1.0; }

nn::StateDict GradScaler::state_dict() const {
  nn::StateDict out;
  out.emplace_back("backoff_factor", tessera::scalar_tensor(options_.backoff_factor, TensorOptions(kFloat64)));
  out.emplace_back("growth_factor", tessera::scalar_tensor(options_.growth_factor, TensorOptions(kFloat64)));
  out.emplace_back("growth_interval", tessera::scalar_tensor(options_.growth_interval, TensorOptions(kInt64)));
  out.emplace_back("growth_tracker", tessera::scalar_tensor(growth_tracker_, TensorOptions(kInt64)));
  out.emplace_back("scale", tessera::scalar_tensor(scale_, TensorOptions(kFloat32)));
  return out;
}

void GradScaler::load_state_dict(const nn::StateDict& state) {
  std::map<std::string, Tensor> by_key(state.begin(), state.end());
  auto get = [&](const char* key) {
    auto it = by_key.find(key);
    TESSERA_CHECK(it != by_key.end(), ValueError,
                  "GradScaler.load_state_dict: missing key \"{}\" (expected scale, growth_tracker, growth_factor, "
                  "backoff_factor, growth_interval)",
                  key);
    TESSERA_CHECK(it->second.defined() && it->second.numel() == 1, ValueError,
                  "GradScaler.load_state_dict: \"{}\" must be a 0-d tensor", key);
    return it->second.item<double>();
  };
  TESSERA_CHECK(by_key.size() == 5, ValueError, "GradScaler.load_state_dict: expected 5 keys, got {}", by_key.size());
  GradScalerOptions o = options_;
  o.backoff_factor = get("backoff_factor");
  o.growth_factor = get("growth_factor");
  o.growth_interval = int64_t(get("growth_interval"));
  const double scale = get("scale");
  const int64_t tracker = int64_t(get("growth_tracker"));
  TESSERA_CHECK(scale > 0 && std::isfinite(scale), ValueError,
                "GradScaler.load_state_dict: scale must be a positive finite number, got {}", scale);
  options_ = o;
  scale_ = float(scale);
  growth_tracker_ = tracker;
  per_optimizer_.clear();
}

}  // namespace tessera::amp
