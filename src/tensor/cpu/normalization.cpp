// CPU softmax / log_softmax (+ backward), layer_norm and rms_norm (+ backward). Inputs are
// contiguous and viewed as [rows, n] over the normalised (last) dims. Rows are split across
// threads; each row is computed with vectorised loops (`omp simd`, the polynomial exp of
// vec_math.h for float32). 16-bit rows are converted to float32, computed, rounded once.
#include <cmath>
#include <limits>
#include <vector>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/cpu/vec_math.h"

namespace tessera::cpu {

namespace {

template <typename A>
inline A exp_acc(A x) {
  if constexpr (std::is_same_v<A, float>) return vec::exp_f32(x);
  else return std::exp(x);
}

// Rows of a 16-bit tensor are staged in float32 buffers; float32/float64 rows are used in place.
template <typename T>
constexpr bool kStaged = !std::is_same_v<T, acc_type<T>>;

template <typename T, typename A>
inline const A* load_row(const T* p, int64_t n, A* buf) {
  if constexpr (std::is_same_v<T, A>) return p;
  else {
    for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<A>(p[i]);
    return buf;
  }
}
template <typename T, typename A>
inline void store_row(T* dst, const A* src, int64_t n) {
  if constexpr (!std::is_same_v<T, A>) {
    for (int64_t i = 0; i < n; ++i) dst[i] = T(src[i]);
  }
}

// exp(x) for x <= 0 or NaN (softmax's exp(x - max)).
template <typename A>
inline A exp_nonpos(A x) {
  if constexpr (std::is_same_v<A, float>) return vec::exp_nonpos_f32(x);
  else return std::exp(x);
}

// Row maximum ignoring NaN: a NaN element still turns its softmax row into NaN through the sum,
// as in PyTorch (and so does +inf, through inf - inf).
template <typename A>
inline A max_of(const A* x, int64_t n) {
  if constexpr (std::is_same_v<A, float>) return vec::row_max_nonan(x, n);
  else {
    A m = -std::numeric_limits<A>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
    return m;
  }
}

template <typename A>
inline void softmax_row(const A* x, A* y, int64_t n, bool log) {
  const A m = max_of(x, n);
  A s = 0;
  if (!log) {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) {
      A e = exp_nonpos<A>(x[i] - m);
      y[i] = e;
      s += e;
    }
    const A inv = A(1) / s;
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] *= inv;
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += exp_nonpos<A>(x[i] - m);
    const A ls = std::log(s);
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - m) - ls;
  }
}

template <typename A>
inline void softmax_backward_row(const A* g, const A* y, A* gi, int64_t n, bool log) {
  A s = 0;
  if (!log) {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += g[i] * y[i];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gi[i] = y[i] * (g[i] - s);
  } else {
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += g[i];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gi[i] = g[i] - exp_acc<A>(y[i]) * s;
  }
}

// Rows and row length of a contiguous [..., n] tensor, n = `n` or its last dim.
inline int64_t rows_of(const Tensor& t, int64_t n) { return n == 0 ? 0 : t.numel() / n; }
inline int64_t last_dim(const Tensor& t) { return t.dim() == 0 ? 1 : t.size(-1); }

// A weight (or bias) vector in the accumulation type: the tensor's data, or converted, or
// `fill` when the tensor is undefined.
template <typename T, typename A>
std::vector<A> param_vector(const Tensor& p, int64_t n, A fill) {
  std::vector<A> v(size_t(n), fill);
  if (p.defined()) {
    const T* d = static_cast<const T*>(p.data_ptr());
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<A>(d[i]);
  }
  return v;
}

// Splits [0, rows) into at most num_threads() blocks (for per-block partial weight gradients).
inline int64_t block_count(int64_t rows, int64_t n) {
  if (rows * n < kParallelGrain) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(rows, num_threads()));
}

}  // namespace

