// models::VLM: a vision-language model, ViT -> Projector -> LLM (LLaVA-like). The image tokens
// (the ViT's output, projected to the LLM width) are a prefix of the caption tokens; logits and the
// loss cover the text positions only. Also captioning by generation with the image prefix and the
// KV cache.
//
// Parameter names: vision.* (models::ViT), projector.fc1.{weight,bias}, projector.fc2.{weight,bias},
// language_model.* (models::LLM).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tessera/models/config.h"
#include "tessera/models/data/loader.h"
#include "tessera/models/data/tokenizer.h"
#include "tessera/models/llm.h"
#include "tessera/models/vit.h"
#include "tessera/nn/linear.h"
#include "tessera/nn/unary_module.h"

namespace tessera::models {

// fc2(gelu(fc1(x))): in_features -> hidden -> out_features (erf GELU).
class Projector : public nn::UnaryModule {
 public:
  Projector(int64_t in_features, int64_t hidden, int64_t out_features);
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

  std::shared_ptr<nn::Linear> fc1, fc2;
};

class VLM : public nn::Module {
 public:
  // Validates the config (Note [config invariants]); the ViT and the LLM get their own init, the
  // projector PyTorch's Linear init. Seed with tessera::manual_seed first for a reproducible model.
  explicit VLM(const VLMConfig& config);

  // images [B, C, H, W] -> image tokens [B, vision.seq_len(), text.d_model] (ViT + projector).
  Tensor encode_images(const Tensor& images);

  // Note [VLM text positions]
  // The LLM runs on [image tokens (P), text tokens (T)] with the batch's attention_mask (image
  // tokens always real); the returned logits [B, T, V] are those of the T text positions only, so
  // logits[:, t] predicts input_ids[:, t + 1], exactly as for a text-only LLM, and the labels of
  // the batch (aligned with input_ids, -100 at padding) apply with LLM::loss's shift. The image
  // positions produce no logits (the lm_head never runs on them) and no loss.
  Tensor forward(const data::VLMBatch& batch);
  // LLM::loss(forward(batch), batch.labels): mean cross entropy over the text tokens whose label
  // is not -100 (Note [VLM text positions]).
  Tensor loss(const data::VLMBatch& batch);

  // Generates after [image tokens, prompt] (image [C, H, W] or [1, C, H, W]); returns the new
  // tokens (see LLM::generate).
  std::vector<int64_t> generate(const Tensor& image, const std::vector<int64_t>& prompt,
                                const GenerationOptions& options = {});
  // A caption for one image: generation after [image tokens, kBos] until kEos or max_len new
  // tokens, decoded without special tokens. temperature 0 = greedy.
  std::string caption(const Tensor& image, const data::ByteTokenizer& tokenizer, int64_t max_len = 64,
                      double temperature = 0.0, uint64_t seed = 0);

  std::string extra_repr() const override;
  const VLMConfig& config() const { return config_; }

  std::shared_ptr<ViT> vision;
  std::shared_ptr<Projector> projector;
  std::shared_ptr<LLM> language_model;

 private:
  VLMConfig config_;
};

}  // namespace tessera::models
