// nn::UnaryModule: a Module whose forward takes one tensor and returns one (Linear, LayerNorm,
// Dropout, MLP, ...). Sequential chains these (nn/container.h).
#pragma once

#include "tessera/nn/module.h"

namespace tessera::nn {

class UnaryModule : public Module {
 public:
  using Module::Module;
  virtual Tensor forward(const Tensor& x) = 0;
  Tensor operator()(const Tensor& x) { return forward(x); }
};

}  // namespace tessera::nn
