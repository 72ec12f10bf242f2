// The raw kernel API (namespace tessera::raw): every tensor op without autograd. Each function
// validates its inputs (Note [errors name the op]), promotes dtypes, broadcasts, allocates the
// output and calls the device's Backend primitive. The differentiable ops in src/autograd/ call
// these; users normally call those instead.
#pragma once

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "tessera/tensor/backend.h"
#include "tessera/tensor/tensor.h"

namespace tessera {

enum class Reduction : int8_t { None, Mean, Sum };

// Type of the result of a binary op on two tensors / a tensor and a scalar (torch.result_type):
// 0-dim tensors and scalars only raise the category (bool < int < float), never the width.
DType result_type(const Tensor& a, const Tensor& b);
DType result_type(const Tensor& a, Scalar b);

namespace raw {

// ---- creation (ops/creation.cpp) ----
Tensor empty(IntArrayRef sizes, const TensorOptions& options = {});
Tensor empty_strided(IntArrayRef sizes, IntArrayRef strides, const TensorOptions& options = {});
Tensor full(IntArrayRef sizes, Scalar value, const TensorOptions& options = {});
Tensor arange(Scalar start, Scalar end, Scalar step, const TensorOptions& options);
Tensor linspace(Scalar start, Scalar end, int64_t steps, const TensorOptions& options = {});
Tensor eye(int64_t n, int64_t m, const TensorOptions& options = {});
Tensor empty_like(const Tensor& t);
Tensor scalar_tensor(Scalar value, const TensorOptions& options = {});

// ---- copies and casts (ops/copy.cpp) ----
// Broadcasts src to dst, casts, crosses devices. non_blocking: may return before a pinned-host <->
// CUDA copy is done (Backend::copy_non_blocking); synchronise before reading the result on the host.
void copy_(const Tensor& dst, const Tensor& src, bool non_blocking = false);
// A CUDA -> CPU transfer with non_blocking lands in pinned memory (as in PyTorch).
Tensor to(const Tensor& t, Device device, DType dtype, bool copy = false, bool non_blocking = false);
// A copy of a CPU tensor in pinned host memory (t itself when already pinned); needs a CUDA device.
Tensor pin_memory(const Tensor& t);
bool is_pinned(const Tensor& t);
Tensor contiguous(const Tensor& t);
Tensor clone(const Tensor& t);
void fill_(const Tensor& t, Scalar value);

// ---- views (ops/views.cpp): share storage, never copy ----
Tensor as_strided(const Tensor& t, IntArrayRef sizes, IntArrayRef strides, int64_t offset);
Tensor view(const Tensor& t, IntArrayRef shape);
Tensor reshape(const Tensor& t, IntArrayRef shape);  // a view when strides allow, else a copy
Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& t, IntArrayRef dims);
Tensor slice(const Tensor& t, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step);
Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length);
Tensor select(const Tensor& t, int64_t dim, int64_t index);
Tensor expand(const Tensor& t, IntArrayRef sizes);
Tensor unsqueeze(const Tensor& t, int64_t dim);
Tensor squeeze(const Tensor& t);
Tensor squeeze(const Tensor& t, int64_t dim);
Tensor flatten(const Tensor& t, int64_t start_dim, int64_t end_dim);
Tensor unflatten(const Tensor& t, int64_t dim, IntArrayRef sizes);
std::vector<Tensor> split_with_sizes(const Tensor& t, IntArrayRef sizes, int64_t dim);
std::vector<Tensor> split(const Tensor& t, int64_t split_size, int64_t dim);
std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t dim);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim);

// ---- elementwise (ops/elementwise.cpp) ----
Tensor unary(UnaryOp op, const Tensor& x);
void unary_(UnaryOp op, const Tensor& x);  // in place
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, Scalar alpha = 1);
Tensor binary(BinaryOp op, const Tensor& a, Scalar b, bool reverse = false);
void binary_(BinaryOp op, const Tensor& self, const Tensor& other, Scalar alpha = 1);  // self op= other
void binary_(BinaryOp op, const Tensor& self, Scalar other);
Tensor unary_backward(UnaryOp op, const Tensor& grad_out, const Tensor& x);
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi);
void clamp_(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi);
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);
void masked_fill_(const Tensor& x, const Tensor& mask, Scalar value);

// ---- random (ops/random.cpp; Note [philox stream]) ----
Tensor rand(IntArrayRef sizes, const TensorOptions& options = {});
Tensor randn(IntArrayRef sizes, const TensorOptions& options = {});
Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, const TensorOptions& options = kInt64);
Tensor dropout_mask(IntArrayRef sizes, double p, Device device);  // bool, true = keep

