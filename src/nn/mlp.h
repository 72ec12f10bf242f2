// nn::MLP: the transformer feed-forward block, plain (fc1 -> act -> fc2, GPT-2 / ViT) or gated
// (down_proj(act(gate_proj(x)) * up_proj(x)), Llama's SwiGLU when act = SiLU).
#pragma once

#include <memory>

#include "tessera/nn/linear.h"
#include "tessera/nn/unary_module.h"

namespace tessera::nn {

enum class Activation { GELU, GELUTanh, SiLU, ReLU };
const char* activation_name(Activation act);
// Applies the activation (differentiable).
Tensor activate(const Tensor& x, Activation act);

struct MLPOptions {
  int64_t d_model = 0, hidden = 0;
  Activation act = Activation::GELU;
  bool gated = false;  // SwiGLU when true with SiLU
  bool bias = true;
};

class MLP : public UnaryModule {
 public:
  explicit MLP(MLPOptions options);
  Tensor forward(const Tensor& x) override;  // [..., d_model] -> [..., d_model]
  std::string extra_repr() const override;

  MLPOptions options;
  std::shared_ptr<Linear> fc1, fc2;                        // plain
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;  // gated
};

}  // namespace tessera::nn
