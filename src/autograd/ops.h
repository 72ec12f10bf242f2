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

}  // namespace tessera
