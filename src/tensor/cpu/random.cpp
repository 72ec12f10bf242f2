// CPU random primitives (Note [philox stream] in rng.h): every output element is a pure function
// of (seed, offset + i), so the work splits across threads without changing any value.
#include <algorithm>
#include <type_traits>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/rng.h"

namespace tessera::cpu {

namespace {

constexpr int64_t kRandomCost = 16;  // a Philox block is ~40 integer ops

// p[i] = value_of(offset + i); value_of is pure integer/float code, so the loop vectorises
// (Philox's 32x32->64 multiplies map to vpmuludq).
template <typename T, typename F>
void fill_random(const Tensor& out, uint64_t offset, const F& value_of) {
  TESSERA_INTERNAL_ASSERT(out.is_contiguous(), "random primitives take a contiguous output");
  T* p = out.data_ptr<T>();
  parallel_for(out.numel(), kRandomCost, [&](int64_t b, int64_t e) {
#pragma omp simd
    for (int64_t i = b; i < e; ++i) p[i] = value_of(offset + uint64_t(i));
  });
}

// Per block: the Philox words in a vectorised loop, then the double-precision Box-Muller
// transform (philox_normal: std:: log/cos) element by element.
template <typename T>
void normal_kernel(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  TESSERA_INTERNAL_ASSERT(out.is_contiguous(), "random primitives take a contiguous output");
  T* p = out.data_ptr<T>();
  parallel_for(out.numel(), 4 * kRandomCost, [&](int64_t b, int64_t e) {
    constexpr int64_t kBlock = 512;
    uint32_t w0[kBlock], w1[kBlock];
    for (int64_t s = b; s < e; s += kBlock) {
      const int64_t n = std::min(kBlock, e - s);
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) {
        Philox4x32 w = philox_words(seed, offset + uint64_t(s + i));
        w0[i] = w.v[0];
        w1[i] = w.v[1];
      }
      for (int64_t i = 0; i < n; ++i) {
        double v = mean + std * philox_normal(w0[i], w1[i]);
        if constexpr (std::is_same_v<T, double>) p[s + i] = v;
        else p[s + i] = T(float(v));
      }
    }
  });
}

}  // namespace

void CpuBackend::random_uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) {
  const float lo = float(low), range = float(high - low);
  switch (out.dtype()) {
    case DType::Float64:
      return fill_random<double>(out, offset, [=](uint64_t idx) {
        Philox4x32 w = philox_words(seed, idx);
        return low + philox_uniform_double(w.v[0], w.v[1]) * (high - low);
      });
    case DType::Float32:
      return fill_random<float>(out, offset, [=](uint64_t idx) {
        return lo + philox_uniform_float(philox_words(seed, idx).v[0]) * range;
      });
    case DType::BFloat16:
      return fill_random<BFloat16>(out, offset, [=](uint64_t idx) {
        return BFloat16(lo + philox_uniform_bfloat16(philox_words(seed, idx).v[0]) * range);
      });
    case DType::Float16:
      return fill_random<Half>(out, offset, [=](uint64_t idx) {
        return Half(lo + philox_uniform_half(philox_words(seed, idx).v[0]) * range);
      });
    default: break;
  }
  throw DTypeError(fmt::format("rand: not implemented for dtype {}", dtype_name(out.dtype())));
}

void CpuBackend::random_normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  TESSERA_DISPATCH_FLOATING_TYPES(out.dtype(), "randn",
                                  [&] { normal_kernel<scalar_t>(out, mean, std, seed, offset); });
}

void CpuBackend::random_int(const Tensor& out, int64_t low, int64_t high, uint64_t seed, uint64_t offset) {
  const uint64_t range = uint64_t(high) - uint64_t(low);
  TESSERA_DISPATCH_NUMERIC_TYPES(out.dtype(), "randint", [&] {
    fill_random<scalar_t>(out, offset, [=](uint64_t idx) {
      Philox4x32 w = philox_words(seed, idx);
      int64_t v = philox_randint(w.v[0], w.v[1], low, range);
      if constexpr (std::is_same_v<scalar_t, BFloat16> || std::is_same_v<scalar_t, Half>) return scalar_t(float(v));
      else return scalar_t(v);
    });
  });
}

void CpuBackend::dropout_mask(const Tensor& out, double p, uint64_t seed, uint64_t offset) {
  TESSERA_CHECK(out.dtype() == DType::Bool, DTypeError, "dropout_mask: expects a bool output, got {}",
                dtype_name(out.dtype()));
  fill_random<bool>(out, offset, [=](uint64_t idx) { return philox_keep(philox_words(seed, idx).v[0], p); });
}

}  // namespace tessera::cpu
