// models::ViT: patchify, the patch embedding, position embedding / CLS token, the encoder blocks
// and the HF-ViT initialisation.
#include "tessera/models/vit.h"

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/ops.h"
#include "tessera/nn/functional.h"
#include "tessera/nn/init.h"
#include "tessera/nn/transformer_block.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"

namespace tessera::models {

Tensor patchify(const Tensor& images, int64_t p) {
  TESSERA_CHECK(images.defined() && images.dim() == 4, ShapeError,
                "patchify: expected images of shape [B, C, H, W], got {}",
                images.defined() ? shape_str(images.sizes()) : std::string("undefined"));
  const int64_t B = images.size(0), C = images.size(1), H = images.size(2), W = images.size(3);
  TESSERA_CHECK(p > 0 && H % p == 0 && W % p == 0, ShapeError,
                "patchify: image size {}x{} is not divisible by the patch size {} (images {})", H, W, p,
                shape_str(images.sizes()));
  const int64_t gh = H / p, gw = W / p;
  // [B, C, gh, p, gw, p] -> [B, gh, gw, C, p, p] -> [B, gh*gw, C*p*p] (Note [patch layout]).
  return images.reshape({B, C, gh, p, gw, p}).permute({0, 2, 4, 1, 3, 5}).reshape({B, gh * gw, C * p * p});
}

PatchEmbed::PatchEmbed(int64_t in_channels_, int64_t patch_size_, int64_t d_model_)
    : nn::Module("PatchEmbed"), in_channels(in_channels_), patch_size(patch_size_), d_model(d_model_) {
  proj = register_module("proj", std::make_shared<nn::Linear>(in_channels * patch_size * patch_size, d_model));
}

Tensor PatchEmbed::forward(const Tensor& images) {
  TESSERA_CHECK(images.defined() && images.dim() == 4 && images.size(1) == in_channels, ShapeError,
                "PatchEmbed.forward: expected images [B, {}, H, W], got {}", in_channels,
                images.defined() ? shape_str(images.sizes()) : std::string("undefined"));
  return proj->forward(patchify(images, patch_size));
}

std::string PatchEmbed::extra_repr() const {
  return fmt::format("in_channels={}, patch_size={}, d_model={}", in_channels, patch_size, d_model);
}

ViT::ViT(const ViTConfig& config) : nn::Module("ViT"), config_(config) {
  config_.validate("ViT");
  const auto& c = config_;
  if (c.cls_token) cls_token = register_parameter("cls_token", tessera::zeros({1, 1, c.d_model}));
  pos_embed = register_parameter("pos_embed", tessera::zeros({1, c.seq_len(), c.d_model}));
  patch_embed = register_module("patch_embed", std::make_shared<PatchEmbed>(c.in_channels, c.patch_size, c.d_model));
  layers = register_module("layers", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < c.n_layers; ++i) {
    nn::TransformerBlockOptions o;
    o.attn.d_model = c.d_model;
    o.attn.n_heads = c.n_heads;
    o.attn.causal = false;
    o.attn.bias = true;
    o.attn.dropout = c.dropout;
    o.mlp.d_model = c.d_model;
    o.mlp.hidden = c.mlp_hidden;
    o.mlp.act = nn::Activation::GELU;
    o.norm = nn::NormKind::LayerNorm;
    o.norm_eps = c.norm_eps;
    o.dropout = c.dropout;
    layers->push_back(std::make_shared<nn::TransformerBlock>(o));
  }
  norm = register_module("norm", std::make_shared<nn::LayerNorm>(c.d_model, c.norm_eps));
  init();
}

void ViT::init() {
  constexpr double kStd = 0.02;
  for (auto& [name, p] : named_parameters()) {
    Tensor t = p;
    if (t.dim() >= 2) {
      nn::init::trunc_normal_(t, 0.0, kStd, -2 * kStd, 2 * kStd);
    } else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      nn::init::zeros_(t);
    } else {
      nn::init::ones_(t);  // LayerNorm weights
    }
  }
}

Tensor ViT::forward(const Tensor& images) {
  const auto& c = config_;
  TESSERA_CHECK(images.defined() && images.dim() == 4 && images.size(1) == c.in_channels &&
                    images.size(2) == c.image_size && images.size(3) == c.image_size,
                ShapeError, "ViT.forward: expected images of shape [B, {}, {}, {}] (config image_size), got {}",
                c.in_channels, c.image_size, c.image_size,
                images.defined() ? shape_str(images.sizes()) : std::string("undefined"));
  TESSERA_CHECK(images.is_floating_point(), DTypeError, "ViT.forward: expected floating-point images, got {}",
                dtype_name(images.dtype()));
  const Tensor& w = patch_embed->proj->weight;
  Tensor x = patch_embed->forward(images.to(w.device(), w.dtype()));  // [B, N, d]
  const int64_t B = x.size(0);
  if (c.cls_token) x = cat({cls_token.expand({B, 1, c.d_model}), x}, 1);
  x = nn::functional::dropout(x + pos_embed, c.dropout, is_training());
  for (int64_t i = 0; i < layers->size(); ++i) x = layers->at<nn::TransformerBlock>(i)->forward(x);
  return norm->forward(x);
}

std::string ViT::extra_repr() const {
  return fmt::format("image_size={}, patch_size={}, d_model={}, n_layers={}, n_heads={}, cls_token={}",
                     config_.image_size, config_.patch_size, config_.d_model, config_.n_layers, config_.n_heads,
                     config_.cls_token);
}

}  // namespace tessera::models
