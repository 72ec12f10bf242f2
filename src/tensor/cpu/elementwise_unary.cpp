// CPU unary elementwise primitives: CpuBackend::unary (neg ... logical_not) and
// CpuBackend::unary_backward (grad * d op(x)/dx). float32 (and the 16-bit floats, computed in
// float32) use the vectorisable math of elementwise_math.h; float64 uses std:: math.
#include <cmath>
#include <type_traits>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/elementwise_loops.h"
#include "tessera/tensor/cpu/elementwise_math.h"

namespace tessera::cpu {

namespace {

template <typename C>
TESSERA_VM_INLINE C wrap_neg(C x) {
  if constexpr (std::is_integral_v<C>) return C(std::make_unsigned_t<C>(0) - std::make_unsigned_t<C>(x));
  else return -x;
}

// op(x) on a compute value (float, double, int32, int64 or bool).
template <UnaryOp op, typename C>
TESSERA_VM_INLINE C unary_fn(C x) {
  constexpr bool f32 = std::is_same_v<C, float>;
  if constexpr (op == UnaryOp::Neg) return wrap_neg(x);
  else if constexpr (op == UnaryOp::Abs) {
    if constexpr (std::is_floating_point_v<C>) return std::fabs(x);
    else return x < 0 ? wrap_neg(x) : x;
  } else if constexpr (op == UnaryOp::Sign) {
    if constexpr (std::is_same_v<C, bool>) return x;
    else return C(C(x > C(0)) - C(x < C(0)));
  } else if constexpr (op == UnaryOp::Square) {
    if constexpr (std::is_integral_v<C>) return C(std::make_unsigned_t<C>(x) * std::make_unsigned_t<C>(x));
    else return x * x;
  } else if constexpr (op == UnaryOp::Relu) return x < C(0) ? C(0) : x;
  else if constexpr (op == UnaryOp::Exp) {
    if constexpr (f32) return vm::exp(x);
    else return std::exp(x);
  } else if constexpr (op == UnaryOp::Log) {
    if constexpr (f32) return vm::log(x);
    else return std::log(x);
  } else if constexpr (op == UnaryOp::Log1p) {
    if constexpr (f32) return vm::log1p(x);
    else return std::log1p(x);
  } else if constexpr (op == UnaryOp::Sqrt) return std::sqrt(x);
  else if constexpr (op == UnaryOp::Rsqrt) return C(1) / std::sqrt(x);
  else if constexpr (op == UnaryOp::Reciprocal) return C(1) / x;
  else if constexpr (op == UnaryOp::Tanh) {
    if constexpr (f32) return vm::tanh(x);
    else return std::tanh(x);
  } else if constexpr (op == UnaryOp::Sigmoid) {
    if constexpr (f32) return vm::sigmoid(x);
    else return dm::sigmoid(x);
  } else if constexpr (op == UnaryOp::GeluErf) {
    if constexpr (f32) return vm::gelu(x);
    else return dm::gelu(x);
  } else if constexpr (op == UnaryOp::GeluTanh) {
    if constexpr (f32) return vm::gelu_tanh(x);
    else return dm::gelu_tanh(x);
  } else if constexpr (op == UnaryOp::Silu) {
    if constexpr (f32) return vm::silu(x);
    else return dm::silu(x);
  } else if constexpr (op == UnaryOp::Sin) {
    if constexpr (f32) return vm::sin(x);
    else return std::sin(x);
  } else if constexpr (op == UnaryOp::Cos) {
    if constexpr (f32) return vm::cos(x);
    else return std::cos(x);
  } else {
    static_assert(op != op, "unhandled unary op");
  }
}

// grad * d op(x)/dx on compute values (floating types only).
template <UnaryOp op, typename C>
TESSERA_VM_INLINE C unary_grad_fn(C g, C x) {
  constexpr bool f32 = std::is_same_v<C, float>;
  if constexpr (op == UnaryOp::Neg) return -g;
  else if constexpr (op == UnaryOp::Abs) return g * C(C(x > C(0)) - C(x < C(0)));
  else if constexpr (op == UnaryOp::Sign) return C(0);
  else if constexpr (op == UnaryOp::Square) return C(2) * g * x;
  else if constexpr (op == UnaryOp::Relu) return x <= C(0) ? C(0) : g;
  else if constexpr (op == UnaryOp::Exp) return g * unary_fn<UnaryOp::Exp>(x);
  else if constexpr (op == UnaryOp::Log) return g / x;
  else if constexpr (op == UnaryOp::Log1p) return g / (C(1) + x);
  else if constexpr (op == UnaryOp::Sqrt) return g / (C(2) * std::sqrt(x));
  else if constexpr (op == UnaryOp::Rsqrt) {
    C r = C(1) / std::sqrt(x);
    return C(-0.5) * g * r * r * r;
  } else if constexpr (op == UnaryOp::Reciprocal) {
    C r = C(1) / x;
    return -g * r * r;
  } else if constexpr (op == UnaryOp::Tanh) {
    if constexpr (f32) return g * vm::tanh_grad(x);
    else return g * dm::tanh_grad(x);
  } else if constexpr (op == UnaryOp::Sigmoid) {
    if constexpr (f32) return g * vm::sigmoid_grad(x);
    else return g * dm::sigmoid_grad(x);
  } else if constexpr (op == UnaryOp::GeluErf) {
    if constexpr (f32) return g * vm::gelu_grad(x);
    else return g * dm::gelu_grad(x);
  } else if constexpr (op == UnaryOp::GeluTanh) {
    if constexpr (f32) return g * vm::gelu_tanh_grad(x);
    else return g * dm::gelu_tanh_grad(x);
  } else if constexpr (op == UnaryOp::Silu) {
    if constexpr (f32) return g * vm::silu_grad(x);
    else return g * dm::silu_grad(x);
  } else if constexpr (op == UnaryOp::Sin) return g * unary_fn<UnaryOp::Cos>(x);
  else if constexpr (op == UnaryOp::Cos) return -g * unary_fn<UnaryOp::Sin>(x);
  else {
    static_assert(op != op, "unhandled unary op");
  }
}

// Relative cost of an op against a plain add (scales the parallel threshold).
constexpr int64_t unary_cost(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: case UnaryOp::Abs: case UnaryOp::Sign: case UnaryOp::Square: case UnaryOp::Relu:
    case UnaryOp::LogicalNot:
      return 1;
    case UnaryOp::Sqrt: case UnaryOp::Rsqrt: case UnaryOp::Reciprocal:
      return 4;
    default:
      return 16;
  }
}

// Note [vectorisable math]: sin/cos of |x| > 1e5 (and inf/nan) are recomputed in double.
template <UnaryOp op>
struct TrigFixup {
  static constexpr bool enabled = true;
  static float slow(float x) { return op == UnaryOp::Sin ? float(std::sin(double(x))) : float(std::cos(double(x))); }
  void operator()(const float* x, float* out, int64_t n) const {
    bool any = false;
    for (int64_t i = 0; i < n; ++i) any |= vm::trig_needs_fixup(x[i]);
    if (!any) return;
    for (int64_t i = 0; i < n; ++i) {
      if (vm::trig_needs_fixup(x[i])) out[i] = slow(x[i]);
    }
  }
};
template <UnaryOp op>
struct TrigGradFixup {
  static constexpr bool enabled = true;
  void operator()(const float* g, const float* x, float* out, int64_t n) const {
    bool any = false;
    for (int64_t i = 0; i < n; ++i) any |= vm::trig_needs_fixup(x[i]);
    if (!any) return;
    for (int64_t i = 0; i < n; ++i) {
      if (!vm::trig_needs_fixup(x[i])) continue;
      double xd = x[i];
      out[i] = op == UnaryOp::Sin ? float(double(g[i]) * std::cos(xd)) : float(-double(g[i]) * std::sin(xd));
    }
  }
};

template <UnaryOp op, typename T>
void unary_kernel(const Tensor& out, const Tensor& in) {
  using C = compute_t<T>;
  auto f = [](C x) __attribute__((always_inline)) { return unary_fn<op>(x); };
  if constexpr ((op == UnaryOp::Sin || op == UnaryOp::Cos) && std::is_same_v<C, float>) {
    elementwise<T, T>(out, {&in}, f, unary_cost(op), TrigFixup<op>{});
  } else {
    elementwise<T, T>(out, {&in}, f, unary_cost(op));
  }
}

template <UnaryOp op, typename T>
void unary_backward_kernel(const Tensor& grad_in, const Tensor& grad_out, const Tensor& x) {
  using C = compute_t<T>;
  auto f = [](C g, C v) __attribute__((always_inline)) { return unary_grad_fn<op>(g, v); };
  if constexpr ((op == UnaryOp::Sin || op == UnaryOp::Cos) && std::is_same_v<C, float>) {
    elementwise<T, T, T>(grad_in, {&grad_out, &x}, f, unary_cost(op), TrigGradFixup<op>{});
  } else {
    elementwise<T, T, T>(grad_in, {&grad_out, &x}, f, unary_cost(op));
  }
}

template <UnaryOp op>
void dispatch_float(const Tensor& out, const Tensor& in) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), unary_op_name(op), [&] { unary_kernel<op, scalar_t>(out, in); });
}
template <UnaryOp op>
void dispatch_numeric(const Tensor& out, const Tensor& in) {
  TESSERA_DISPATCH_NUMERIC_TYPES(in.dtype(), unary_op_name(op), [&] { unary_kernel<op, scalar_t>(out, in); });
}
template <UnaryOp op>
void dispatch_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& x) {
  TESSERA_DISPATCH_FLOATING_TYPES(x.dtype(), fmt::format("{}_backward", unary_op_name(op)),
                                  [&] { unary_backward_kernel<op, scalar_t>(grad_in, grad_out, x); });
}

}  // namespace

void CpuBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in) {
  switch (op) {
    case UnaryOp::Neg: return dispatch_numeric<UnaryOp::Neg>(out, in);
    case UnaryOp::Abs: return dispatch_numeric<UnaryOp::Abs>(out, in);
    case UnaryOp::Square: return dispatch_numeric<UnaryOp::Square>(out, in);
    case UnaryOp::Relu: return dispatch_numeric<UnaryOp::Relu>(out, in);
    case UnaryOp::Sign:
      if (in.dtype() == DType::Bool) return unary_kernel<UnaryOp::Sign, bool>(out, in);
      return dispatch_numeric<UnaryOp::Sign>(out, in);
    case UnaryOp::LogicalNot:
      TESSERA_CHECK(out.dtype() == DType::Bool, DTypeError, "logical_not: cpu kernel expects a bool output, got {}",
                    dtype_name(out.dtype()));
      return TESSERA_DISPATCH_ALL_TYPES(in.dtype(), "logical_not", [&] {
        using C = compute_t<scalar_t>;
        elementwise<bool, scalar_t>(out, {&in}, [](C x) { return !(x != C(0)); });
      });
    case UnaryOp::Exp: return dispatch_float<UnaryOp::Exp>(out, in);
    case UnaryOp::Log: return dispatch_float<UnaryOp::Log>(out, in);
    case UnaryOp::Log1p: return dispatch_float<UnaryOp::Log1p>(out, in);
    case UnaryOp::Sqrt: return dispatch_float<UnaryOp::Sqrt>(out, in);
    case UnaryOp::Rsqrt: return dispatch_float<UnaryOp::Rsqrt>(out, in);
    case UnaryOp::Reciprocal: return dispatch_float<UnaryOp::Reciprocal>(out, in);
    case UnaryOp::Tanh: return dispatch_float<UnaryOp::Tanh>(out, in);
    case UnaryOp::Sigmoid: return dispatch_float<UnaryOp::Sigmoid>(out, in);
    case UnaryOp::GeluErf: return dispatch_float<UnaryOp::GeluErf>(out, in);
    case UnaryOp::GeluTanh: return dispatch_float<UnaryOp::GeluTanh>(out, in);
    case UnaryOp::Silu: return dispatch_float<UnaryOp::Silu>(out, in);
    case UnaryOp::Sin: return dispatch_float<UnaryOp::Sin>(out, in);
    case UnaryOp::Cos: return dispatch_float<UnaryOp::Cos>(out, in);
  }
  not_implemented(unary_op_name(op));
}

