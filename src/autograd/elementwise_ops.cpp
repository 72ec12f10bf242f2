// The differentiable elementwise ops: Tensor methods (add ... masked_fill_), the operators of
// tensor.h and the free functions of ops.h. For now they forward to the raw kernels (autograd
// recording arrives with the autograd engine); in-place forms bump the version counter.
#include "tessera/autograd/ops.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera {

namespace {

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

}  // namespace

// ---- Tensor methods ----
Tensor Tensor::add(const Tensor& other, Scalar alpha) const { return raw::binary(BinaryOp::Add, *this, other, alpha); }
Tensor Tensor::add(Scalar other, Scalar alpha) const {
  return raw::binary(BinaryOp::Add, *this, scaled(*this, other, alpha, "add"));
}
Tensor Tensor::sub(const Tensor& other, Scalar alpha) const { return raw::binary(BinaryOp::Sub, *this, other, alpha); }
Tensor Tensor::sub(Scalar other, Scalar alpha) const {
  return raw::binary(BinaryOp::Sub, *this, scaled(*this, other, alpha, "sub"));
}
Tensor Tensor::mul(const Tensor& other) const { return raw::binary(BinaryOp::Mul, *this, other); }
Tensor Tensor::mul(Scalar other) const { return raw::binary(BinaryOp::Mul, *this, other); }
Tensor Tensor::div(const Tensor& other) const { return raw::binary(BinaryOp::Div, *this, other); }
Tensor Tensor::div(Scalar other) const { return raw::binary(BinaryOp::Div, *this, other); }
Tensor Tensor::pow(const Tensor& exponent) const { return raw::binary(BinaryOp::Pow, *this, exponent); }
Tensor Tensor::pow(Scalar exponent) const { return raw::binary(BinaryOp::Pow, *this, exponent); }
Tensor Tensor::maximum(const Tensor& other) const { return raw::binary(BinaryOp::Maximum, *this, other); }
Tensor Tensor::minimum(const Tensor& other) const { return raw::binary(BinaryOp::Minimum, *this, other); }

Tensor& Tensor::add_(const Tensor& other, Scalar alpha) {
  raw::binary_(BinaryOp::Add, *this, other, alpha);
  bump_version();
  return *this;
}
Tensor& Tensor::add_(Scalar other, Scalar alpha) {
  raw::binary_(BinaryOp::Add, *this, scaled(*this, other, alpha, "add_"));
  bump_version();
  return *this;
}
Tensor& Tensor::sub_(const Tensor& other, Scalar alpha) {
  raw::binary_(BinaryOp::Sub, *this, other, alpha);
  bump_version();
  return *this;
}
Tensor& Tensor::sub_(Scalar other, Scalar alpha) {
  raw::binary_(BinaryOp::Sub, *this, scaled(*this, other, alpha, "sub_"));
  bump_version();
  return *this;
}
Tensor& Tensor::mul_(const Tensor& other) {
  raw::binary_(BinaryOp::Mul, *this, other);
  bump_version();
  return *this;
}
Tensor& Tensor::mul_(Scalar other) {
  raw::binary_(BinaryOp::Mul, *this, other);
  bump_version();
  return *this;
}
Tensor& Tensor::div_(const Tensor& other) {
  raw::binary_(BinaryOp::Div, *this, other);
  bump_version();
  return *this;
}
Tensor& Tensor::div_(Scalar other) {
  raw::binary_(BinaryOp::Div, *this, other);
  bump_version();
  return *this;
}
Tensor& Tensor::pow_(Scalar exponent) {
  raw::binary_(BinaryOp::Pow, *this, exponent);
  bump_version();
  return *this;
}

Tensor Tensor::neg() const { return raw::unary(UnaryOp::Neg, *this); }
Tensor Tensor::abs() const { return raw::unary(UnaryOp::Abs, *this); }
Tensor Tensor::exp() const { return raw::unary(UnaryOp::Exp, *this); }
Tensor Tensor::log() const { return raw::unary(UnaryOp::Log, *this); }
Tensor Tensor::log1p() const { return raw::unary(UnaryOp::Log1p, *this); }
Tensor Tensor::sqrt() const { return raw::unary(UnaryOp::Sqrt, *this); }
Tensor Tensor::rsqrt() const { return raw::unary(UnaryOp::Rsqrt, *this); }
Tensor Tensor::square() const { return raw::unary(UnaryOp::Square, *this); }
Tensor Tensor::reciprocal() const { return raw::unary(UnaryOp::Reciprocal, *this); }
Tensor Tensor::sign() const { return raw::unary(UnaryOp::Sign, *this); }
Tensor Tensor::tanh() const { return raw::unary(UnaryOp::Tanh, *this); }
Tensor Tensor::sigmoid() const { return raw::unary(UnaryOp::Sigmoid, *this); }
Tensor Tensor::relu() const { return raw::unary(UnaryOp::Relu, *this); }
Tensor Tensor::gelu(const std::string& approximate) const { return raw::unary(gelu_op(approximate), *this); }
Tensor Tensor::silu() const { return raw::unary(UnaryOp::Silu, *this); }
Tensor Tensor::sin() const { return raw::unary(UnaryOp::Sin, *this); }
Tensor Tensor::cos() const { return raw::unary(UnaryOp::Cos, *this); }

