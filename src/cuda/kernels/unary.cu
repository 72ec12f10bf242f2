// Unary elementwise ops (tessera::UnaryOp) and their backward, every dtype the CPU supports.
// 16-bit floats compute in float32; integer inputs of float-only ops compute in double.
#include "tessera/cuda/kernels/common.cuh"

namespace tessera::cuda::kern {

namespace {
// Values of tessera::UnaryOp.
enum U : int { Neg, Abs, Exp, Log, Log1p, Sqrt, Rsqrt, Square, Reciprocal, Sign, Tanh, Sigmoid, Relu, GeluErf,
               GeluTanh, Silu, Sin, Cos, LogicalNot };

template <typename C>
__device__ __forceinline__ C sigmoid(C x) { return C(1) / (C(1) + exp(-x)); }

template <typename C>
__device__ __forceinline__ C unary_float(int op, C x) {
  constexpr C kSqrt1_2 = C(0.70710678118654752440);
  constexpr C kBeta = C(0.79788456080286535588);  // sqrt(2/pi)
  constexpr C kKappa = C(0.044715);
  switch (op) {
    case Neg: return -x;
    case Abs: return fabs(x);
    case Exp: return exp(x);
    case Log: return log(x);
    case Log1p: return log1p(x);
    case Sqrt: return sqrt(x);
    case Rsqrt: return C(1) / sqrt(x);
    case Square: return x * x;
    case Reciprocal: return C(1) / x;
    case Sign: return C((x > C(0)) - (x < C(0)));  // NaN -> 0, like torch.sign
    case Tanh: return tanh(x);
    case Sigmoid: return sigmoid(x);
    case Relu: return x != x ? x : (x > C(0) ? x : C(0));
    case GeluErf: return C(0.5) * x * (C(1) + erf(x * kSqrt1_2));
    case GeluTanh: return C(0.5) * x * (C(1) + tanh(kBeta * (x + kKappa * x * x * x)));
    case Silu: return x * sigmoid(x);
    case Sin: return sin(x);
    case Cos: return cos(x);
  }
  return x;
}

template <typename T>
__device__ __forceinline__ T unary_int(int op, T x) {
  switch (op) {
    case Neg: return -x;
    case Abs: return x < 0 ? -x : x;
    case Square: return x * x;
    case Sign: return T((x > 0) - (x < 0));
    case Relu: return x > 0 ? x : T(0);
  }
  return T(unary_float<double>(op, double(x)));
}

template <typename C>
__device__ __forceinline__ C unary_grad(int op, C g, C x) {
  constexpr C kSqrt1_2 = C(0.70710678118654752440);
  constexpr C kInvSqrt2Pi = C(0.39894228040143267794);
  constexpr C kBeta = C(0.79788456080286535588);
  constexpr C kKappa = C(0.044715);
  switch (op) {
    case Neg: return -g;
    case Abs: return x != x ? x : g * C((x > C(0)) - (x < C(0)));
    case Exp: return g * exp(x);
    case Log: return g / x;
    case Log1p: return g / (C(1) + x);
    case Sqrt: return g / (C(2) * sqrt(x));
    case Rsqrt: { C r = C(1) / sqrt(x); return C(-0.5) * g * r * r * r; }
    case Square: return C(2) * g * x;
    case Reciprocal: return -g / (x * x);
    case Sign: return C(0) * g;
    case Tanh: { C t = tanh(x); return g * (C(1) - t * t); }
    case Sigmoid: { C s = sigmoid(x); return g * s * (C(1) - s); }
    case Relu: return x > C(0) ? g : C(0);
    case GeluErf: {
      C cdf = C(0.5) * (C(1) + erf(x * kSqrt1_2));
      C pdf = kInvSqrt2Pi * exp(C(-0.5) * x * x);
      return g * (cdf + x * pdf);
    }
    case GeluTanh: {
      C inner = kBeta * (x + kKappa * x * x * x);
      C t = tanh(inner);
      C dinner = kBeta * (C(1) + C(3) * kKappa * x * x);
      return g * (C(0.5) * (C(1) + t) + C(0.5) * x * (C(1) - t * t) * dinner);
    }
    case Silu: { C s = sigmoid(x); return g * s * (C(1) + x * (C(1) - s)); }
    case Sin: return g * cos(x);
    case Cos: return -g * sin(x);
  }
  return g;
}
}  // namespace

namespace {
template <typename T>
cudaError_t logical_not_t(const Geo<2>& g, cudaStream_t s) {
  bool* out = reinterpret_cast<bool*>(g.data[0]);
  const T* in = reinterpret_cast<const T*>(g.data[1]);
  return launch_elementwise<2>(g, s, [=] __device__(Offsets<2> o) { out[o.o[0]] = !cast<bool>(in[o.o[1]]); });
}
template <typename T>
cudaError_t unary_t(int op, const Geo<2>& g, cudaStream_t s) {
  T* out = reinterpret_cast<T*>(g.data[0]);
  const T* in = reinterpret_cast<const T*>(g.data[1]);
  if constexpr (std::is_same_v<T, bool>) {
    return launch_elementwise<2>(g, s, [=] __device__(Offsets<2> o) {
      out[o.o[0]] = cast<bool>(unary_int<int64_t>(op, int64_t(in[o.o[1]])));
    });
  } else if constexpr (std::is_integral_v<T>) {
    return launch_elementwise<2>(g, s, [=] __device__(Offsets<2> o) { out[o.o[0]] = unary_int<T>(op, in[o.o[1]]); });
  } else {
    using C = compute_t<T>;
    return launch_elementwise<2>(g, s, [=] __device__(Offsets<2> o) {
      out[o.o[0]] = T(unary_float<C>(op, C(in[o.o[1]])));
    });
  }
}
template <typename T>
cudaError_t unary_backward_t(int op, const Geo<3>& g, cudaStream_t s) {
  using C = compute_t<T>;
  T* gi = reinterpret_cast<T*>(g.data[0]);
  const T* go = reinterpret_cast<const T*>(g.data[1]);
  const T* x = reinterpret_cast<const T*>(g.data[2]);
  return launch_elementwise<3>(g, s, [=] __device__(Offsets<3> o) {
    gi[o.o[0]] = T(unary_grad<C>(op, C(go[o.o[1]]), C(x[o.o[2]])));
  });
}
}  // namespace

cudaError_t unary(int op, const Geo<2>& g, cudaStream_t s) {
  if (op == LogicalNot) {  // out bool, in any dtype
    TK_DISPATCH_ALL(g.dtype[1], logical_not_t, g, s)
  }
  TK_DISPATCH_ALL(g.dtype[0], unary_t, op, g, s)
}

cudaError_t unary_backward(int op, const Geo<3>& g, cudaStream_t s) {
  TK_DISPATCH_FLOAT(g.dtype[0], unary_backward_t, op, g, s)
}

}  // namespace tessera::cuda::kern
