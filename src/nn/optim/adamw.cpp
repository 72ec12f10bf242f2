// optim::AdamW: the fused CPU update (Note [fused adamw]) and the composite update every other
// device/layout uses; both follow torch.optim.AdamW's single-tensor update order.
#include "tessera/nn/optim/adamw.h"

#include <cmath>

#include "tessera/autograd/grad_mode.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/half.h"
#include "tessera/tensor/raw.h"

namespace tessera::optim {

namespace {

// Scalars of one update, computed in double like PyTorch's Python code, used in the state dtype S.
template <typename S>
struct AdamScalars {
  S decay, w1, beta2, c2, bc2_sqrt, eps, neg_step;
  bool w1_small;
};

template <typename S>
AdamScalars<S> make_scalars(double lr, double wd, const AdamWOptions& o, int64_t step) {
  const double bc1 = 1.0 - std::pow(o.beta1, double(step));
  const double bc2 = 1.0 - std::pow(o.beta2, double(step));
  AdamScalars<S> s;
  s.decay = S(1.0 - lr * wd);
  s.w1 = S(1.0 - o.beta1);
  s.w1_small = std::abs(s.w1) < S(0.5);
  s.beta2 = S(o.beta2);
  s.c2 = S(1.0 - o.beta2);
  s.bc2_sqrt = S(std::sqrt(bc2));
  s.eps = S(o.eps);
  s.neg_step = S(-(lr / bc1));
  return s;
}

// Note [fused adamw]
// One pass over a parameter: each element's param, grad, exp_avg and exp_avg_sq are loaded once and
// updated together in registers, in PyTorch's order (decay, lerp as ATen's fmadd, v * beta2 then
// + c2 * g * g, sqrt(v) / bc2_sqrt + eps, p + (-step_size * m) / denom). The loop has no branches
// on data, so GCC vectorises it (AVX2/AVX-512); large tensors are split into one contiguous chunk
// per thread. P is the parameter/gradient storage type, S the state/compute type (float for
// float32/bfloat16/float16 parameters, double for float64). The range function is compiled without
// floating-point contraction: only the lerp is an fma (as in ATen), every other product is rounded
// on its own, which keeps the result within an ulp or two of torch.optim.AdamW.
template <typename P, typename S>
__attribute__((optimize("fp-contract=off"))) void adamw_range(P* __restrict p, const P* __restrict g,
                                                              S* __restrict m, S* __restrict v, int64_t begin,
                                                              int64_t end, const AdamScalars<S>& s) {
  const S decay = s.decay, w1 = s.w1, b2 = s.beta2, c2 = s.c2, bc2s = s.bc2_sqrt, eps = s.eps, ns = s.neg_step;
  // ATen's lerp: self + w * (end - self) for |w| < 0.5, else end + (w - 1) * (end - self), each one fma.
  const S coeff = s.w1_small ? w1 : w1 - S(1);
  const bool from_self = s.w1_small;
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const S gi = S(g[i]);
    const S pi = S(p[i]) * decay;
    const S mi = std::fma(coeff, gi - m[i], from_self ? m[i] : gi);
    const S vi = v[i] * b2 + c2 * gi * gi;
    const S denom = std::sqrt(vi) / bc2s + eps;
    m[i] = mi;
    v[i] = vi;
    p[i] = P(pi + ns * mi / denom);
  }
}

template <typename P, typename S>
void fused_adamw(P* p, const P* g, S* m, S* v, int64_t n, const AdamScalars<S>& s) {
  cpu::parallel_for(n, 16, [&](int64_t begin, int64_t end) { adamw_range(p, g, m, v, begin, end, s); });
}

// The fused kernel needs CPU tensors, a gradient of the parameter's dtype and contiguous param/state
// (a non-contiguous gradient, e.g. an expanded one, is made contiguous first).
bool fused_applies(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v) {
  return p.is_cpu() && g.is_cpu() && g.dtype() == p.dtype() && p.is_contiguous() && m.is_contiguous() &&
         v.is_contiguous();
}

void fused_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, double lr, double wd,
                const AdamWOptions& o, int64_t step) {
  const int64_t n = p.numel();
  switch (p.dtype()) {
    case DType::Float32:
      fused_adamw(p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(), v.data_ptr<float>(), n,
                  make_scalars<float>(lr, wd, o, step));
      break;
    case DType::Float64:
      fused_adamw(p.data_ptr<double>(), g.data_ptr<double>(), m.data_ptr<double>(), v.data_ptr<double>(), n,
                  make_scalars<double>(lr, wd, o, step));
      break;
    case DType::BFloat16:
      fused_adamw(p.data_ptr<BFloat16>(), g.data_ptr<BFloat16>(), m.data_ptr<float>(), v.data_ptr<float>(), n,
                  make_scalars<float>(lr, wd, o, step));
      break;
    case DType::Float16:
      fused_adamw(p.data_ptr<Half>(), g.data_ptr<Half>(), m.data_ptr<float>(), v.data_ptr<float>(), n,
                  make_scalars<float>(lr, wd, o, step));
      break;
    default:
      TESSERA_CHECK(false, DTypeError, "AdamW.step: unsupported parameter dtype {}", dtype_name(p.dtype()));
  }
  p.bump_version();
  m.bump_version();
  v.bump_version();
}