Tensor& Tensor::neg_() {
  raw::unary_(UnaryOp::Neg, *this);
  bump_version();
  return *this;
}
Tensor& Tensor::exp_() {
  raw::unary_(UnaryOp::Exp, *this);
  bump_version();
  return *this;
}
Tensor& Tensor::relu_() {
  raw::unary_(UnaryOp::Relu, *this);
  bump_version();
  return *this;
}
Tensor& Tensor::clamp_(std::optional<Scalar> min, std::optional<Scalar> max) {
  raw::clamp_(*this, min, max);
  bump_version();
  return *this;
}
Tensor Tensor::clamp(std::optional<Scalar> min, std::optional<Scalar> max) const { return raw::clamp(*this, min, max); }

Tensor Tensor::eq(const Tensor& other) const { return raw::binary(BinaryOp::Eq, *this, other); }
Tensor Tensor::eq(Scalar other) const { return raw::binary(BinaryOp::Eq, *this, other); }
Tensor Tensor::ne(const Tensor& other) const { return raw::binary(BinaryOp::Ne, *this, other); }
Tensor Tensor::ne(Scalar other) const { return raw::binary(BinaryOp::Ne, *this, other); }
Tensor Tensor::lt(const Tensor& other) const { return raw::binary(BinaryOp::Lt, *this, other); }
Tensor Tensor::lt(Scalar other) const { return raw::binary(BinaryOp::Lt, *this, other); }
Tensor Tensor::le(const Tensor& other) const { return raw::binary(BinaryOp::Le, *this, other); }
Tensor Tensor::le(Scalar other) const { return raw::binary(BinaryOp::Le, *this, other); }
Tensor Tensor::gt(const Tensor& other) const { return raw::binary(BinaryOp::Gt, *this, other); }
Tensor Tensor::gt(Scalar other) const { return raw::binary(BinaryOp::Gt, *this, other); }
Tensor Tensor::ge(const Tensor& other) const { return raw::binary(BinaryOp::Ge, *this, other); }
Tensor Tensor::ge(Scalar other) const { return raw::binary(BinaryOp::Ge, *this, other); }
Tensor Tensor::logical_not() const { return raw::unary(UnaryOp::LogicalNot, *this); }
Tensor Tensor::logical_and(const Tensor& other) const { return raw::binary(BinaryOp::LogicalAnd, *this, other); }
Tensor Tensor::logical_or(const Tensor& other) const { return raw::binary(BinaryOp::LogicalOr, *this, other); }
Tensor Tensor::masked_fill(const Tensor& mask, Scalar value) const { return raw::masked_fill(*this, mask, value); }
Tensor& Tensor::masked_fill_(const Tensor& mask, Scalar value) {
  raw::masked_fill_(*this, mask, value);
  bump_version();
  return *this;
}

// ---- operators ----
Tensor operator+(const Tensor& a, const Tensor& b) { return a.add(b); }
Tensor operator+(const Tensor& a, Scalar b) { return a.add(b); }
Tensor operator+(Scalar a, const Tensor& b) { return raw::binary(BinaryOp::Add, b, a, /*reverse=*/true); }
Tensor operator-(const Tensor& a, const Tensor& b) { return a.sub(b); }
Tensor operator-(const Tensor& a, Scalar b) { return a.sub(b); }
Tensor operator-(Scalar a, const Tensor& b) { return raw::binary(BinaryOp::Sub, b, a, /*reverse=*/true); }
Tensor operator*(const Tensor& a, const Tensor& b) { return a.mul(b); }
Tensor operator*(const Tensor& a, Scalar b) { return a.mul(b); }
Tensor operator*(Scalar a, const Tensor& b) { return raw::binary(BinaryOp::Mul, b, a, /*reverse=*/true); }
Tensor operator/(const Tensor& a, const Tensor& b) { return a.div(b); }
Tensor operator/(const Tensor& a, Scalar b) { return a.div(b); }
Tensor operator/(Scalar a, const Tensor& b) { return raw::binary(BinaryOp::Div, b, a, /*reverse=*/true); }
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
Tensor pow(Scalar a, const Tensor& exponent) { return raw::binary(BinaryOp::Pow, exponent, a, /*reverse=*/true); }
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
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) { return raw::where(condition, a, b); }
Tensor where(const Tensor& condition, const Tensor& a, Scalar b) {
  return raw::where(condition, a, scalar_operand(a, b));
}
Tensor where(const Tensor& condition, Scalar a, const Tensor& b) {
  return raw::where(condition, scalar_operand(b, a), b);
}
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
