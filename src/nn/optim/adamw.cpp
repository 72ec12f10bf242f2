// optim::AdamW: the fused CPU update (Note [fused adamw]), the grouping of CUDA parameters for the
// backend's multi-tensor step (Note [multi-tensor adamw]), the composite update every other
// device/layout uses, and float32 master weights (Note [adamw master weights]); all follow
// torch.optim.AdamW's single-tensor update order.
#include "tessera/nn/optim/adamw.h"

#include <cmath>
#include <map>
#include <utility>

#include "tessera/autograd/grad_mode.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/adamw_step.h"
#include "tessera/tensor/backend.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/half.h"
#include "tessera/tensor/raw.h"

namespace tessera::optim {

namespace {

template <typename S>
using AdamScalars = AdamWScalars<S>;

template <typename S>
AdamScalars<S> make_scalars(double lr, double wd, const AdamWOptions& o, int64_t step) {
  return make_adamw_scalars<S>(lr, wd, o.beta1, o.beta2, o.eps, step);
}

// Note [fused adamw]
// One pass over a parameter: each element's param, grad, exp_avg and exp_avg_sq are loaded once and
// updated together in registers, in PyTorch's order (decay, lerp as ATen's fmadd, v * beta2 then
// + c2 * g * g, sqrt(v) / bc2_sqrt + eps, p + (-step_size * m) / denom). The loop has no branches
// on data, so GCC vectorises it (AVX2/AVX-512); large tensors are split into one contiguous chunk
// per thread. P is the parameter/gradient storage type, S the state/compute type (float for
// float32/bfloat16/float16 parameters, double for float64). With kMaster (bfloat16/float16 parameters
// under master_weights) the update reads and writes the float32 master and stores its rounding into
// the parameter. The CUDA multi-tensor kernel (src/cuda/kernels/adamw.cu) repeats this arithmetic
// operation for operation; change both or neither. The range function is compiled without
// floating-point contraction: only the lerp is an fma (as in ATen), every other product is rounded
// on its own, which keeps the result within an ulp or two of torch.optim.AdamW.
template <typename P, typename S, bool kMaster>
__attribute__((optimize("fp-contract=off"))) void adamw_range(P* __restrict p, const P* __restrict g,
                                                              S* __restrict m, S* __restrict v,
                                                              S* __restrict master, int64_t begin, int64_t end,
                                                              const AdamScalars<S>& s) {
  const S decay = s.decay, w1 = s.w1, b2 = s.beta2, c2 = s.c2, bc2s = s.bc2_sqrt, eps = s.eps, ns = s.neg_step;
  // ATen's lerp: self + w * (end - self) for |w| < 0.5, else end + (w - 1) * (end - self), each one fma.
  const S coeff = s.w1_small ? w1 : w1 - S(1);
  const bool from_self = s.w1_small;
#pragma omp simd
  for (int64_t i = begin; i < end; ++i) {
    const S gi = S(g[i]);
    S pw;
    if constexpr (kMaster) {
      pw = master[i];
    } else {
      pw = S(p[i]);
    }
    const S pi = pw * decay;
    const S mi = std::fma(coeff, gi - m[i], from_self ? m[i] : gi);
    const S vi = v[i] * b2 + c2 * gi * gi;
    const S denom = std::sqrt(vi) / bc2s + eps;
    m[i] = mi;
    v[i] = vi;
    const S pn = pi + ns * mi / denom;
    if constexpr (kMaster) master[i] = pn;
    p[i] = P(pn);
  }
}

template <typename P, typename S>
void fused_adamw(P* p, const P* g, S* m, S* v, S* master, int64_t n, const AdamScalars<S>& s) {
  if (master) {
    cpu::parallel_for(n, 16, [&](int64_t b, int64_t e) { adamw_range<P, S, true>(p, g, m, v, master, b, e, s); });
  } else {
    cpu::parallel_for(n, 16, [&](int64_t b, int64_t e) { adamw_range<P, S, false>(p, g, m, v, master, b, e, s); });
  }
}

// The parameter's state tensors for one update; master is undefined unless master_weights applies.
struct StateRefs {
  Tensor m, v, master;
};

// The fused kernel needs CPU tensors, a gradient of the parameter's dtype and contiguous param/state
// (a non-contiguous gradient, e.g. an expanded one, is made contiguous first).
bool fused_applies(const Tensor& p, const Tensor& g, const StateRefs& st) {
  return p.is_cpu() && g.is_cpu() && g.dtype() == p.dtype() && p.is_contiguous() && st.m.is_contiguous() &&
         st.v.is_contiguous() && (!st.master.defined() || st.master.is_contiguous());
}

// On CUDA, what the backend's multi-tensor step takes (Note [multi-tensor adamw]); the rest (float64,
// non-contiguous parameters, gradients of another dtype) takes the composite path.
bool multi_tensor_applies(const Tensor& p, const Tensor& g, const StateRefs& st) {
  const DType d = p.dtype();
  return p.is_cuda() && g.device() == p.device() && g.dtype() == d &&
         (d == kFloat32 || d == kBFloat16 || d == kFloat16) && p.is_contiguous() && st.m.is_contiguous() &&
         st.v.is_contiguous() && (!st.master.defined() || st.master.is_contiguous());
}

void fused_step(const Tensor& p, const Tensor& g, const StateRefs& st, double lr, double wd, const AdamWOptions& o,
                int64_t step) {
  const int64_t n = p.numel();
  const Tensor& m = st.m;
  const Tensor& v = st.v;
  float* master = st.master.defined() ? st.master.data_ptr<float>() : nullptr;
  switch (p.dtype()) {
    case DType::Float32:
      fused_adamw(p.data_ptr<float>(), g.data_ptr<float>(), m.data_ptr<float>(), v.data_ptr<float>(),
                  static_cast<float*>(nullptr), n, make_scalars<float>(lr, wd, o, step));
      break;
    case DType::Float64:
      fused_adamw(p.data_ptr<double>(), g.data_ptr<double>(), m.data_ptr<double>(), v.data_ptr<double>(),
                  static_cast<double*>(nullptr), n, make_scalars<double>(lr, wd, o, step));
      break;
    case DType::BFloat16:
      fused_adamw(p.data_ptr<BFloat16>(), g.data_ptr<BFloat16>(), m.data_ptr<float>(), v.data_ptr<float>(), master,
                  n, make_scalars<float>(lr, wd, o, step));
      break;
    case DType::Float16:
      fused_adamw(p.data_ptr<Half>(), g.data_ptr<Half>(), m.data_ptr<float>(), v.data_ptr<float>(), master, n,
                  make_scalars<float>(lr, wd, o, step));
      break;
    default:
      TESSERA_CHECK(false, DTypeError, "AdamW.step: unsupported parameter dtype {}", dtype_name(p.dtype()));
  }
}

// The same update as composite tensor ops on the parameter's device (CUDA, non-contiguous, ...).
void composite_step(Tensor p, const Tensor& grad, const StateRefs& st, double lr, double wd, const AdamWOptions& o,
                    int64_t step) {
  Tensor m = st.m, v = st.v;
  const DType sd = m.dtype();
  const bool low = p.dtype() != sd;
  Tensor pw = st.master.defined() ? st.master : low ? raw::to(p, p.device(), sd) : p;
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
  // CUDA parameters the multi-tensor step takes, grouped by (device index, dtype): one backend call each.
  std::map<std::pair<int, int>, std::vector<AdamWSlot>> multi;
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
    // Note [adamw master weights]: made from the parameter at its first update, or at the first update
    // after loading a state dict saved without master weights.
    if (uses_master(p) && !st.count("master_param")) {
      st["master_param"] = raw::to(p, p.device(), kFloat32, /*copy=*/true).contiguous();
    }
    int64_t& t = st["step"].data_ptr<int64_t>()[0];
    ++t;
    st["step"].bump_version();
    StateRefs refs{st["exp_avg"], st["exp_avg_sq"], uses_master(p) ? st["master_param"] : Tensor()};
    if (options_.fused && multi_tensor_applies(p, g, refs)) {
      multi[{p.device().index, int(p.dtype())}].push_back(
          AdamWSlot{p, g.contiguous(), refs.m, refs.v, refs.master, group.lr, group.weight_decay, t});
      return;
    }
    if (options_.fused && fused_applies(p, g, refs)) {
      fused_step(p, g.contiguous(), refs, group.lr, group.weight_decay, options_, t);
      p.bump_version();
      refs.m.bump_version();
      refs.v.bump_version();
      if (refs.master.defined()) refs.master.bump_version();
    } else {
      composite_step(p, g, refs, group.lr, group.weight_decay, options_, t);
    }
  });
  for (auto& [key, slots] : multi) {
    backend_for(slots.front().param.device()).adamw_step(slots, options_.beta1, options_.beta2, options_.eps);
    for (const AdamWSlot& s : slots) {
      s.param.bump_version();
      s.exp_avg.bump_version();
      s.exp_avg_sq.bump_version();
      if (s.master.defined()) s.master.bump_version();
    }
  }
  ++step_count_;
}

bool AdamW::uses_master(const Tensor& param) const {
  return options_.master_weights && (param.dtype() == kBFloat16 || param.dtype() == kFloat16);
}

std::vector<std::string> AdamW::optional_state_keys(const Tensor& param) const {
  if (uses_master(param)) return {"master_param"};
  return {};
}

void AdamW::load_state_dict(const nn::StateDict& state) {
  if (!options_.master_weights) {
    for (const auto& [key, t] : state) {
      const std::string suffix = ".master_param";
      TESSERA_CHECK(!(key.rfind("state.", 0) == 0 && key.size() > suffix.size() &&
                      key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0),
                    ValueError,
                    "AdamW.load_state_dict: \"{}\" is a float32 master copy of a parameter (the state dict was saved "
                    "with master_weights = true); construct this AdamW with AdamWOptions::master_weights = true to "
                    "load it",
                    key);
    }
  }
  Optimizer::load_state_dict(state);
}

}  // namespace tessera::optim
