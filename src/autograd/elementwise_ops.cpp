// Differentiable elementwise ops (Tensor methods, operators, tessera::where) and their
// derivatives. Binary ops broadcast, so each input's gradient is summed back to its shape
// (sum_to); dtype promotion is undone by the engine (Note [engine]). Unary ops use the fused
// raw::unary_backward kernel for plain backward and differentiable formulas under create_graph.
// In-place ops check leaves (check_inplace), save what the formula needs before overwriting, and
// rebase the history (rebase_history).
#include <cmath>

#include "tessera/autograd/autocast.h"
#include "tessera/autograd/function_node.h"
#include "tessera/autograd/ops.h"
#include "tessera/autograd/unary_history.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera {

using autograd::compute_requires_grad;
using autograd::make_node;
using autograd::set_history;
using autograd::variable_list;

namespace {

Tensor zeros_like_t(const Tensor& t) { return raw::full(t.sizes(), 0, t.options()); }
Tensor mask_as(const Tensor& mask, const Tensor& like) { return raw::to(mask, like.device(), like.dtype()); }

// ---------------------------------------------------------------------------------------------
// unary ops

// d op(x) / dx as differentiable ops of x (for create_graph).
Tensor unary_derivative(UnaryOp op, const Tensor& x);

// gelu (erf form) derivative Phi(x) + x phi(x) as an op whose own derivative is phi(x) (2 - x^2),
// so that create_graph works without an erf op.
Tensor gelu_erf_derivative(const Tensor& x) {
  Tensor out = raw::unary_backward(UnaryOp::GeluErf, raw::full(x.sizes(), 1, x.options()), x);
  if (compute_requires_grad(x)) {
    auto node = make_node<1>("GeluBackwardBackward0", [](auto& n, variable_list& g) -> variable_list {
      Tensor xs = n.saved(0);
      Tensor phi = (xs * xs * -0.5).exp() * (1.0 / std::sqrt(2.0 * M_PI));
      return {g[0] * phi * (2.0 - xs * xs)};
    }, x);
    set_history(out, node);
    node->save(0, x);
  }
  return out;
}

Tensor unary_derivative(UnaryOp op, const Tensor& x) {
  switch (op) {
    case UnaryOp::Neg: return raw::full(x.sizes(), -1, x.options());
    case UnaryOp::Abs: return x.sign();
    case UnaryOp::Exp: return x.exp();
    case UnaryOp::Log: return x.reciprocal();
    case UnaryOp::Log1p: return (x + 1.0).reciprocal();
    case UnaryOp::Sqrt: return x.rsqrt() * 0.5;
    case UnaryOp::Rsqrt: return x.rsqrt() / x * -0.5;
    case UnaryOp::Square: return x * 2.0;
    case UnaryOp::Reciprocal: return -(x * x).reciprocal();
    case UnaryOp::Sign: return zeros_like_t(x);
    case UnaryOp::Tanh: {
      Tensor t = x.tanh();
      return 1.0 - t * t;
    }
    case UnaryOp::Sigmoid: {
      Tensor s = x.sigmoid();
      return s * (1.0 - s);
    }
    case UnaryOp::Relu: return mask_as(raw::binary(BinaryOp::Gt, x, Scalar(0)), x);
    case UnaryOp::GeluErf: return gelu_erf_derivative(x);
    case UnaryOp::GeluTanh: {
      const double k = std::sqrt(2.0 / M_PI), c = 0.044715;
      Tensor t = ((x + x * x * x * c) * k).tanh();
      return (1.0 + t) * 0.5 + x * (1.0 - t * t) * (1.0 + x * x * (3.0 * c)) * (0.5 * k);
    }
    case UnaryOp::Silu: {
      Tensor s = x.sigmoid();
      return s * (1.0 + x * (1.0 - s));
    }
    case UnaryOp::Sin: return x.cos();
    case UnaryOp::Cos: return -x.sin();
    case UnaryOp::LogicalNot: break;
  }
  TESSERA_INTERNAL_ASSERT(false, "no derivative for unary op {}", unary_op_name(op));
}

const char* unary_node_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg: return "NegBackward0";
    case UnaryOp::Abs: return "AbsBackward0";
    case UnaryOp::Exp: return "ExpBackward0";
    case UnaryOp::Log: return "LogBackward0";
    case UnaryOp::Log1p: return "Log1PBackward0";
    case UnaryOp::Sqrt: return "SqrtBackward0";
    case UnaryOp::Rsqrt: return "RsqrtBackward0";
    case UnaryOp::Square: return "PowBackward0";
    case UnaryOp::Reciprocal: return "ReciprocalBackward0";
    case UnaryOp::Sign: return "SignBackward0";
    case UnaryOp::Tanh: return "TanhBackward0";
    case UnaryOp::Sigmoid: return "SigmoidBackward0";
    case UnaryOp::Relu: return "ReluBackward0";
    case UnaryOp::GeluErf:
    case UnaryOp::GeluTanh: return "GeluBackward0";
    case UnaryOp::Silu: return "SiluBackward0";
    case UnaryOp::Sin: return "SinBackward0";
    case UnaryOp::Cos: return "CosBackward0";
    case UnaryOp::LogicalNot: break;
  }
  return "UnaryBackward";
}