// The same update as composite tensor ops on the parameter's device (CUDA, non-contiguous, ...).
void composite_step(Tensor p, const Tensor& grad, Tensor m, Tensor v, double lr, double wd,
                    const AdamWOptions& o, int64_t step) {
  const DType sd = m.dtype();
  const bool low = p.dtype() != sd;
  Tensor pw = low ? raw::to(p, p.device(), sd) : p;
  Tensor g = raw::to(grad, p.device(), sd);
  const double bc1 = 1.0 - std::pow(o.beta1, double(step));
  const double bc2 = 1.0 - std::pow(o.beta2, double(step));
  const double w1 = 1.0 - o.beta1;
  pw.mul_(1.0 - lr * wd);
  if (std::abs(float(w1)) < 0.5f) {
    m.add_(g - m, w1);  // lerp(m, g, w1) = m + w1 * (g - m)
  } else {
    m.copy_(g - (g - m) * (1.0 - w1));
  }
  v.mul_(o.beta2);
  v.add_((g * (1.0 - o.beta2)).mul_(g));
  Tensor denom = v.sqrt();
  denom.div_(std::sqrt(bc2));
  denom.add_(o.eps);
  pw.add_((m * (-(lr / bc1))).div_(denom));
  if (low) p.copy_(pw);
}

}  // namespace

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions options)
    : AdamW(std::vector<ParamGroup>{ParamGroup{std::move(params), {}, -1, -1}}, options) {}

AdamW::AdamW(std::vector<ParamGroup> groups, AdamWOptions options)
    : Optimizer("AdamW", std::move(groups), options.lr, options.weight_decay), options_(options) {
  TESSERA_CHECK(options.beta1 >= 0 && options.beta1 < 1, ValueError, "AdamW: invalid beta1 {} (must be in [0, 1))",
                options.beta1);
  TESSERA_CHECK(options.beta2 >= 0 && options.beta2 < 1, ValueError, "AdamW: invalid beta2 {} (must be in [0, 1))",
                options.beta2);
  TESSERA_CHECK(options.eps >= 0, ValueError, "AdamW: invalid eps {} (must be >= 0)", options.eps);
}

void AdamW::step() {
  NoGradGuard no_grad;
  for_each_param_with_grad([&](ParamGroup& group, Tensor& p, size_t flat) {
    const Tensor& g = p.grad();
    TESSERA_CHECK(g.device() == p.device(), DeviceError,
                  "AdamW.step: the gradient of {} is on {} but the parameter is on {}; move both to one device",
                  describe_param(flat), g.device().str(), p.device().str());
    TESSERA_CHECK(g.sizes().equals(p.sizes()), ShapeError,
                  "AdamW.step: the gradient of {} has shape {} but the parameter has shape {}", describe_param(flat),
                  shape_str(g.sizes()), shape_str(p.sizes()));
    auto& st = mutable_state(flat);
    if (st.empty()) {
      TensorOptions so = TensorOptions(state_dtype(p)).device(p.device());
      st["exp_avg"] = raw::full(p.sizes(), 0, so);
      st["exp_avg_sq"] = raw::full(p.sizes(), 0, so);
      st["step"] = raw::full({}, 0, TensorOptions(kInt64));
    }
    int64_t& t = st["step"].data_ptr<int64_t>()[0];
    ++t;
    st["step"].bump_version();
    const Tensor& m = st["exp_avg"];
    const Tensor& v = st["exp_avg_sq"];
    if (options_.fused && fused_applies(p, g, m, v)) {
      fused_step(p, g.contiguous(), m, v, group.lr, group.weight_decay, options_, t);
    } else {
      composite_step(p, g, m, v, group.lr, group.weight_decay, options_, t);
    }
  });
  ++step_count_;
}

}  // namespace tessera::optim
