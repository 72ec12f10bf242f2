// Raw matrix products: mm, bmm and matmul with torch.matmul's rank rules (1-D dot, matrix-vector,
// vector-matrix, N-D with broadcast batch dims). Each arranges its operands as 3-D views that the
// gemm primitive accepts (Note [gemm operand layout]) and calls Backend::gemm once.
#include <optional>
#include <utility>

#include "tessera/tensor/backend.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/gemm_layout.h"
#include "tessera/tensor/raw.h"

namespace tessera::raw {

namespace {

void check_operands(const char* op, const Tensor& a, const Tensor& b) {
  TESSERA_CHECK(a.defined() && b.defined(), ValueError, "{}: expected defined tensors", op);
  TESSERA_CHECK(a.device() == b.device(), DeviceError,
                "{}: expected all tensors to be on the same device, but found at least two devices, {} and {}", op,
                a.device().str(), b.device().str());
  TESSERA_CHECK(a.dtype() == b.dtype(), DTypeError,
                "{}: expected m1 and m2 to have the same dtype, but got: {} != {}", op, dtype_name(a.dtype()),
                dtype_name(b.dtype()));
  TESSERA_CHECK(a.dtype() != DType::Bool, DTypeError,
                "{}: not implemented for dtype bool (matrix products take float32, float64, bfloat16, float16, int32 "
                "or int64)",
                op);
}

[[noreturn]] void shape_mismatch(const char* op, int64_t m, int64_t k, int64_t k2, int64_t n) {
  throw ShapeError(fmt::format("{}: mat1 and mat2 shapes cannot be multiplied ({}x{} and {}x{})", op, m, k, k2, n));
}

// Merges dims [0, nd) of (sizes, strides) into one (size, stride) when they are evenly strided
// among themselves (size-1 dims ignored); nullopt when they are not.
std::optional<std::pair<int64_t, int64_t>> merge_dims(IntArrayRef sizes, IntArrayRef strides, size_t nd) {
  int64_t size = 1, stride = 0;
  bool first = true;
  for (size_t i = nd; i-- > 0;) {  // innermost first
    if (sizes[i] == 1) continue;
    if (sizes[i] == 0) return std::make_pair(int64_t(0), int64_t(0));
    if (first) {
      size = sizes[i];
      stride = strides[i];
      first = false;
    } else if (strides[i] == stride * size) {
      size *= sizes[i];
    } else {
      return std::nullopt;
    }
  }
  return std::make_pair(size, stride);
}

// `t` (batch dims + [rows, cols]) as a 3-D [B, rows, cols] view, copying only when the batch
// dims cannot be merged or the matrix has no GEMM layout.
Tensor as_gemm_operand(const Tensor& t) {
  const size_t nd = size_t(t.dim());
  const int64_t rows = t.size(-2), cols = t.size(-1);
  auto merged = merge_dims(t.sizes(), t.strides(), nd - 2);
  bool usable = merged.has_value() && gemm_layout(rows, cols, t.stride(-2), t.stride(-1)).has_value();
  if (usable) {
    return as_strided(t, {merged->first, rows, cols}, {merged->second, t.stride(-2), t.stride(-1)},
                      t.storage_offset());
  }
  Tensor c = contiguous(t);
  return as_strided(c, {numel_of(IntArrayRef(t.sizes().data(), nd - 2)), rows, cols}, {rows * cols, cols, 1},
                    c.storage_offset());
}

// out [B, M, N] = a3 [B, M, K] @ b3 [B, K, N], contiguous.
Tensor gemm3(const Tensor& a3, const Tensor& b3) {
  Tensor out = empty({a3.size(0), a3.size(1), b3.size(2)}, a3.options());
  if (out.numel() == 0) return out;
  if (a3.size(2) == 0) {
    fill_(out, 0);
    return out;
  }
  backend_for(out).gemm(out, a3, b3, 1.0, 0.0);
  return out;
}

}  // namespace

Tensor mm(const Tensor& a, const Tensor& b) {
  check_operands("mm", a, b);
  TESSERA_CHECK(a.dim() == 2, ShapeError, "mm: self must be a matrix, got {}-D tensor", a.dim());
  TESSERA_CHECK(b.dim() == 2, ShapeError, "mm: mat2 must be a matrix, got {}-D tensor", b.dim());
  if (a.size(1) != b.size(0)) shape_mismatch("mm", a.size(0), a.size(1), b.size(0), b.size(1));
  Tensor out = gemm3(as_gemm_operand(unsqueeze(a, 0)), as_gemm_operand(unsqueeze(b, 0)));
  return view(out, {a.size(0), b.size(1)});
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_operands("bmm", a, b);
  TESSERA_CHECK(a.dim() == 3, ShapeError, "bmm: batch1 must be a 3D tensor, got {}-D tensor", a.dim());
  TESSERA_CHECK(b.dim() == 3, ShapeError, "bmm: batch2 must be a 3D tensor, got {}-D tensor", b.dim());
  TESSERA_CHECK(b.size(0) == a.size(0) && b.size(1) == a.size(2), ShapeError,
                "bmm: Expected size for first two dimensions of batch2 tensor to be: [{}, {}] but got: [{}, {}].",
                a.size(0), a.size(2), b.size(0), b.size(1));
  return gemm3(as_gemm_operand(a), as_gemm_operand(b));
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_operands("matmul", a, b);
  TESSERA_CHECK(a.dim() >= 1 && b.dim() >= 1, ShapeError,
                "matmul: both arguments to matmul need to be at least 1D, but they are {}D and {}D", a.dim(), b.dim());
  if (a.dim() == 1 && b.dim() == 1) {
    TESSERA_CHECK(a.size(0) == b.size(0), ShapeError,
                  "matmul: inconsistent tensor size, expected tensor [{}] and src [{}] to have the same number of "
                  "elements, but got {} and {} elements respectively",
                  a.size(0), b.size(0), a.size(0), b.size(0));
  }
  // 1-D operands become matrices ([K] -> [1, K] on the left, [K, 1] on the right); the added dim
  // is dropped from the result.
  const Tensor a2 = a.dim() == 1 ? unsqueeze(a, 0) : a;
  const Tensor b2 = b.dim() == 1 ? unsqueeze(b, 1) : b;
  const int64_t M = a2.size(-2), K = a2.size(-1), N = b2.size(-1);
  if (b2.size(-2) != K) shape_mismatch("matmul", M, K, b2.size(-2), N);

  IntArrayRef batch_a(a2.sizes().data(), size_t(a2.dim() - 2));
  IntArrayRef batch_b(b2.sizes().data(), size_t(b2.dim() - 2));
  Shape batch = broadcast_shapes(batch_a, batch_b, "matmul");
  Shape out_shape = batch;
  if (a.dim() > 1) out_shape.push_back(M);
  if (b.dim() > 1) out_shape.push_back(N);

  // [..., M, K] @ [K, N]: fold a's batch dims into its rows when they merge without a copy, so
  // one large GEMM runs instead of many small ones.
  if (batch_b.empty() && !batch_a.empty()) {
    auto rows = merge_dims(a2.sizes(), a2.strides(), size_t(a2.dim() - 1));
    if (rows && gemm_layout(rows->first, K, rows->second, a2.stride(-1))) {
      Tensor a3 = as_strided(a2, {1, rows->first, K}, {0, rows->second, a2.stride(-1)}, a2.storage_offset());
      return view(gemm3(a3, as_gemm_operand(unsqueeze(b2, 0))), out_shape);
    }
  }

  Shape a_shape = batch, b_shape = batch;
  a_shape.insert(a_shape.end(), {M, K});
  b_shape.insert(b_shape.end(), {K, N});
  Tensor a3 = as_gemm_operand(expand(a2, a_shape));
  Tensor b3 = as_gemm_operand(expand(b2, b_shape));
  return view(gemm3(a3, b3), out_shape);
}

namespace {
// Checks of a bias GEMM's operands, with torch's messages.
void check_bias_gemm(const char* op, const Tensor& bias, const Tensor& mat1, const Tensor& mat2) {
  check_operands(op, mat1, mat2);
  TESSERA_CHECK(mat1.dim() == 2, ShapeError, "{}: mat1 must be a matrix, got {}-D tensor", op, mat1.dim());
  TESSERA_CHECK(mat2.dim() == 2, ShapeError, "{}: mat2 must be a matrix, got {}-D tensor", op, mat2.dim());
  if (mat1.size(1) != mat2.size(0)) shape_mismatch(op, mat1.size(0), mat1.size(1), mat2.size(0), mat2.size(1));
  TESSERA_CHECK(bias.defined(), ValueError, "{}: expected a defined self/bias tensor", op);
  TESSERA_CHECK(bias.device() == mat1.device(), DeviceError,
                "{}: expected all tensors to be on the same device, but found at least two devices, {} and {}", op,
                bias.device().str(), mat1.device().str());
}

// A 2-D operand viewed as [1, rows, cols] with a GEMM layout, back as 2-D.
Tensor gemm_operand_2d(const Tensor& t) { return squeeze(as_gemm_operand(unsqueeze(t, 0)), 0); }

bool is_float(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::BFloat16 || t == DType::Float16;
}
}  // namespace

Tensor addmm(const Tensor& self, const Tensor& mat1, const Tensor& mat2, Scalar beta, Scalar alpha) {
  check_bias_gemm("addmm", self, mat1, mat2);
  const int64_t M = mat1.size(0), N = mat2.size(1);
  const bool fused = self.dim() == 1 && self.size(0) == N && self.dtype() == mat1.dtype() && is_float(mat1.dtype()) &&
                     beta.to_double() == 1.0 && alpha.to_double() == 1.0 && M > 0 && N > 0 && mat1.size(1) > 0;
  if (fused) {
    Tensor out = empty({M, N}, mat1.options());
    backend_for(out).gemm_bias(out, gemm_operand_2d(mat1), gemm_operand_2d(mat2), contiguous(self),
                               GemmActivation::None, Tensor());
    return out;
  }
  bool broadcastable = self.dim() <= 2;
  for (int64_t i = 0; broadcastable && i < self.dim(); ++i) {
    const int64_t s = self.size(self.dim() - 1 - i), want = i == 0 ? N : M;
    broadcastable = s == 1 || s == want;
  }
  TESSERA_CHECK(broadcastable, ShapeError,
                "addmm: self of shape {} cannot be broadcast to the product's shape [{}, {}]", shape_str(self.sizes()), M,
                N);
  Tensor prod = mm(mat1, mat2);
  if (alpha.to_double() != 1.0) prod = binary(BinaryOp::Mul, prod, alpha);
  if (beta.to_double() == 0.0) return prod;  // torch: self is ignored (nan/inf in it do not propagate)
  return binary(BinaryOp::Add, prod, self, beta);  // prod + beta * self
}

std::pair<Tensor, Tensor> addmm_gelu_tanh(const Tensor& bias, const Tensor& mat1, const Tensor& mat2) {
  check_bias_gemm("addmm_gelu", bias, mat1, mat2);
  const int64_t M = mat1.size(0), N = mat2.size(1);
  TESSERA_CHECK(bias.dim() == 1 && bias.size(0) == N, ShapeError, "addmm_gelu: expected a bias of shape [{}], got {}",
                N, shape_str(bias.sizes()));
  TESSERA_CHECK(bias.dtype() == mat1.dtype() && is_float(mat1.dtype()), DTypeError,
                "addmm_gelu: expected one float dtype, got bias {} and matrices {}", dtype_name(bias.dtype()),
                dtype_name(mat1.dtype()));
  Tensor out = empty({M, N}, mat1.options()), pre = empty({M, N}, mat1.options());
  if (M == 0 || N == 0) return {out, pre};
  if (mat1.size(1) == 0) {  // empty inner dim: the product is 0, pre = bias
    copy_(pre, expand(bias, {M, N}));
    backend_for(out).unary(UnaryOp::GeluTanh, out, pre);
    return {out, pre};
  }
  backend_for(out).gemm_bias(out, gemm_operand_2d(mat1), gemm_operand_2d(mat2), contiguous(bias),
                             GemmActivation::GeluTanh, pre);
  return {out, pre};
}

}  // namespace tessera::raw