// Ops whose derivative PyTorch computes from the result (and so saves the result, which decides
// which in-place changes make backward fail): d exp = y, d tanh = 1 - y^2, d sigmoid = y (1 - y),
// d sqrt = 1 / (2 y), d rsqrt = -y^3 / 2, d reciprocal = -y^2, d relu = [y > 0].
bool saves_result(UnaryOp op) {
  switch (op) {
    case UnaryOp::Exp:
    case UnaryOp::Tanh:
    case UnaryOp::Sigmoid:
    case UnaryOp::Sqrt:
    case UnaryOp::Rsqrt:
    case UnaryOp::Reciprocal:
    case UnaryOp::Relu: return true;
    default: return false;
  }
}

Tensor derivative_from_result(UnaryOp op, const Tensor& y) {
  switch (op) {
    case UnaryOp::Exp: return y;
    case UnaryOp::Tanh: return 1.0 - y * y;
    case UnaryOp::Sigmoid: return y * (1.0 - y);
    case UnaryOp::Sqrt: return 0.5 / y;
    case UnaryOp::Rsqrt: return y * y * y * -0.5;
    case UnaryOp::Reciprocal: return -(y * y);
    case UnaryOp::Relu: return mask_as(raw::binary(BinaryOp::Gt, y, Scalar(0)), y);
    default: break;
  }
  TESSERA_INTERNAL_ASSERT(false, "{} has no derivative from its result", unary_op_name(op));
}

Tensor unary(UnaryOp op, const Tensor& x) {
  if ((op == UnaryOp::Exp || op == UnaryOp::Log || op == UnaryOp::Log1p || op == UnaryOp::Rsqrt ||
       op == UnaryOp::Reciprocal) &&
      autocast::active(x)) {  // autocast: float32 (Note [autocast op lists])
    Tensor x32 = autocast::to_fp32(x);
    autocast::ExcludeGuard excluded;
    return unary(op, x32);
  }
  Tensor out = raw::unary(op, x);
  if (op == UnaryOp::LogicalNot || !compute_requires_grad(x)) return out;
  if (op == UnaryOp::Neg) {
    auto node = make_node<0>("NegBackward0", [](auto&, variable_list& g) -> variable_list { return {-g[0]}; }, x);
    set_history(out, node);
    return out;
  }
  if (op == UnaryOp::Sign) {
    auto node = make_node<0>("SignBackward0", [](auto&, variable_list& g) -> variable_list {
      return {zeros_like_t(g[0])};
    }, x);
    set_history(out, node);
    return out;
  }
  if (saves_result(op)) {
    auto node = make_node<1>(unary_node_name(op), [op](auto& n, variable_list& g) -> variable_list {
      return {g[0] * derivative_from_result(op, n.saved(0))};
    }, x);
    set_history(out, node);
    node->save(0, out, /*is_output=*/true);
    return out;
  }
  autograd::detail::record_input_saving_unary(op, x, out);
  return out;
}


// In-place unary ops whose derivative is a function of the result (exp_, relu_) or constant (neg_).
Tensor& unary_(UnaryOp op, Tensor& self) {
  autograd::check_inplace(self);
  bool rg = compute_requires_grad(self);
  std::shared_ptr<autograd::Node> node;
  if (rg) {
    switch (op) {
      case UnaryOp::Neg:
        node = make_node<0>("NegBackward0", [](auto&, variable_list& g) -> variable_list { return {-g[0]}; }, self);
        break;
      case UnaryOp::Exp:
        node = make_node<1>("ExpBackward0", [](auto& n, variable_list& g) -> variable_list {
          return {g[0] * derivative_from_result(UnaryOp::Exp, n.saved(0))};
        }, self);
        break;
      case UnaryOp::Relu:
        node = make_node<1>("ReluBackward0", [](auto& n, variable_list& g) -> variable_list {
          return {g[0] * derivative_from_result(UnaryOp::Relu, n.saved(0))};
        }, self);
        break;
      default: TESSERA_INTERNAL_ASSERT(false, "in-place {} is not differentiable here", unary_op_name(op));
    }
  }
  raw::unary_(op, self);
  self.bump_version();
  if (rg) {
    autograd::rebase_history(self, node);
    if (op != UnaryOp::Neg) static_cast<autograd::SavedNode<1>*>(node.get())->save(0, self, /*is_output=*/true);
  }
  return self;
}

// ---------------------------------------------------------------------------------------------
// binary ops

Tensor add_sub(const Tensor& a, const Tensor& b, Scalar alpha, bool sub) {
  Tensor out = raw::binary(sub ? BinaryOp::Sub : BinaryOp::Add, a, b, alpha);
  if (compute_requires_grad(a, b)) {
    Shape as = a.sizes().vec(), bs = b.sizes().vec();
    double k = (sub ? -1.0 : 1.0) * alpha.to_double();
    auto node = make_node<0>(sub ? "SubBackward0" : "AddBackward0", [as, bs, k](auto& n, variable_list& g) {
      variable_list r(2);
      if (n.should_compute_output(0)) r[0] = sum_to(g[0], as);
      if (n.should_compute_output(1)) r[1] = sum_to(k == 1.0 ? g[0] : g[0] * k, bs);
      return r;
    }, a, b);
    set_history(out, node);
  }
  return out;
}

