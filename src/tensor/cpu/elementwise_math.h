// Vectorisable float32 math for the CPU elementwise kernels (Note [vectorisable math]): exp, log,
// log1p, tanh, sigmoid, normal CDF (gelu), sin/cos and friends, written as straight-line code
// (FMA, integer bit tricks, selects instead of branches) so that GCC turns a loop over them into
// AVX2/AVX-512 code. float64 kernels call std:: math instead (tessera::cpu::dm at the bottom).
//
// Note [vectorisable math]
// - Accuracy, measured against double over all float32 inputs: exp, log < 1 ulp; log1p, tanh,
//   sigmoid, sin, cos < 3 ulp; normal_cdf / gelu ~4 ulp (more where the result is subnormal);
//   gelu(approximate="tanh") grows to ~2^-22 |v| relative in the far negative tail (its argument
//   v = 2 sqrt(2/pi) (x + 0.044715 x^3) is rounded to float first, as in every float kernel).
// - Each header copy lives in an ISA namespace (TESSERA_CPU_ISA_NS, Note [cpu isa variants]).
// - Special values follow IEEE/std:: (NaN in -> NaN out, exp(-inf)=0, log(0)=-inf, ...).
// - sin/cos reduce their argument in double and are exact-reduction accurate for |x| <= 1e5;
//   larger or non-finite arguments are flagged by trig_needs_fixup() and recomputed by the caller
//   with std::sin/std::cos in double.
// - Polynomials: Taylor series where the reduced range makes them converge fast (exp, expm1,
//   log, sin, cos, the central part of the normal CDF); the CDF tail polynomial is fitted by
//   tools/gen_normal_cdf_coeffs.py.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

// Everything here is force-inlined: a call left in a loop body would stop it vectorising.
#define TESSERA_VM_INLINE inline __attribute__((always_inline))

#ifndef TESSERA_CPU_ISA_NS
#define TESSERA_CPU_ISA_NS isa_default
#endif

