// CPU selection primitives: where (out = cond ? a : b), clamp, masked_fill. where and
// masked_fill move raw element bits (by element size), so they are exact for every dtype.
#include <cstring>
#include <type_traits>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/elementwise_loops.h"
#include "tessera/tensor/cpu/elementwise_math.h"

namespace tessera::cpu {

namespace {

// Calls body.template operator()<U>() with U the unsigned integer type of the element size.
template <typename F>
void dispatch_bits(DType dtype, const F& body) {
  switch (element_size(dtype)) {
    case 1: return body.template operator()<uint8_t>();
    case 2: return body.template operator()<uint16_t>();
    case 4: return body.template operator()<uint32_t>();
    case 8: return body.template operator()<uint64_t>();
    default: break;
  }
  throw DTypeError(fmt::format("where: unsupported dtype {}", dtype_name(dtype)));
}

template <typename U>
U scalar_bits(Scalar value, DType dtype) {
  U bits = 0;
  TESSERA_DISPATCH_ALL_TYPES(dtype, "masked_fill", [&] {
    scalar_t v = value.to<scalar_t>();
    static_assert(sizeof(scalar_t) <= 8);
    if constexpr (sizeof(scalar_t) == sizeof(U)) std::memcpy(&bits, &v, sizeof(U));
  });
  return bits;
}

template <typename C, bool kLo, bool kHi>
struct ClampFn {
  C lo, hi;
  TESSERA_VM_INLINE C operator()(C x) const {
    C r = x;
    if constexpr (kLo) {
      if constexpr (std::is_floating_point_v<C>) r = (r < lo || lo != lo) ? lo : r;
      else r = r < lo ? lo : r;
    }
    if constexpr (kHi) {
      if constexpr (std::is_floating_point_v<C>) r = (r > hi || hi != hi) ? hi : r;
      else r = r > hi ? hi : r;
    }
    return r;
  }
};

}  // namespace

void CpuBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  dispatch_bits(out.dtype(), [&]<typename U>() {
    elementwise<U, bool, U, U>(out, {&cond, &a, &b}, [](bool c, U x, U y) { return c ? x : y; });
  });
}

void CpuBackend::masked_fill(const Tensor& self, const Tensor& mask, Scalar value) {
  dispatch_bits(self.dtype(), [&]<typename U>() {
    const U v = scalar_bits<U>(value, self.dtype());
    elementwise<U, U, bool>(self, {&self, &mask}, [v](U x, bool m) { return m ? v : x; });
  });
}

void CpuBackend::clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  TESSERA_DISPATCH_ALL_TYPES(in.dtype(), "clamp", [&] {
    using T = scalar_t;
    using C = compute_t<T>;
    C l = lo ? lo->to<C>() : C(0), h = hi ? hi->to<C>() : C(0);
    if (lo && hi) elementwise<T, T>(out, {&in}, ClampFn<C, true, true>{l, h});
    else if (lo) elementwise<T, T>(out, {&in}, ClampFn<C, true, false>{l, h});
    else if (hi) elementwise<T, T>(out, {&in}, ClampFn<C, false, true>{l, h});
    else elementwise<T, T>(out, {&in}, [](C x) { return x; });
  });
}

}  // namespace tessera::cpu