// a op s for a scalar s (reverse: s op a).
Tensor scalar_op(BinaryOp op, const Tensor& a, Scalar s, bool reverse) {
  Tensor out = raw::binary(op, a, s, reverse);
  if (!compute_requires_grad(a) || !out.is_floating_point()) return out;
  const double v = s.to_double();
  switch (op) {
    case BinaryOp::Add:
    case BinaryOp::Sub: {
      double k = (op == BinaryOp::Sub && reverse) ? -1.0 : 1.0;
      auto node = make_node<0>(op == BinaryOp::Add ? "AddBackward1" : (reverse ? "RsubBackward1" : "SubBackward1"),
                               [k](auto&, variable_list& g) -> variable_list { return {k == 1.0 ? g[0] : -g[0]}; }, a);
      set_history(out, node);
      break;
    }
    case BinaryOp::Mul: {
      auto node = make_node<0>("MulBackward1", [v](auto&, variable_list& g) -> variable_list { return {g[0] * v}; }, a);
      set_history(out, node);
      break;
    }
    case BinaryOp::Div: {
      if (!reverse) {
        auto node = make_node<0>("DivBackward1", [v](auto&, variable_list& g) -> variable_list { return {g[0] / v}; }, a);
        set_history(out, node);
      } else {  // s / a: -s / a^2 = -out / a
        auto node = make_node<2>("DivBackward2", [](auto& n, variable_list& g) -> variable_list {
          return {-g[0] * n.saved(1) / n.saved(0)};
        }, a);
        set_history(out, node);
        node->save(0, a);
        node->save(1, out, /*is_output=*/true);
      }
      break;
    }
    case BinaryOp::Pow: {
      TESSERA_CHECK(!reverse, ValueError, "pow: scalar ** tensor is not differentiable here");
      auto node = make_node<1>("PowBackward0", [v](auto& n, variable_list& g) -> variable_list {
        if (v == 0.0) return {zeros_like_t(g[0])};
        Tensor x = n.saved(0);
        return {g[0] * v * (v == 2.0 ? x : x.pow(v - 1.0))};
      }, a);
      set_history(out, node);
      node->save(0, a);
      break;
    }
    default: break;  // comparisons and logical ops: no gradient
  }
  return out;
}

Tensor mul_tensor(const Tensor& a, const Tensor& b) {
  Tensor out = raw::binary(BinaryOp::Mul, a, b);
  if (compute_requires_grad(a, b)) {
    Shape as = a.sizes().vec(), bs = b.sizes().vec();
    auto node = make_node<2>("MulBackward0", [as, bs](auto& n, variable_list& g) {
      variable_list r(2);
      if (n.should_compute_output(0)) r[0] = sum_to(g[0] * n.saved(1), as);
      if (n.should_compute_output(1)) r[1] = sum_to(g[0] * n.saved(0), bs);
      return r;
    }, a, b);
    set_history(out, node);
    if (node->next_edge(1).is_valid()) node->save(0, a);
    if (node->next_edge(0).is_valid()) node->save(1, b);
  }
  return out;
}

Tensor div_tensor(const Tensor& a, const Tensor& b) {
  Tensor out = raw::binary(BinaryOp::Div, a, b);
  if (compute_requires_grad(a, b)) {
    Shape as = a.sizes().vec(), bs = b.sizes().vec();
    auto node = make_node<2>("DivBackward0", [as, bs](auto& n, variable_list& g) {
      variable_list r(2);
      Tensor bv = n.saved(1);
      if (n.should_compute_output(0)) r[0] = sum_to(g[0] / bv, as);
      if (n.should_compute_output(1)) r[1] = sum_to(-g[0] * n.saved(0) / (bv * bv), bs);
      return r;
    }, a, b);
    set_history(out, node);
    if (node->next_edge(1).is_valid()) node->save(0, a);
    node->save(1, b);
  }
  return out;
}

Tensor pow_tensor(const Tensor& a, const Tensor& e) {
  if (autocast::active(a)) {  // autocast: float32 (Note [autocast op lists])
    Tensor a32 = autocast::to_fp32(a), e32 = autocast::to_fp32(e);
    autocast::ExcludeGuard excluded;
    return pow_tensor(a32, e32);
  }
  Tensor out = raw::binary(BinaryOp::Pow, a, e);
  if (compute_requires_grad(a, e)) {
    Shape as = a.sizes().vec(), es = e.sizes().vec();
    auto node = make_node<3>("PowBackward1", [as, es](auto& n, variable_list& g) {
      variable_list r(2);
      Tensor x = n.saved(0), ex = n.saved(1);
      if (n.should_compute_output(0)) r[0] = sum_to(g[0] * ex * x.pow(ex - 1.0), as);
      if (n.should_compute_output(1)) {
        // d/de x^e = x^e log x, taken as 0 where x == 0 and e >= 0 (as PyTorch does)
        Tensor res = n.saved(2);
        Tensor zero_base = raw::binary(BinaryOp::LogicalAnd, raw::binary(BinaryOp::Eq, x, Scalar(0)),
                                       raw::binary(BinaryOp::Ge, ex, Scalar(0)));
        Tensor ge = where(zero_base, raw::full({}, 0, g[0].options()), g[0] * res * x.log());
        r[1] = sum_to(ge, es);
      }
      return r;
    }, a, e);
    set_history(out, node);
    node->save(0, a);
    node->save(1, e);
    if (node->next_edge(1).is_valid()) node->save(2, out, /*is_output=*/true);
  }
  return out;
}

