// models::ViT: the vision encoder. Images [B, C, H, W] are cut into p x p patches (patchify), each
// patch is embedded by a Linear (equivalent to a stride-p Conv2d), a learned position embedding is
// added (and an optional CLS token prepended), bidirectional pre-norm TransformerBlocks run, and a
// final LayerNorm gives [B, N(+1), d].
//
// Parameter names (HF-ViT-like): cls_token (when enabled), pos_embed, patch_embed.proj.{weight,bias},
// layers.<i>.{input_layernorm,self_attn.qkv_proj,self_attn.o_proj,post_attention_layernorm,mlp.fc1,
// mlp.fc2}.{weight,bias}, norm.{weight,bias}.
#pragma once

#include <memory>

#include "tessera/models/config.h"
#include "tessera/nn/container.h"
#include "tessera/nn/linear.h"
#include "tessera/nn/normalization.h"

namespace tessera::models {

// Note [patch layout]
// patchify() orders each patch vector as (channel, row in patch, column in patch), row-major, and
// the patches row-major over the image grid. So patch_embed.proj.weight [d, C*p*p] viewed as
// [d, C, p, p] is exactly the weight of the equivalent Conv2d(C, d, kernel = stride = p), and
// patch n = (gy * grid + gx) covers pixels [gy*p, gy*p + p) x [gx*p, gx*p + p).

// [B, C, H, W] -> [B, (H/p)*(W/p), C*p*p] by reshape/permute (differentiable; one copy).
Tensor patchify(const Tensor& images, int64_t patch_size);

class PatchEmbed : public nn::Module {
 public:
  PatchEmbed(int64_t in_channels, int64_t patch_size, int64_t d_model);
  Tensor forward(const Tensor& images);  // [B, C, H, W] -> [B, N, d]
  std::string extra_repr() const override;

  int64_t in_channels, patch_size, d_model;
  std::shared_ptr<nn::Linear> proj;  // C*p*p -> d
};

class ViT : public nn::Module {
 public:
  // Validates the config (Note [config invariants]) and initialises the parameters (init()).
  explicit ViT(const ViTConfig& config);
  // images [B, C, H, W] with C, H, W = in_channels, image_size, image_size (converted to the
  // parameters' dtype and device) -> [B, seq_len(), d_model]; the CLS token, when enabled, first.
  Tensor forward(const Tensor& images);
  // Re-initialises every parameter: Linear weights, pos_embed and cls_token trunc_normal(0.02,
  // truncated at 2 std), biases 0, LayerNorm weights 1 (HF ViT's scheme). Draws from the default
  // generator: seed with tessera::manual_seed first for a reproducible model.
  void init();
  std::string extra_repr() const override;
  const ViTConfig& config() const { return config_; }

  Tensor cls_token;  // [1, 1, d]; undefined when !config.cls_token
  Tensor pos_embed;  // [1, seq_len, d]
  std::shared_ptr<PatchEmbed> patch_embed;
  std::shared_ptr<nn::ModuleList> layers;  // TransformerBlocks
  std::shared_ptr<nn::LayerNorm> norm;

 private:
  ViTConfig config_;
};

}  // namespace tessera::models
