// GEMMs on CUDA: cuBLASLt for float32/bfloat16/float16 (fp32 accumulation; TF32 for float32 when
// allowed), with the bias and bias+GELU epilogues of Backend::gemm_bias, and cuBLAS's
// cublasGemmStridedBatchedEx for float64 and for any call cuBLASLt has no algorithm for.
// Row-major out = a @ b is computed as the column-major out^T = b^T a^T, so no operand is copied
// when it has a unit stride in one of its last two dims.
#include <cublasLt.h>
#include <cublas_v2.h>

#include <atomic>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tessera/cuda/check.h"
#include "tessera/cuda/cuda_backend.h"
#include "tessera/tensor/raw.h"

namespace tessera::cuda {

namespace {
std::atomic<bool> g_allow_tf32{false};

template <typename H, typename Create>
H per_device_handle(int device, Create create) {
  static std::mutex mu;
  static std::vector<H> handles;  // never destroyed (see allocator.cpp)
  std::lock_guard<std::mutex> lock(mu);
  if (device >= int(handles.size())) handles.resize(size_t(device) + 1, nullptr);
  if (!handles[size_t(device)]) create(&handles[size_t(device)]);
  return handles[size_t(device)];
}
cublasHandle_t cublas_handle(int device) {
  return per_device_handle<cublasHandle_t>(device, [](cublasHandle_t* h) { TESSERA_CUBLAS_CHECK(cublasCreate(h)); });
}
cublasLtHandle_t lt_handle(int device) {
  return per_device_handle<cublasLtHandle_t>(device,
                                             [](cublasLtHandle_t* h) { TESSERA_CUBLAS_CHECK(cublasLtCreate(h)); });
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
cublasComputeType_t compute_type(DType t) {
  if (t == DType::Float64) return CUBLAS_COMPUTE_64F;
  if (t == DType::Float32 && g_allow_tf32.load(std::memory_order_relaxed)) return CUBLAS_COMPUTE_32F_FAST_TF32;
  return CUBLAS_COMPUTE_32F;
}
// The largest power of two (at most 256) dividing the address: cuBLASLt assumes 256-byte aligned
// operands unless told otherwise, and tensor views can start anywhere.
uint32_t alignment_of(const void* p) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  if (a == 0) return 256;
  return uint32_t(std::min<uintptr_t>(256, a & (~a + 1)));
}

// A cuBLASLt call in cuBLAS's column-major terms: D (m x n) = op(A) (m x k) * op(B) (k x n)
// [+ beta * D], batched, with an optional epilogue (bias of length m, GELU aux of ld aux_ld).
struct LtCall {
  cudaDataType_t dt;
  cublasComputeType_t compute;
  cublasOperation_t opa, opb;
  int64_t m, n, k, batch;
  const void* a;
  int64_t lda, stride_a;
  const void* b;
  int64_t ldb, stride_b;
  void* d;
  int64_t ldd, stride_d;
  float alpha = 1.0f, beta = 0.0f;
  cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_DEFAULT;
  const void* bias = nullptr;
  void* aux = nullptr;
  int64_t aux_ld = 0;
};

template <typename T, typename D>
struct LtPtr {  // a cuBLASLt descriptor, destroyed at scope exit
  T p = nullptr;
  D destroy;
  ~LtPtr() {
    if (p) destroy(p);
  }
};

constexpr size_t kLtWorkspace = size_t(32) << 20;  // NVIDIA's recommendation for Hopper

struct AlgoKey {
  std::vector<int64_t> v;
  bool operator==(const AlgoKey& o) const { return v == o.v; }
};
struct AlgoKeyHash {
  size_t operator()(const AlgoKey& k) const {
    size_t h = 1469598103934665603ull;
    for (int64_t x : k.v) h = (h ^ size_t(x)) * 1099511628211ull;
    return h;
  }
};
struct AlgoEntry {
  bool found = false;
  cublasLtMatmulAlgo_t algo;
};

void set_attr(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const void* v, size_t n) {
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, attr, v, n));
}
void set_layout_batch(cublasLtMatrixLayout_t l, int64_t batch, int64_t stride) {
  if (batch <= 1) return;
  int32_t b = int32_t(batch);
  TESSERA_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &b, sizeof(b)));
  TESSERA_CUBLAS_CHECK(
      cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
}

