// The launcher API between the CUDA backend's host code (compiled by the C++ compiler, which sees
// tessera's tensor headers) and its kernels (compiled by nvcc, which must not: fmt does not build
// under nvcc). Only plain types cross this line: element-typed pointers as char*, sizes and
// strides in elements, a DT enum equal to tessera::DType. Every launcher enqueues on `stream` and
// returns cudaGetLastError() so the caller turns failures into tessera::RuntimeError.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace tessera::cuda::kern {

// Same values as tessera::DType (checked by a static_assert in cuda_backend.cpp).
enum class DT : int8_t { F32, F64, BF16, F16, I32, I64, Bool };

inline constexpr int kMaxDims = 8;

// N same-shaped operands (operand 0 is the output) after dropping size-1 dims and merging
// dims that are contiguous in every operand. `contiguous` = every operand is dense and unit-stride.
template <int N>
struct Geo {
  int ndim = 0;
  int64_t numel = 0;
  bool contiguous = false;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[N][kMaxDims] = {};  // elements
  char* data[N] = {};
  DT dtype[N] = {};
};

// A Scalar argument in both its double and its int64 form (the kernel takes the one its dtype needs).
struct KScalar {
  double d = 0;
  int64_t i = 0;
};

// One strided tensor of up to kMaxDims dims (not coalesced): for indexing kernels.
struct TI {
  char* data = nullptr;
  DT dtype = DT::F32;
  int ndim = 0;
  int64_t sizes[kMaxDims] = {};
  int64_t strides[kMaxDims] = {};
};

// ---- copy_fill.cu ----
cudaError_t copy(const Geo<2>& g, cudaStream_t s);  // dst = cast(src)
cudaError_t fill(const Geo<1>& g, KScalar v, cudaStream_t s);

// ---- unary.cu ---- op values are tessera::UnaryOp.
cudaError_t unary(int op, const Geo<2>& g, cudaStream_t s);                  // out, in
cudaError_t unary_backward(int op, const Geo<3>& g, cudaStream_t s);         // grad_in, grad_out, x

// ---- binary.cu ---- op values are tessera::BinaryOp. Comparisons write bool.
cudaError_t binary(int op, const Geo<3>& g, KScalar alpha, cudaStream_t s);  // out, a, b
cudaError_t binary_scalar(int op, const Geo<2>& g, KScalar v, bool reverse, cudaStream_t s);
cudaError_t where(const Geo<4>& g, cudaStream_t s);                          // out, cond, a, b
cudaError_t clamp(const Geo<2>& g, bool has_lo, KScalar lo, bool has_hi, KScalar hi, cudaStream_t s);
cudaError_t masked_fill(const Geo<2>& g, KScalar v, cudaStream_t s);         // self, mask

// ---- random.cu ---- out contiguous, `n` elements (Note [philox stream]).
cudaError_t random_uniform(char* out, DT dt, int64_t n, double low, double high, uint64_t seed, uint64_t offset,
                           cudaStream_t s);
cudaError_t random_normal(char* out, DT dt, int64_t n, double mean, double std, uint64_t seed, uint64_t offset,
                          cudaStream_t s);
cudaError_t random_int(char* out, DT dt, int64_t n, int64_t low, int64_t high, uint64_t seed, uint64_t offset,
                       cudaStream_t s);
cudaError_t dropout_mask(bool* out, int64_t n, double p, uint64_t seed, uint64_t offset, cudaStream_t s);

// ---- reduce.cu ---- `in` contiguous [rows, n]; results written contiguous per row.
enum class RedOp : int8_t { Sum, Mean, Prod, Max, Min };  // = tessera::ReduceOp
// out has acc dtype: F32 for F32/BF16/F16 input, F64 for F64, I64 for integers and bool.
cudaError_t reduce_rows(RedOp op, char* out, const char* in, DT in_dt, int64_t rows, int64_t n, cudaStream_t s);
// values: in_dt, indices: int64.
cudaError_t arg_reduce_rows(bool is_max, char* values, int64_t* indices, const char* in, DT in_dt, int64_t rows,
                            int64_t n, cudaStream_t s);
// out: float64 per row.
cudaError_t var_rows(double* out, const char* in, DT in_dt, int64_t rows, int64_t n, int64_t correction,
                     cudaStream_t s);
// out: F32 (F64 for F64 input) per row.
cudaError_t logsumexp_rows(char* out, const char* in, DT in_dt, int64_t rows, int64_t n, cudaStream_t s);

