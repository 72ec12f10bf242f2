// Attaching a unary op's autograd history to an output computed elsewhere: fused kernels (e.g.
// addmm_gelu_tanh, which produces the GELU of a GEMM in the GEMM's epilogue) build the same graph
// as the unfused ops, so gradients, hooks and create_graph behave identically.
#pragma once

#include "tessera/tensor/backend.h"
#include "tessera/tensor/tensor.h"

namespace tessera::autograd::detail {

// Makes `out` = op(x) in the graph, with op's backward formula saving the input x (the form every
// unary op whose derivative needs its input uses, e.g. GELU). Call only when x requires grad.
void record_input_saving_unary(UnaryOp op, const Tensor& x, const Tensor& out);

}  // namespace tessera::autograd::detail
