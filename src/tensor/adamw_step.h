// What a fused AdamW update takes, shared by the optimizer (src/nn/optim/adamw.cpp: the CPU kernel) and
// the backends' multi-tensor primitive (Backend::adamw_step; CUDA: src/cuda/kernels/adamw.cu): the
// per-tensor slot and the update's scalars, computed in double and rounded once to the state dtype
// exactly as PyTorch's Python code does, so every path starts from the same rounded scalars.
#pragma once

#include <cmath>
#include <cstdint>

#include "tessera/tensor/tensor.h"

namespace tessera {

// Note [multi-tensor adamw]
// One Backend::adamw_step call updates a list of parameters in as few kernel launches as the backend
// can (CUDA: one launch per ~32 tensors / 320 chunks of 64K elements). Every slot:
// - param: contiguous, float32/bfloat16/float16; grad: contiguous, param's dtype and shape;
// - exp_avg, exp_avg_sq: contiguous float32 (Note [low-precision optimizer state]);
// - master (optional, bfloat16/float16 params only): contiguous float32 master copy of param; the
//   update reads and writes the master and stores the rounded master into param (AdamW
//   master_weights);
// - lr, weight_decay, step: the slot's own (PyTorch keeps one step per parameter, so bias
//   correction differs between slots); beta1, beta2, eps are shared by the call.
// Per element the arithmetic is the CPU fused kernel's (Note [fused adamw]), operation for operation
// with the same roundings, so the paths agree to an ulp or two in float32. The caller bumps versions.
struct AdamWSlot {
  Tensor param, grad, exp_avg, exp_avg_sq, master;
  double lr = 0, weight_decay = 0;
  int64_t step = 1;
};

// The scalars of one update in the state/compute type S (float, or double for float64 params).
template <typename S>
struct AdamWScalars {
  S decay, w1, beta2, c2, bc2_sqrt, eps, neg_step;
  bool w1_small;  // ATen's lerp takes the `self + w * (end - self)` form when |w| < 0.5
  // The lerp's fma coefficient: w1 when w1_small, else w1 - 1 (the `end + (w - 1) * (end - self)` form).
  S lerp_coeff() const { return w1_small ? w1 : S(w1 - S(1)); }
};

template <typename S>
AdamWScalars<S> make_adamw_scalars(double lr, double weight_decay, double beta1, double beta2, double eps,
                                   int64_t step) {
  const double bc1 = 1.0 - std::pow(beta1, double(step));
  const double bc2 = 1.0 - std::pow(beta2, double(step));
  AdamWScalars<S> s;
  s.decay = S(1.0 - lr * weight_decay);
  s.w1 = S(1.0 - beta1);
  s.w1_small = std::abs(s.w1) < S(0.5);
  s.beta2 = S(beta2);
  s.c2 = S(1.0 - beta2);
  s.bc2_sqrt = S(std::sqrt(bc2));
  s.eps = S(eps);
  s.neg_step = S(-(lr / bc1));
  return s;
}

}  // namespace tessera
