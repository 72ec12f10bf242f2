// The CUDA Backend (DESIGN decision 3): the primitives of src/tensor/backend.h on CUDA tensors,
// plus the host-side helpers that turn Tensors into the plain launch arguments of
// kernels/kernel_api.h. Each family of primitives is defined in its own file:
// cuda_backend.cpp (registration, copy, fill, elementwise, random), ops_reduce.cpp (reductions,
// softmax, norms, cross-entropy), ops_gemm.cpp (cuBLASLt / cuBLAS), ops_index.cpp (indexing, tril/triu),
// ops_attention.cpp (fused attention), ops_optim.cpp (the multi-tensor AdamW step).
#pragma once

#include <array>

#include "tessera/cuda/kernels/kernel_api.h"
#include "tessera/cuda/runtime.h"
#include "tessera/tensor/backend.h"

namespace tessera::cuda {

class CudaBackend final : public Backend {
 public:
  CudaBackend() : Backend(DeviceType::CUDA) {}

  // cuda_backend.cpp
  void copy(const Tensor& dst, const Tensor& src) override;
  void copy_non_blocking(const Tensor& dst, const Tensor& src) override;
  void fill(const Tensor& out, Scalar value) override;
  void synchronize(Device device) override;
  void unary(UnaryOp op, const Tensor& out, const Tensor& in) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha) override;
  void binary_scalar(BinaryOp op, const Tensor& out, const Tensor& a, Scalar s, bool reverse) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;
  void clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) override;
  void masked_fill(const Tensor& self, const Tensor& mask, Scalar value) override;
  void unary_backward(UnaryOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& x) override;
  void random_uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) override;
  void random_normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) override;
  void random_int(const Tensor& out, int64_t low, int64_t high, uint64_t seed, uint64_t offset) override;
  void dropout_mask(const Tensor& out, double p, uint64_t seed, uint64_t offset) override;

  // ops_reduce.cpp
  void reduce(ReduceOp op, const Tensor& out, const Tensor& in, IntArrayRef dims) override;
  void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim) override;
  void var(const Tensor& out, const Tensor& in, IntArrayRef dims, int64_t correction) override;
  void logsumexp(const Tensor& out, const Tensor& in, IntArrayRef dims) override;
  void softmax(const Tensor& out, const Tensor& in, bool log) override;
  void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) override;
  void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in, const Tensor& weight,
                  const Tensor& bias, double eps) override;
  void layer_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_bias,
                           const Tensor& grad_out, const Tensor& in, const Tensor& mean, const Tensor& rstd,
                           const Tensor& weight) override;
  void rms_norm(const Tensor& out, const Tensor& rstd, const Tensor& in, const Tensor& weight, double eps) override;
  void rms_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_out, const Tensor& in,
                         const Tensor& rstd, const Tensor& weight) override;
  void cross_entropy(const Tensor& loss, const Tensor& lse, const Tensor& logits, const Tensor& target,
                     int64_t ignore_index, double label_smoothing) override;
  void cross_entropy_backward(const Tensor& grad_logits, const Tensor& grad_loss, const Tensor& logits,
                              const Tensor& lse, const Tensor& target, int64_t ignore_index,
                              double label_smoothing) override;

  // ops_gemm.cpp
  void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) override;
  void gemm_bias(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& bias, GemmActivation act,
                 const Tensor& pre_act) override;

  // ops_attention.cpp
  void attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                 double scale) override;
  void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout, const Tensor& q,
                          const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse, bool causal,
                          double scale) override;

  // ops_optim.cpp
  void adamw_step(const std::vector<AdamWSlot>& slots, double beta1, double beta2, double eps) override;

  // ops_index.cpp
  void index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override;
  void index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source) override;
  void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override;
  void scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) override;
  void tril_triu(const Tensor& out, const Tensor& in, int64_t k, bool upper) override;
};

// ---- host-side helpers shared by the ops_*.cpp files ----
kern::DT kdt(DType t);
kern::KScalar kscalar(Scalar s);
// Geometry of N same-shaped tensors (ts[0] gives the shape); throws RuntimeError naming `op`
// if more than kern::kMaxDims dims remain after coalescing.
template <int N>
kern::Geo<N> make_geo(const std::array<const Tensor*, N>& ts, const char* op);
kern::TI make_ti(const Tensor& t, const char* op);

// Sets the tensor's device current for the scope and names the stream to enqueue on.
struct Ctx {
  explicit Ctx(const Tensor& t) : guard(t.device().index), stream(current_stream(t.device().index)) {}
  DeviceGuard guard;
  cudaStream_t stream;
};

// A contiguous tensor to write results into: `t` itself when it is contiguous, else a
// temporary that finish() copies back into `t`.
struct OutBuf {
  explicit OutBuf(const Tensor& t);
  void finish();
  Tensor target, buf;
  char* ptr() const { return static_cast<char*>(buf.data_ptr()); }
};
// `t` when contiguous, else a contiguous copy (on t's device).
Tensor contig(const Tensor& t);
inline const char* cptr(const Tensor& t) { return t.defined() ? static_cast<const char*>(t.data_ptr()) : nullptr; }
inline char* mptr(const Tensor& t) { return t.defined() ? static_cast<char*>(t.data_ptr()) : nullptr; }

}  // namespace tessera::cuda
