// nn::Dropout: functional::dropout in training mode, the identity in eval mode or when p == 0.
#pragma once

#include "tessera/nn/unary_module.h"

namespace tessera::nn {

class Dropout : public UnaryModule {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  double p;
};

}  // namespace tessera::nn