void CpuBackend::unary_backward(UnaryOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& x) {
  switch (op) {
    case UnaryOp::Neg: return dispatch_backward<UnaryOp::Neg>(grad_in, grad_out, x);
    case UnaryOp::Abs: return dispatch_backward<UnaryOp::Abs>(grad_in, grad_out, x);
    case UnaryOp::Sign: return dispatch_backward<UnaryOp::Sign>(grad_in, grad_out, x);
    case UnaryOp::Square: return dispatch_backward<UnaryOp::Square>(grad_in, grad_out, x);
    case UnaryOp::Relu: return dispatch_backward<UnaryOp::Relu>(grad_in, grad_out, x);
    case UnaryOp::Exp: return dispatch_backward<UnaryOp::Exp>(grad_in, grad_out, x);
    case UnaryOp::Log: return dispatch_backward<UnaryOp::Log>(grad_in, grad_out, x);
    case UnaryOp::Log1p: return dispatch_backward<UnaryOp::Log1p>(grad_in, grad_out, x);
    case UnaryOp::Sqrt: return dispatch_backward<UnaryOp::Sqrt>(grad_in, grad_out, x);
    case UnaryOp::Rsqrt: return dispatch_backward<UnaryOp::Rsqrt>(grad_in, grad_out, x);
    case UnaryOp::Reciprocal: return dispatch_backward<UnaryOp::Reciprocal>(grad_in, grad_out, x);
    case UnaryOp::Tanh: return dispatch_backward<UnaryOp::Tanh>(grad_in, grad_out, x);
    case UnaryOp::Sigmoid: return dispatch_backward<UnaryOp::Sigmoid>(grad_in, grad_out, x);
    case UnaryOp::GeluErf: return dispatch_backward<UnaryOp::GeluErf>(grad_in, grad_out, x);
    case UnaryOp::GeluTanh: return dispatch_backward<UnaryOp::GeluTanh>(grad_in, grad_out, x);
    case UnaryOp::Silu: return dispatch_backward<UnaryOp::Silu>(grad_in, grad_out, x);
    case UnaryOp::Sin: return dispatch_backward<UnaryOp::Sin>(grad_in, grad_out, x);
    case UnaryOp::Cos: return dispatch_backward<UnaryOp::Cos>(grad_in, grad_out, x);
    case UnaryOp::LogicalNot: break;
  }
  throw DTypeError(fmt::format("{}_backward: the op is not differentiable", unary_op_name(op)));
}

}  // namespace tessera::cpu