Tensor max_min_tensor(const Tensor& a, const Tensor& b, bool is_max) {
  Tensor out = raw::binary(is_max ? BinaryOp::Maximum : BinaryOp::Minimum, a, b);
  if (compute_requires_grad(a, b)) {
    Shape as = a.sizes().vec(), bs = b.sizes().vec();
    auto node = make_node<2>(is_max ? "MaximumBackward0" : "MinimumBackward0", [as, bs, is_max](
                                                                                 auto& n, variable_list& g) {
      Tensor av = n.saved(0), bv = n.saved(1);
      // the larger (smaller) input gets the gradient; ties split it evenly
      Tensor a_wins = mask_as(raw::binary(is_max ? BinaryOp::Gt : BinaryOp::Lt, av, bv), g[0]);
      Tensor tie = mask_as(raw::binary(BinaryOp::Eq, av, bv), g[0]) * 0.5;
      variable_list r(2);
      if (n.should_compute_output(0)) r[0] = sum_to(g[0] * (a_wins + tie), as);
      if (n.should_compute_output(1)) r[1] = sum_to(g[0] * (1.0 - a_wins - tie), bs);
      return r;
    }, a, b);
    set_history(out, node);
    node->save(0, a);
    node->save(1, b);
  }
  return out;
}

// self op= other, in place. Saves what the formula needs before `self` is overwritten.
Tensor& binary_inplace(BinaryOp op, Tensor& self, const Tensor& other, Scalar alpha) {
  autograd::check_inplace(self);
  bool rg = compute_requires_grad(self, other);
  std::shared_ptr<autograd::Node> node;
  Shape os = other.sizes().vec();
  Tensor self_old;  // mul_: d other = g * self_old
  if (rg) {
    switch (op) {
      case BinaryOp::Add:
      case BinaryOp::Sub: {
        double k = (op == BinaryOp::Sub ? -1.0 : 1.0) * alpha.to_double();
        node = make_node<0>(op == BinaryOp::Add ? "AddBackward0" : "SubBackward0", [os, k](auto& n, variable_list& g) {
          variable_list r(2);
          if (n.should_compute_output(0)) r[0] = g[0];
          if (n.should_compute_output(1)) r[1] = sum_to(k == 1.0 ? g[0] : g[0] * k, os);
          return r;
        }, self, other);
        break;
      }
      case BinaryOp::Mul: {
        auto mn = make_node<2>("MulBackward0", [os](auto& n, variable_list& g) {
          variable_list r(2);
          if (n.should_compute_output(0)) r[0] = g[0] * n.saved(1);
          if (n.should_compute_output(1)) r[1] = sum_to(g[0] * n.saved(0), os);
          return r;
        }, self, other);
        if (mn->next_edge(1).is_valid()) mn->save(0, raw::clone(self));
        if (mn->next_edge(0).is_valid()) mn->save(1, other);
        node = mn;
        break;
      }
      case BinaryOp::Div: {
        // self_new = self_old / other: d self = g / other, d other = -g * self_new / other
        auto dn = make_node<2>("DivBackward0", [os](auto& n, variable_list& g) {
          variable_list r(2);
          Tensor ov = n.saved(1);
          if (n.should_compute_output(0)) r[0] = g[0] / ov;
          if (n.should_compute_output(1)) r[1] = sum_to(-g[0] * n.saved(0) / ov, os);
          return r;
        }, self, other);
        dn->save(1, other);
        node = dn;
        break;
      }
      default: TESSERA_CHECK(false, ValueError, "{}_: in-place op is not differentiable", binary_op_name(op));
    }
  }
  raw::binary_(op, self, other, alpha);
  self.bump_version();
  if (rg) {
    autograd::rebase_history(self, node);
    if (op == BinaryOp::Div && node->next_edge(1).is_valid())
      static_cast<autograd::SavedNode<2>*>(node.get())->save(0, self, /*is_output=*/true);
  }
  return self;
}

// self op= s, in place.
Tensor& scalar_inplace(BinaryOp op, Tensor& self, Scalar s) {
  autograd::check_inplace(self);
  bool rg = compute_requires_grad(self);
  const double v = s.to_double();
  std::shared_ptr<autograd::Node> node;
  if (rg) {
    switch (op) {
      case BinaryOp::Add:
      case BinaryOp::Sub:
        node = make_node<0>(op == BinaryOp::Add ? "AddBackward1" : "SubBackward1",
                            [](auto&, variable_list& g) -> variable_list { return {g[0]}; }, self);
        break;
      case BinaryOp::Mul:
        node = make_node<0>("MulBackward1", [v](auto&, variable_list& g) -> variable_list { return {g[0] * v}; }, self);
        break;
      case BinaryOp::Div:
        node = make_node<0>("DivBackward1", [v](auto&, variable_list& g) -> variable_list { return {g[0] / v}; }, self);
        break;
      case BinaryOp::Pow: {
        auto pn = make_node<1>("PowBackward0", [v](auto& n, variable_list& g) -> variable_list {
          if (v == 0.0) return {zeros_like_t(g[0])};
          return {g[0] * v * n.saved(0).pow(v - 1.0)};
        }, self);
        pn->save(0, raw::clone(self));
        node = pn;
        break;
      }
      default: TESSERA_CHECK(false, ValueError, "{}_: in-place op is not differentiable", binary_op_name(op));
    }
  }
  raw::binary_(op, self, s);
  self.bump_version();
  if (rg) autograd::rebase_history(self, node);
  return self;
}

