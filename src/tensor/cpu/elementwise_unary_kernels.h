// The CPU unary elementwise kernels (op(x) and grad * op'(x)), shared by the baseline build
// (elementwise_unary.cpp) and the AVX-512 build (elementwise_unary_avx512.cpp) of them: see
// Note [cpu isa variants] in elementwise_loops.h. Internal to the CPU backend (not installed);
// include it once per TU, after defining TESSERA_CPU_ISA_NS if not the default ISA.
// TESSERA_EW_FLOAT_TYPES_ONLY limits the instantiated types to float32/bfloat16/float16 (the
// AVX-512 file, whose caller routes every other dtype to the baseline kernels).
#pragma once

#include <cmath>
#include <type_traits>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/elementwise_loops.h"
#include "tessera/tensor/cpu/elementwise_math.h"

namespace tessera::cpu {
inline namespace TESSERA_CPU_ISA_NS {

namespace unary_detail {

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

template <typename F>
void dispatch_float(DType dtype, std::string_view name, const F& body) {
#ifdef TESSERA_EW_FLOAT_TYPES_ONLY
  switch (dtype) {
    case DType::Float32: return body.template operator()<float>();
    case DType::BFloat16: return body.template operator()<BFloat16>();
    case DType::Float16: return body.template operator()<Half>();
    default: break;
  }
  TESSERA_INTERNAL_ASSERT(false, "{}: dtype {} routed to the float-only kernels", name, dtype_name(dtype));
#else
  TESSERA_DISPATCH_FLOATING_TYPES(dtype, name, [&] { body.template operator()<scalar_t>(); });
#endif
}

template <typename F>
void dispatch_numeric(DType dtype, std::string_view name, const F& body) {
#ifdef TESSERA_EW_FLOAT_TYPES_ONLY
  dispatch_float(dtype, name, body);
#else
  TESSERA_DISPATCH_NUMERIC_TYPES(dtype, name, [&] { body.template operator()<scalar_t>(); });
#endif
}

template <UnaryOp op>
void unary_float(const Tensor& out, const Tensor& in) {
  dispatch_float(in.dtype(), unary_op_name(op), [&]<typename T>() { unary_kernel<op, T>(out, in); });
}
template <UnaryOp op>
void unary_numeric(const Tensor& out, const Tensor& in) {
  dispatch_numeric(in.dtype(), unary_op_name(op), [&]<typename T>() { unary_kernel<op, T>(out, in); });
}
template <UnaryOp op>
void backward_float(const Tensor& grad_in, const Tensor& grad_out, const Tensor& x) {
  dispatch_float(x.dtype(), unary_op_name(op),
                 [&]<typename T>() { unary_backward_kernel<op, T>(grad_in, grad_out, x); });
}

}  // namespace unary_detail

// out = op(in) for every op but LogicalNot (handled by the caller); false if op is not handled.
// (Defined, not inline: exactly one TU per ISA includes this header.)
bool unary_impl(UnaryOp op, const Tensor& out, const Tensor& in) {
  using namespace unary_detail;
  switch (op) {
    case UnaryOp::Neg: unary_numeric<UnaryOp::Neg>(out, in); return true;
    case UnaryOp::Abs: unary_numeric<UnaryOp::Abs>(out, in); return true;
    case UnaryOp::Square: unary_numeric<UnaryOp::Square>(out, in); return true;
    case UnaryOp::Relu: unary_numeric<UnaryOp::Relu>(out, in); return true;
    case UnaryOp::Sign: unary_numeric<UnaryOp::Sign>(out, in); return true;
    case UnaryOp::Exp: unary_float<UnaryOp::Exp>(out, in); return true;
    case UnaryOp::Log: unary_float<UnaryOp::Log>(out, in); return true;
    case UnaryOp::Log1p: unary_float<UnaryOp::Log1p>(out, in); return true;
    case UnaryOp::Sqrt: unary_float<UnaryOp::Sqrt>(out, in); return true;
    case UnaryOp::Rsqrt: unary_float<UnaryOp::Rsqrt>(out, in); return true;
    case UnaryOp::Reciprocal: unary_float<UnaryOp::Reciprocal>(out, in); return true;
    case UnaryOp::Tanh: unary_float<UnaryOp::Tanh>(out, in); return true;
    case UnaryOp::Sigmoid: unary_float<UnaryOp::Sigmoid>(out, in); return true;
    case UnaryOp::GeluErf: unary_float<UnaryOp::GeluErf>(out, in); return true;
    case UnaryOp::GeluTanh: unary_float<UnaryOp::GeluTanh>(out, in); return true;
    case UnaryOp::Silu: unary_float<UnaryOp::Silu>(out, in); return true;
    case UnaryOp::Sin: unary_float<UnaryOp::Sin>(out, in); return true;
    case UnaryOp::Cos: unary_float<UnaryOp::Cos>(out, in); return true;
    case UnaryOp::LogicalNot: break;
  }
  return false;
}

// grad_in = grad_out * op'(x); false if op is not differentiable.
bool unary_backward_impl(UnaryOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& x) {
  using namespace unary_detail;
  switch (op) {
    case UnaryOp::Neg: backward_float<UnaryOp::Neg>(grad_in, grad_out, x); return true;
    case UnaryOp::Abs: backward_float<UnaryOp::Abs>(grad_in, grad_out, x); return true;
    case UnaryOp::Sign: backward_float<UnaryOp::Sign>(grad_in, grad_out, x); return true;
    case UnaryOp::Square: backward_float<UnaryOp::Square>(grad_in, grad_out, x); return true;
    case UnaryOp::Relu: backward_float<UnaryOp::Relu>(grad_in, grad_out, x); return true;
    case UnaryOp::Exp: backward_float<UnaryOp::Exp>(grad_in, grad_out, x); return true;
    case UnaryOp::Log: backward_float<UnaryOp::Log>(grad_in, grad_out, x); return true;
    case UnaryOp::Log1p: backward_float<UnaryOp::Log1p>(grad_in, grad_out, x); return true;
    case UnaryOp::Sqrt: backward_float<UnaryOp::Sqrt>(grad_in, grad_out, x); return true;
    case UnaryOp::Rsqrt: backward_float<UnaryOp::Rsqrt>(grad_in, grad_out, x); return true;
    case UnaryOp::Reciprocal: backward_float<UnaryOp::Reciprocal>(grad_in, grad_out, x); return true;
    case UnaryOp::Tanh: backward_float<UnaryOp::Tanh>(grad_in, grad_out, x); return true;
    case UnaryOp::Sigmoid: backward_float<UnaryOp::Sigmoid>(grad_in, grad_out, x); return true;
    case UnaryOp::GeluErf: backward_float<UnaryOp::GeluErf>(grad_in, grad_out, x); return true;
    case UnaryOp::GeluTanh: backward_float<UnaryOp::GeluTanh>(grad_in, grad_out, x); return true;
    case UnaryOp::Silu: backward_float<UnaryOp::Silu>(grad_in, grad_out, x); return true;
    case UnaryOp::Sin: backward_float<UnaryOp::Sin>(grad_in, grad_out, x); return true;
    case UnaryOp::Cos: backward_float<UnaryOp::Cos>(grad_in, grad_out, x); return true;
    case UnaryOp::LogicalNot: break;
  }
  return false;
}

}  // namespace TESSERA_CPU_ISA_NS
}  // namespace tessera::cpu
