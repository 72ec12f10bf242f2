// nn::TransformerBlock: a pre-norm transformer layer,
//   h = x + dropout(self_attn(input_layernorm(x))); out = h + dropout(mlp(post_attention_layernorm(h)))
// (GPT-2 / ViT with LayerNorm + GELU MLP, Llama with RMSNorm + SwiGLU).
#pragma once

#include <memory>

#include "tessera/nn/attention.h"
#include "tessera/nn/mlp.h"

namespace tessera::nn {

enum class NormKind { LayerNorm, RMSNorm };

struct TransformerBlockOptions {
  AttentionOptions attn;
  MLPOptions mlp;  // mlp.d_model 0 = attn.d_model
  NormKind norm = NormKind::LayerNorm;
  double norm_eps = 1e-5;
  double dropout = 0.0;  // on both residual branches, training only
};

class TransformerBlock : public Module {
 public:
  explicit TransformerBlock(TransformerBlockOptions options);
  Tensor forward(const Tensor& x, const Tensor& padding_mask = {}, KVCache* cache = nullptr);
  std::string extra_repr() const override;

  TransformerBlockOptions options;
  std::shared_ptr<UnaryModule> input_layernorm, post_attention_layernorm;  // LayerNorm or RMSNorm
  std::shared_ptr<MultiheadSelfAttention> self_attn;
  std::shared_ptr<MLP> mlp;
};

}  // namespace tessera::nn
