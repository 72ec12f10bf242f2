// Raw elementwise ops: result_type (torch.result_type), unary/binary ops and their in-place
// forms, where, clamp, masked_fill and unary_backward. Each validates, promotes, broadcasts and
// calls one Backend primitive (Note [backend primitive contract]).
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera {

namespace {

// Note [result type]
// torch.result_type: operands fall in three priority groups, tensors with dim > 0, 0-dim
// tensors, and Scalars ("wrapped numbers"). Each group promotes within itself; a lower group
// only matters when it is of a higher category (bool < integer < floating) than the groups
// above it. A floating Scalar counts as the default dtype (float32), an integer Scalar as int64.
// So int32[n] + 2.5 -> float32, int32[n] + float64[] -> float64, float16[n] + float64[] ->
// float16, bool[n] + 2 -> int64.
struct ResultTypeState {
  std::optional<DType> dim, zero, wrapped;
};

void promote_into(std::optional<DType>& slot, DType t) { slot = slot ? promote_types(*slot, t) : t; }

void update(ResultTypeState& s, const Tensor& t) { promote_into(t.dim() > 0 ? s.dim : s.zero, t.dtype()); }
void update(ResultTypeState& s, Scalar v) {
  promote_into(s.wrapped, v.is_floating_point() ? DType::Float32 : v.is_bool() ? DType::Bool : DType::Int64);
}

std::optional<DType> combine(std::optional<DType> higher, std::optional<DType> lower) {
  if (higher && is_floating_point(*higher)) return higher;
  if ((higher && *higher == DType::Bool) || (lower && is_floating_point(*lower))) {
    if (!higher) return lower;
    if (!lower) return higher;
    return promote_types(*higher, *lower);
  }
  return higher ? higher : lower;
}

DType finish(const ResultTypeState& s) {
  std::optional<DType> r = combine(s.dim, combine(s.zero, s.wrapped));
  return r ? *r : DType::Float32;
}

// c10's names, which PyTorch's messages use ("result type Float can't be cast to ... Long").
const char* torch_type_name(DType t) {
  switch (t) {
    case DType::Float32: return "Float";
    case DType::Float64: return "Double";
    case DType::BFloat16: return "BFloat16";
    case DType::Float16: return "Half";
    case DType::Int32: return "Int";
    case DType::Int64: return "Long";
    case DType::Bool: return "Bool";
  }
  return "?";
}

// torch.can_cast: no floating -> integer, no non-bool -> bool.
bool can_cast(DType from, DType to) {
  if (is_floating_point(from) && is_integral(to)) return false;
  if (from != DType::Bool && to == DType::Bool) return false;
  return true;
}

void check_can_cast(const std::string& name, DType result, DType self) {
  TESSERA_CHECK(can_cast(result, self), DTypeError, "{}: result type {} can't be cast to the desired output type {}",
                name, torch_type_name(result), torch_type_name(self));
}

void check_defined(const std::string& name, const Tensor& t) {
  TESSERA_CHECK(t.defined(), ValueError, "{}: expected a defined tensor", name);
}

// An in-place op's destination must not have several elements sharing memory (an expand).
void check_no_internal_overlap(const std::string& name, const Tensor& t) {
  for (int64_t d = 0; d < t.dim(); ++d) {
    TESSERA_CHECK(!(t.size(d) > 1 && t.stride(d) == 0), ValueError,
                  "{}: unsupported operation: more than one element of the written-to tensor refers to a single "
                  "memory location. Please clone() the tensor before performing the operation.",
                  name);
  }
}

// An input of an in-place op that shares memory with the destination without being exactly
// the same view is copied first (Note [backend primitive contract]: aliasing is exact or none).
Tensor unalias(const Tensor& input, const Tensor& self) {
  if (!input.is_alias_of(self)) return input;
  if (input.dtype() == self.dtype() && input.storage_offset() == self.storage_offset() &&
      input.sizes().equals(self.sizes()) && input.strides().equals(self.strides())) {
    return input;
  }
  return raw::clone(input);
}

// The device an op runs on: all operands share it, except that a 0-dim CPU tensor may join
// tensors of another device (it is moved, as PyTorch treats it like a scalar).
Device common_device(const std::string& name, std::initializer_list<const Tensor*> ts) {
  const Tensor* ref = nullptr;
  for (const Tensor* t : ts) {
    if (!(t->dim() == 0 && t->is_cpu())) {
      ref = t;
      break;
    }
  }
  if (!ref) return Device::cpu();
  for (const Tensor* t : ts) {
    if (t->dim() == 0 && t->is_cpu()) continue;
    TESSERA_CHECK(t->device() == ref->device(), DeviceError,
                  "{}: expected all tensors to be on the same device, but found at least two devices, {} and {}",
                  name, ref->device().str(), t->device().str());
  }
  return ref->device();
}

// t converted to (device, dtype) and broadcast to `shape` (a stride-0 view where it grows).
Tensor prepare(const Tensor& t, Device device, DType dtype, IntArrayRef shape) {
  Tensor r = (t.device() == device && t.dtype() == dtype) ? t : raw::to(t, device, dtype);
  return r.sizes().equals(shape) ? r : raw::expand(r, shape);
}

std::string inplace_name(std::string_view op) { return fmt::format("{}_", op); }

// Note [elementwise output layout]
// Like PyTorch's TensorIterator, an elementwise op whose first full-shape operand is a dense
// permutation of a contiguous tensor (a transpose, a permute) gives its output the same strides,
// so the kernel walks both in memory order (x.t().exp() is as fast as x.exp()). Otherwise the
// output is contiguous. Callers that need contiguity ask for it (.contiguous()).
bool is_dense_permutation(const Tensor& t) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size) of the dims with size > 1
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) != 1) dims.emplace_back(t.stride(d), t.size(d));
  }
  std::sort(dims.begin(), dims.end());
  int64_t expected = 1;
  for (auto [stride, size] : dims) {
    if (stride != expected) return false;
    expected *= size;
  }
  return true;
}

