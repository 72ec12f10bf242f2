// Binary elementwise ops (tessera::BinaryOp) on tensors and with a scalar, where, clamp and
// masked_fill. 16-bit floats compute in float32; Maximum/Minimum/clamp propagate NaN.
#include "tessera/cuda/kernels/common.cuh"

namespace tessera::cuda::kern {

namespace {
// Values of tessera::BinaryOp.
enum B : int { Add, Sub, Mul, Div, Pow, Maximum, Minimum, Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr };

template <typename C>
__device__ __forceinline__ C ipow(C base, C e) {
  if (e < 0) return base == 1 ? C(1) : base == -1 ? ((e & 1) ? C(-1) : C(1)) : C(0);
  C r = 1;
  while (e) {
    if (e & 1) r *= base;
    base *= base;
    e >>= 1;
  }
  return r;
}

// C is the compute type (float for 16-bit floats, int64 for bool).
template <typename C>
__device__ __forceinline__ C arith(int op, C a, C b, C alpha) {
  switch (op) {
    case Add: return a + alpha * b;
    case Sub: return a - alpha * b;
    case Mul: return a * b;
    case Div:
      if constexpr (std::is_integral_v<C>) return b == 0 ? C(0) : a / b;
      else return a / b;
    case Pow:
      if constexpr (std::is_integral_v<C>) return ipow<C>(a, b);
      else return pow(a, b);
    case Maximum:
      if constexpr (!std::is_integral_v<C>) { if (a != a || b != b) return a + b; }
      return a > b ? a : b;
    case Minimum:
      if constexpr (!std::is_integral_v<C>) { if (a != a || b != b) return a + b; }
      return a < b ? a : b;
  }
  return a;
}

template <typename C>
__device__ __forceinline__ bool compare(int op, C a, C b) {
  switch (op) {
    case Eq: return a == b;
    case Ne: return a != b;
    case Lt: return a < b;
    case Le: return a <= b;
    case Gt: return a > b;
    case Ge: return a >= b;
    case LogicalAnd: return a != C(0) && b != C(0);
    case LogicalOr: return a != C(0) || b != C(0);
  }
  return false;
}

template <typename T>
using calc_t = std::conditional_t<std::is_same_v<T, bool>, int64_t, compute_t<T>>;
}  // namespace

namespace {
template <typename T>
cudaError_t binary_t(int op, const Geo<3>& g, KScalar alpha_s, cudaStream_t s) {
  using C = calc_t<T>;
  const T* a = reinterpret_cast<const T*>(g.data[1]);
  const T* b = reinterpret_cast<const T*>(g.data[2]);
  if (op >= Eq) {
    bool* out = reinterpret_cast<bool*>(g.data[0]);
    return launch_elementwise<3>(g, s, [=] __device__(Offsets<3> o) {
      out[o.o[0]] = compare<C>(op, cast<C>(a[o.o[1]]), cast<C>(b[o.o[2]]));
    });
  }
  T* out = reinterpret_cast<T*>(g.data[0]);
  C alpha = scalar_as<C>(alpha_s);
  return launch_elementwise<3>(g, s, [=] __device__(Offsets<3> o) {
    out[o.o[0]] = cast<T>(arith<C>(op, cast<C>(a[o.o[1]]), cast<C>(b[o.o[2]]), alpha));
  });
}

template <typename T>
cudaError_t binary_scalar_t(int op, const Geo<2>& g, KScalar v, bool reverse, cudaStream_t s) {
  using C = calc_t<T>;
  const T* a = reinterpret_cast<const T*>(g.data[1]);
  C sv = scalar_as<C>(v);
  if (op >= Eq) {
    bool* out = reinterpret_cast<bool*>(g.data[0]);
    return launch_elementwise<2>(g, s, [=] __device__(Offsets<2> o) {
      C x = cast<C>(a[o.o[1]]);
      out[o.o[0]] = reverse ? compare<C>(op, sv, x) : compare<C>(op, x, sv);
    });
  }
  T* out = reinterpret_cast<T*>(g.data[0]);
  return launch_elementwise<2>(g, s, [=] __device__(Offsets<2> o) {
    C x = cast<C>(a[o.o[1]]);
    out[o.o[0]] = cast<T>(reverse ? arith<C>(op, sv, x, C(1)) : arith<C>(op, x, sv, C(1)));
  });
}

template <typename T>
cudaError_t where_t(const Geo<4>& g, cudaStream_t s) {
  T* out = reinterpret_cast<T*>(g.data[0]);
  const bool* c = reinterpret_cast<const bool*>(g.data[1]);
  const T* a = reinterpret_cast<const T*>(g.data[2]);
  const T* b = reinterpret_cast<const T*>(g.data[3]);
  return launch_elementwise<4>(g, s, [=] __device__(Offsets<4> o) { out[o.o[0]] = c[o.o[1]] ? a[o.o[2]] : b[o.o[3]]; });
}

template <typename T>
cudaError_t clamp_t(const Geo<2>& g, bool has_lo, KScalar lo_s, bool has_hi, KScalar hi_s, cudaStream_t s) {
  using C = calc_t<T>;
  T* out = reinterpret_cast<T*>(g.data[0]);
  const T* in = reinterpret_cast<const T*>(g.data[1]);
  C lo = scalar_as<C>(lo_s), hi = scalar_as<C>(hi_s);
  return launch_elementwise<2>(g, s, [=] __device__(Offsets<2> o) {
    C x = cast<C>(in[o.o[1]]);
    if (x == x) {  // NaN stays NaN
      if (has_lo && x < lo) x = lo;
      if (has_hi && x > hi) x = hi;
    }
    out[o.o[0]] = cast<T>(x);
  });
}

template <typename T>
cudaError_t masked_fill_t(const Geo<2>& g, KScalar v, cudaStream_t s) {
  T* self = reinterpret_cast<T*>(g.data[0]);
  const bool* mask = reinterpret_cast<const bool*>(g.data[1]);
  T val = cast<T>(scalar_as<calc_t<T>>(v));
  return launch_elementwise<2>(g, s, [=] __device__(Offsets<2> o) {
    if (mask[o.o[1]]) self[o.o[0]] = val;
  });
}
}  // namespace

cudaError_t binary(int op, const Geo<3>& g, KScalar alpha, cudaStream_t s) {
  TK_DISPATCH_ALL(g.dtype[1], binary_t, op, g, alpha, s)
}
cudaError_t binary_scalar(int op, const Geo<2>& g, KScalar v, bool reverse, cudaStream_t s) {
  TK_DISPATCH_ALL(g.dtype[1], binary_scalar_t, op, g, v, reverse, s)
}
cudaError_t where(const Geo<4>& g, cudaStream_t s) { TK_DISPATCH_ALL(g.dtype[0], where_t, g, s) }
cudaError_t clamp(const Geo<2>& g, bool has_lo, KScalar lo, bool has_hi, KScalar hi, cudaStream_t s) {
  TK_DISPATCH_ALL(g.dtype[0], clamp_t, g, has_lo, lo, has_hi, hi, s)
}
cudaError_t masked_fill(const Geo<2>& g, KScalar v, cudaStream_t s) {
  TK_DISPATCH_ALL(g.dtype[0], masked_fill_t, g, v, s)
}

}  // namespace tessera::cuda::kern
