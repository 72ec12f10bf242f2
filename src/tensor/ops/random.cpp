// Raw random ops (rand, randn, randint, dropout_mask) and the public random factories. Each call
// reserves numel counters from the default generator (Note [philox stream] in rng.h).
#include <limits>

#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"
#include "tessera/tensor/raw.h"
#include "tessera/tensor/rng.h"

namespace tessera {

namespace raw {

Tensor rand(IntArrayRef sizes, const TensorOptions& options) {
  TESSERA_CHECK(is_floating_point(options.dtype()), DTypeError,
                "rand: expected a floating point dtype, but got {}", dtype_name(options.dtype()));
  Tensor out = raw::empty(sizes, options);
  if (out.numel() == 0) return out;
  GeneratorState s = default_generator().reserve(uint64_t(out.numel()));
  backend_for(out).random_uniform(out, 0.0, 1.0, s.seed, s.offset);
  return out;
}

Tensor randn(IntArrayRef sizes, const TensorOptions& options) {
  TESSERA_CHECK(is_floating_point(options.dtype()), DTypeError,
                "randn: expected a floating point dtype, but got {}", dtype_name(options.dtype()));
  Tensor out = raw::empty(sizes, options);
  if (out.numel() == 0) return out;
  GeneratorState s = default_generator().reserve(uint64_t(out.numel()));
  backend_for(out).random_normal(out, 0.0, 1.0, s.seed, s.offset);
  return out;
}

Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, const TensorOptions& options) {
  DType dt = options.dtype();
  TESSERA_CHECK(dt != DType::Bool, DTypeError, "randint: not implemented for dtype bool");
  TESSERA_CHECK(low < high, ValueError, "randint: expects 'low' to be less than 'high', but got low={} >= high={}",
                low, high);
  if (dt == DType::Int32) {
    TESSERA_CHECK(low >= std::numeric_limits<int32_t>::min() && high - 1 <= std::numeric_limits<int32_t>::max(),
                  ValueError, "randint: the range [{}, {}) does not fit dtype int32", low, high);
  }
  Tensor out = raw::empty(sizes, options);
  if (out.numel() == 0) return out;
  GeneratorState s = default_generator().reserve(uint64_t(out.numel()));
  backend_for(out).random_int(out, low, high, s.seed, s.offset);
  return out;
}

Tensor dropout_mask(IntArrayRef sizes, double p, Device device) {
  TESSERA_CHECK(p >= 0.0 && p <= 1.0, ValueError,
                "dropout_mask: dropout probability has to be between 0 and 1, but got {}", p);
  Tensor out = raw::empty(sizes, TensorOptions(DType::Bool).device(device));
  if (out.numel() == 0) return out;
  GeneratorState s = default_generator().reserve(uint64_t(out.numel()));
  backend_for(out).dropout_mask(out, p, s.seed, s.offset);
  return out;
}

}  // namespace raw

namespace {
Tensor finish(Tensor t, const TensorOptions& options) {
  if (options.requires_grad()) t.requires_grad_(true);
  return t;
}
}  // namespace

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

Tensor rand(IntArrayRef sizes, const TensorOptions& o) { return finish(raw::rand(sizes, o), o); }
Tensor randn(IntArrayRef sizes, const TensorOptions& o) { return finish(raw::randn(sizes, o), o); }
Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, const TensorOptions& o) {
  return finish(raw::randint(low, high, sizes, o), o);
}
Tensor randint(int64_t high, IntArrayRef sizes, const TensorOptions& o) { return randint(0, high, sizes, o); }
Tensor rand_like(const Tensor& t) { return raw::rand(t.sizes(), t.options()); }
Tensor randn_like(const Tensor& t) { return raw::randn(t.sizes(), t.options()); }

}  // namespace tessera