void CpuBackend::softmax(const Tensor& out, const Tensor& in, bool log) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), log ? "log_softmax" : "softmax", [&] {
    using T = scalar_t;
    using A = acc_type<T>;
    const int64_t n = last_dim(in), rows = rows_of(in, n);
    const T* x = static_cast<const T*>(in.data_ptr());
    T* y = static_cast<T*>(out.data_ptr());
    parallel_for(rows, n * 8, [&](int64_t b, int64_t e) {
      std::vector<A> xb(kStaged<T> ? size_t(n) : 0), yb(kStaged<T> ? size_t(n) : 0);
      for (int64_t r = b; r < e; ++r) {
        const A* xr = load_row<T, A>(x + r * n, n, xb.data());
        A* yr = kStaged<T> ? yb.data() : reinterpret_cast<A*>(y + r * n);
        softmax_row<A>(xr, yr, n, log);
        store_row<T, A>(y + r * n, yr, n);
      }
    });
  });
}

void CpuBackend::softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) {
  TESSERA_DISPATCH_FLOATING_TYPES(out.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&] {
    using T = scalar_t;
    using A = acc_type<T>;
    const int64_t n = last_dim(out), rows = rows_of(out, n);
    const T* g = static_cast<const T*>(grad_out.data_ptr());
    const T* y = static_cast<const T*>(out.data_ptr());
    T* gi = static_cast<T*>(grad_in.data_ptr());
    parallel_for(rows, n * 4, [&](int64_t b, int64_t e) {
      std::vector<A> gb(kStaged<T> ? size_t(n) : 0), yb(gb.size()), ib(gb.size());
      for (int64_t r = b; r < e; ++r) {
        const A* gr = load_row<T, A>(g + r * n, n, gb.data());
        const A* yr = load_row<T, A>(y + r * n, n, yb.data());
        A* ir = kStaged<T> ? ib.data() : reinterpret_cast<A*>(gi + r * n);
        softmax_backward_row<A>(gr, yr, ir, n, log);
        store_row<T, A>(gi + r * n, ir, n);
      }
    });
  });
}

namespace {
template <typename T>
void layer_norm_kernel(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in, const Tensor& weight, const Tensor& bias, double eps) {
  using A = acc_type<T>;
  const int64_t rows = mean.numel();
  const int64_t n = rows == 0 ? 0 : in.numel() / rows;
  const T* x = static_cast<const T*>(in.data_ptr());
  T* y = static_cast<T*>(out.data_ptr());
  A* mp = static_cast<A*>(mean.data_ptr());
  A* rp = static_cast<A*>(rstd.data_ptr());
  const std::vector<A> w = param_vector<T, A>(weight, n, A(1));
  const std::vector<A> bv = param_vector<T, A>(bias, n, A(0));
  const A* wp = w.data();
  const A* bp = bv.data();
  const A aeps = A(eps);
  parallel_for(rows, n * 3, [&](int64_t b, int64_t e) {
    std::vector<A> xb(kStaged<T> ? size_t(n) : 0), yb(xb.size());
    for (int64_t r = b; r < e; ++r) {
      const A* xr = load_row<T, A>(x + r * n, n, xb.data());
      A* yr = kStaged<T> ? yb.data() : reinterpret_cast<A*>(y + r * n);
      A s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t i = 0; i < n; ++i) s += xr[i];
      const A mu = s / A(n);
      A ss = 0;
#pragma omp simd reduction(+ : ss)
      for (int64_t i = 0; i < n; ++i) ss += (xr[i] - mu) * (xr[i] - mu);
      const A rs = A(1) / std::sqrt(ss / A(n) + aeps);
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) yr[i] = (xr[i] - mu) * rs * wp[i] + bp[i];
      store_row<T, A>(y + r * n, yr, n);
      mp[r] = mu;
      rp[r] = rs;
    }
  });
}

}  // namespace

void CpuBackend::layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in,
                            const Tensor& weight, const Tensor& bias, double eps) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), "layer_norm", [&] { layer_norm_kernel<scalar_t>(out, mean, rstd, in, weight, bias, eps); });
}

