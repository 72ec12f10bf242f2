// Finite-difference gradient checks (torch.autograd.gradcheck / gradgradcheck) in float64.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "tessera/autograd/node.h"

namespace tessera::autograd {

using GradcheckFn = std::function<variable_list(const variable_list&)>;

struct GradcheckOptions {
  double eps = 1e-6;   // central-difference step
  double atol = 1e-5;  // |analytical - numerical| <= atol + rtol * |numerical|
  double rtol = 1e-3;
  bool raise_exception = true;  // throw a ValueError describing the mismatch (else return false)
};

// Compares the Jacobian from autograd (one vector-Jacobian product per output element) with
// central differences, for every float64 input that requires grad (inputs must not have stride-0
// dims: expand inside fn instead) and every floating output of fn.
bool gradcheck(const GradcheckFn& fn, const variable_list& inputs, const GradcheckOptions& options = {});

// gradcheck of the map (inputs, v) -> autograd::grad(fn(inputs), inputs, v, create_graph=true):
// checks second derivatives. `grad_outputs` (v) defaults to fixed pseudo-random float64 tensors.
bool gradgradcheck(const GradcheckFn& fn, const variable_list& inputs, const variable_list& grad_outputs = {},
                   const GradcheckOptions& options = {});

// A float64 tensor of `shape` with values uniform in [low, high) from a small deterministic
// generator (independent of the library RNG), for building gradcheck inputs.
Tensor gradcheck_input(IntArrayRef shape, uint64_t seed, double low = -1.0, double high = 1.0,
                       bool requires_grad = true);

}  // namespace tessera::autograd