Tensor compare(BinaryOp op, const Tensor& a, const Tensor& b) { return raw::binary(op, a, b); }
Tensor compare(BinaryOp op, const Tensor& a, Scalar b) { return raw::binary(op, a, b, false); }

// other * alpha for the Scalar forms of add/sub (exact for integers).
Scalar scaled(const Tensor& self, Scalar other, Scalar alpha, const char* op) {
  if (!alpha.is_bool() && !alpha.is_floating_point() && alpha.to_long() == 1) return other;
  DType rt = result_type(self, other);
  TESSERA_CHECK(is_floating_point(rt) || !alpha.is_floating_point(), DTypeError,
                "{}: For integral input tensors, argument alpha must not be a floating point number.", op);
  TESSERA_CHECK(!alpha.is_bool() || rt == DType::Bool, DTypeError, "{}: Boolean alpha only supported for Boolean results.",
                op);
  if (other.is_bool() && alpha.is_bool()) return Scalar(other.to_bool() && alpha.to_bool());
  if (!other.is_floating_point() && !alpha.is_floating_point()) return Scalar(other.to_long() * alpha.to_long());
  return Scalar(other.to_double() * alpha.to_double());
}

UnaryOp gelu_op(const std::string& approximate) {
  TESSERA_CHECK(approximate == "none" || approximate == "tanh", ValueError,
                "gelu: approximate argument must be either none or tanh (got '{}')", approximate);
  return approximate == "tanh" ? UnaryOp::GeluTanh : UnaryOp::GeluErf;
}

// A Scalar operand of where() as a 0-dim tensor of the type the Scalar form promotes to.
Tensor scalar_operand(const Tensor& other, Scalar s) {
  return raw::scalar_tensor(s, TensorOptions(result_type(other, s)).device(other.device()));
}

// s ** e for a scalar base: d/de = s^e log s (0 where s == 0 and e >= 0).
Tensor pow_scalar_base(Scalar base, const Tensor& e) {
  if (autocast::active(e)) {  // autocast: float32 (Note [autocast op lists])
    Tensor e32 = autocast::to_fp32(e);
    autocast::ExcludeGuard excluded;
    return pow_scalar_base(base, e32);
  }
  Tensor out = raw::binary(BinaryOp::Pow, e, base, /*reverse=*/true);
  if (compute_requires_grad(e) && out.is_floating_point()) {
    const double b = base.to_double();
    auto node = make_node<1>("PowBackward2", [b](auto& n, variable_list& g) -> variable_list {
      if (b == 0.0) return {zeros_like_t(g[0])};  // 0^e: taken as 0, as PyTorch does
      return {g[0] * n.saved(0) * std::log(b)};
    }, e);
    set_history(out, node);
    node->save(0, out, /*is_output=*/true);
  }
  return out;
}

}  // namespace

namespace autograd::detail {
void record_input_saving_unary(UnaryOp op, const Tensor& x, const Tensor& out) {
  auto node = make_node<1>(unary_node_name(op), [op](auto& n, variable_list& g) -> variable_list {
    Tensor xs = n.saved(0);
    if (!GradMode::is_enabled()) return {raw::unary_backward(op, g[0], xs)};
    return {g[0] * unary_derivative(op, xs)};
  }, x);
  set_history(out, node);
  node->save(0, x);
}
}  // namespace autograd::detail

// ---- binary ----
Tensor Tensor::add(const Tensor& other, Scalar alpha) const { return add_sub(*this, other, alpha, false); }
Tensor Tensor::add(Scalar other, Scalar alpha) const {
  return scalar_op(BinaryOp::Add, *this, scaled(*this, other, alpha, "add"), false);
}
Tensor Tensor::sub(const Tensor& other, Scalar alpha) const { return add_sub(*this, other, alpha, true); }
Tensor Tensor::sub(Scalar other, Scalar alpha) const {
  return scalar_op(BinaryOp::Sub, *this, scaled(*this, other, alpha, "sub"), false);
}
Tensor Tensor::mul(const Tensor& other) const { return mul_tensor(*this, other); }
Tensor Tensor::mul(Scalar other) const { return scalar_op(BinaryOp::Mul, *this, other, false); }
Tensor Tensor::div(const Tensor& other) const { return div_tensor(*this, other); }
Tensor Tensor::div(Scalar other) const { return scalar_op(BinaryOp::Div, *this, other, false); }
Tensor Tensor::pow(const Tensor& exponent) const { return pow_tensor(*this, exponent); }
Tensor Tensor::pow(Scalar exponent) const {
  if (autocast::active(*this)) {  // autocast: float32 (Note [autocast op lists])
    Tensor x32 = autocast::to_fp32(*this);
    autocast::ExcludeGuard excluded;
    return x32.pow(exponent);
  }
  return scalar_op(BinaryOp::Pow, *this, exponent, false);
}
Tensor Tensor::maximum(const Tensor& other) const { return max_min_tensor(*this, other, true); }
Tensor Tensor::minimum(const Tensor& other) const { return max_min_tensor(*this, other, false); }