namespace {
template <typename T>
void layer_norm_backward_kernel(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_bias, const Tensor& grad_out, const Tensor& in, const Tensor& mean, const Tensor& rstd, const Tensor& weight) {
  using A = acc_type<T>;
  const int64_t rows = mean.numel();
  const int64_t n = rows == 0 ? 0 : in.numel() / rows;
  const T* x = static_cast<const T*>(in.data_ptr());
  const T* g = static_cast<const T*>(grad_out.data_ptr());
  const A* mp = static_cast<const A*>(mean.data_ptr());
  const A* rp = static_cast<const A*>(rstd.data_ptr());
  T* gi = grad_in.defined() ? static_cast<T*>(grad_in.data_ptr()) : nullptr;
  const std::vector<A> w = param_vector<T, A>(weight, n, A(1));
  const A* wp = w.data();
  const bool need_w = grad_weight.defined(), need_b = grad_bias.defined();
  const int64_t blocks = block_count(rows, n);
  // Per-block partial sums of g * xhat (weight) and g (bias), in double.
  std::vector<double> pw(need_w ? size_t(blocks * n) : 0, 0.0), pb(need_b ? size_t(blocks * n) : 0, 0.0);
  const int64_t per = blocks == 0 ? 0 : (rows + blocks - 1) / blocks;
  parallel_for(blocks, per * n * 4, [&](int64_t bb, int64_t be) {
    std::vector<A> xb(kStaged<T> ? size_t(n) : 0), gb(xb.size()), ib(xb.size());
    std::vector<A> xhat_v(static_cast<size_t>(n)), gw_v(static_cast<size_t>(n));
    A* xhat = xhat_v.data();
    A* gw = gw_v.data();
    for (int64_t blk = bb; blk < be; ++blk) {
      double* dw = need_w ? pw.data() + blk * n : nullptr;
      double* db = need_b ? pb.data() + blk * n : nullptr;
      for (int64_t r = blk * per; r < std::min(rows, (blk + 1) * per); ++r) {
        const A* xr = load_row<T, A>(x + r * n, n, xb.data());
        const A* gr = load_row<T, A>(g + r * n, n, gb.data());
        const A mu = mp[r], rs = rp[r];
        A sa = 0, sb = 0;
#pragma omp simd reduction(+ : sa, sb)
        for (int64_t i = 0; i < n; ++i) {
          xhat[i] = (xr[i] - mu) * rs;
          gw[i] = gr[i] * wp[i];
          sa += gw[i];
          sb += gw[i] * xhat[i];
        }
        const A a = sa / A(n), c = sb / A(n);
        if (gi) {
          A* ir = kStaged<T> ? ib.data() : reinterpret_cast<A*>(gi + r * n);
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) ir[i] = rs * (gw[i] - a - xhat[i] * c);
          store_row<T, A>(gi + r * n, ir, n);
        }
        if (dw) {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) dw[i] += double(gr[i]) * double(xhat[i]);
        }
        if (db) {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) db[i] += double(gr[i]);
        }
      }
    }
  });
  auto finish = [&](const Tensor& t, const std::vector<double>& part) {
    T* d = static_cast<T*>(t.data_ptr());
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t blk = 0; blk < blocks; ++blk) s += part[size_t(blk * n + i)];
      d[i] = T(static_cast<A>(s));
    }
  };
  if (need_w) finish(grad_weight, pw);
  if (need_b) finish(grad_bias, pb);
}

}  // namespace

void CpuBackend::layer_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_bias,
                                     const Tensor& grad_out, const Tensor& in, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& weight) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), "layer_norm_backward", [&] { layer_norm_backward_kernel<scalar_t>(grad_in, grad_weight, grad_bias, grad_out, in, mean, rstd, weight); });
}

namespace {
template <typename T>
void rms_norm_kernel(const Tensor& out, const Tensor& rstd, const Tensor& in, const Tensor& weight, double eps) {
  using A = acc_type<T>;
  const int64_t rows = rstd.numel();
  const int64_t n = rows == 0 ? 0 : in.numel() / rows;
  const T* x = static_cast<const T*>(in.data_ptr());
  T* y = static_cast<T*>(out.data_ptr());
  A* rp = static_cast<A*>(rstd.data_ptr());
  const std::vector<A> w = param_vector<T, A>(weight, n, A(1));
  const A* wp = w.data();
  const A aeps = A(eps);
  parallel_for(rows, n * 2, [&](int64_t b, int64_t e) {
    std::vector<A> xb(kStaged<T> ? size_t(n) : 0), yb(xb.size());
    for (int64_t r = b; r < e; ++r) {
      const A* xr = load_row<T, A>(x + r * n, n, xb.data());
      A* yr = kStaged<T> ? yb.data() : reinterpret_cast<A*>(y + r * n);
      A ss = 0;
#pragma omp simd reduction(+ : ss)
      for (int64_t i = 0; i < n; ++i) ss += xr[i] * xr[i];
      const A rs = A(1) / std::sqrt(ss / A(n) + aeps);
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) yr[i] = xr[i] * rs * wp[i];
      store_row<T, A>(y + r * n, yr, n);
      rp[r] = rs;
    }
  });
}

}  // namespace