Tensor empty_output(IntArrayRef shape, DType dtype, Device device, std::initializer_list<const Tensor*> operands) {
  TensorOptions options = TensorOptions(dtype).device(device);
  for (const Tensor* t : operands) {
    if (!t->sizes().equals(shape)) continue;
    if (!t->is_contiguous() && t->numel() > 1 && is_dense_permutation(*t)) {
      return raw::empty_strided(shape, t->strides(), options);
    }
    break;
  }
  return raw::empty(shape, options);
}

// ---- unary ----

DType unary_compute_dtype(UnaryOp op, DType in, const std::string& name) {
  switch (op) {
    case UnaryOp::Neg:
      TESSERA_CHECK(in != DType::Bool, DTypeError,
                    "{}: Negation, the `-` operator, on a bool tensor is not supported. If you are trying to invert "
                    "a mask, use the `~` or `logical_not()` operator instead.",
                    name);
      return in;
    case UnaryOp::Abs:
      TESSERA_CHECK(in != DType::Bool, DTypeError, "{}: not implemented for 'Bool'", name);
      return in;
    case UnaryOp::Relu:
      TESSERA_CHECK(in != DType::Bool, DTypeError, "{}: Boolean inputs not supported for relu", name);
      return in;
    case UnaryOp::Square: return in == DType::Bool ? DType::Int64 : in;
    case UnaryOp::Sign:
    case UnaryOp::LogicalNot: return in;
    default: return is_floating_point(in) ? in : DType::Float32;  // float-only ops promote like PyTorch
  }
}

// ---- binary ----

struct BinaryPlan {
  DType compute;
  DType out;
};