Tensor& Tensor::add_(const Tensor& other, Scalar alpha) { return binary_inplace(BinaryOp::Add, *this, other, alpha); }
Tensor& Tensor::add_(Scalar other, Scalar alpha) {
  return scalar_inplace(BinaryOp::Add, *this, scaled(*this, other, alpha, "add_"));
}
Tensor& Tensor::sub_(const Tensor& other, Scalar alpha) { return binary_inplace(BinaryOp::Sub, *this, other, alpha); }
Tensor& Tensor::sub_(Scalar other, Scalar alpha) {
  return scalar_inplace(BinaryOp::Sub, *this, scaled(*this, other, alpha, "sub_"));
}
Tensor& Tensor::mul_(const Tensor& other) { return binary_inplace(BinaryOp::Mul, *this, other, 1); }
Tensor& Tensor::mul_(Scalar other) { return scalar_inplace(BinaryOp::Mul, *this, other); }
Tensor& Tensor::div_(const Tensor& other) { return binary_inplace(BinaryOp::Div, *this, other, 1); }
Tensor& Tensor::div_(Scalar other) { return scalar_inplace(BinaryOp::Div, *this, other); }
Tensor& Tensor::pow_(Scalar exponent) { return scalar_inplace(BinaryOp::Pow, *this, exponent); }

// ---- unary ----
Tensor Tensor::neg() const { return unary(UnaryOp::Neg, *this); }
Tensor Tensor::abs() const { return unary(UnaryOp::Abs, *this); }
Tensor Tensor::exp() const { return unary(UnaryOp::Exp, *this); }
Tensor Tensor::log() const { return unary(UnaryOp::Log, *this); }
Tensor Tensor::log1p() const { return unary(UnaryOp::Log1p, *this); }
Tensor Tensor::sqrt() const { return unary(UnaryOp::Sqrt, *this); }
Tensor Tensor::rsqrt() const { return unary(UnaryOp::Rsqrt, *this); }
Tensor Tensor::square() const { return unary(UnaryOp::Square, *this); }
Tensor Tensor::reciprocal() const { return unary(UnaryOp::Reciprocal, *this); }
Tensor Tensor::sign() const { return unary(UnaryOp::Sign, *this); }
Tensor Tensor::tanh() const { return unary(UnaryOp::Tanh, *this); }
Tensor Tensor::sigmoid() const { return unary(UnaryOp::Sigmoid, *this); }
Tensor Tensor::relu() const { return unary(UnaryOp::Relu, *this); }
Tensor Tensor::gelu(const std::string& approximate) const { return unary(gelu_op(approximate), *this); }
Tensor Tensor::silu() const { return unary(UnaryOp::Silu, *this); }
Tensor Tensor::sin() const { return unary(UnaryOp::Sin, *this); }
Tensor Tensor::cos() const { return unary(UnaryOp::Cos, *this); }
Tensor& Tensor::neg_() { return unary_(UnaryOp::Neg, *this); }
Tensor& Tensor::exp_() { return unary_(UnaryOp::Exp, *this); }
Tensor& Tensor::relu_() { return unary_(UnaryOp::Relu, *this); }

// clamp: the gradient passes where min <= x <= max
namespace {
Tensor clamp_mask(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  Tensor m;
  if (lo) m = raw::binary(BinaryOp::Ge, x, *lo);
  if (hi) {
    Tensor mh = raw::binary(BinaryOp::Le, x, *hi);
    m = m.defined() ? raw::binary(BinaryOp::LogicalAnd, m, mh) : mh;
  }
  return m.defined() ? m : raw::full(x.sizes(), true, TensorOptions(kBool).device(x.device()));
}
}  // namespace

Tensor Tensor::clamp(std::optional<Scalar> min, std::optional<Scalar> max) const {
  Tensor out = raw::clamp(*this, min, max);
  if (compute_requires_grad(*this)) {
    auto node = make_node<1>("ClampBackward1", [](auto& n, variable_list& g) -> variable_list {
      return {g[0] * mask_as(n.saved(0), g[0])};
    }, *this);
    set_history(out, node);
    node->save(0, clamp_mask(*this, min, max));
  }
  return out;
}

Tensor& Tensor::clamp_(std::optional<Scalar> min, std::optional<Scalar> max) {
  autograd::check_inplace(*this);
  bool rg = compute_requires_grad(*this);
  Tensor mask = rg ? clamp_mask(*this, min, max) : Tensor();
  raw::clamp_(*this, min, max);
  bump_version();
  if (rg) {
    auto node = make_node<1>("ClampBackward1", [](auto& n, variable_list& g) -> variable_list {
      return {g[0] * mask_as(n.saved(0), g[0])};
    }, *this);
    node->save(0, mask);
    autograd::rebase_history(*this, node);
  }
  return *this;
}

