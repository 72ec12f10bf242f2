// The functional backward API (LibTorch's torch::autograd::backward / grad). Tensor::backward and
// the tensor hooks are declared on Tensor (tensor.h) and defined in tensor_autograd_api.cpp.
#pragma once

#include <optional>
#include <vector>

#include "tessera/autograd/node.h"
#include "tessera/tensor/tensor.h"

namespace tessera::autograd {

// Computes the sum of the vector-Jacobian products of `tensors` with `grad_tensors` (empty or an
// undefined entry: 1 for a scalar tensor, an error otherwise) and accumulates it into the .grad of
// the leaves (only of `inputs` when given). retain_graph defaults to create_graph.
void backward(const variable_list& tensors, const variable_list& grad_tensors = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
              const variable_list& inputs = {});

// Returns the gradients of `outputs` w.r.t. `inputs` without touching any .grad. An input the
// outputs do not depend on is an error unless allow_unused (then its gradient is undefined).
variable_list grad(const variable_list& outputs, const variable_list& inputs, const variable_list& grad_outputs = {},
                   std::optional<bool> retain_graph = std::nullopt, bool create_graph = false,
                   bool allow_unused = false);

}  // namespace tessera::autograd