BinaryPlan plan_binary(const std::string& name, BinaryOp op, DType rt, bool a_bool, bool b_bool, Scalar alpha) {
  if (op == BinaryOp::Sub) {
    TESSERA_CHECK(!(a_bool && b_bool), DTypeError,
                  "{}: Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                  "`logical_xor()` operator instead.",
                  name);
    TESSERA_CHECK(!(a_bool || b_bool), DTypeError,
                  "{}: Subtraction, the `-` operator, with a bool tensor is not supported. If you are trying to "
                  "invert a mask, use the `~` or `logical_not()` operator instead.",
                  name);
  }
  if (op == BinaryOp::Add || op == BinaryOp::Sub) {
    TESSERA_CHECK(!alpha.is_bool() || rt == DType::Bool, DTypeError, "{}: Boolean alpha only supported for Boolean results.",
                  name);
    TESSERA_CHECK(is_floating_point(rt) || !alpha.is_floating_point(), DTypeError,
                  "{}: For integral input tensors, argument alpha must not be a floating point number.", name);
  }
  if (op == BinaryOp::Pow) TESSERA_CHECK(rt != DType::Bool, DTypeError, "{}: not implemented for 'Bool'", name);
  if (op == BinaryOp::Div) return {is_floating_point(rt) ? rt : DType::Float32, is_floating_point(rt) ? rt : DType::Float32};
  if (is_comparison(op)) return {rt, DType::Bool};
  return {rt, rt};
}

}  // namespace

DType result_type(const Tensor& a, const Tensor& b) {
  ResultTypeState s;
  update(s, a);
  update(s, b);
  return finish(s);
}

DType result_type(const Tensor& a, Scalar b) {
  ResultTypeState s;
  update(s, a);
  update(s, b);
  return finish(s);
}