// ---- comparisons and logical ops (not differentiable) ----
Tensor Tensor::eq(const Tensor& o) const { return compare(BinaryOp::Eq, *this, o); }
Tensor Tensor::eq(Scalar o) const { return compare(BinaryOp::Eq, *this, o); }
Tensor Tensor::ne(const Tensor& o) const { return compare(BinaryOp::Ne, *this, o); }
Tensor Tensor::ne(Scalar o) const { return compare(BinaryOp::Ne, *this, o); }
Tensor Tensor::lt(const Tensor& o) const { return compare(BinaryOp::Lt, *this, o); }
Tensor Tensor::lt(Scalar o) const { return compare(BinaryOp::Lt, *this, o); }
Tensor Tensor::le(const Tensor& o) const { return compare(BinaryOp::Le, *this, o); }
Tensor Tensor::le(Scalar o) const { return compare(BinaryOp::Le, *this, o); }
Tensor Tensor::gt(const Tensor& o) const { return compare(BinaryOp::Gt, *this, o); }
Tensor Tensor::gt(Scalar o) const { return compare(BinaryOp::Gt, *this, o); }
Tensor Tensor::ge(const Tensor& o) const { return compare(BinaryOp::Ge, *this, o); }
Tensor Tensor::ge(Scalar o) const { return compare(BinaryOp::Ge, *this, o); }
Tensor Tensor::logical_not() const { return raw::unary(UnaryOp::LogicalNot, *this); }
Tensor Tensor::logical_and(const Tensor& o) const { return compare(BinaryOp::LogicalAnd, *this, o); }
Tensor Tensor::logical_or(const Tensor& o) const { return compare(BinaryOp::LogicalOr, *this, o); }

// ---- masking and selection ----
Tensor Tensor::masked_fill(const Tensor& mask, Scalar value) const {
  Tensor out = raw::masked_fill(*this, mask, value);
  if (compute_requires_grad(*this)) {
    auto node = make_node<1>("MaskedFillBackward0", [](auto& n, variable_list& g) -> variable_list {
      return {g[0].masked_fill(n.saved(0), 0)};
    }, *this);
    set_history(out, node);
    node->save(0, mask);
  }
  return out;
}

Tensor& Tensor::masked_fill_(const Tensor& mask, Scalar value) {
  autograd::check_inplace(*this);
  bool rg = compute_requires_grad(*this);
  raw::masked_fill_(*this, mask, value);
  bump_version();
  if (rg) {
    auto node = make_node<1>("MaskedFillBackward0", [](auto& n, variable_list& g) -> variable_list {
      return {g[0].masked_fill(n.saved(0), 0)};
    }, *this);
    node->save(0, mask);
    autograd::rebase_history(*this, node);
  }
  return *this;
}

Tensor where(const Tensor& condition, const Tensor& self, const Tensor& other) {
  Tensor out = raw::where(condition, self, other);
  if (compute_requires_grad(self, other)) {
    Shape as = self.sizes().vec(), bs = other.sizes().vec();
    auto node = make_node<1>("WhereBackward0", [as, bs](auto& n, variable_list& g) {
      Tensor c = n.saved(0), z = raw::full({}, 0, g[0].options());
      variable_list r(2);
      if (n.should_compute_output(0)) r[0] = sum_to(where(c, g[0], z), as);
      if (n.should_compute_output(1)) r[1] = sum_to(where(c, z, g[0]), bs);
      return r;
    }, self, other);
    set_history(out, node);
    node->save(0, condition);
  }
  return out;
}

