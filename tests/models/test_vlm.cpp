// models::VLM: names, text-only logits, the loss skipping image and pad positions, the image
// mattering, captioning (cached = uncached greedy), a few SGD steps on a ShapesDataset batch, and
// the parameter counts of the presets (docs/models.md states them).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include <tessera/models/data/loader.h>
#include <tessera/models/data/shapes.h>
#include <tessera/models/vlm.h>
#include <tessera/tessera.h>

using namespace tessera;
using namespace tessera::models;

namespace {

VLMConfig small_vlm() {
  VLMConfig c;
  c.vision.image_size = 16, c.vision.patch_size = 8, c.vision.d_model = 16, c.vision.n_layers = 1;
  c.vision.n_heads = 2, c.vision.mlp_hidden = 32;
  c.text.vocab_size = 260, c.text.d_model = 24, c.text.n_layers = 2, c.text.n_heads = 4, c.text.n_kv_heads = 4;
  c.text.mlp_hidden = 48, c.text.max_seq_len = 40;
  c.projector_hidden = 20;
  return c;
}

data::VLMBatch shapes_batch(int64_t B, int64_t T, int64_t image_size) {
  data::ShapesConfig sc;
  sc.image_size = image_size;
  sc.max_shapes = 1;
  sc.seed = 3;
  data::ShapesDataset ds(sc, data::Split::Train, 64);
  std::vector<data::CaptionSample> samples;
  for (int64_t i = 0; i < B; ++i) samples.push_back(ds.get(i));
  return data::collate_captions(samples, T);
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(VLM, NamesAndShapes) {
  manual_seed(1);
  VLM m(small_vlm());
  std::set<std::string> names;
  for (const auto& [n, t] : m.state_dict()) names.insert(n);
  for (const char* n : {"vision.pos_embed", "vision.patch_embed.proj.weight", "vision.layers.0.self_attn.qkv_proj.weight",
                        "vision.norm.weight", "projector.fc1.weight", "projector.fc1.bias", "projector.fc2.weight",
                        "language_model.embed_tokens.weight", "language_model.layers.1.mlp.fc2.bias",
                        "language_model.norm.weight"})
    EXPECT_TRUE(names.count(n)) << n;
  data::VLMBatch b = shapes_batch(3, 24, 16);
  Tensor logits = m.forward(b);
  EXPECT_EQ(logits.sizes(), (Shape{3, 24, 260}));
  EXPECT_EQ(m.encode_images(b.images).sizes(), (Shape{3, 4, 24}));
  // The text logits are the LLM's logits at positions P.. of [image tokens, text].
  NoGradGuard g;
  Tensor full = m.language_model->forward(b.input_ids, b.attention_mask, m.encode_images(b.images));
  EXPECT_LT(max_abs_diff(full.slice(1, 4), m.forward(b)), 1e-5);
}

TEST(VLM, LossCoversTextTokensOnly) {
  manual_seed(2);
  VLM m(small_vlm());
  data::VLMBatch b = shapes_batch(3, 40 - 4, 16);
  Tensor loss = m.loss(b);
  // By hand: text position t predicts labels[t + 1]; -100 (pad) is skipped; image positions have
  // no logits at all.
  Tensor logits = m.forward(b).detach().to(kFloat64);
  double total = 0;
  int64_t n = 0;
  const int64_t T = b.input_ids.size(1);
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t t = 0; t + 1 < T; ++t) {
      int64_t y = b.labels[i][t + 1].item<int64_t>();
      if (y == -100) continue;
      Tensor row = logits[i][t];
      total += (row.logsumexp({0}) - row[y]).item<double>();
      ++n;
    }
  ASSERT_GT(n, 0);
  EXPECT_LT(n, 3 * (T - 1));  // the batch does have padding
  EXPECT_NEAR(loss.item<double>(), total / double(n), 1e-5);
  // Whatever sits at the pad positions (ids, and their labels being -100) does not change the loss.
  data::VLMBatch b2 = b;
  b2.input_ids = b.input_ids.clone();
  {
    NoGradGuard g;
    Tensor noise = randint(0, 256, b.input_ids.sizes());
    b2.input_ids = where(b.attention_mask, b.input_ids, noise);
  }
  EXPECT_FALSE(b2.input_ids.equal(b.input_ids));
  EXPECT_NEAR(m.loss(b2).item<double>(), loss.item<double>(), 1e-6);
  // The image does matter.
  data::VLMBatch b3 = b;
  b3.images = b.images.neg();
  EXPECT_GT(std::abs(m.loss(b3).item<double>() - loss.item<double>()), 1e-6);
  // Gradients reach all three parts.
  m.zero_grad();
  loss.backward();
  for (const char* n : {"vision.patch_embed.proj.weight", "projector.fc1.weight", "language_model.embed_tokens.weight"})
    EXPECT_GT(m.get(n).grad().abs().max().item<double>(), 0.0) << n;
}

TEST(VLM, CaptionUsesTheCacheAndMatchesUncachedGreedy) {
  manual_seed(4);
  VLM m(small_vlm());
  data::VLMBatch b = shapes_batch(1, 24, 16);
  Tensor image = b.images[0];
  data::ByteTokenizer tok;
  std::string cap = m.caption(image, tok, /*max_len=*/12);
  GenerationOptions o;
  o.max_new_tokens = 12;
  o.eos_id = data::kEos;
  auto cached = m.generate(image, {data::kBos}, o);
  o.use_cache = false;
  auto uncached = m.generate(image, {data::kBos}, o);
  EXPECT_EQ(cached, uncached);
  EXPECT_EQ(cap, tok.decode(cached));
  EXPECT_LE(cached.size(), 12u);
  EXPECT_TRUE(m.is_training());  // restored after generation
  // Sampling is reproducible from the seed.
  EXPECT_EQ(m.caption(image, tok, 12, 1.0, 7), m.caption(image, tok, 12, 1.0, 7));
  EXPECT_THROW(m.caption(randn({2, 3, 16, 16}), tok, 4), ShapeError);  // one image only
}

TEST(VLM, SGDStepsReduceTheLossOnAShapesBatch) {
  manual_seed(5);
  VLM m(small_vlm());
  data::VLMBatch b = shapes_batch(4, 24, 16);
  double first = 0, last = 0;
  for (int step = 0; step < 25; ++step) {
    m.zero_grad();
    Tensor loss = m.loss(b);
    loss.backward();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
    NoGradGuard g;
    for (auto& p : m.parameters()) {
      Tensor t = p;
      t.sub_(p.grad(), 0.3);
    }
  }
  EXPECT_LT(last, 0.6 * first) << "first " << first << " last " << last;
}

TEST(VLM, Errors) {
  VLM m(small_vlm());
  data::VLMBatch b = shapes_batch(2, 24, 16);
  data::VLMBatch bad = b;
  bad.images = b.images.slice(0, 0, 1);
  EXPECT_THROW(m.forward(bad), ShapeError);
  bad = b;
  bad.labels = b.labels.slice(1, 0, 5);
  EXPECT_THROW(m.loss(bad), ShapeError);
  bad = b;
  bad.images = randn({2, 3, 32, 32});  // not the configured image size
  EXPECT_THROW(m.forward(bad), ShapeError);
  VLMConfig c = small_vlm();
  c.text.max_seq_len = 4;  // no room after the 4 image tokens
  EXPECT_THROW(VLM{c}, ValueError);
}

// The parameter counts of the presets (stated in docs/models.md), computed from the built models.
TEST(VLM, PresetParameterCounts) {
  auto count = [](const std::string& name) -> int64_t {
    std::string kind = preset_kind(name);
    if (kind == "vit") return ViT(ViTConfig::preset(name)).num_parameters();
    if (kind == "llm") return LLM(LLMConfig::preset(name)).num_parameters();
    return VLM(VLMConfig::preset(name)).num_parameters();
  };
  std::map<std::string, int64_t> counts;
  for (const auto& name : preset_names()) {
    if (name == "vit-b16" || name == "gpt2-124m") continue;  // large: checked by formula below
    counts[name] = count(name);
    std::printf("  %-10s %lld parameters\n", name.c_str(), (long long)counts[name]);
  }
  // Closed forms for the large presets (no need to allocate them here).
  auto vit_params = [](const ViTConfig& c) {
    const int64_t d = c.d_model, h = c.mlp_hidden;
    const int64_t block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * h + h) + (h * d + d);
    return (c.patch_dim() * d + d) + c.seq_len() * d + (c.cls_token ? d : 0) + c.n_layers * block + 2 * d;
  };
  auto gpt2_params = [](const LLMConfig& c) {
    const int64_t d = c.d_model, h = c.mlp_hidden;
    const int64_t block = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * h + h) + (h * d + d);
    return c.vocab_size * d + c.max_seq_len * d + c.n_layers * block + 2 * d;
  };
  EXPECT_EQ(vit_params(ViTConfig::preset("tiny-vit")), counts["tiny-vit"]);
  EXPECT_EQ(gpt2_params(LLMConfig::preset("tiny-llm")), counts["tiny-llm"]);
  // The VLM is its parts plus the projector.
  const VLMConfig v = VLMConfig::preset("tiny-vlm");
  EXPECT_EQ(counts["tiny-vlm"], counts["tiny-vit"] + counts["tiny-llm"] +
                                    (v.vision.d_model + 1) * v.projector_hidden + (v.projector_hidden + 1) * v.text.d_model);
  const int64_t vitb = vit_params(ViTConfig::preset("vit-b16"));
  const int64_t gpt2 = gpt2_params(LLMConfig::preset("gpt2-124m"));
  std::printf("  vit-b16    %lld parameters (formula)\n  gpt2-124m  %lld parameters (formula)\n", (long long)vitb,
              (long long)gpt2);
  EXPECT_EQ(gpt2, 124439808);  // GPT-2 small as published (tied head)
  EXPECT_EQ(vitb, 85798656);   // ViT-B/16 encoder without the classifier head
}