// ---- norm.cu ---- contiguous [rows, n]; stats (mean/rstd) are F32 (F64 for F64 data). Any
// pointer alignment works (16-byte aligned rows take the vectorised path).
cudaError_t softmax(char* out, const char* in, DT dt, int64_t rows, int64_t n, bool log, cudaStream_t s);
cudaError_t softmax_backward(char* grad_in, const char* grad_out, const char* out, DT dt, int64_t rows, int64_t n,
                             bool log, cudaStream_t s);
cudaError_t layer_norm(char* out, char* mean, char* rstd, const char* in, const char* weight, const char* bias,
                       DT dt, int64_t rows, int64_t n, double eps, cudaStream_t s);
// Weight/bias gradients reduce columns in two stages: `chunks` row ranges of `rows_per_chunk`
// rows give partial sums (workspace: 2 * chunks * n acc-type elements), then one pass sums them.
struct NormParamsPlan {
  int64_t chunks = 1, rows_per_chunk = 1;
};
inline NormParamsPlan norm_params_plan(int64_t rows, int64_t n) {
  NormParamsPlan p;
  if (rows <= 0) return p;
  int64_t colblocks = (n + 31) / 32;
  int64_t want = (1056 + colblocks - 1) / colblocks;  // ~8 blocks of 256 threads per SM of an H100
  int64_t most = (rows + 31) / 32;                    // at least 32 rows per chunk
  int64_t chunks = want < most ? want : most;
  if (chunks < 1) chunks = 1;
  p.rows_per_chunk = (rows + chunks - 1) / chunks;
  p.chunks = (rows + p.rows_per_chunk - 1) / p.rows_per_chunk;
  return p;
}
// grad_weight/grad_bias/weight may be null; workspace as NormParamsPlan says (may be null when
// neither grad_weight nor grad_bias is wanted).
cudaError_t layer_norm_backward(char* grad_in, char* grad_weight, char* grad_bias, const char* grad_out,
                                const char* in, const char* mean, const char* rstd, const char* weight,
                                char* workspace, DT dt, int64_t rows, int64_t n, cudaStream_t s);
cudaError_t rms_norm(char* out, char* rstd, const char* in, const char* weight, DT dt, int64_t rows, int64_t n,
                     double eps, cudaStream_t s);
cudaError_t rms_norm_backward(char* grad_in, char* grad_weight, const char* grad_out, const char* in,
                              const char* rstd, const char* weight, char* workspace, DT dt, int64_t rows, int64_t n,
                              cudaStream_t s);
// logits [N, C] of dt; target int64 [N]; loss and lse of loss_dt.
cudaError_t cross_entropy(char* loss, char* lse, DT loss_dt, const char* logits, DT dt, const int64_t* target,
                          int64_t N, int64_t C, int64_t ignore_index, double smoothing, cudaStream_t s);
// grad_loss/lse of loss_dt ([N], contiguous), grad_logits of dt.
cudaError_t cross_entropy_backward(char* grad_logits, const char* grad_loss, int64_t grad_loss_stride,
                                   DT loss_dt, const char* logits, const char* lse, DT dt,
                                   const int64_t* target, int64_t N, int64_t C, int64_t ignore_index,
                                   double smoothing, cudaStream_t s);

// ---- index.cu ----
cudaError_t index_select(const TI& out, const TI& in, int dim, const TI& index, cudaStream_t s);
cudaError_t index_add(const TI& self, int dim, const TI& index, const TI& source, cudaStream_t s);
cudaError_t gather(const TI& out, const TI& in, int dim, const TI& index, cudaStream_t s);
cudaError_t scatter_add(const TI& self, int dim, const TI& index, const TI& src, cudaStream_t s);
cudaError_t tril_triu(const TI& out, const TI& in, int64_t k, bool upper, cudaStream_t s);

// ---- attention.cu ---- q/out [BH, Sq, D], k/v [BH, Sk, D] contiguous; lse float32 [BH, Sq].
bool attention_supported(DT dt, int64_t head_dim);  // bf16/f16 with D in {64, 128}
// Forward implementation: 0 = tensor cores (default), 1 = SIMT tiles (a reference the tests
// compare too). Not thread-safe to change while kernels are being launched.
void set_attention_impl(int impl);
int attention_impl();
cudaError_t attention_forward(char* out, float* lse, const char* q, const char* k, const char* v, DT dt, int64_t BH,
                              int64_t Sq, int64_t Sk, int64_t D, bool causal, double scale, cudaStream_t s);