namespace raw {

Tensor unary(UnaryOp op, const Tensor& x) {
  const std::string name(unary_op_name(op));
  check_defined(name, x);
  DType compute = unary_compute_dtype(op, x.dtype(), name);
  Tensor xc = x.dtype() == compute ? x : to(x, x.device(), compute);
  Tensor out = empty_output(x.sizes(), op == UnaryOp::LogicalNot ? DType::Bool : compute, x.device(), {&xc});
  if (out.numel() > 0) backend_for(out).unary(op, out, xc);
  return out;
}

void unary_(UnaryOp op, const Tensor& x) {
  const std::string name = inplace_name(unary_op_name(op));
  check_defined(name, x);
  DType compute = unary_compute_dtype(op, x.dtype(), name);
  DType result = op == UnaryOp::LogicalNot ? DType::Bool : compute;
  check_can_cast(name, result, x.dtype());
  check_no_internal_overlap(name, x);
  if (x.numel() == 0) return;
  if (compute == x.dtype() && result == x.dtype()) {
    backend_for(x).unary(op, x, x);
  } else {
    copy_(x, unary(op, x));
  }
}

Tensor unary_backward(UnaryOp op, const Tensor& grad_out, const Tensor& x) {
  const std::string name = fmt::format("{}_backward", unary_op_name(op));
  check_defined(name, grad_out);
  check_defined(name, x);
  TESSERA_CHECK(op != UnaryOp::LogicalNot, ValueError, "{}: logical_not is not differentiable", name);
  TESSERA_CHECK(is_floating_point(x.dtype()), DTypeError, "{}: expected a floating point input, but got {}", name,
                dtype_name(x.dtype()));
  TESSERA_CHECK(grad_out.sizes().equals(x.sizes()), ShapeError,
                "{}: grad_out has shape {} but the input has shape {}", name, shape_str(grad_out.sizes()),
                shape_str(x.sizes()));
  Device device = common_device(name, {&grad_out, &x});
  Tensor g = prepare(grad_out, device, x.dtype(), x.sizes());
  Tensor out = empty_output(x.sizes(), x.dtype(), device, {&x});
  if (out.numel() > 0) backend_for(out).unary_backward(op, out, g, x);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, Scalar alpha) {
  const std::string name(binary_op_name(op));
  check_defined(name, a);
  check_defined(name, b);
  DType rt = result_type(a, b);
  BinaryPlan plan = plan_binary(name, op, rt, a.dtype() == DType::Bool, b.dtype() == DType::Bool, alpha);
  Device device = common_device(name, {&a, &b});
  Shape shape = broadcast_shapes(a.sizes(), b.sizes(), name.c_str());
  Tensor ac = prepare(a, device, plan.compute, shape);
  Tensor bc = prepare(b, device, plan.compute, shape);
  Tensor out = empty_output(shape, plan.out, device, {&ac, &bc});
  if (out.numel() > 0) backend_for(out).binary(op, out, ac, bc, alpha);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, Scalar b, bool reverse) {
  const std::string name(binary_op_name(op));
  check_defined(name, a);
  DType rt = result_type(a, b);
  bool a_bool = a.dtype() == DType::Bool;
  BinaryPlan plan = reverse ? plan_binary(name, op, rt, b.is_bool(), a_bool, 1)
                            : plan_binary(name, op, rt, a_bool, b.is_bool(), 1);
  if (op == BinaryOp::Pow && !reverse && is_integral(plan.compute)) {
    TESSERA_CHECK(b.is_bool() || b.to_long() >= 0, ValueError, "{}: Integers to negative integer powers are not allowed.",
                  name);
  }
  Tensor ac = prepare(a, a.device(), plan.compute, a.sizes());
  Tensor out = empty_output(a.sizes(), plan.out, a.device(), {&ac});
  if (out.numel() > 0) backend_for(out).binary_scalar(op, out, ac, b, reverse);
  return out;
}

void binary_(BinaryOp op, const Tensor& self, const Tensor& other, Scalar alpha) {
  const std::string name = inplace_name(binary_op_name(op));
  check_defined(name, self);
  check_defined(name, other);
  DType rt = result_type(self, other);
  BinaryPlan plan = plan_binary(name, op, rt, self.dtype() == DType::Bool, other.dtype() == DType::Bool, alpha);
  check_can_cast(name, plan.out, self.dtype());
  Shape shape = broadcast_shapes(self.sizes(), other.sizes(), name.c_str());
  TESSERA_CHECK(IntArrayRef(shape).equals(self.sizes()), ShapeError,
                "{}: output with shape {} doesn't match the broadcast shape {}", name, shape_str(self.sizes()),
                shape_str(shape));
  Device device = common_device(name, {&self, &other});
  TESSERA_CHECK(device == self.device(), DeviceError,
                "{}: expected all tensors to be on the same device, but found at least two devices, {} and {}", name,
                self.device().str(), device.str());
  check_no_internal_overlap(name, self);
  if (self.numel() == 0) return;
  Tensor o = unalias(other, self);
  if (plan.out == self.dtype() && plan.compute == self.dtype()) {
    backend_for(self).binary(op, self, self, prepare(o, device, plan.compute, shape), alpha);
  } else {
    copy_(self, binary(op, self, o, alpha));
  }
}

void binary_(BinaryOp op, const Tensor& self, Scalar other) {
  const std::string name = inplace_name(binary_op_name(op));
  check_defined(name, self);
  DType rt = result_type(self, other);
  BinaryPlan plan = plan_binary(name, op, rt, self.dtype() == DType::Bool, other.is_bool(), 1);
  check_can_cast(name, plan.out, self.dtype());
  check_no_internal_overlap(name, self);
  if (self.numel() == 0) return;
  if (plan.out == self.dtype() && plan.compute == self.dtype()) {
    if (op == BinaryOp::Pow && is_integral(plan.compute)) {
      TESSERA_CHECK(other.is_bool() || other.to_long() >= 0, ValueError,
                    "{}: Integers to negative integer powers are not allowed.", name);
    }
    backend_for(self).binary_scalar(op, self, self, other, false);
  } else {
    copy_(self, binary(op, self, other));
  }
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const std::string name = "where";
  check_defined(name, cond);
  check_defined(name, a);
  check_defined(name, b);
  TESSERA_CHECK(cond.dtype() == DType::Bool, DTypeError,
                "where: expected condition to be a boolean tensor, but got a tensor with dtype {}",
                torch_type_name(cond.dtype()));
  DType rt = result_type(a, b);
  Device device = common_device(name, {&cond, &a, &b});
  Shape shape = broadcast_shapes(broadcast_shapes(cond.sizes(), a.sizes(), "where"), b.sizes(), "where");
  Tensor ac = prepare(a, device, rt, shape), bc = prepare(b, device, rt, shape);
  Tensor out = empty_output(shape, rt, device, {&ac, &bc});
  if (out.numel() > 0) backend_for(out).where(out, prepare(cond, device, DType::Bool, shape), ac, bc);
  return out;
}

namespace {
DType clamp_result_type(const std::string& name, const Tensor& x, const std::optional<Scalar>& lo,
                        const std::optional<Scalar>& hi) {
  check_defined(name, x);
  TESSERA_CHECK(lo.has_value() || hi.has_value(), ValueError, "{}: At least one of 'min' or 'max' must not be None",
                name);
  ResultTypeState s;
  update(s, x);
  if (lo) update(s, *lo);
  if (hi) update(s, *hi);
  return finish(s);
}
}  // namespace

Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  DType rt = clamp_result_type("clamp", x, lo, hi);
  Tensor xc = prepare(x, x.device(), rt, x.sizes());
  Tensor out = empty_output(x.sizes(), rt, x.device(), {&xc});
  if (out.numel() > 0) backend_for(out).clamp(out, xc, lo, hi);
  return out;
}