// ---- operators ----
Tensor operator+(const Tensor& a, const Tensor& b) { return a.add(b); }
Tensor operator+(const Tensor& a, Scalar b) { return a.add(b); }
Tensor operator+(Scalar a, const Tensor& b) { return b.add(a); }
Tensor operator-(const Tensor& a, const Tensor& b) { return a.sub(b); }
Tensor operator-(const Tensor& a, Scalar b) { return a.sub(b); }
Tensor operator-(Scalar a, const Tensor& b) { return scalar_op(BinaryOp::Sub, b, a, /*reverse=*/true); }
Tensor operator*(const Tensor& a, const Tensor& b) { return a.mul(b); }
Tensor operator*(const Tensor& a, Scalar b) { return a.mul(b); }
Tensor operator*(Scalar a, const Tensor& b) { return b.mul(a); }
Tensor operator/(const Tensor& a, const Tensor& b) { return a.div(b); }
Tensor operator/(const Tensor& a, Scalar b) { return a.div(b); }
Tensor operator/(Scalar a, const Tensor& b) { return scalar_op(BinaryOp::Div, b, a, /*reverse=*/true); }
Tensor operator-(const Tensor& a) { return a.neg(); }
Tensor& operator+=(Tensor& a, const Tensor& b) { return a.add_(b); }
Tensor& operator+=(Tensor& a, Scalar b) { return a.add_(b); }
Tensor& operator-=(Tensor& a, const Tensor& b) { return a.sub_(b); }
Tensor& operator-=(Tensor& a, Scalar b) { return a.sub_(b); }
Tensor& operator*=(Tensor& a, const Tensor& b) { return a.mul_(b); }
Tensor& operator*=(Tensor& a, Scalar b) { return a.mul_(b); }
Tensor& operator/=(Tensor& a, const Tensor& b) { return a.div_(b); }
Tensor& operator/=(Tensor& a, Scalar b) { return a.div_(b); }
Tensor operator==(const Tensor& a, const Tensor& b) { return a.eq(b); }
Tensor operator==(const Tensor& a, Scalar b) { return a.eq(b); }
Tensor operator!=(const Tensor& a, const Tensor& b) { return a.ne(b); }
Tensor operator!=(const Tensor& a, Scalar b) { return a.ne(b); }
Tensor operator<(const Tensor& a, const Tensor& b) { return a.lt(b); }
Tensor operator<(const Tensor& a, Scalar b) { return a.lt(b); }
Tensor operator<=(const Tensor& a, const Tensor& b) { return a.le(b); }
Tensor operator<=(const Tensor& a, Scalar b) { return a.le(b); }
Tensor operator>(const Tensor& a, const Tensor& b) { return a.gt(b); }
Tensor operator>(const Tensor& a, Scalar b) { return a.gt(b); }
Tensor operator>=(const Tensor& a, const Tensor& b) { return a.ge(b); }
Tensor operator>=(const Tensor& a, Scalar b) { return a.ge(b); }

// ---- free functions (ops.h) ----
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) { return a.add(b, alpha); }
Tensor add(const Tensor& a, Scalar b, Scalar alpha) { return a.add(b, alpha); }
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha) { return a.sub(b, alpha); }
Tensor sub(const Tensor& a, Scalar b, Scalar alpha) { return a.sub(b, alpha); }
Tensor mul(const Tensor& a, const Tensor& b) { return a.mul(b); }
Tensor mul(const Tensor& a, Scalar b) { return a.mul(b); }
Tensor div(const Tensor& a, const Tensor& b) { return a.div(b); }
Tensor div(const Tensor& a, Scalar b) { return a.div(b); }
Tensor pow(const Tensor& a, const Tensor& exponent) { return a.pow(exponent); }
Tensor pow(const Tensor& a, Scalar exponent) { return a.pow(exponent); }
Tensor pow(Scalar a, const Tensor& exponent) { return pow_scalar_base(a, exponent); }
Tensor maximum(const Tensor& a, const Tensor& b) { return a.maximum(b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return a.minimum(b); }
Tensor neg(const Tensor& x) { return x.neg(); }
Tensor abs(const Tensor& x) { return x.abs(); }
Tensor exp(const Tensor& x) { return x.exp(); }
Tensor log(const Tensor& x) { return x.log(); }
Tensor log1p(const Tensor& x) { return x.log1p(); }
Tensor sqrt(const Tensor& x) { return x.sqrt(); }
Tensor rsqrt(const Tensor& x) { return x.rsqrt(); }
Tensor square(const Tensor& x) { return x.square(); }
Tensor reciprocal(const Tensor& x) { return x.reciprocal(); }
Tensor sign(const Tensor& x) { return x.sign(); }
Tensor tanh(const Tensor& x) { return x.tanh(); }
Tensor sigmoid(const Tensor& x) { return x.sigmoid(); }
Tensor relu(const Tensor& x) { return x.relu(); }
Tensor gelu(const Tensor& x, const std::string& approximate) { return x.gelu(approximate); }
Tensor silu(const Tensor& x) { return x.silu(); }
Tensor sin(const Tensor& x) { return x.sin(); }
Tensor cos(const Tensor& x) { return x.cos(); }
Tensor where(const Tensor& condition, const Tensor& a, Scalar b) { return where(condition, a, scalar_operand(a, b)); }
Tensor where(const Tensor& condition, Scalar a, const Tensor& b) { return where(condition, scalar_operand(b, a), b); }
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max) { return x.clamp(min, max); }
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) { return x.masked_fill(mask, value); }
Tensor eq(const Tensor& a, const Tensor& b) { return a.eq(b); }
Tensor eq(const Tensor& a, Scalar b) { return a.eq(b); }
Tensor ne(const Tensor& a, const Tensor& b) { return a.ne(b); }
Tensor ne(const Tensor& a, Scalar b) { return a.ne(b); }
Tensor lt(const Tensor& a, const Tensor& b) { return a.lt(b); }
Tensor lt(const Tensor& a, Scalar b) { return a.lt(b); }
Tensor le(const Tensor& a, const Tensor& b) { return a.le(b); }
Tensor le(const Tensor& a, Scalar b) { return a.le(b); }
Tensor gt(const Tensor& a, const Tensor& b) { return a.gt(b); }
Tensor gt(const Tensor& a, Scalar b) { return a.gt(b); }
Tensor ge(const Tensor& a, const Tensor& b) { return a.ge(b); }
Tensor ge(const Tensor& a, Scalar b) { return a.ge(b); }
Tensor logical_not(const Tensor& x) { return x.logical_not(); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return a.logical_and(b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return a.logical_or(b); }

}  // namespace tessera
