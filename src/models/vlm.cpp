// models::VLM: the projector, image encoding, text-only logits and loss over a VLMBatch, and
// captioning by generation after the image tokens.
#include "tessera/models/vlm.h"

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/ops.h"
#include "tessera/tensor/error.h"

namespace tessera::models {

namespace {

// Eval mode for a scope; the previous training flag is restored at its end (also on an exception).
struct EvalModeGuard {
  nn::Module& module;
  bool was_training;
  explicit EvalModeGuard(nn::Module& m) : module(m), was_training(m.is_training()) { m.eval(); }
  ~EvalModeGuard() { module.train(was_training); }
};

}  // namespace

Projector::Projector(int64_t in_features, int64_t hidden, int64_t out_features) : nn::UnaryModule("Projector") {
  fc1 = register_module("fc1", std::make_shared<nn::Linear>(in_features, hidden));
  fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, out_features));
}

Tensor Projector::forward(const Tensor& x) { return fc2->forward(fc1->forward(x).gelu("none")); }

std::string Projector::extra_repr() const {
  return fmt::format("in_features={}, hidden={}, out_features={}", fc1->in_features, fc1->out_features,
                     fc2->out_features);
}

VLM::VLM(const VLMConfig& config) : nn::Module("VLM"), config_(config) {
  config_.validate("VLM");
  vision = register_module("vision", std::make_shared<ViT>(config_.vision));
  projector = register_module(
      "projector", std::make_shared<Projector>(config_.vision.d_model, config_.projector_hidden, config_.text.d_model));
  language_model = register_module("language_model", std::make_shared<LLM>(config_.text));
}

Tensor VLM::encode_images(const Tensor& images) { return projector->forward(vision->forward(images)); }

Tensor VLM::forward(const data::VLMBatch& batch) {
  const char* op = "VLM.forward";
  TESSERA_CHECK(batch.images.defined() && batch.input_ids.defined(), ValueError,
                "{}: the batch needs images and input_ids", op);
  TESSERA_CHECK(batch.images.dim() == 4 && batch.input_ids.dim() == 2 &&
                    batch.images.size(0) == batch.input_ids.size(0),
                ShapeError, "{}: expected images [B, C, H, W] and input_ids [B, T] with one B, got {} and {}", op,
                shape_str(batch.images.sizes()), shape_str(batch.input_ids.sizes()));
  Tensor prefix = encode_images(batch.images);  // [B, P, d]
  const int64_t P = prefix.size(1);
  Tensor h = language_model->forward_hidden(batch.input_ids, batch.attention_mask, prefix);  // [B, P + T, d]
  return language_model->lm_logits(h.slice(1, P));  // Note [VLM text positions]
}

Tensor VLM::loss(const data::VLMBatch& batch) {
  TESSERA_CHECK(batch.labels.defined() && batch.labels.sizes().equals(batch.input_ids.sizes()), ShapeError,
                "VLM.loss: expected labels with the shape of input_ids {}, got {}", shape_str(batch.input_ids.sizes()),
                batch.labels.defined() ? shape_str(batch.labels.sizes()) : std::string("undefined"));
  return LLM::loss(forward(batch), batch.labels);
}

std::vector<int64_t> VLM::generate(const Tensor& image, const std::vector<int64_t>& prompt,
                                   const GenerationOptions& options) {
  TESSERA_CHECK(image.defined() && (image.dim() == 3 || (image.dim() == 4 && image.size(0) == 1)), ShapeError,
                "VLM.generate: expected one image [C, H, W] or [1, C, H, W], got {}",
                image.defined() ? shape_str(image.sizes()) : std::string("undefined"));
  Tensor prefix;
  {
    NoGradGuard no_grad;
    EvalModeGuard eval_mode(*this);
    prefix = encode_images(image.dim() == 3 ? image.unsqueeze(0) : image);
  }
  return language_model->generate(prompt, options, prefix);
}

std::string VLM::caption(const Tensor& image, const data::ByteTokenizer& tokenizer, int64_t max_len,
                         double temperature, uint64_t seed) {
  TESSERA_CHECK(tokenizer.vocab_size() <= config_.text.vocab_size, ValueError,
                "VLM.caption: the tokenizer has {} ids but the language model's vocab_size is {}",
                tokenizer.vocab_size(), config_.text.vocab_size);
  GenerationOptions o;
  o.max_new_tokens = max_len;
  o.temperature = temperature;
  o.seed = seed;
  o.eos_id = data::kEos;
  return tokenizer.decode(generate(image, {data::kBos}, o), /*skip_special=*/true);
}

std::string VLM::extra_repr() const {
  return fmt::format("image_tokens={}, projector_hidden={}", config_.vision.seq_len(), config_.projector_hidden);
}

}  // namespace tessera::models
