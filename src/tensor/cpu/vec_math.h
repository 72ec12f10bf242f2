// Vectorisable float32 math for the CPU reduction/normalisation kernels: a polynomial exp that
// the compiler turns into SIMD code inside `#pragma omp simd` loops (std::exp is a library call
// and blocks vectorisation), and a row max written so that it vectorises. (Selects on float
// compares vectorise only with -fno-trapping-math, which the build sets.)
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace tessera::cpu::vec {

// Note [vec exp]
// exp(x) for float32 to within ~2 ulp over the normal range, branch free so that it vectorises:
// x = n*ln2 + r with |r| <= ln2/2 (Cody-Waite split of ln2), exp(r) by a degree-6 polynomial,
// 2^n built in the exponent bits. Below -87.3 (where exp underflows to subnormals) the result is
// 0, so exp(-inf) == 0 exactly (softmax with -inf masks relies on it); above 88.72 it is +inf;
// NaN propagates.
__attribute__((always_inline)) inline float exp_f32(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kHi = 88.7228391f;
  constexpr float kLo = -87.3365448f;
  float xc = x > kHi ? kHi : x;
  xc = xc < kLo ? kLo : xc;
  // Round to nearest with the 1.5 * 2^23 trick (vectorises; |xc * log2e| < 2^22).
  constexpr float kRound = 12582912.0f;
  float n = (xc * kLog2e + kRound) - kRound;
  float r = xc - n * kLn2Hi;
  r = r - n * kLn2Lo;
  // Minimax-style coefficients of exp(r) on [-ln2/2, ln2/2] (Taylor-like, Cephes expf).
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n with n in [-126, 128]: 2^128 is not a float, so n = 128 is applied as 2^127 * 2.
  int32_t ni = static_cast<int32_t>(n);
  int32_t top = ni > 127 ? 1 : 0;
  int32_t bits = (ni - top + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  float y = p * scale * (top ? 2.0f : 1.0f);
  y = x < kLo ? 0.0f : y;
  y = x > kHi ? std::numeric_limits<float>::infinity() : y;
  return y;
}

// exp(x) for x <= 0 (or NaN), the case of softmax's exp(x - max): the same polynomial as exp_f32
// without the overflow path, so fewer instructions. exp(-inf) == 0; NaN propagates.
__attribute__((always_inline)) inline float exp_nonpos_f32(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kLo = -87.3365448f;
  constexpr float kRound = 12582912.0f;
  float xc = x < kLo ? kLo : x;
  float n = (xc * kLog2e + kRound) - kRound;
  float r = xc - n * kLn2Hi;
  r = r - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  float y = p * scale;
  return x < kLo ? 0.0f : y;
}

// Maximum of a contiguous float row ignoring NaNs (-inf for an empty or all-NaN row), with 32
// independent lanes so the loop is not bound by the latency of one max chain. Softmax does not
// need NaN tracking here: a NaN element makes its row's sum NaN, hence the whole row NaN.
__attribute__((always_inline)) inline float row_max_nonan(const float* x, int64_t n) {
  constexpr int L = 32;
  float m[L];
  for (int l = 0; l < L; ++l) m[l] = -std::numeric_limits<float>::infinity();
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int l = 0; l < L; ++l) m[l] = x[i + l] > m[l] ? x[i + l] : m[l];
  float r = -std::numeric_limits<float>::infinity();
  for (int l = 0; l < L; ++l) r = m[l] > r ? m[l] : r;
  for (; i < n; ++i) r = x[i] > r ? x[i] : r;
  return r;
}

// Note [avx-512 rows] (cpu/normalization.cpp): whether the float32 softmax/norm row kernels use
// their AVX-512 compilation. On by default where the CPU supports it; tests switch it off to
// cover the baseline code.
bool cpu_has_avx512();
bool avx512_rows_enabled();
void set_avx512_rows_enabled(bool on);

}  // namespace tessera::cpu::vec
