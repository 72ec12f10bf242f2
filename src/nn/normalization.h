// nn::LayerNorm and nn::RMSNorm over the last dim (weights ones, bias zeros, as PyTorch).
#pragma once

#include "tessera/nn/unary_module.h"

namespace tessera::nn {

class LayerNorm : public UnaryModule {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5, bool bias = true);
  Tensor forward(const Tensor& x) override;  // x [..., dim]
  std::string extra_repr() const override;

  int64_t dim;
  double eps;
  Tensor weight, bias;  // bias undefined when bias = false
};

class RMSNorm : public UnaryModule {
 public:
  explicit RMSNorm(int64_t dim, double eps = 1e-6);
  Tensor forward(const Tensor& x) override;  // x * rsqrt(mean(x^2) + eps) * weight
  std::string extra_repr() const override;

  int64_t dim;
  double eps;
  Tensor weight;
};

}  // namespace tessera::nn