// workspace: BH * Sq floats (D_i = rowsum(dout * out)).
cudaError_t attention_backward(char* dq, char* dk, char* dv, const char* dout, const char* q, const char* k,
                               const char* v, const char* out, const float* lse, float* workspace, DT dt,
                               int64_t BH, int64_t Sq, int64_t Sk, int64_t D, bool causal, double scale,
                               cudaStream_t s);

// ---- adamw.cu ---- the multi-tensor AdamW step (Note [multi-tensor adamw] in tessera/tensor/adamw_step.h).
// One tensor of the step: contiguous param/grad of the step's dtype (F32, BF16 or F16), float32 exp_avg,
// exp_avg_sq and (optional, null for none) master, `n` elements, and the tensor's own scalars.
struct AdamWTensor {
  char* param = nullptr;
  const char* grad = nullptr;
  float* exp_avg = nullptr;
  float* exp_avg_sq = nullptr;
  float* master = nullptr;
  int64_t n = 0;
  float decay = 1, neg_step = 0, bc2_sqrt = 1;
};
// The scalars every tensor of the step shares (they depend on beta1, beta2 and eps only).
struct AdamWShared {
  float lerp_coeff = 0, beta2 = 0, c2 = 0, eps = 0;
  bool lerp_from_self = true;
};

// Note [adamw launch packing]
// A launch covers up to kAdamWMaxTensors tensors split into chunks of kAdamWChunk elements, one
// block per chunk, at most kAdamWMaxBlocks blocks; all of it travels as one by-value kernel parameter
// (AdamWLaunch, under the 4 KB kernel-parameter limit of older toolkits). Tensors are packed in order;
// a launch is issued when its blocks or its tensor slots are full, and a tensor whose chunks do not all
// fit continues in the next launch (it is then that launch's tensor 0). Empty tensors get no block.
inline constexpr int64_t kAdamWChunk = 65536;
inline constexpr int kAdamWMaxTensors = 32;
inline constexpr int kAdamWMaxBlocks = 320;
struct AdamWLaunch {
  AdamWTensor tensors[kAdamWMaxTensors];
  int32_t block_chunk[kAdamWMaxBlocks];     // chunk index within its tensor
  uint8_t block_tensor[kAdamWMaxBlocks];    // index into tensors
  int32_t num_tensors = 0, num_blocks = 0;
};
static_assert(sizeof(AdamWLaunch) + sizeof(AdamWShared) <= 4096, "AdamW launch parameters must stay under 4 KB");
static_assert(kAdamWMaxTensors <= 256, "block_tensor is a uint8_t");

// Packs `count` tensors into launches (Note [adamw launch packing]) and calls launch(const AdamWLaunch&)
// for each, returning its first error. Plain host code (the tests check the packing without a GPU).
template <typename F>
cudaError_t adamw_for_each_launch(const AdamWTensor* tensors, int64_t count, F&& launch) {
  AdamWLaunch l;
  for (int64_t i = 0; i < count; ++i) {
    const AdamWTensor& t = tensors[i];
    if (t.n <= 0) continue;
    int slot = l.num_tensors++;
    l.tensors[slot] = t;
    const int64_t chunks = (t.n + kAdamWChunk - 1) / kAdamWChunk;
    for (int64_t c = 0; c < chunks; ++c) {
      l.block_tensor[l.num_blocks] = uint8_t(slot);
      l.block_chunk[l.num_blocks] = int32_t(c);
      ++l.num_blocks;
      const bool last_chunk = c + 1 == chunks;
      if (l.num_blocks == kAdamWMaxBlocks || (l.num_tensors == kAdamWMaxTensors && last_chunk)) {
        cudaError_t err = launch(static_cast<const AdamWLaunch&>(l));
        if (err != cudaSuccess) return err;
        l.num_blocks = 0;
        if (last_chunk) {
          l.num_tensors = 0;
        } else {  // the rest of this tensor goes on in the next launch
          l.tensors[0] = t;
          l.num_tensors = 1;
          slot = 0;
        }
      }
    }
  }
  if (l.num_blocks > 0) return launch(static_cast<const AdamWLaunch&>(l));
  return cudaSuccess;
}

// Updates every tensor (dt: F32, BF16 or F16) in as few launches as the packing allows.
cudaError_t adamw_multi_tensor(const AdamWTensor* tensors, int64_t count, DT dt, const AdamWShared& shared,
                               cudaStream_t s);

}  // namespace tessera::cuda::kern
