// Activation checkpointing (torch.utils.checkpoint, reentrant variant): run a segment without
// keeping its activations and re-run it during backward.
#pragma once

#include <functional>

#include "tessera/autograd/node.h"

namespace tessera::autograd {

using CheckpointFn = std::function<variable_list(const variable_list&)>;

// Runs fn(inputs) without recording its graph; backward re-runs fn with grad mode on (restoring
// the RNG state of the forward when preserve_rng_state, so dropout masks match) and backpropagates
// through the recomputed segment. Tensors fn uses that are not inputs (parameters) get their .grad
// during that inner backward. When no input requires grad, fn runs normally (its graph is kept).
// Not supported: create_graph through the segment, autograd::grad / backward(inputs) that stop
// inside it (as in PyTorch's reentrant checkpoint).
variable_list checkpoint(const CheckpointFn& fn, const variable_list& inputs, bool preserve_rng_state = true);
Tensor checkpoint(const std::function<Tensor(const Tensor&)>& fn, const Tensor& input, bool preserve_rng_state = true);

}  // namespace tessera::autograd