void CpuBackend::rms_norm(const Tensor& out, const Tensor& rstd, const Tensor& in, const Tensor& weight, double eps) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), "rms_norm", [&] { rms_norm_kernel<scalar_t>(out, rstd, in, weight, eps); });
}

namespace {
template <typename T>
void rms_norm_backward_kernel(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_out, const Tensor& in, const Tensor& rstd, const Tensor& weight) {
  using A = acc_type<T>;
  const int64_t rows = rstd.numel();
  const int64_t n = rows == 0 ? 0 : in.numel() / rows;
  const T* x = static_cast<const T*>(in.data_ptr());
  const T* g = static_cast<const T*>(grad_out.data_ptr());
  const A* rp = static_cast<const A*>(rstd.data_ptr());
  T* gi = grad_in.defined() ? static_cast<T*>(grad_in.data_ptr()) : nullptr;
  const std::vector<A> w = param_vector<T, A>(weight, n, A(1));
  const A* wp = w.data();
  const bool need_w = grad_weight.defined();
  const int64_t blocks = block_count(rows, n);
  std::vector<double> pw(need_w ? size_t(blocks * n) : 0, 0.0);
  const int64_t per = blocks == 0 ? 0 : (rows + blocks - 1) / blocks;
  parallel_for(blocks, per * n * 4, [&](int64_t bb, int64_t be) {
    std::vector<A> xb(kStaged<T> ? size_t(n) : 0), gb(xb.size()), ib(xb.size());
    std::vector<A> xhat_v(static_cast<size_t>(n)), gw_v(static_cast<size_t>(n));
    A* xhat = xhat_v.data();
    A* gw = gw_v.data();
    for (int64_t blk = bb; blk < be; ++blk) {
      double* dw = need_w ? pw.data() + blk * n : nullptr;
      for (int64_t r = blk * per; r < std::min(rows, (blk + 1) * per); ++r) {
        const A* xr = load_row<T, A>(x + r * n, n, xb.data());
        const A* gr = load_row<T, A>(g + r * n, n, gb.data());
        const A rs = rp[r];
        A sc = 0;
#pragma omp simd reduction(+ : sc)
        for (int64_t i = 0; i < n; ++i) {
          xhat[i] = xr[i] * rs;
          gw[i] = gr[i] * wp[i];
          sc += gw[i] * xhat[i];
        }
        const A c = sc / A(n);
        if (gi) {
          A* ir = kStaged<T> ? ib.data() : reinterpret_cast<A*>(gi + r * n);
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) ir[i] = rs * (gw[i] - xhat[i] * c);
          store_row<T, A>(gi + r * n, ir, n);
        }
        if (dw) {
#pragma omp simd
          for (int64_t i = 0; i < n; ++i) dw[i] += double(gr[i]) * double(xhat[i]);
        }
      }
    }
  });
  if (need_w) {
    T* d = static_cast<T*>(grad_weight.data_ptr());
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t blk = 0; blk < blocks; ++blk) s += pw[size_t(blk * n + i)];
      d[i] = T(static_cast<A>(s));
    }
  }
}

}  // namespace

void CpuBackend::rms_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_out,
                                   const Tensor& in, const Tensor& rstd, const Tensor& weight) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), "rms_norm_backward", [&] { rms_norm_backward_kernel<scalar_t>(grad_in, grad_weight, grad_out, in, rstd, weight); });
}

}  // namespace tessera::cpu
