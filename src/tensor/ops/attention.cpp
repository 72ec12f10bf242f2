// raw::scaled_dot_product_attention (+ backward): validates q/k/v (4-D [B,H,S,D], one floating
// dtype and device, equal head dims, what the device's kernel supports),
// allocates out/lse (or dq/dk/dv) and calls Backend::attention / attention_backward. Operands are
// passed with their strides when the primitives can read them (copied otherwise), and the CPU
// output is laid out [B, S, H, D] (Note [attention output layout]).
#include <algorithm>
#include <cmath>

#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::raw {

namespace {
void check_qkv(const char* op, const Tensor& q, const Tensor& k, const Tensor& v) {
  TESSERA_CHECK(q.defined() && k.defined() && v.defined(), ValueError, "{}: undefined q, k or v", op);
  TESSERA_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, ShapeError,
                "{}: expected 4-D q, k, v of shape [batch, heads, seq, head_dim], got {}, {}, {}", op,
                shape_str(q.sizes()), shape_str(k.sizes()), shape_str(v.sizes()));
  TESSERA_CHECK(q.dtype() == k.dtype() && q.dtype() == v.dtype(), DTypeError,
                "{}: expected q, k, v of one dtype, got {}, {}, {}", op, dtype_name(q.dtype()),
                dtype_name(k.dtype()), dtype_name(v.dtype()));
  TESSERA_CHECK(is_floating_point(q.dtype()), DTypeError, "{}: expected a floating dtype, got {}", op,
                dtype_name(q.dtype()));
  TESSERA_CHECK(q.device() == k.device() && q.device() == v.device(), DeviceError,
                "{}: expected q, k, v on one device, got {}, {}, {}", op, q.device().str(), k.device().str(),
                v.device().str());
  TESSERA_CHECK(q.size(0) == k.size(0) && q.size(1) == k.size(1) && k.sizes().equals(v.sizes()), ShapeError,
                "{}: q {}, k {}, v {} must share batch and heads, and k and v must have one shape", op,
                shape_str(q.sizes()), shape_str(k.sizes()), shape_str(v.sizes()));
  TESSERA_CHECK(q.size(3) == k.size(3), ShapeError, "{}: head dims differ: q {} vs k {}", op, shape_str(q.sizes()),
                shape_str(k.sizes()));
  TESSERA_CHECK(k.size(2) >= 1 || q.size(2) == 0, ShapeError, "{}: k and v need at least one key, got {}", op,
                shape_str(k.sizes()));
  if (q.is_cuda()) {
    int64_t d = q.size(3);
    TESSERA_CHECK(q.dtype() == kBFloat16 || q.dtype() == kFloat16, DTypeError,
                  "{}: the CUDA kernel supports bfloat16 and float16, got {}", op, dtype_name(q.dtype()));
    TESSERA_CHECK(d == 64 || d == 128, ShapeError, "{}: the CUDA kernel supports head dim 64 or 128, got {} (q {})",
                  op, d, shape_str(q.sizes()));
  }
}
double scale_of(std::optional<double> scale, const Tensor& q) {
  return scale ? *scale : 1.0 / std::sqrt(double(q.size(3)));
}
DType lse_dtype(DType t) { return t == kFloat64 ? kFloat64 : kFloat32; }

// What the attention primitives read in place (Backend::attention): unit stride along D and
// non-overlapping rows; anything else is copied.
Tensor operand(const Tensor& t) {
  const bool unit_d = t.size(3) <= 1 || t.stride(3) == 1;
  const bool rows_ok = t.size(2) <= 1 || t.stride(2) >= std::max<int64_t>(t.size(3), 1);
  return unit_d && rows_ok ? t : contiguous(t);
}

// Note [attention output layout]
// On the CPU the output [B, H, Sq, D] is allocated in [B, Sq, H, D] memory order (a transposed
// view), as PyTorch's CPU flash attention does: the usual next step, out.transpose(1, 2)
// .reshape({B, Sq, H * D}), is then a view instead of a copy. The CUDA kernel writes [B, H, Sq, D]
// contiguously, so there the output stays contiguous.
Tensor alloc_out(const Tensor& q) {
  if (!q.is_cpu()) return empty(q.sizes(), q.options());
  return transpose(empty({q.size(0), q.size(2), q.size(1), q.size(3)}, q.options()), 1, 2);
}
}  // namespace

std::tuple<Tensor, Tensor> scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                                        bool is_causal, std::optional<double> scale) {
  const char* op = "scaled_dot_product_attention";
  check_qkv(op, q, k, v);
  Tensor out = alloc_out(q);
  Tensor lse = empty({q.size(0), q.size(1), q.size(2)}, TensorOptions(lse_dtype(q.dtype())).device(q.device()));
  if (lse.numel() == 0) return {out, lse};
  backend_for(q).attention(out, lse, operand(q), operand(k), operand(v), is_causal, scale_of(scale, q));
  return {out, lse};
}

std::tuple<Tensor, Tensor, Tensor> scaled_dot_product_attention_backward(const Tensor& dout, const Tensor& q,
                                                                         const Tensor& k, const Tensor& v,
                                                                         const Tensor& out, const Tensor& lse,
                                                                         bool is_causal, std::optional<double> scale) {
  const char* op = "scaled_dot_product_attention_backward";
  check_qkv(op, q, k, v);
  TESSERA_CHECK(dout.defined() && out.defined() && lse.defined(), ValueError, "{}: undefined dout, out or lse", op);
  TESSERA_CHECK(dout.sizes().equals(q.sizes()) && out.sizes().equals(q.sizes()), ShapeError,
                "{}: dout {} and out {} must have q's shape {}", op, shape_str(dout.sizes()), shape_str(out.sizes()),
                shape_str(q.sizes()));
  TESSERA_CHECK(lse.dim() == 3 && lse.size(0) == q.size(0) && lse.size(1) == q.size(1) && lse.size(2) == q.size(2),
                ShapeError, "{}: lse {} must have shape [batch, heads, seq] of q {}", op, shape_str(lse.sizes()),
                shape_str(q.sizes()));
  TESSERA_CHECK(dout.dtype() == q.dtype() && out.dtype() == q.dtype() && lse.dtype() == lse_dtype(q.dtype()),
                DTypeError, "{}: expected dout/out of dtype {} and lse of {}, got {}, {}, {}", op,
                dtype_name(q.dtype()), dtype_name(lse_dtype(q.dtype())), dtype_name(dout.dtype()),
                dtype_name(out.dtype()), dtype_name(lse.dtype()));
  TESSERA_CHECK(dout.device() == q.device() && out.device() == q.device() && lse.device() == q.device(), DeviceError,
                "{}: expected dout, out, lse on {}, got {}, {}, {}", op, q.device().str(), dout.device().str(),
                out.device().str(), lse.device().str());
  Tensor dq = empty(q.sizes(), q.options()), dk = empty(k.sizes(), k.options()), dv = empty(v.sizes(), v.options());
  if (q.numel() == 0 || k.numel() == 0) {  // nothing attends: every gradient is zero
    fill_(dq, 0);
    fill_(dk, 0);
    fill_(dv, 0);
    return {dq, dk, dv};
  }
  backend_for(q).attention_backward(dq, dk, dv, operand(dout), operand(q), operand(k), operand(v), operand(out),
                                    contiguous(lse), is_causal, scale_of(scale, q));
  return {dq, dk, dv};
}

}  // namespace tessera::raw
