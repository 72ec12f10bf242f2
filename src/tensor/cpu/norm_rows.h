// Row kernels of the CPU softmax / layer_norm / rms_norm primitives: one contiguous row of n
// elements in the accumulation type A (float or double), written as `omp simd` loops. They are
// always_inline so that cpu/normalization.cpp can compile each one twice for float32, for the
// baseline ISA and for AVX-512 (Note [avx-512 rows]).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "tessera/tensor/cpu/vec_math.h"

#define TESSERA_ALWAYS_INLINE __attribute__((always_inline)) inline

namespace tessera::cpu::rows {

template <typename A>
TESSERA_ALWAYS_INLINE A exp_any(A x) {
  if constexpr (std::is_same_v<A, float>) return vec::exp_f32(x);
  else return std::exp(x);
}

// exp(x) for x <= 0 or NaN (softmax's exp(x - max)).
template <typename A>
TESSERA_ALWAYS_INLINE A exp_nonpos(A x) {
  if constexpr (std::is_same_v<A, float>) return vec::exp_nonpos_f32(x);
  else return std::exp(x);
}

// Row maximum ignoring NaN. A NaN element still makes its softmax row NaN through the sum, as in
// PyTorch (and so does +inf, through inf - inf).
template <typename A>
TESSERA_ALWAYS_INLINE A max_nonan(const A* x, int64_t n) {
  if constexpr (std::is_same_v<A, float>) return vec::row_max_nonan(x, n);
  else {
    A m = -std::numeric_limits<A>::infinity();
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < n; ++i) m = x[i] > m ? x[i] : m;
    return m;
  }
}

template <typename A>
TESSERA_ALWAYS_INLINE void softmax(const A* x, A* y, int64_t n, bool log) {
  const A m = max_nonan(x, n);
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

// softmax: gi = y * (g - sum(g * y)); log_softmax: gi = g - exp(y) * sum(g).
template <typename A>
TESSERA_ALWAYS_INLINE void softmax_backward(const A* g, const A* y, A* gi, int64_t n, bool log) {
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
    for (int64_t i = 0; i < n; ++i) gi[i] = g[i] - exp_any<A>(y[i]) * s;
  }
}

// y = (x - mean) * rstd * w + b with mean and the population variance of the row (two passes
// over the row, which is in L1).
template <typename A>
TESSERA_ALWAYS_INLINE void layer_norm(const A* x, A* y, const A* w, const A* b, int64_t n, A eps, A* mean_out,
                                      A* rstd_out) {
  A s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += x[i];
  const A mu = s / A(n);
  A ss = 0;
#pragma omp simd reduction(+ : ss)
  for (int64_t i = 0; i < n; ++i) ss += (x[i] - mu) * (x[i] - mu);
  const A rs = A(1) / std::sqrt(ss / A(n) + eps);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = (x[i] - mu) * rs * w[i] + b[i];
  *mean_out = mu;
  *rstd_out = rs;
}

// With xhat = (x - mean) * rstd and gw = g * w:
// gi = rstd * (gw - mean(gw) - xhat * mean(gw * xhat)); dw += g * xhat; db += g (when non-null).
template <typename A>
TESSERA_ALWAYS_INLINE void layer_norm_backward(const A* x, const A* g, const A* w, A mu, A rs, int64_t n, A* xhat,
                                               A* gw, A* gi, double* dw, double* db) {
  A sa = 0, sb = 0;
#pragma omp simd reduction(+ : sa, sb)
  for (int64_t i = 0; i < n; ++i) {
    xhat[i] = (x[i] - mu) * rs;
    gw[i] = g[i] * w[i];
    sa += gw[i];
    sb += gw[i] * xhat[i];
  }
  const A a = sa / A(n), c = sb / A(n);
  if (gi) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gi[i] = rs * (gw[i] - a - xhat[i] * c);
  }
  if (dw) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dw[i] += double(g[i]) * double(xhat[i]);
  }
  if (db) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) db[i] += double(g[i]);
  }
}

// y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps).
template <typename A>
TESSERA_ALWAYS_INLINE void rms_norm(const A* x, A* y, const A* w, int64_t n, A eps, A* rstd_out) {
  A ss = 0;
#pragma omp simd reduction(+ : ss)
  for (int64_t i = 0; i < n; ++i) ss += x[i] * x[i];
  const A rs = A(1) / std::sqrt(ss / A(n) + eps);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * rs * w[i];
  *rstd_out = rs;
}

// With xhat = x * rstd and gw = g * w: gi = rstd * (gw - xhat * mean(gw * xhat)); dw += g * xhat.
template <typename A>
TESSERA_ALWAYS_INLINE void rms_norm_backward(const A* x, const A* g, const A* w, A rs, int64_t n, A* xhat, A* gw,
                                             A* gi, double* dw) {
  A sc = 0;
#pragma omp simd reduction(+ : sc)
  for (int64_t i = 0; i < n; ++i) {
    xhat[i] = x[i] * rs;
    gw[i] = g[i] * w[i];
    sc += gw[i] * xhat[i];
  }
  const A c = sc / A(n);
  if (gi) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) gi[i] = rs * (gw[i] - xhat[i] * c);
  }
  if (dw) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dw[i] += double(g[i]) * double(xhat[i]);
  }
}

}  // namespace tessera::cpu::rows
