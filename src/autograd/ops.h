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

}  // namespace tessera
