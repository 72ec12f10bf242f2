// CPU fused cross-entropy primitives (Note [cross-entropy reduction] for the formula): one pass
// per row computes logsumexp, the target's NLL and the label-smoothing term; the backward
// writes softmax minus the smoothed one-hot target, scaled by the row's incoming gradient.
#include <cmath>
#include <limits>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/raw.h"

namespace tessera::cpu {

namespace {

// The targets as a contiguous int64 tensor, each either ignore_index or a class in [0, C).
Tensor checked_targets(const Tensor& target, int64_t classes, int64_t ignore_index) {
  Tensor t = target;
  if (!t.is_contiguous()) {
    t = raw::empty(target.sizes(), TensorOptions(DType::Int64));
    backend_for(Device::cpu()).copy(t, target);
  }
  const int64_t* p = t.data_ptr<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    TESSERA_CHECK(p[i] == ignore_index || (p[i] >= 0 && p[i] < classes), IndexError,
                  "cross_entropy: Target {} is out of bounds.", p[i]);
  }
  return t;
}

}  // namespace

void CpuBackend::cross_entropy(const Tensor& loss, const Tensor& lse, const Tensor& logits, const Tensor& target,
                               int64_t ignore_index, double label_smoothing) {
  TESSERA_INTERNAL_ASSERT(logits.dim() == 2 && logits.is_contiguous(), "cross_entropy: logits must be [N, C] contiguous");
  const int64_t N = logits.size(0), C = logits.size(1);
  Tensor tgt = checked_targets(target, C, ignore_index);
  TESSERA_DISPATCH_FLOATING_TYPES(logits.dtype(), "cross_entropy", [&] {
    using T = scalar_t;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const T* x0 = logits.data_ptr<T>();
    const int64_t* tp = tgt.data_ptr<int64_t>();
    A* lp = loss.data_ptr<A>();
    A* sp = lse.data_ptr<A>();
    const int64_t ls = loss.stride(0), ss = lse.stride(0);
    const A eps = A(label_smoothing);
    parallel_for(N, 4 * C, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T* x = x0 + i * C;
        A mx = -std::numeric_limits<A>::infinity();
        for (int64_t c = 0; c < C; ++c) mx = std::max(mx, A(x[c]));
        if (!std::isfinite(mx)) mx = 0;  // all -inf (lse -inf) or +inf/NaN present (lse inf/NaN)
        A sum = 0, sum_x = 0;
        for (int64_t c = 0; c < C; ++c) {
          sum += std::exp(A(x[c]) - mx);
          sum_x += A(x[c]);
        }
        const A l = mx + std::log(sum);
        sp[i * ss] = l;
        const int64_t t = tp[i];
        if (t == ignore_index) {
          lp[i * ls] = 0;
          continue;
        }
        A v = l - A(x[t]);
        if (eps != 0) v = (1 - eps) * v + eps * (l - sum_x / A(C));
        lp[i * ls] = v;
      }
    });
  });
}

void CpuBackend::cross_entropy_backward(const Tensor& grad_logits, const Tensor& grad_loss, const Tensor& logits,
                                        const Tensor& lse, const Tensor& target, int64_t ignore_index,
                                        double label_smoothing) {
  TESSERA_INTERNAL_ASSERT(logits.dim() == 2 && logits.is_contiguous() && grad_logits.is_contiguous(),
                          "cross_entropy_backward: logits and grad_logits must be [N, C] contiguous");
  const int64_t N = logits.size(0), C = logits.size(1);
  Tensor tgt = checked_targets(target, C, ignore_index);
  TESSERA_DISPATCH_FLOATING_TYPES(logits.dtype(), "cross_entropy_backward", [&] {
    using T = scalar_t;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const T* x0 = logits.data_ptr<T>();
    T* g0 = grad_logits.data_ptr<T>();
    const int64_t* tp = tgt.data_ptr<int64_t>();
    const A* gl = grad_loss.data_ptr<A>();
    const A* sp = lse.data_ptr<A>();
    const int64_t gs = grad_loss.stride(0), ss = lse.stride(0);
    const A eps = A(label_smoothing);
    const A off = eps / A(C);  // the smoothed target's weight on every class
    parallel_for(N, 4 * C, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const T* x = x0 + i * C;
        T* g = g0 + i * C;
        const int64_t t = tp[i];
        if (t == ignore_index) {
          for (int64_t c = 0; c < C; ++c) g[c] = T(0);
          continue;
        }
        const A w = gl[i * gs], l = sp[i * ss];
        for (int64_t c = 0; c < C; ++c) g[c] = T(w * (std::exp(A(x[c]) - l) - off));
        g[t] = T(w * (std::exp(A(x[t]) - l) - off - (1 - eps)));
      }
    });
  });
}

}  // namespace tessera::cpu
