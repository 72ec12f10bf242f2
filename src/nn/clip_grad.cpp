// nn::clip_grad_norm_: per-gradient norms reduced on the device, then one in-place scale each.
#include "tessera/nn/clip_grad.h"

#include <cmath>

#include "tessera/autograd/grad_mode.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::nn {

Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  TESSERA_CHECK(norm_type > 0.0, ValueError, "clip_grad_norm_: norm_type must be > 0 or inf, got {}", norm_type);
  TESSERA_CHECK(!std::isnan(max_norm), ValueError, "clip_grad_norm_: max_norm is NaN");
  std::vector<Tensor> grads;
  DType acc = kFloat32;
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    TESSERA_CHECK(p.defined(), ValueError, "clip_grad_norm_: parameter {} is undefined", i);
    const Tensor& g = p.grad();
    if (!g.defined()) continue;
    TESSERA_CHECK(g.is_floating_point(), DTypeError, "clip_grad_norm_: expected floating gradients, got {}",
                  dtype_name(g.dtype()));
    if (!grads.empty()) {
      TESSERA_CHECK(g.device() == grads[0].device(), DeviceError,
                    "clip_grad_norm_: gradients on different devices ({} and {}) are not supported",
                    grads[0].device().str(), g.device().str());
    }
    if (g.dtype() == kFloat64) acc = kFloat64;
    grads.push_back(g);
  }
  if (grads.empty()) return raw::scalar_tensor(0.0, TensorOptions(kFloat32));
  NoGradGuard no_grad;
  const Device dev = grads[0].device();
  const bool inf_norm = std::isinf(norm_type);
  // One 0-d partial per gradient: max |g| (inf) or sum |g|^p, all in `acc`.
  std::vector<Tensor> parts;
  for (const auto& g : grads) {
    Tensor a = raw::unary(UnaryOp::Abs, raw::to(g, dev, acc));
    if (inf_norm) {
      parts.push_back(a.numel() ? raw::amax(a, {}, false) : raw::scalar_tensor(0.0, TensorOptions(acc).device(dev)));
    } else if (norm_type == 2.0) {
      parts.push_back(raw::sum(raw::unary(UnaryOp::Square, a), {}, false));
    } else {
      parts.push_back(raw::sum(raw::binary(BinaryOp::Pow, a, Scalar(norm_type)), {}, false));
    }
  }
  Tensor stacked = raw::stack(parts, 0);
  Tensor total = inf_norm ? raw::amax(stacked, {}, false)
                          : raw::binary(BinaryOp::Pow, raw::sum(stacked, {}, false), Scalar(1.0 / norm_type));
  if (error_if_nonfinite) {
    const double t = total.item<double>();
    TESSERA_CHECK(std::isfinite(t), ValueError,
                  "clip_grad_norm_: the total norm of order {} for gradients from `parameters` is non-finite, so it "
                  "cannot be clipped. To disable this error and scale the gradients by the non-finite norm anyway, set "
                  "`error_if_nonfinite=false`",
                  norm_type);
  }
  // coef = min(max_norm / (total + 1e-6), 1), applied without a host round trip.
  Tensor coef = raw::binary(BinaryOp::Div, raw::scalar_tensor(max_norm, TensorOptions(acc).device(dev)),
                            raw::binary(BinaryOp::Add, total, Scalar(1e-6)));
  coef = raw::clamp(coef, std::nullopt, Scalar(1.0));
  for (const auto& g : grads) {
    Tensor gg = g;
    gg.mul_(raw::to(coef, dev, g.dtype()));
  }
  return total;
}

}  // namespace tessera::nn
