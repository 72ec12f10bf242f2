// nn::TransformerBlock (pre-norm).
#include "tessera/nn/transformer_block.h"

#include "tessera/autograd/ops.h"
#include "tessera/nn/functional.h"
#include "tessera/nn/normalization.h"
#include "tessera/tensor/error.h"

namespace tessera::nn {

namespace {
std::shared_ptr<UnaryModule> make_norm(NormKind kind, int64_t dim, double eps) {
  if (kind == NormKind::RMSNorm) return std::make_shared<RMSNorm>(dim, eps);
  return std::make_shared<LayerNorm>(dim, eps);
}
}  // namespace

TransformerBlock::TransformerBlock(TransformerBlockOptions o) : Module("TransformerBlock"), options(o) {
  if (options.mlp.d_model == 0) options.mlp.d_model = options.attn.d_model;
  TESSERA_CHECK(options.mlp.d_model == options.attn.d_model, ValueError,
                "TransformerBlock: mlp.d_model ({}) must equal attn.d_model ({})", options.mlp.d_model,
                options.attn.d_model);
  TESSERA_CHECK(options.dropout >= 0.0 && options.dropout <= 1.0, ValueError,
                "TransformerBlock: dropout probability has to be between 0 and 1, but got {}", options.dropout);
  const int64_t d = options.attn.d_model;
  input_layernorm = register_module("input_layernorm", make_norm(options.norm, d, options.norm_eps));
  self_attn = register_module("self_attn", std::make_shared<MultiheadSelfAttention>(options.attn));
  post_attention_layernorm = register_module("post_attention_layernorm", make_norm(options.norm, d, options.norm_eps));
  mlp = register_module("mlp", std::make_shared<MLP>(options.mlp));
}

Tensor TransformerBlock::forward(const Tensor& x, const Tensor& padding_mask, KVCache* cache) {
  const bool train = is_training();
  Tensor h = x + functional::dropout(self_attn->forward(input_layernorm->forward(x), padding_mask, cache),
                                     options.dropout, train);
  return h + functional::dropout(mlp->forward(post_attention_layernorm->forward(h)), options.dropout, train);
}

std::string TransformerBlock::extra_repr() const {
  return fmt::format("norm={}, norm_eps={}, dropout={}", options.norm == NormKind::RMSNorm ? "rms" : "layer",
                     options.norm_eps, options.dropout);
}

}  // namespace tessera::nn
