// Backend: the per-device kernel table (DESIGN decision 3). Each device type registers one
// Backend at start-up (CPU always; CUDA when built and a device is present). The raw ops in
// src/tensor/ops/ validate inputs, promote dtypes, broadcast (by expanding to stride-0 views) and
// allocate outputs, then call exactly one of these primitives. A primitive a backend does not
// override throws a DeviceError naming the op and device: never a silent CPU fallback.
//
// Note [backend primitive contract]
// - All tensors passed to one call live on the backend's device (except copy's src).
// - `out` tensors are allocated by the caller, have the output shape, and may have any strides
//   unless the primitive says "contiguous". Inputs may have any strides (including 0 for
//   broadcast dims) unless stated.
// - Elementwise primitives get inputs already in the compute dtype; `out` has the same dtype,
//   except comparisons / logical ops whose out is bool.
// - `out` may alias an input exactly (in-place ops), never partially.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "tessera/tensor/adamw_step.h"
#include "tessera/tensor/tensor.h"

namespace tessera {

// Activation folded into Backend::gemm_bias (GELU's tanh form is the one cuBLASLt's epilogue has).
enum class GemmActivation { None, GeluTanh };

enum class UnaryOp : int8_t {
  Neg, Abs, Exp, Log, Log1p, Sqrt, Rsqrt, Square, Reciprocal, Sign,
  Tanh, Sigmoid, Relu, GeluErf, GeluTanh, Silu, Sin, Cos, LogicalNot,
};
enum class BinaryOp : int8_t {
  Add, Sub, Mul, Div, Pow, Maximum, Minimum,
  Eq, Ne, Lt, Le, Gt, Ge, LogicalAnd, LogicalOr,
};
enum class ReduceOp : int8_t { Sum, Mean, Prod, Max, Min };

std::string_view unary_op_name(UnaryOp op);
std::string_view binary_op_name(BinaryOp op);
std::string_view reduce_op_name(ReduceOp op);
constexpr bool is_comparison(BinaryOp op) { return op >= BinaryOp::Eq; }

class Backend {
 public:
  explicit Backend(DeviceType type) : type_(type) {}
  virtual ~Backend() = default;
  DeviceType type() const { return type_; }

  // ---- memory ----
  // dst[i] = cast(src[i]); same shape; any strides/dtypes. src may live on another device
  // (CPU<->CUDA copies are implemented by the CUDA backend for both directions).
  virtual void copy(const Tensor& dst, const Tensor& src);
  // copy() that may return before the copy is done (PyTorch's non_blocking=true): the CUDA backend
  // queues pinned-host <-> device copies asynchronously on the current stream; the default is copy().
  virtual void copy_non_blocking(const Tensor& dst, const Tensor& src) { copy(dst, src); }
  virtual void fill(const Tensor& out, Scalar value);
  // Waits until all queued work on the device is done (CPU: no-op).
  virtual void synchronize(Device device);