// Runs the call; false (nothing queued) when cuBLASLt has no algorithm for it. Heuristic results
// are cached per thread by shape, layout, dtype, epilogue and operand alignment.
bool lt_matmul(const LtCall& c, int device, cudaStream_t stream) {
  LtPtr<cublasLtMatmulDesc_t, cublasStatus_t (*)(cublasLtMatmulDesc_t)> op{nullptr, cublasLtMatmulDescDestroy};
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&op.p, c.compute, CUDA_R_32F));
  set_attr(op.p, CUBLASLT_MATMUL_DESC_TRANSA, &c.opa, sizeof(c.opa));
  set_attr(op.p, CUBLASLT_MATMUL_DESC_TRANSB, &c.opb, sizeof(c.opb));
  if (c.epilogue != CUBLASLT_EPILOGUE_DEFAULT) {
    set_attr(op.p, CUBLASLT_MATMUL_DESC_EPILOGUE, &c.epilogue, sizeof(c.epilogue));
    set_attr(op.p, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &c.bias, sizeof(c.bias));
    cudaDataType_t bias_type = c.dt;
    set_attr(op.p, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bias_type, sizeof(bias_type));
    if (c.aux) {
      set_attr(op.p, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &c.aux, sizeof(c.aux));
      set_attr(op.p, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &c.aux_ld, sizeof(c.aux_ld));
    }
  }
  using Layout = LtPtr<cublasLtMatrixLayout_t, cublasStatus_t (*)(cublasLtMatrixLayout_t)>;
  Layout la{nullptr, cublasLtMatrixLayoutDestroy}, lb{nullptr, cublasLtMatrixLayoutDestroy},
      ld{nullptr, cublasLtMatrixLayoutDestroy};
  const bool ta = c.opa != CUBLAS_OP_N, tb = c.opb != CUBLAS_OP_N;
  TESSERA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la.p, c.dt, ta ? c.k : c.m, ta ? c.m : c.k, c.lda));
  TESSERA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb.p, c.dt, tb ? c.n : c.k, tb ? c.k : c.n, c.ldb));
  TESSERA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ld.p, c.dt, c.m, c.n, c.ldd));
  set_layout_batch(la.p, c.batch, c.stride_a);
  set_layout_batch(lb.p, c.batch, c.stride_b);
  set_layout_batch(ld.p, c.batch, c.stride_d);

  const uint32_t al_a = alignment_of(c.a), al_b = alignment_of(c.b), al_d = alignment_of(c.d);
  AlgoKey key{{int64_t(c.dt), int64_t(c.compute), int64_t(c.opa), int64_t(c.opb), c.m, c.n, c.k, c.batch, c.lda,
               c.ldb, c.ldd, c.stride_a, c.stride_b, c.stride_d, c.beta != 0.0f, int64_t(c.epilogue), c.aux_ld, al_a,
               al_b, al_d, c.bias ? alignment_of(c.bias) : 0, c.aux ? alignment_of(c.aux) : 0, device}};
  thread_local std::unordered_map<AlgoKey, AlgoEntry, AlgoKeyHash> cache;
  auto it = cache.find(key);
  if (it == cache.end()) {
    LtPtr<cublasLtMatmulPreference_t, cublasStatus_t (*)(cublasLtMatmulPreference_t)> pref{
        nullptr, cublasLtMatmulPreferenceDestroy};
    TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.p));
    uint64_t ws = kLtWorkspace;
    TESSERA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    TESSERA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof(al_a)));
    TESSERA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof(al_b)));
    TESSERA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof(al_d)));
    TESSERA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(pref.p, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof(al_d)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(lt_handle(device), op.p, la.p, lb.p, ld.p, ld.p, pref.p, 1,
                                                       &result, &found);
    AlgoEntry e;
    e.found = st == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS;
    if (e.found) e.algo = result.algo;
    it = cache.emplace(std::move(key), e).first;
  }
  if (!it->second.found) return false;
  Tensor workspace = raw::empty({int64_t(kLtWorkspace / 8)}, TensorOptions(kInt64).device(Device::cuda(device)));
  TESSERA_CUBLAS_CHECK(cublasLtMatmul(lt_handle(device), op.p, &c.alpha, c.a, la.p, c.b, lb.p, &c.beta, c.d, ld.p,
                                      c.d, ld.p, &it->second.algo, workspace.data_ptr(), kLtWorkspace, stream));
  return true;
}

// out [B,M,N] (contiguous) = a @ b (+ beta * out) via cuBLAS; the fallback path and float64.
void cublas_gemm(const Tensor& out, const Operand& oa, const Operand& ob, double alpha, double beta,
                 cudaStream_t stream) {
  const int64_t B = out.size(0), M = out.size(1), N = out.size(2), K = oa.t.size(2);
  cudaDataType_t dt = data_type(out.dtype());
  cublasHandle_t h = cublas_handle(out.device().index);
  TESSERA_CUBLAS_CHECK(cublasSetStream(h, stream));
  int64_t sa = B == 1 ? 0 : oa.t.stride(0), sb = B == 1 ? 0 : ob.t.stride(0);
  if (out.dtype() == kFloat64) {
    double al = alpha, be = beta;
    TESSERA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        h, ob.op, oa.op, int(N), int(M), int(K), &al, ob.t.data_ptr(), dt, int(ob.ld), sb, oa.t.data_ptr(), dt,
        int(oa.ld), sa, &be, out.data_ptr(), dt, int(N), M * N, int(B), CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT));
  } else {
    float al = float(alpha), be = float(beta);
    TESSERA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(
        h, ob.op, oa.op, int(N), int(M), int(K), &al, ob.t.data_ptr(), dt, int(ob.ld), sb, oa.t.data_ptr(), dt,
        int(oa.ld), sa, &be, out.data_ptr(), dt, int(N), M * N, int(B), compute_type(out.dtype()), CUBLAS_GEMM_DEFAULT));
  }
}

