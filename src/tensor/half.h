// BFloat16 and Half: 16-bit float storage types. Arithmetic converts to float32; conversion from
// float rounds to nearest even (NaN stays NaN). Layout is the IEEE/bfloat16 bit pattern, so the
// CUDA backend can reinterpret the same bytes as __nv_bfloat16 / __half.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define TESSERA_HOST_DEVICE __host__ __device__
#else
#define TESSERA_HOST_DEVICE
#endif

namespace tessera {

namespace detail {
TESSERA_HOST_DEVICE inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
TESSERA_HOST_DEVICE inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
}  // namespace detail

struct BFloat16 {
  uint16_t bits = 0;
  BFloat16() = default;
  TESSERA_HOST_DEVICE BFloat16(float f) : bits(round(f)) {}  // NOLINT: implicit like c10
  TESSERA_HOST_DEVICE operator float() const { return detail::bits_float(uint32_t(bits) << 16); }
  TESSERA_HOST_DEVICE static BFloat16 from_bits(uint16_t b) {
    BFloat16 r;
    r.bits = b;
    return r;
  }
  TESSERA_HOST_DEVICE static uint16_t round(float f) {
    uint32_t u = detail::float_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x0040u);  // quiet NaN
    uint32_t lsb = (u >> 16) & 1u;
    u += 0x7fffu + lsb;  // round to nearest, ties to even
    return uint16_t(u >> 16);
  }
};

struct Half {
  uint16_t bits = 0;
  Half() = default;
  TESSERA_HOST_DEVICE Half(float f) : bits(round(f)) {}  // NOLINT: implicit like c10
  TESSERA_HOST_DEVICE operator float() const { return to_float(bits); }
  TESSERA_HOST_DEVICE static Half from_bits(uint16_t b) {
    Half r;
    r.bits = b;
    return r;
  }
  TESSERA_HOST_DEVICE static float to_float(uint16_t h) {
    uint32_t sign = uint32_t(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0) {
      if (man == 0) return detail::bits_float(sign);
      // subnormal: value = man * 2^-24
      float v = float(man) * 5.9604644775390625e-8f;
      return sign ? -v : v;
    }
    if (exp == 31) return detail::bits_float(sign | 0x7f800000u | (man << 13));
    return detail::bits_float(sign | ((exp + 112u) << 23) | (man << 13));
  }
  TESSERA_HOST_DEVICE static uint16_t round(float f) {
    uint32_t u = detail::float_bits(f);
    uint32_t sign = (u >> 16) & 0x8000u;
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u);  // NaN
    if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // overflow (>= 65520) -> inf
    if (abs < 0x38800000u) {
      // result is subnormal or zero: value / 2^-24 rounded to nearest even
      if (abs < 0x33000000u) return uint16_t(sign);  // < 2^-25 rounds to 0
      uint32_t e = abs >> 23;
      uint32_t m = (abs & 0x7fffffu) | 0x800000u;
      uint32_t shift = 126u - e;  // 113 + 13 for e in [102,112]
      uint32_t q = m >> shift;
      uint32_t rem = m & ((1u << shift) - 1u);
      uint32_t half = 1u << (shift - 1u);
      if (rem > half || (rem == half && (q & 1u))) ++q;
      return uint16_t(sign | q);
    }
    uint32_t lsb = (abs >> 13) & 1u;
    abs += 0xfffu + lsb;
    return uint16_t(sign | ((abs - 0x38000000u) >> 13));
  }
};

}  // namespace tessera
