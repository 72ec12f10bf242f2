// nn::Linear (y = x W^T + b) and nn::Embedding (a lookup table).
#pragma once

#include "tessera/nn/unary_module.h"

namespace tessera::nn {

// weight [out, in] and bias [out] initialised as PyTorch's: kaiming_uniform_(a = sqrt(5)), i.e.
// U(-1/sqrt(in), 1/sqrt(in)), for both.
class Linear : public UnaryModule {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  Tensor forward(const Tensor& x) override;  // x [..., in] -> [..., out]
  void reset_parameters();
  std::string extra_repr() const override;

  int64_t in_features, out_features;
  Tensor weight, bias;  // bias undefined when bias = false
};

}  // namespace tessera::nn