namespace tessera::cpu {
inline namespace TESSERA_CPU_ISA_NS {
namespace vm {

inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693145751953125f;  // exact with trailing zero bits
inline constexpr float kLn2Lo = 1.42860682030941723212e-06f;
inline constexpr float kInf = __builtin_inff();
inline constexpr float kNaN = __builtin_nanf("");

// Round to the nearest integer (ties to even) for |x| < 2^22, returned as a float.
TESSERA_VM_INLINE float round_nearest(float x) {
  constexpr float kMagic = 12582912.0f;  // 1.5 * 2^23
  return (x + kMagic) - kMagic;
}

// c0 + c1 x + c2 x^2 + ... by Horner's rule with FMA, unrolled at compile time (a loop over a
// coefficient array would stop GCC from vectorising the caller's loop).
template <typename... Cs>
TESSERA_VM_INLINE float horner(float x, float c0, Cs... cs) {
  if constexpr (sizeof...(Cs) == 0) return c0;
  else return std::fma(horner(x, cs...), x, c0);
}

// 2^n as a float for n in [-126, 127].
TESSERA_VM_INLINE float pow2i(int32_t n) { return std::bit_cast<float>((n + 127) << 23); }

// p(r) ~ exp(r) for |r| <= ln2/2 (Taylor to r^7: truncation < 1e-8 relative).
TESSERA_VM_INLINE float exp_reduced(float r) {
  return horner(r, 1.0f, 1.0f, 0.5f, 1.0f / 6, 1.0f / 24, 1.0f / 120, 1.0f / 720, 1.0f / 5040);
}

// p * 2^n for n in [-150, 128], as two factors so that subnormal results are rounded once.
TESSERA_VM_INLINE float scale_pow2(float p, int32_t n) {
  int32_t n1 = n >> 1;
  return p * pow2i(n1) * pow2i(n - n1);
}

TESSERA_VM_INLINE float exp(float x) {
  float xc = x > -104.0f ? x : -104.0f;  // NaN becomes -104 here and is restored at the end
  xc = xc < 89.0f ? xc : 89.0f;
  float k = round_nearest(xc * kLog2e);
  float r = std::fma(-k, kLn2Hi, xc);
  r = std::fma(-k, kLn2Lo, r);  // |r| <= ln2/2
  float y = scale_pow2(exp_reduced(r), int32_t(k));
  return x != x ? x : y;
}

// exp(y) for y <= 0 (or NaN): the building block of sigmoid and the normal CDF, one clamp fewer.
TESSERA_VM_INLINE float exp_nonpositive(float y) {
  float yc = y > -104.0f ? y : -104.0f;
  float k = round_nearest(yc * kLog2e);
  float r = std::fma(-k, kLn2Hi, yc);
  r = std::fma(-k, kLn2Lo, r);
  float e = scale_pow2(exp_reduced(r), int32_t(k));
  return y != y ? y : e;
}

// expm1(y) for y <= 0 (the tanh building block); accurate for tiny |y| too.
TESSERA_VM_INLINE float expm1_nonpositive(float y) {
  float yc = y > -40.0f ? y : -40.0f;
  float k = round_nearest(yc * kLog2e);
  float r = std::fma(-k, kLn2Hi, yc);
  r = std::fma(-k, kLn2Lo, r);
  float q = 1.0f / 40320;
  q = std::fma(q, r, 1.0f / 5040);
  q = std::fma(q, r, 1.0f / 720);
  q = std::fma(q, r, 1.0f / 120);
  q = std::fma(q, r, 1.0f / 24);
  q = std::fma(q, r, 1.0f / 6);
  q = std::fma(q, r, 0.5f);
  float p = std::fma(q, r * r, r);  // expm1(r)
  float s = pow2i(int32_t(k));
  return std::fma(s, p, s - 1.0f);  // 2^k (1 + p) - 1
}

TESSERA_VM_INLINE float log(float x) {
  bool sub = x < 1.17549435e-38f;  // subnormal (or <= 0): scale into the normal range
  float xs = sub ? x * 8388608.0f : x;
  int32_t bits = std::bit_cast<int32_t>(xs);
  int32_t t = bits - 0x3f3504f3;  // mantissa m in [sqrt(1/2), sqrt(2)), x = m * 2^e
  int32_t e = t >> 23;
  float m = std::bit_cast<float>((t & 0x007fffff) + 0x3f3504f3);
  float f = m - 1.0f;
  float s = f / (2.0f + f);
  float z = s * s;
  // log1p(f) = 2 atanh(s) = f - f^2/2 + s (f^2/2 + R(z)), R = 2z/3 + 2z^2/5 + ...
  float r = 2.0f / 11;
  r = std::fma(r, z, 2.0f / 9);
  r = std::fma(r, z, 2.0f / 7);
  r = std::fma(r, z, 2.0f / 5);
  r = std::fma(r, z, 2.0f / 3);
  r = r * z;
  float hfsq = 0.5f * f * f;
  float ef = float(e) - (sub ? 23.0f : 0.0f);
  float y = std::fma(ef, kLn2Hi, f - (hfsq - std::fma(s, hfsq + r, ef * kLn2Lo)));
  y = x == kInf ? x : y;
  y = x == 0.0f ? -kInf : y;
  y = x < 0.0f ? kNaN : y;
  return x != x ? x : y;
}

TESSERA_VM_INLINE float log1p(float x) {
  float u = 1.0f + x;
  float d = u - 1.0f;
  float y = log(u) * (x / d);  // corrects the rounding of 1 + x
  y = d == 0.0f ? x : y;
  return x == kInf ? x : y;
}

TESSERA_VM_INLINE float tanh(float x) {
  float a = std::fabs(x);
  float e = expm1_nonpositive(-2.0f * a);
  float t = -e / (2.0f + e);
  float y = std::copysign(t, x);
  return x != x ? x : y;
}

// e = exp(-|x|), s = 1 / (1 + e): sigmoid(x) = s (x >= 0) or e * s, and
// sigmoid(x) * (1 - sigmoid(x)) = e * s * s without cancellation.
struct SigmoidParts {
  float e, s;
};
TESSERA_VM_INLINE SigmoidParts sigmoid_parts(float x) {
  float e = exp_nonpositive(-std::fabs(x));
  return {e, 1.0f / (1.0f + e)};
}
TESSERA_VM_INLINE float sigmoid(float x) {
  SigmoidParts p = sigmoid_parts(x);
  return x >= 0.0f ? p.s : p.e * p.s;
}
TESSERA_VM_INLINE float sigmoid_grad(float x) {  // sigmoid'(x)
  SigmoidParts p = sigmoid_parts(x);
  return p.e * p.s * p.s;
}

// exp(-x^2 / 2) with x^2 split into hi + lo, so the exponent is exact to float precision.
TESSERA_VM_INLINE float exp_neg_half_square(float x) {
  float hi = x * x;
  float lo = std::fma(x, x, -hi);
  float g = exp_nonpositive(-0.5f * hi);
  return std::fma(g, -0.5f * lo, g);
}

// Phi(x), the standard normal CDF: Q = Phi(-|x|) = exp(-x^2/2) * t * G(u) with t = 1/(|x| + C),
// u = (t - Tm) * InvTh in [-1, 1] and G a degree-11 polynomial (constants from
// tools/gen_normal_cdf_coeffs.py); Phi(x) = Q for x < 0 and 1 - Q otherwise.
TESSERA_VM_INLINE float normal_cdf(float x) {
  constexpr float kC = 2.0f, kTm = 0.27941176295280457f, kInvTh = 4.5333333015441895f;
  float a = std::fabs(x);
  a = a < 15.0f ? a : 15.0f;  // beyond 15 the tail underflows to 0 anyway
  float t = 1.0f / (a + kC);
  float u = (t - kTm) * kInvTh;
  float g = horner(u, 0.7117356061935425f, 0.2970518469810486f, 0.012380694039165974f, -0.024782691150903702f,
                   0.0018488371279090643f, 0.0027750851586461067f, -0.0010988208232447505f, -5.17081753059756e-05f,
                   0.00022760646243114024f, -8.527976751793176e-05f, -1.8269573047291487e-05f,
                   1.7096061128540896e-05f);
  float q = exp_neg_half_square(a) * (t * g);
  float y = x < 0.0f ? q : 1.0f - q;
  return x != x ? x : y;
}

// phi(x) = exp(-x^2/2) / sqrt(2 pi), the standard normal density.
TESSERA_VM_INLINE float normal_pdf(float x) {
  float a = std::fabs(x);
  a = a < 20.0f ? a : 20.0f;
  float y = 0.3989422804014327f * exp_neg_half_square(a);
  return x != x ? x : y;
}

TESSERA_VM_INLINE float gelu(float x) { return x * normal_cdf(x); }
TESSERA_VM_INLINE float gelu_grad(float x) {
  // Phi(x) + x phi(x). Beyond |x| = 15, x phi(x) is 0 in float; clamping like normal_cdf's
  // tail lets the compiler share its exp.
  float xc = x < 15.0f ? (x > -15.0f ? x : -15.0f) : 15.0f;
  float a = std::fabs(x);
  a = a < 15.0f ? a : 15.0f;
  return normal_cdf(x) + xc * (0.3989422804014327f * exp_neg_half_square(a));
}

// gelu(x, approximate="tanh") = 0.5 x (1 + tanh(k0 (x + k1 x^3))) = x * sigmoid(2 k0 (x + k1 x^3)).
inline constexpr float kGeluK0 = 0.7978845608028654f;  // sqrt(2 / pi)
inline constexpr float kGeluK1 = 0.044715f;
TESSERA_VM_INLINE float gelu_tanh(float x) {
  float v = 2.0f * kGeluK0 * x * std::fma(kGeluK1 * x, x, 1.0f);
  return x * sigmoid(v);
}
TESSERA_VM_INLINE float gelu_tanh_grad(float x) {
  // d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) k0 (1 + 3 k1 x^2), t = tanh(v/2)
  //      = s + 2 x s (1 - s) k0 (1 + 3 k1 x^2), s = sigmoid(v)
  float v = 2.0f * kGeluK0 * x * std::fma(kGeluK1 * x, x, 1.0f);
  SigmoidParts p = sigmoid_parts(v);
  float s = v >= 0.0f ? p.s : p.e * p.s;
  float ds = p.e * p.s * p.s;
  float xc = x < 30.0f ? (x > -30.0f ? x : -30.0f) : 30.0f;
  float y = s + 2.0f * kGeluK0 * xc * ds * std::fma(3.0f * kGeluK1 * xc, xc, 1.0f);
  return x != x ? x : y;
}

TESSERA_VM_INLINE float silu(float x) { return x * sigmoid(x); }
TESSERA_VM_INLINE float silu_grad(float x) {  // s + x s (1 - s)
  SigmoidParts p = sigmoid_parts(x);
  float s = x >= 0.0f ? p.s : p.e * p.s;
  float xc = x < 200.0f ? (x > -200.0f ? x : -200.0f) : 200.0f;
  float y = std::fma(xc, p.e * p.s * p.s, s);
  return x != x ? x : y;
}

// 1 - tanh(x)^2 = 4 e / (1 + e)^2 with e = exp(-2|x|), accurate where tanh(x) is close to +-1.
TESSERA_VM_INLINE float tanh_grad(float x) {
  float e = exp_nonpositive(-2.0f * std::fabs(x));
  float s = 1.0f / (1.0f + e);
  return 4.0f * e * s * s;
}

// sin/cos: x = k pi/2 + r with the reduction done in double (exact enough for |x| <= 1e5).
inline constexpr float kTrigFastLimit = 1e5f;
TESSERA_VM_INLINE bool trig_needs_fixup(float x) { return !(std::fabs(x) <= kTrigFastLimit); }

TESSERA_VM_INLINE float sin_cos_quadrant(float x, int32_t shift) {
  float xs = std::fabs(x) <= kTrigFastLimit ? x : 0.0f;
  double xd = xs;
  constexpr double kTwoOverPi = 0.63661977236758134308;
  constexpr double kPio2Hi = 1.5707963267948966, kPio2Lo = 6.123233995736766e-17;
  constexpr double kMagic = 6755399441055744.0;  // 1.5 * 2^52
  double k = (xd * kTwoOverPi + kMagic) - kMagic;
  double rd = std::fma(-k, kPio2Hi, xd);
  rd = std::fma(-k, kPio2Lo, rd);
  float r = float(rd);
  int32_t q = (int32_t(k) + shift) & 3;
  float r2 = r * r;
  float ps = -1.0f / 39916800;
  ps = std::fma(ps, r2, 1.0f / 362880);
  ps = std::fma(ps, r2, -1.0f / 5040);
  ps = std::fma(ps, r2, 1.0f / 120);
  ps = std::fma(ps, r2, -1.0f / 6);
  float s = std::fma(r * r2, ps, r);
  float pc = -1.0f / 3628800;
  pc = std::fma(pc, r2, 1.0f / 40320);
  pc = std::fma(pc, r2, -1.0f / 720);
  pc = std::fma(pc, r2, 1.0f / 24);
  float c = std::fma(r2 * r2, pc, std::fma(-0.5f, r2, 1.0f));
  float v = (q & 1) ? c : s;
  v = (q & 2) ? -v : v;
  return x == 0.0f && shift == 0 ? x : v;  // sin(-0) = -0
}
TESSERA_VM_INLINE float sin(float x) { return sin_cos_quadrant(x, 0); }
TESSERA_VM_INLINE float cos(float x) { return sin_cos_quadrant(x, 1); }

}  // namespace vm

namespace dm {

// float64 counterparts (scalar std:: math; float64 elementwise is not a hot path).
TESSERA_VM_INLINE double sigmoid(double x) {
  double e = std::exp(-std::fabs(x));
  double s = 1.0 / (1.0 + e);
  return x >= 0.0 ? s : e * s;
}
TESSERA_VM_INLINE double sigmoid_grad(double x) {
  double e = std::exp(-std::fabs(x));
  double s = 1.0 / (1.0 + e);
  return e * s * s;
}
TESSERA_VM_INLINE double normal_cdf(double x) { return 0.5 * std::erfc(-x * 0.70710678118654752440); }
TESSERA_VM_INLINE double normal_pdf(double x) { return 0.39894228040143267794 * std::exp(-0.5 * x * x); }
TESSERA_VM_INLINE double gelu(double x) { return x * normal_cdf(x); }
TESSERA_VM_INLINE double gelu_grad(double x) {
  double xc = x < 40.0 ? (x > -40.0 ? x : -40.0) : 40.0;
  return normal_cdf(x) + xc * normal_pdf(xc);
}
inline constexpr double kGeluK0 = 0.79788456080286535588;
inline constexpr double kGeluK1 = 0.044715;
TESSERA_VM_INLINE double gelu_tanh(double x) { return x * sigmoid(2.0 * kGeluK0 * (x + kGeluK1 * x * x * x)); }
TESSERA_VM_INLINE double gelu_tanh_grad(double x) {  // s + 2 k0 x (1 + 3 k1 x^2) s (1 - s), s = sigmoid(2u)
  double v = 2.0 * kGeluK0 * (x + kGeluK1 * x * x * x);
  double xc = x < 60.0 ? (x > -60.0 ? x : -60.0) : 60.0;
  return sigmoid(v) + 2.0 * kGeluK0 * xc * (1.0 + 3.0 * kGeluK1 * xc * xc) * sigmoid_grad(v);
}
TESSERA_VM_INLINE double silu(double x) { return x * sigmoid(x); }
TESSERA_VM_INLINE double silu_grad(double x) {
  double xc = x < 800.0 ? (x > -800.0 ? x : -800.0) : 800.0;
  return sigmoid(x) + xc * sigmoid_grad(x);
}
TESSERA_VM_INLINE double tanh_grad(double x) {
  double e = std::exp(-2.0 * std::fabs(x));
  double s = 1.0 / (1.0 + e);
  return 4.0 * e * s * s;
}

}  // namespace dm
}  // namespace TESSERA_CPU_ISA_NS
}  // namespace tessera::cpu
