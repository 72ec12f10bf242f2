// Batched GEMM on CUDA through cublasGemmStridedBatchedEx (fp32/fp64, and bf16/fp16 with fp32
// accumulation). Row-major out = a @ b is computed as the column-major out^T = b^T a^T, so no
// operand is copied when it has a unit stride in one of its last two dims.
#include <cublas_v2.h>

#include <mutex>
#include <vector>

#include "tessera/cuda/check.h"
#include "tessera/cuda/cuda_backend.h"
#include "tessera/tensor/raw.h"

namespace tessera::cuda {

namespace {
cublasHandle_t handle_for(int device) {
  static std::mutex mu;
  static std::vector<cublasHandle_t> handles;  // never destroyed (see allocator.cpp)
  std::lock_guard<std::mutex> lock(mu);
  if (device >= int(handles.size())) handles.resize(size_t(device) + 1, nullptr);
  if (!handles[size_t(device)]) TESSERA_CUBLAS_CHECK(cublasCreate(&handles[size_t(device)]));
  return handles[size_t(device)];
}

// One operand as cuBLAS sees it: row-major [rows, cols] with strides (rs, cs) is the
// column-major cols x rows matrix (op N, ld = rs) when cs == 1, or the column-major rows x cols
// matrix transposed (op T, ld = cs) when rs == 1.
struct Operand {
  Tensor t;
  cublasOperation_t op = CUBLAS_OP_N;
  int64_t ld = 0;
};
Operand layout(const Tensor& m) {
  int64_t rows = m.size(1), cols = m.size(2), rs = m.stride(1), cs = m.stride(2);
  if (cs == 1 && (rows == 1 || rs >= std::max<int64_t>(cols, 1))) return {m, CUBLAS_OP_N, rows == 1 ? std::max<int64_t>(cols, 1) : rs};
  if (rs == 1 && (cols == 1 || cs >= std::max<int64_t>(rows, 1))) return {m, CUBLAS_OP_T, cols == 1 ? std::max<int64_t>(rows, 1) : cs};
  Tensor c = raw::contiguous(m);
  return {c, CUBLAS_OP_N, std::max<int64_t>(cols, 1)};
}
cudaDataType_t data_type(DType t) {
  switch (t) {
    case DType::Float32: return CUDA_R_32F;
    case DType::Float64: return CUDA_R_64F;
    case DType::BFloat16: return CUDA_R_16BF;
    case DType::Float16: return CUDA_R_16F;
    default: break;
  }
  throw DTypeError(fmt::format("matmul: not implemented for dtype {} on CUDA", dtype_name(t)));
}
}  // namespace

void CudaBackend::gemm(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  TESSERA_CHECK(a.dtype() == b.dtype() && out.dtype() == a.dtype(), DTypeError,
                "matmul: expected one dtype, got {} @ {} -> {}", dtype_name(a.dtype()), dtype_name(b.dtype()),
                dtype_name(out.dtype()));
  TESSERA_CHECK(a.dim() == 3 && b.dim() == 3 && out.dim() == 3, ShapeError, "gemm: expected 3-D tensors");
  cudaDataType_t dt = data_type(a.dtype());
  int64_t B = out.size(0), M = out.size(1), N = out.size(2), K = a.size(2);
  if (B == 0 || M == 0 || N == 0) return;
  TESSERA_CHECK(M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX && B <= INT32_MAX, ValueError,
                "matmul: dims beyond 2^31 are not supported by cuBLAS (M={}, N={}, K={}, batch={})", M, N, K, B);
  Ctx ctx(out);
  Operand oa = layout(a), ob = layout(b);
  OutBuf o(out);
  if (beta != 0.0 && !o.buf.is_same(out)) raw::copy_(o.buf, out);
  cublasHandle_t h = handle_for(out.device().index);
  TESSERA_CUBLAS_CHECK(cublasSetStream(h, ctx.stream));
  int64_t sa = B == 1 ? 0 : oa.t.stride(0), sb = B == 1 ? 0 : ob.t.stride(0);
  if (a.dtype() == kFloat64) {
    double al = alpha, be = beta;
    TESSERA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        h, ob.op, oa.op, int(N), int(M), int(K), &al, ob.t.data_ptr(), dt, int(ob.ld), sb, oa.t.data_ptr(), dt,
        int(oa.ld), sa, &be, o.buf.data_ptr(), dt, int(N), M * N, int(B), CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT));
  } else {
    float al = float(alpha), be = float(beta);
    TESSERA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        h, ob.op, oa.op, int(N), int(M), int(K), &al, ob.t.data_ptr(), dt, int(ob.ld), sb, oa.t.data_ptr(), dt,
        int(oa.ld), sa, &be, o.buf.data_ptr(), dt, int(N), M * N, int(B), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  }
  o.finish();
}

}  // namespace tessera::cuda
