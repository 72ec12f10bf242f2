// nn::MLP (plain and gated feed-forward blocks) and the activation switch.
#include "tessera/nn/mlp.h"

#include "tessera/autograd/ops.h"
#include "tessera/nn/functional.h"
#include "tessera/tensor/error.h"

namespace tessera::nn {

const char* activation_name(Activation act) {
  switch (act) {
    case Activation::GELU: return "gelu";
    case Activation::GELUTanh: return "gelu_tanh";
    case Activation::SiLU: return "silu";
    case Activation::ReLU: return "relu";
  }
  return "?";
}

Tensor activate(const Tensor& x, Activation act) {
  switch (act) {
    case Activation::GELU: return x.gelu("none");
    case Activation::GELUTanh: return x.gelu("tanh");
    case Activation::SiLU: return x.silu();
    case Activation::ReLU: return x.relu();
  }
  throw ValueError("activate: unknown activation");
}

MLP::MLP(MLPOptions o) : UnaryModule("MLP"), options(o) {
  TESSERA_CHECK(o.d_model > 0 && o.hidden > 0, ValueError, "MLP: d_model ({}) and hidden ({}) must be > 0", o.d_model,
                o.hidden);
  if (o.gated) {
    gate_proj = register_module("gate_proj", std::make_shared<Linear>(o.d_model, o.hidden, o.bias));
    up_proj = register_module("up_proj", std::make_shared<Linear>(o.d_model, o.hidden, o.bias));
    down_proj = register_module("down_proj", std::make_shared<Linear>(o.hidden, o.d_model, o.bias));
  } else {
    fc1 = register_module("fc1", std::make_shared<Linear>(o.d_model, o.hidden, o.bias));
    fc2 = register_module("fc2", std::make_shared<Linear>(o.hidden, o.d_model, o.bias));
  }
}

Tensor MLP::forward(const Tensor& x) {
  if (options.gated) return down_proj->forward(activate(gate_proj->forward(x), options.act) * up_proj->forward(x));
  if (options.act == Activation::GELUTanh)  // bias + GELU in fc1's GEMM epilogue
    return fc2->forward(functional::linear_gelu_tanh(x, fc1->weight, fc1->bias));
  return fc2->forward(activate(fc1->forward(x), options.act));
}

std::string MLP::extra_repr() const {
  return fmt::format("d_model={}, hidden={}, act={}, gated={}", options.d_model, options.hidden,
                     activation_name(options.act), options.gated);
}

}  // namespace tessera::nn
