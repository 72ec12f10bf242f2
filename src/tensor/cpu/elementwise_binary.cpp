// CPU binary elementwise primitives: CpuBackend::binary (tensor op tensor, broadcast inputs as
// stride-0 views) and CpuBackend::binary_scalar (tensor op scalar / scalar op tensor). Integer
// arithmetic wraps around like PyTorch's; floating max/min propagate NaN.
#include <cmath>
#include <type_traits>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/elementwise_loops.h"
#include "tessera/tensor/cpu/elementwise_math.h"

namespace tessera::cpu {

namespace {

template <typename C>
using uint_of = std::make_unsigned_t<C>;

// Integer power with PyTorch's rules for negative exponents (1, -1 stay exact; others give 0).
template <typename C>
inline C int_pow(C base, C exp) {
  if (exp < 0) {
    if (base == 1) return 1;
    if (base == -1) return (exp & 1) ? C(-1) : C(1);
    return 0;
  }
  uint_of<C> result = 1, b = uint_of<C>(base);
  auto e = uint_of<C>(exp);
  while (e) {
    if (e & 1u) result *= b;
    b *= b;
    e >>= 1;
  }
  return C(result);
}

// a op b on compute values. Add/Sub use alpha (a + alpha * b) unless kAlphaOne.
template <BinaryOp op, typename C, bool kAlphaOne>
struct BinaryFn {
  C alpha{};
  TESSERA_VM_INLINE auto operator()(C a, C b) const {
    if constexpr (op == BinaryOp::Add || op == BinaryOp::Sub || op == BinaryOp::Mul) {
      if constexpr (std::is_same_v<C, bool>) {
        static_assert(op != BinaryOp::Sub, "sub on bool is rejected by raw::binary");
        if constexpr (op == BinaryOp::Add) return bool(a || (kAlphaOne ? b : (alpha && b)));
        else return bool(a && b);
      } else if constexpr (std::is_integral_v<C>) {
        uint_of<C> ua = uint_of<C>(a), ub = uint_of<C>(b);
        if constexpr (op == BinaryOp::Mul) return C(ua * ub);
        else {
          if constexpr (!kAlphaOne) ub *= uint_of<C>(alpha);
          return op == BinaryOp::Add ? C(ua + ub) : C(ua - ub);
        }
      } else {
        if constexpr (op == BinaryOp::Mul) return C(a * b);
        else if constexpr (kAlphaOne) return op == BinaryOp::Add ? C(a + b) : C(a - b);
        else return op == BinaryOp::Add ? C(a + alpha * b) : C(a - alpha * b);
      }
    } else if constexpr (op == BinaryOp::Div) {
      return C(a / b);
    } else if constexpr (op == BinaryOp::Pow) {
      if constexpr (std::is_integral_v<C>) return int_pow(a, b);
      else return C(std::pow(a, b));
    } else if constexpr (op == BinaryOp::Maximum) {
      if constexpr (std::is_floating_point_v<C>) return (a > b || a != a) ? a : b;
      else return a > b ? a : b;
    } else if constexpr (op == BinaryOp::Minimum) {
      if constexpr (std::is_floating_point_v<C>) return (a < b || a != a) ? a : b;
      else return a < b ? a : b;
    } else if constexpr (op == BinaryOp::Eq) return a == b;
    else if constexpr (op == BinaryOp::Ne) return a != b;
    else if constexpr (op == BinaryOp::Lt) return a < b;
    else if constexpr (op == BinaryOp::Le) return a <= b;
    else if constexpr (op == BinaryOp::Gt) return a > b;
    else if constexpr (op == BinaryOp::Ge) return a >= b;
    else if constexpr (op == BinaryOp::LogicalAnd) return (a != C(0)) && (b != C(0));
    else if constexpr (op == BinaryOp::LogicalOr) return (a != C(0)) || (b != C(0));
    else static_assert(op != op, "unhandled binary op");
  }
};

constexpr int64_t binary_cost(BinaryOp op) { return op == BinaryOp::Pow ? 16 : op == BinaryOp::Div ? 2 : 1; }

template <BinaryOp op, typename T, bool kAlphaOne>
void binary_tt(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha) {
  using C = compute_t<T>;
  using OutT = std::conditional_t<is_comparison(op), bool, T>;
  BinaryFn<op, C, kAlphaOne> f{kAlphaOne ? C(1) : alpha.to<C>()};
  elementwise<OutT, T, T>(out, {&a, &b}, f, binary_cost(op));
}

template <BinaryOp op, typename T, bool kReverse>
void binary_ts(const Tensor& out, const Tensor& a, Scalar s) {
  using C = compute_t<T>;
  using OutT = std::conditional_t<is_comparison(op), bool, T>;
  BinaryFn<op, C, true> f{};
  const C sc = s.to<C>();
  auto g = [f, sc](C x) __attribute__((always_inline)) {
    if constexpr (kReverse) return f(sc, x);
    else return f(x, sc);
  };
  elementwise<OutT, T>(out, {&a}, g, binary_cost(op));
}

// x ** s for the exponents worth a fast, exact-as-possible path (PyTorch special-cases these too).
template <typename T>
bool pow_scalar_fast(const Tensor& out, const Tensor& a, double e) {
  using C = compute_t<T>;
  auto run = [&](auto f) {
    elementwise<T, T>(out, {&a}, f, 4);
    return true;
  };
  if (e == 2.0) return run([](C x) { return C(x * x); });
  if (e == 3.0) return run([](C x) { return C(x * x * x); });
  if (e == 1.0) return run([](C x) { return x; });
  if (e == 0.0) return run([](C) { return C(1); });
  if constexpr (std::is_floating_point_v<C>) {
    if (e == 0.5) return run([](C x) { return C(std::sqrt(x)); });
    if (e == -0.5) return run([](C x) { return C(C(1) / std::sqrt(x)); });
    if (e == -1.0) return run([](C x) { return C(C(1) / x); });
    if (e == -2.0) return run([](C x) { return C(C(1) / (x * x)); });
  }
  return false;
}

// Calls body.template operator()<T>() for the storage types each op supports on the CPU
// (raw::binary promotes before calling).
template <BinaryOp op, typename F>
void dispatch(DType dtype, const F& body) {
  auto name = binary_op_name(op);
  if constexpr (op == BinaryOp::Div) {
    TESSERA_DISPATCH_FLOATING_TYPES(dtype, name, [&] { body.template operator()<scalar_t>(); });
  } else if constexpr (op == BinaryOp::Sub || op == BinaryOp::Pow) {
    TESSERA_DISPATCH_NUMERIC_TYPES(dtype, name, [&] { body.template operator()<scalar_t>(); });
  } else {
    TESSERA_DISPATCH_ALL_TYPES(dtype, name, [&] { body.template operator()<scalar_t>(); });
  }
}

template <BinaryOp op>
void binary_op(const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha) {
  bool alpha_one = (op != BinaryOp::Add && op != BinaryOp::Sub) || alpha.to_double() == 1.0;
  dispatch<op>(a.dtype(), [&]<typename T>() {
    if constexpr (std::is_same_v<T, bool> && op == BinaryOp::Sub) {
      throw DTypeError("sub: not implemented for dtype bool");
    } else if (alpha_one) {
      binary_tt<op, T, true>(out, a, b, alpha);
    } else {
      binary_tt<op, T, false>(out, a, b, alpha);
    }
  });
}

template <BinaryOp op>
void binary_scalar_op(const Tensor& out, const Tensor& a, Scalar s, bool reverse) {
  dispatch<op>(a.dtype(), [&]<typename T>() {
    if constexpr (std::is_same_v<T, bool> && op == BinaryOp::Sub) {
      throw DTypeError("sub: not implemented for dtype bool");
    } else {
      if constexpr (op == BinaryOp::Pow) {
        if (!reverse && pow_scalar_fast<T>(out, a, s.to_double())) return;
      }
      if (reverse) binary_ts<op, T, true>(out, a, s);
      else binary_ts<op, T, false>(out, a, s);
    }
  });
}

}  // namespace

#define TESSERA_BINARY_CASES(CALL)           \
  case BinaryOp::Add: return CALL(Add);      \
  case BinaryOp::Sub: return CALL(Sub);      \
  case BinaryOp::Mul: return CALL(Mul);      \
  case BinaryOp::Div: return CALL(Div);      \
  case BinaryOp::Pow: return CALL(Pow);      \
  case BinaryOp::Maximum: return CALL(Maximum); \
  case BinaryOp::Minimum: return CALL(Minimum); \
  case BinaryOp::Eq: return CALL(Eq);        \
  case BinaryOp::Ne: return CALL(Ne);        \
  case BinaryOp::Lt: return CALL(Lt);        \
  case BinaryOp::Le: return CALL(Le);        \
  case BinaryOp::Gt: return CALL(Gt);        \
  case BinaryOp::Ge: return CALL(Ge);        \
  case BinaryOp::LogicalAnd: return CALL(LogicalAnd); \
  case BinaryOp::LogicalOr: return CALL(LogicalOr);

void CpuBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha) {
#define TESSERA_CALL(name) binary_op<BinaryOp::name>(out, a, b, alpha)
  switch (op) { TESSERA_BINARY_CASES(TESSERA_CALL) }
#undef TESSERA_CALL
  not_implemented(binary_op_name(op));
}

void CpuBackend::binary_scalar(BinaryOp op, const Tensor& out, const Tensor& a, Scalar s, bool reverse) {
#define TESSERA_CALL(name) binary_scalar_op<BinaryOp::name>(out, a, s, reverse)
  switch (op) { TESSERA_BINARY_CASES(TESSERA_CALL) }
#undef TESSERA_CALL
  not_implemented(binary_op_name(op));
}

#undef TESSERA_BINARY_CASES

}  // namespace tessera::cpu
