// Public factory functions, LibTorch-style: tessera::zeros({2, 3}, kBFloat16), tessera::tensor(
// {1.f, 2.f}), tessera::randn({4, 4}, TensorOptions().requires_grad()). A requires_grad option
// makes the result a leaf that requires grad.
#pragma once

#include <initializer_list>
#include <vector>

#include "tessera/tensor/tensor.h"

namespace tessera {

Tensor empty(IntArrayRef sizes, const TensorOptions& options = {});
Tensor zeros(IntArrayRef sizes, const TensorOptions& options = {});
Tensor ones(IntArrayRef sizes, const TensorOptions& options = {});
Tensor full(IntArrayRef sizes, Scalar value, const TensorOptions& options = {});
Tensor empty_like(const Tensor& t, std::optional<TensorOptions> options = std::nullopt);
Tensor zeros_like(const Tensor& t, std::optional<TensorOptions> options = std::nullopt);
Tensor ones_like(const Tensor& t, std::optional<TensorOptions> options = std::nullopt);
Tensor full_like(const Tensor& t, Scalar value, std::optional<TensorOptions> options = std::nullopt);
// arange(end) / arange(start, end[, step]): int64 when all bounds are integers, else float32.
Tensor arange(Scalar end, std::optional<TensorOptions> options = std::nullopt);
Tensor arange(Scalar start, Scalar end, Scalar step = 1, std::optional<TensorOptions> options = std::nullopt);
Tensor linspace(Scalar start, Scalar end, int64_t steps, const TensorOptions& options = {});
Tensor eye(int64_t n, const TensorOptions& options = {});
Tensor eye(int64_t n, int64_t m, const TensorOptions& options = {});
Tensor scalar_tensor(Scalar value, const TensorOptions& options = {});

// From host data (copied). The dtype defaults to the C++ type's (float -> float32, double ->
// float64, int64_t -> int64, int -> int32, bool -> bool) unless options say otherwise.
template <typename T>
Tensor tensor(const std::vector<T>& values, std::optional<TensorOptions> options = std::nullopt);
template <typename T>
Tensor tensor(std::initializer_list<T> values, std::optional<TensorOptions> options = std::nullopt) {
  return tensor(std::vector<T>(values), options);
}
// Values laid out row-major with the given shape.
template <typename T>
Tensor from_vector(const std::vector<T>& values, IntArrayRef shape, std::optional<TensorOptions> options = std::nullopt);
// Wraps existing CPU memory without copying; `deleter` (optional) runs when the last view dies.
Tensor from_blob(void* data, IntArrayRef sizes, const TensorOptions& options = {},
                 std::function<void(void*)> deleter = {});

// Random (Philox4x32-10, Note [philox stream]): depend only on (seed, offset, element index).
void manual_seed(uint64_t seed);
Tensor rand(IntArrayRef sizes, const TensorOptions& options = {});
Tensor randn(IntArrayRef sizes, const TensorOptions& options = {});
Tensor randint(int64_t low, int64_t high, IntArrayRef sizes, const TensorOptions& options = kInt64);
Tensor randint(int64_t high, IntArrayRef sizes, const TensorOptions& options = kInt64);
Tensor rand_like(const Tensor& t);
Tensor randn_like(const Tensor& t);

}  // namespace tessera
