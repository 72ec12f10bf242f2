// The differentiable free functions of tessera (LibTorch's torch:: functions): tessera::matmul,
// tessera::cat, tessera::softmax, ... Each records an autograd node when grad mode is on and an
// input requires grad (Note [raw vs differentiable ops]).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "tessera/tensor/raw.h"
#include "tessera/tensor/tensor.h"

namespace tessera {

// ---- views and joins (view_ops.cpp) ----
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim = 0);

// ---- attention (attention_ops.cpp) ----
// softmax(q k^T * scale [+ causal mask]) v for q [B,H,Sq,D], k/v [B,H,Sk,D] (fused kernel; scale
// defaults to 1/sqrt(D); causal masks key j > query i, PyTorch's top-left alignment).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool is_causal = false,
                                    std::optional<double> scale = std::nullopt);

// ---- gradient helpers (differentiable; used by backward formulas) ----
// Sums x down to `shape` (undoes broadcasting `shape` to x's shape).
Tensor sum_to(const Tensor& x, IntArrayRef shape);
// A tensor of `input_sizes` zeros with grad written at x.slice(dim, start, end, step) / x.select(dim, index).
Tensor slice_backward(const Tensor& grad, IntArrayRef input_sizes, int64_t dim, int64_t start, int64_t end,
                      int64_t step);
Tensor select_backward(const Tensor& grad, IntArrayRef input_sizes, int64_t dim, int64_t index);
// ---- reductions (reduction_ops.cpp) ---- an empty `dim` list means every dim.
Tensor sum(const Tensor& x, std::optional<DType> dtype = std::nullopt);
Tensor sum(const Tensor& x, IntArrayRef dim, bool keepdim = false, std::optional<DType> dtype = std::nullopt);
Tensor mean(const Tensor& x, std::optional<DType> dtype = std::nullopt);
Tensor mean(const Tensor& x, IntArrayRef dim, bool keepdim = false, std::optional<DType> dtype = std::nullopt);
// correction = 1 is the unbiased estimator (PyTorch's default), 0 the population one.
Tensor var(const Tensor& x, IntArrayRef dim, int64_t correction = 1, bool keepdim = false);
Tensor std(const Tensor& x, IntArrayRef dim, int64_t correction = 1, bool keepdim = false);
Tensor logsumexp(const Tensor& x, IntArrayRef dim, bool keepdim = false);
Tensor softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);
Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype = std::nullopt);
// Normalises over the trailing dims `normalized_shape`; weight/bias (shape normalized_shape) optional.
Tensor layer_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight = {}, const Tensor& bias = {},
                  double eps = 1e-5);
// x * rsqrt(mean(x^2 over normalized_shape) + eps) * weight; weight optional.
Tensor rms_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight = {}, double eps = 1e-6);
// |a - b| <= atol + rtol * |b| elementwise (broadcasting); NaNs equal only with equal_nan.
bool allclose(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-8, bool equal_nan = false);
bool equal(const Tensor& a, const Tensor& b);

// ---- linalg (linalg_ops.cpp) ----
// torch.matmul: 1-D x 1-D dot (0-dim result), matrix-vector, vector-matrix (the added dim is
// removed), and N-D products with broadcast batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);   // [M, K] x [K, N]
Tensor bmm(const Tensor& a, const Tensor& b);  // [B, M, K] x [B, K, N]
// torch.addmm: beta * self + alpha * (mat1 @ mat2). With a 1-D self (a bias) and beta = alpha = 1
// it is one GEMM with the bias in its epilogue (Backend::gemm_bias); torch's linear calls it.
Tensor addmm(const Tensor& self, const Tensor& mat1, const Tensor& mat2, Scalar beta = 1, Scalar alpha = 1);
// gelu(mat1 @ mat2 + bias, approximate="tanh") in one GEMM whose epilogue adds the bias and applies
// GELU (cuBLASLt on CUDA); the pre-activation is kept for the backward. bias is 1-D.
Tensor addmm_gelu_tanh(const Tensor& bias, const Tensor& mat1, const Tensor& mat2);

// ---- indexing (indexing_ops.cpp) ---- index tensors are int64 (int32 accepted where noted).
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);  // index: 1-D int64/int32
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// weight [V, D], indices of any shape -> [..., D]; an index outside [0, V) throws IndexError.
Tensor embedding(const Tensor& weight, const Tensor& indices);
// int64 -> int64 [..., num_classes]; num_classes = -1 uses max(indices) + 1.
Tensor one_hot(const Tensor& indices, int64_t num_classes = -1);
Tensor tril(const Tensor& x, int64_t diagonal = 0);
Tensor triu(const Tensor& x, int64_t diagonal = 0);
// Fused log-softmax + NLL over logits [N, C] (or [C] with a 0-dim target), int64 target [N].
// Rows whose target is ignore_index contribute 0 and are left out of the mean's denominator;
// label_smoothing eps gives loss = (1 - eps) * nll + eps * mean_c(-log p_c) (PyTorch's formula).
// The loss is float32 for float32/bfloat16/float16 logits, float64 for float64.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index = -100,
                     double label_smoothing = 0.0, Reduction reduction = Reduction::Mean);
// ---- elementwise (elementwise_ops.cpp) ----
// Binary ops broadcast and promote like PyTorch (torch.result_type, Note [result type]).
Tensor add(const Tensor& a, const Tensor& b, Scalar alpha = 1);  // a + alpha * b
Tensor add(const Tensor& a, Scalar b, Scalar alpha = 1);
Tensor sub(const Tensor& a, const Tensor& b, Scalar alpha = 1);  // a - alpha * b
Tensor sub(const Tensor& a, Scalar b, Scalar alpha = 1);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, Scalar b);
Tensor div(const Tensor& a, const Tensor& b);  // true division: integers give float32
Tensor div(const Tensor& a, Scalar b);
Tensor pow(const Tensor& a, const Tensor& exponent);
Tensor pow(const Tensor& a, Scalar exponent);
Tensor pow(Scalar a, const Tensor& exponent);
Tensor maximum(const Tensor& a, const Tensor& b);  // NaN propagates
Tensor minimum(const Tensor& a, const Tensor& b);
// Unary ops; the float-only ones (exp ... cos) compute integer inputs in float32.
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor log1p(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor square(const Tensor& x);
Tensor reciprocal(const Tensor& x);
Tensor sign(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor gelu(const Tensor& x, const std::string& approximate = "none");  // "none" (erf) or "tanh"
Tensor silu(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
// Selection.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);
Tensor where(const Tensor& condition, const Tensor& a, Scalar b);
Tensor where(const Tensor& condition, Scalar a, const Tensor& b);
Tensor clamp(const Tensor& x, std::optional<Scalar> min, std::optional<Scalar> max = std::nullopt);
Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value);
// Comparisons and logical ops return bool tensors.
Tensor eq(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, Scalar b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, Scalar b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, Scalar b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, Scalar b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, Scalar b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, Scalar b);
Tensor logical_not(const Tensor& x);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);

}  // namespace tessera
