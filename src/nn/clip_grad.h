// nn::clip_grad_norm_ (torch.nn.utils.clip_grad_norm_).
#pragma once

#include <vector>

#include "tessera/tensor/tensor.h"

namespace tessera::nn {

// The norm of all gradients together (as if concatenated) of order norm_type (> 0, or INFINITY);
// when it exceeds max_norm, every gradient is scaled in place by max_norm / (total + 1e-6).
// Parameters without a gradient are skipped. Returns the total norm before clipping as a 0-d
// tensor on the gradients' device: float32 (float64 when a gradient is float64, as PyTorch). The
// computation stays on the device (no host sync) unless error_if_nonfinite, which throws a
// ValueError when the total norm is NaN or infinite (gradients left untouched).
Tensor clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

}  // namespace tessera::nn