  // ---- elementwise ----
  virtual void unary(UnaryOp op, const Tensor& out, const Tensor& in);
  // out = a op b; for Add/Sub, out = a +/- alpha * b.
  virtual void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha);
  // out = a op s (reverse: s op a). s is converted to a's dtype (compute type for 16-bit floats).
  virtual void binary_scalar(BinaryOp op, const Tensor& out, const Tensor& a, Scalar s, bool reverse);
  virtual void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
  virtual void clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi);
  // self[mask] = value, mask (bool) already expanded to self's shape.
  virtual void masked_fill(const Tensor& self, const Tensor& mask, Scalar value);
  // grad_in = grad_out * d op(x)/dx, computed from x (the forward input). Float types only.
  virtual void unary_backward(UnaryOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& x);

  // ---- random (Note [philox stream] in src/tensor/rng.h) ---- out contiguous.
  virtual void random_uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset);
  virtual void random_normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset);
  virtual void random_int(const Tensor& out, int64_t low, int64_t high, uint64_t seed, uint64_t offset);
  // out (bool, contiguous) = uniform >= p; the same stream as random_uniform.
  virtual void dropout_mask(const Tensor& out, double p, uint64_t seed, uint64_t offset);

  // ---- reductions ---- `out` has in's shape with reduced dims of size 1 (keepdim form).
  // dims are sorted, unique, non-negative. Sum/Mean/Prod accumulate in acc_type (float for
  // 16-bit floats, double for float64, int64 for integers); out dtype chosen by the caller.
  virtual void reduce(ReduceOp op, const Tensor& out, const Tensor& in, IntArrayRef dims);
  // Values and int64 indices of the max/min along one dim (first occurrence on ties, NaN wins).
  virtual void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in,
                          int64_t dim);
  virtual void var(const Tensor& out, const Tensor& in, IntArrayRef dims, int64_t correction);
  virtual void logsumexp(const Tensor& out, const Tensor& in, IntArrayRef dims);

  // ---- softmax and norms ---- on contiguous inputs viewed as [rows, n] over the last dim.
  virtual void softmax(const Tensor& out, const Tensor& in, bool log);
  // grad_in = softmax' (from out = softmax(in) or log_softmax(in)) applied to grad_out.
  virtual void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log);
  // mean/rstd are float32 (float64 for float64 input) of shape [rows]. weight/bias may be undefined.
  virtual void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in,
                          const Tensor& weight, const Tensor& bias, double eps);
  virtual void layer_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_bias,
                                   const Tensor& grad_out, const Tensor& in, const Tensor& mean,
                                   const Tensor& rstd, const Tensor& weight);
  virtual void rms_norm(const Tensor& out, const Tensor& rstd, const Tensor& in, const Tensor& weight, double eps);
  virtual void rms_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_out,
                                 const Tensor& in, const Tensor& rstd, const Tensor& weight);

  // ---- linear algebra ----
  // Batched GEMM on 3-D tensors: out[b] = alpha * a[b] @ b[b] + beta * out[b], a [B,M,K],
  // b [B,K,N], out [B,M,N]. a and b have a unit stride in one of their last two dims (the
  // caller makes it so); out is contiguous. Float types; 16-bit floats accumulate in fp32.
  virtual void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta);
  // out [M,N] = act(a [M,K] @ b [K,N] + bias [N]) (linear layers, torch.addmm with a 1-D bias).
  // a and b have a unit stride in one dim; out, bias and pre_act are contiguous. pre_act is defined
  // only when act != None and receives a @ b + bias (saved for the activation's backward). The
  // default seeds the output with the broadcast bias and runs gemm with beta = 1 (no extra pass over
  // the output), then the activation; CUDA folds bias and activation into the cuBLASLt epilogue.
  virtual void gemm_bias(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& bias, GemmActivation act,
                         const Tensor& pre_act);

  // ---- indexing ---- index tensors are int64 (int32 accepted), validated by the caller.
  virtual void index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index);
  // self.index_add_(dim, index, source): self.select(dim, index[i]) += source.select(dim, i).
  virtual void index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source);
  virtual void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index);
  virtual void scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src);
  // out = in with elements above (upper=false: tril) / below (upper=true: triu) diagonal k zeroed.
  virtual void tril_triu(const Tensor& out, const Tensor& in, int64_t k, bool upper);
  // Fused softmax + cross-entropy over logits [N, C] (contiguous) and int64 target [N]:
  // loss[i] (float, per row; 0 where target == ignore_index) and lse[i] = logsumexp(logits[i]).
  virtual void cross_entropy(const Tensor& loss, const Tensor& lse, const Tensor& logits, const Tensor& target,
                             int64_t ignore_index, double label_smoothing);
  // grad_logits[i] = grad_loss[i] * d loss[i] / d logits[i].
  virtual void cross_entropy_backward(const Tensor& grad_logits, const Tensor& grad_loss, const Tensor& logits,
                                      const Tensor& lse, const Tensor& target, int64_t ignore_index,
                                      double label_smoothing);

  // ---- attention ----
  // Fused scaled-dot-product attention (no S x S matrix is stored): q [B,H,Sq,D], k/v [B,H,Sk,D]
  // (Sk >= 1), of one floating dtype; out [B,H,Sq,D] (q's dtype); lse [B,H,Sq] (contiguous,
  // float32; float64 for float64) = logsumexp_j of the scores s_ij = scale * q_i . k_j, where
  // causal masks key j > query i (PyTorch's top-left alignment). q/k/v/dout/out and the outputs
  // out/dq/dk/dv may have any strides with unit stride along D and stride(2) >= D (or S == 1);
  // a backend copies what its kernel cannot use (the CPU one reads and writes them in place).
  virtual void attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                         bool causal, double scale);
  // dq/dk/dv (q's dtype) from dout, the forward inputs and its out and lse.
  virtual void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                                  const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                  const Tensor& lse, bool causal, double scale);

  // ---- optimizers ----
  // One AdamW update of every slot (Note [multi-tensor adamw] in adamw_step.h): all tensors on this
  // backend's device, params of one dtype. The CPU backend does not implement it (AdamW runs its
  // fused CPU kernel per parameter instead).
  virtual void adamw_step(const std::vector<AdamWSlot>& slots, double beta1, double beta2, double eps);

 protected:
  [[noreturn]] void not_implemented(std::string_view op) const;

 private:
  DeviceType type_;
};

// The backend registered for a device; throws DeviceError naming the device when none is.
Backend& backend_for(Device device);
inline Backend& backend_for(const Tensor& t) { return backend_for(t.device()); }
void register_backend(DeviceType type, Backend* backend);
bool has_backend(DeviceType type);

}  // namespace tessera
