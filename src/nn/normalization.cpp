// nn::LayerNorm, nn::RMSNorm and nn::Dropout.
#include "tessera/nn/normalization.h"

#include "tessera/autograd/ops.h"
#include "tessera/nn/dropout.h"
#include "tessera/nn/functional.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"

namespace tessera::nn {

namespace {
void check_last_dim(const char* op, const Tensor& x, int64_t dim) {
  TESSERA_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == dim, ShapeError,
                "{}.forward: expected input [..., {}], got {}", op, dim,
                x.defined() ? shape_str(x.sizes()) : std::string("undefined"));
}
}  // namespace

LayerNorm::LayerNorm(int64_t d, double e, bool with_bias) : UnaryModule("LayerNorm"), dim(d), eps(e) {
  TESSERA_CHECK(d > 0, ValueError, "LayerNorm: dim must be > 0, got {}", d);
  weight = register_parameter("weight", ones({d}));
  if (with_bias) bias = register_parameter("bias", zeros({d}));
}

Tensor LayerNorm::forward(const Tensor& x) {
  check_last_dim("LayerNorm", x, dim);
  return layer_norm(x, {dim}, weight, bias, eps);
}

std::string LayerNorm::extra_repr() const {
  return fmt::format("({},), eps={}, elementwise_affine=true, bias={}", dim, eps, bias.defined());
}

RMSNorm::RMSNorm(int64_t d, double e) : UnaryModule("RMSNorm"), dim(d), eps(e) {
  TESSERA_CHECK(d > 0, ValueError, "RMSNorm: dim must be > 0, got {}", d);
  weight = register_parameter("weight", ones({d}));
}

Tensor RMSNorm::forward(const Tensor& x) {
  check_last_dim("RMSNorm", x, dim);
  return rms_norm(x, {dim}, weight, eps);
}

std::string RMSNorm::extra_repr() const { return fmt::format("({},), eps={}", dim, eps); }

Dropout::Dropout(double prob) : UnaryModule("Dropout"), p(prob) {
  TESSERA_CHECK(p >= 0.0 && p <= 1.0, ValueError, "Dropout: dropout probability has to be between 0 and 1, but got {}",
                p);
}

Tensor Dropout::forward(const Tensor& x) { return functional::dropout(x, p, is_training()); }

std::string Dropout::extra_repr() const { return fmt::format("p={}", p); }

}  // namespace tessera::nn
