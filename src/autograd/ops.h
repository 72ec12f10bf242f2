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

// ---- elementwise (elementwise_ops.cpp) ----
// condition ? self : other, broadcasting all three (condition is a bool tensor).
Tensor where(const Tensor& condition, const Tensor& self, const Tensor& other);

// ---- gradient helpers (differentiable; used by backward formulas) ----
// Sums x down to `shape` (undoes broadcasting `shape` to x's shape).
Tensor sum_to(const Tensor& x, IntArrayRef shape);
// A tensor of `input_sizes` zeros with grad written at x.slice(dim, start, end, step) / x.select(dim, index).
Tensor slice_backward(const Tensor& grad, IntArrayRef input_sizes, int64_t dim, int64_t start, int64_t end,
                      int64_t step);
Tensor select_backward(const Tensor& grad, IntArrayRef input_sizes, int64_t dim, int64_t index);

// ---- linalg (linalg_ops.cpp) ----
// torch.matmul: 1-D x 1-D dot (0-dim result), matrix-vector, vector-matrix (the added dim is
// removed), and N-D products with broadcast batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor mm(const Tensor& a, const Tensor& b);   // [M, K] x [K, N]
Tensor bmm(const Tensor& a, const Tensor& b);  // [B, M, K] x [B, K, N]

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

}  // namespace tessera
