// Philox4x32-10 for host and device, and the element generators of Note [philox stream]
// (BRIEF / src/tensor/rng.h): what element i of a random call with (seed, offset) must be, bit
// for bit on CPU and CUDA. Kept free of fmt so nvcc can include it. The arithmetic is spelled so
// no compiler can contract it into FMAs differently on host and device (the CPU build is ISO C++,
// which does not contract; on the device the _rn intrinsics are never contracted).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tessera/tensor/half.h"

namespace tessera::philox {

struct U4 {
  uint32_t w[4];
};

TESSERA_HOST_DEVICE inline void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = uint64_t(a) * uint64_t(b);
  hi = uint32_t(p >> 32);
  lo = uint32_t(p);
}

// Philox4x32 with 10 rounds (Salmon et al. 2011).
TESSERA_HOST_DEVICE inline U4 philox4x32_10(U4 c, uint32_t k0, uint32_t k1) {
  for (int r = 0; r < 10; ++r) {
    if (r > 0) {
      k0 += 0x9E3779B9u;
      k1 += 0xBB67AE85u;
    }
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c.w[0], hi0, lo0);
    mulhilo(0xCD9E8D57u, c.w[2], hi1, lo1);
    U4 n;
    n.w[0] = hi1 ^ c.w[1] ^ k0;
    n.w[1] = lo1;
    n.w[2] = hi0 ^ c.w[3] ^ k1;
    n.w[3] = lo0;
    c = n;
  }
  return c;
}

// The four words for element i of a call with base `offset`.
TESSERA_HOST_DEVICE inline U4 words(uint64_t seed, uint64_t offset, uint64_t i) {
  uint64_t ctr = offset + i;
  U4 c{{uint32_t(ctr), uint32_t(ctr >> 32), 0u, 0u}};
  return philox4x32_10(c, uint32_t(seed), uint32_t(seed >> 32));
}

TESSERA_HOST_DEVICE inline float mul_f(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
TESSERA_HOST_DEVICE inline float add_f(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
TESSERA_HOST_DEVICE inline double mul_d(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
TESSERA_HOST_DEVICE inline double add_d(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

// Uniform in [0, 1) at the resolution of T (float: 24 bits, bf16: 8, half: 11, double: 53).
template <typename T>
TESSERA_HOST_DEVICE inline auto unit(const U4& w) {
  if constexpr (sizeof(T) == 8) return double((((uint64_t(w.w[0]) << 32) | w.w[1]) >> 11)) * 0x1p-53;
  else if constexpr (std::is_same_v<T, BFloat16>) return float(w.w[0] >> 24) * 0x1p-8f;
  else if constexpr (std::is_same_v<T, Half>) return float(w.w[0] >> 21) * 0x1p-11f;
  else return float(w.w[0] >> 8) * 0x1p-24f;
}

// low + u * (high - low) in T's compute type (double for double, float otherwise), rounded to T.
template <typename T>
TESSERA_HOST_DEVICE inline T uniform(const U4& w, double low, double high) {
  if constexpr (sizeof(T) == 8) {
    return add_d(low, mul_d(unit<double>(w), add_d(high, -low)));
  } else {
    float lo = float(low), hi = float(high);
    return T(add_f(lo, mul_f(unit<T>(w), add_f(hi, -lo))));
  }
}

// Standard normal from one element's words (Box-Muller in double).
TESSERA_HOST_DEVICE inline double standard_normal(const U4& w) {
  double u1 = double((w.w[0] >> 8) + 1u) * 0x1p-24;
  double u2 = double(w.w[1] >> 8) * 0x1p-24;
  // ::-qualified: inside namespace tessera, tessera::log(const Tensor&) would hide the C function.
  return ::sqrt(-2.0 * ::log(u1)) * ::cos(6.283185307179586 * u2);
}

template <typename T>
TESSERA_HOST_DEVICE inline T normal(const U4& w, double mean, double std) {
  double v = add_d(mean, mul_d(std, standard_normal(w)));
  if constexpr (sizeof(T) == 8) return v;
  else return T(float(v));
}

TESSERA_HOST_DEVICE inline int64_t randint(const U4& w, int64_t low, int64_t high) {
  uint64_t range = uint64_t(high) - uint64_t(low);
  uint64_t r = ((uint64_t(w.w[0]) << 32) | w.w[1]) % range;
  return int64_t(uint64_t(low) + r);
}

TESSERA_HOST_DEVICE inline bool keep(const U4& w, double p) { return double(w.w[0] >> 8) * 0x1p-24 >= p; }

}  // namespace tessera::philox