void clamp_(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  DType rt = clamp_result_type("clamp_", x, lo, hi);
  check_can_cast("clamp_", rt, x.dtype());
  check_no_internal_overlap("clamp_", x);
  if (x.numel() == 0) return;
  if (rt == x.dtype()) backend_for(x).clamp(x, x, lo, hi);
  else copy_(x, clamp(x, lo, hi));
}

namespace {
void check_mask(const std::string& name, const Tensor& x, const Tensor& mask) {
  check_defined(name, x);
  check_defined(name, mask);
  TESSERA_CHECK(mask.dtype() == DType::Bool, DTypeError,
                "{}: only supports boolean masks, but got mask with dtype {}", name, dtype_name(mask.dtype()));
}
}  // namespace

Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  check_mask("masked_fill", x, mask);
  Device device = common_device("masked_fill", {&x, &mask});
  Shape shape = broadcast_shapes(x.sizes(), mask.sizes(), "masked_fill");
  Tensor out = empty_output(shape, x.dtype(), device, {&x});
  copy_(out, prepare(x, device, x.dtype(), x.sizes()));
  if (out.numel() > 0) backend_for(out).masked_fill(out, prepare(mask, device, DType::Bool, shape), value);
  return out;
}

void masked_fill_(const Tensor& x, const Tensor& mask, Scalar value) {
  check_mask("masked_fill_", x, mask);
  Shape shape = broadcast_shapes(x.sizes(), mask.sizes(), "masked_fill_");
  TESSERA_CHECK(IntArrayRef(shape).equals(x.sizes()), ShapeError,
                "masked_fill_: mask of shape {} cannot be broadcast to the self shape {}", shape_str(mask.sizes()),
                shape_str(x.sizes()));
  Device device = common_device("masked_fill_", {&x, &mask});
  TESSERA_CHECK(device == x.device(), DeviceError,
                "masked_fill_: expected all tensors to be on the same device, but found at least two devices, {} and {}",
                x.device().str(), device.str());
  check_no_internal_overlap("masked_fill_", x);
  if (x.numel() == 0) return;
  backend_for(x).masked_fill(x, prepare(unalias(mask, x), device, DType::Bool, shape), value);
}

}  // namespace raw
}  // namespace tessera
