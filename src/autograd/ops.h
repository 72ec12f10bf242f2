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

}  // namespace tessera