// ---- reductions (ops/reduction.cpp) ---- empty `dims` means all dims.
Tensor sum(const Tensor& x, IntArrayRef dims, bool keepdim, std::optional<DType> dtype = std::nullopt);
Tensor mean(const Tensor& x, IntArrayRef dims, bool keepdim, std::optional<DType> dtype = std::nullopt);
Tensor prod(const Tensor& x, IntArrayRef dims, bool keepdim);
Tensor amax(const Tensor& x, IntArrayRef dims, bool keepdim);
Tensor amin(const Tensor& x, IntArrayRef dims, bool keepdim);
std::tuple<Tensor, Tensor> max_dim(const Tensor& x, int64_t dim, bool keepdim);
std::tuple<Tensor, Tensor> min_dim(const Tensor& x, int64_t dim, bool keepdim);
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim);
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim);
Tensor var(const Tensor& x, IntArrayRef dims, int64_t correction, bool keepdim);
Tensor std(const Tensor& x, IntArrayRef dims, int64_t correction, bool keepdim);
Tensor logsumexp(const Tensor& x, IntArrayRef dims, bool keepdim);
// Sums `x` down to `shape` (the inverse of broadcasting `shape` to x's shape).
Tensor sum_to(const Tensor& x, IntArrayRef shape);
bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan);
bool equal(const Tensor& a, const Tensor& b);

// ---- softmax and norms (ops/normalization.cpp) ----
Tensor softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);
Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);
Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim, bool log);
// Returns (out, mean, rstd); mean/rstd have shape [rows] where rows = numel / normalized numel.
std::tuple<Tensor, Tensor, Tensor> layer_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight,
                                              const Tensor& bias, double eps);
std::tuple<Tensor, Tensor, Tensor> layer_norm_backward(const Tensor& grad_out, const Tensor& x,
                                                       IntArrayRef normalized_shape, const Tensor& mean,
                                                       const Tensor& rstd, const Tensor& weight,
                                                       bool need_weight_grad, bool need_bias_grad);
std::tuple<Tensor, Tensor> rms_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight, double eps);
std::tuple<Tensor, Tensor> rms_norm_backward(const Tensor& grad_out, const Tensor& x, IntArrayRef normalized_shape,
                                             const Tensor& rstd, const Tensor& weight, bool need_weight_grad);

// ---- linear algebra (ops/linalg.cpp) ----
Tensor matmul(const Tensor& a, const Tensor& b);  // torch.matmul's 1-D/2-D/N-D semantics
// torch.addmm: beta * self + alpha * (mat1 @ mat2), self broadcastable to [M, N]. A 1-D self of
// mat1's dtype with beta = alpha = 1 (a linear layer's bias) runs as one Backend::gemm_bias.
Tensor addmm(const Tensor& self, const Tensor& mat1, const Tensor& mat2, Scalar beta = 1, Scalar alpha = 1);
// gelu(mat1 @ mat2 + bias, approximate="tanh") and the pre-activation mat1 @ mat2 + bias, in one
// Backend::gemm_bias (bias 1-D [N], one float dtype): {out, pre_act}.
std::pair<Tensor, Tensor> addmm_gelu_tanh(const Tensor& bias, const Tensor& mat1, const Tensor& mat2);
Tensor mm(const Tensor& a, const Tensor& b);
Tensor bmm(const Tensor& a, const Tensor& b);

// ---- indexing and losses (ops/indexing.cpp) ----
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
void scatter_add_(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
Tensor embedding(const Tensor& weight, const Tensor& indices);
Tensor embedding_backward(const Tensor& grad_out, const Tensor& indices, int64_t num_weights);
Tensor one_hot(const Tensor& indices, int64_t num_classes = -1);
Tensor tril(const Tensor& x, int64_t k);
Tensor triu(const Tensor& x, int64_t k);
// logits [N, C] (or [C]), target [N] int64. Returns (loss reduced as asked, lse [N]).
std::tuple<Tensor, Tensor> cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                                         double label_smoothing, Reduction reduction);
Tensor cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& lse, const Tensor& target,
                              int64_t ignore_index, double label_smoothing, Reduction reduction);

// ---- attention (ops/attention.cpp) ----
// Fused attention (Backend::attention): q [B,H,Sq,D], k/v [B,H,Sk,D] of one floating dtype and
// device; scale defaults to 1/sqrt(D). Returns (out [B,H,Sq,D], lse [B,H,Sq] float32, float64
// for float64 inputs). On CUDA: bfloat16/float16 with D in {64, 128}.
std::tuple<Tensor, Tensor> scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                                        bool is_causal = false,
                                                        std::optional<double> scale = std::nullopt);
// Returns (dq, dk, dv) from dout [B,H,Sq,D] and the forward's inputs and results.
std::tuple<Tensor, Tensor, Tensor> scaled_dot_product_attention_backward(
    const Tensor& dout, const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse,
    bool is_causal = false, std::optional<double> scale = std::nullopt);

}  // namespace raw
}  // namespace tessera
