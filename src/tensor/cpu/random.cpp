// CPU random primitives (Note [philox stream] in rng.h): every output element is a pure function
// of (seed, offset + i), so the work splits across threads without changing any value.
#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/rng.h"

namespace tessera::cpu {

namespace {

constexpr int64_t kRandomCost = 16;  // a Philox block is ~40 integer ops

template <typename T, typename F>
void fill_random(const Tensor& out, uint64_t offset, const F& value_of) {
  TESSERA_INTERNAL_ASSERT(out.is_contiguous(), "random primitives take a contiguous output");
  T* p = out.data_ptr<T>();
  parallel_for(out.numel(), kRandomCost, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i] = value_of(offset + uint64_t(i));
  });
}

}  // namespace

void CpuBackend::random_uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) {
  switch (out.dtype()) {
    case DType::Float64:
      return fill_random<double>(out, offset, [&](uint64_t idx) {
        Philox4x32 w = philox_words(seed, idx);
        return low + philox_uniform_double(w.v[0], w.v[1]) * (high - low);
      });
    case DType::Float32: {
      float lo = float(low), range = float(high - low);
      return fill_random<float>(out, offset, [&](uint64_t idx) {
        return lo + philox_uniform_float(philox_words(seed, idx).v[0]) * range;
      });
    }
    case DType::BFloat16: {
      float lo = float(low), range = float(high - low);
      return fill_random<BFloat16>(out, offset, [&](uint64_t idx) {
        return BFloat16(lo + philox_uniform_bfloat16(philox_words(seed, idx).v[0]) * range);
      });
    }
    case DType::Float16: {
      float lo = float(low), range = float(high - low);
      return fill_random<Half>(out, offset, [&](uint64_t idx) {
        return Half(lo + philox_uniform_half(philox_words(seed, idx).v[0]) * range);
      });
    }
    default: break;
  }
  throw DTypeError(fmt::format("rand: not implemented for dtype {}", dtype_name(out.dtype())));
}

void CpuBackend::random_normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  TESSERA_DISPATCH_FLOATING_TYPES(out.dtype(), "randn", [&] {
    fill_random<scalar_t>(out, offset, [&](uint64_t idx) {
      Philox4x32 w = philox_words(seed, idx);
      double v = mean + std * philox_normal(w.v[0], w.v[1]);
      if constexpr (std::is_same_v<scalar_t, double>) return v;
      else return scalar_t(float(v));
    });
  });
}

void CpuBackend::random_int(const Tensor& out, int64_t low, int64_t high, uint64_t seed, uint64_t offset) {
  const uint64_t range = uint64_t(high) - uint64_t(low);
  TESSERA_DISPATCH_NUMERIC_TYPES(out.dtype(), "randint", [&] {
    fill_random<scalar_t>(out, offset, [&](uint64_t idx) {
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
  fill_random<bool>(out, offset, [&](uint64_t idx) { return philox_keep(philox_words(seed, idx).v[0], p); });
}

}  // namespace tessera::cpu