LtCall lt_call(const Tensor& out, const Operand& oa, const Operand& ob) {
  const int64_t B = out.size(0), M = out.size(1), N = out.size(2), K = oa.t.size(2);
  LtCall c;
  c.dt = data_type(out.dtype());
  c.compute = compute_type(out.dtype());
  c.opa = ob.op;
  c.opb = oa.op;
  c.m = N;
  c.n = M;
  c.k = K;
  c.batch = B;
  c.a = ob.t.data_ptr();
  c.lda = ob.ld;
  c.stride_a = B == 1 ? 0 : ob.t.stride(0);
  c.b = oa.t.data_ptr();
  c.ldb = oa.ld;
  c.stride_b = B == 1 ? 0 : oa.t.stride(0);
  c.d = out.data_ptr();
  c.ldd = N;
  c.stride_d = M * N;
  return c;
}

void check_dims(int64_t B, int64_t M, int64_t N, int64_t K) {
  TESSERA_CHECK(M <= INT32_MAX && N <= INT32_MAX && K <= INT32_MAX && B <= INT32_MAX, ValueError,
                "matmul: dims beyond 2^31 are not supported by cuBLAS (M={}, N={}, K={}, batch={})", M, N, K, B);
}
}  // namespace

void set_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool allow_tf32() { return g_allow_tf32.load(); }

void CudaBackend::gemm(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  TESSERA_CHECK(a.dtype() == b.dtype() && out.dtype() == a.dtype(), DTypeError,
                "matmul: expected one dtype, got {} @ {} -> {}", dtype_name(a.dtype()), dtype_name(b.dtype()),
                dtype_name(out.dtype()));
  TESSERA_CHECK(a.dim() == 3 && b.dim() == 3 && out.dim() == 3, ShapeError, "gemm: expected 3-D tensors");
  data_type(a.dtype());  // throws for unsupported dtypes
  int64_t B = out.size(0), M = out.size(1), N = out.size(2), K = a.size(2);
  if (B == 0 || M == 0 || N == 0) return;
  check_dims(B, M, N, K);
  Ctx ctx(out);
  Operand oa = layout(a), ob = layout(b);
  OutBuf o(out);
  if (beta != 0.0 && !o.buf.is_same(out)) raw::copy_(o.buf, out);
  bool done = false;
  if (a.dtype() != kFloat64) {
    LtCall c = lt_call(o.buf, oa, ob);
    c.alpha = float(alpha);
    c.beta = float(beta);
    done = lt_matmul(c, out.device().index, ctx.stream);
  }
  if (!done) cublas_gemm(o.buf, oa, ob, alpha, beta, ctx.stream);
  o.finish();
}

// Note [gemm bias epilogue]: bias (length N, the output's columns) is cuBLASLt's per-row bias of the
// column-major N x M result, so CUBLASLT_EPILOGUE_BIAS adds it in the GEMM's epilogue; with GELU,
// CUBLASLT_EPILOGUE_GELU_AUX_BIAS also writes the pre-activation (the aux matrix, whose leading
// dimension must be a multiple of 8). GELU there is the tanh form. When an epilogue is unavailable
// (no algorithm, float64, N % 8 != 0 for the aux), the generic Backend::gemm_bias runs instead.
void CudaBackend::gemm_bias(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& bias, GemmActivation act,
                            const Tensor& pre_act) {
  const int64_t M = out.size(0), N = out.size(1), K = a.size(1);
  const bool gelu = act == GemmActivation::GeluTanh;
  const bool lt_ok = out.dtype() != kFloat64 && out.is_contiguous() && bias.is_contiguous() &&
                     (!gelu || (pre_act.is_contiguous() && N % 8 == 0));
  if (lt_ok && M > 0 && N > 0 && K > 0) {
    check_dims(1, M, N, K);
    Ctx ctx(out);
    Tensor out3 = raw::unsqueeze(out, 0);
    Operand oa = layout(raw::unsqueeze(a, 0)), ob = layout(raw::unsqueeze(b, 0));
    LtCall c = lt_call(out3, oa, ob);
    c.epilogue = gelu ? CUBLASLT_EPILOGUE_GELU_AUX_BIAS : CUBLASLT_EPILOGUE_BIAS;
    c.bias = bias.data_ptr();
    if (gelu) {
      c.aux = pre_act.data_ptr();
      c.aux_ld = N;
    }
    if (lt_matmul(c, out.device().index, ctx.stream)) return;
  }
  Backend::gemm_bias(out, a, b, bias, act, pre_act);
}

}  // namespace tessera::cuda
