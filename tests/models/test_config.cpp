// Model configs: presets, JSON round trips (file and string), and each error of the typed reader
// and of validate() (missing key, wrong type, unknown key with a suggestion, invalid values).
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <tessera/models/config.h>
#include <tessera/tensor/error.h>

using namespace tessera;
using namespace tessera::models;
using json = nlohmann::json;

namespace {

// Runs `fn`, expects a ValueError, and returns its message.
template <typename F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const ValueError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ValueError";
  return "";
}

#define EXPECT_HAS(haystack, needle) \
  EXPECT_NE(std::string(haystack).find(needle), std::string::npos) << "'" << (needle) << "' not in: " << (haystack)

}  // namespace

TEST(Config, PresetsAreValidAndMatchTheBenchWorkload) {
  for (const auto& name : preset_names()) {
    std::string kind = preset_kind(name);
    if (kind == "vit") ViTConfig::preset(name).validate();
    if (kind == "llm") LLMConfig::preset(name).validate();
    if (kind == "vlm") VLMConfig::preset(name).validate();
  }
  VLMConfig c = VLMConfig::preset("tiny-vlm");
  EXPECT_EQ(c.vision.image_size, 32);
  EXPECT_EQ(c.vision.patch_size, 4);
  EXPECT_EQ(c.vision.seq_len(), 64);
  EXPECT_EQ(c.vision.d_model, 128);
  EXPECT_EQ(c.vision.n_layers, 4);
  EXPECT_EQ(c.vision.n_heads, 4);
  EXPECT_EQ(c.text.vocab_size, 512);
  EXPECT_EQ(c.text.d_model, 192);
  EXPECT_EQ(c.text.n_layers, 4);
  EXPECT_EQ(c.text.n_heads, 6);
  EXPECT_GE(c.text.max_seq_len, 64 + 64);
  EXPECT_EQ(LLMConfig::preset("llama-tiny").style, "llama");
  EXPECT_EQ(LLMConfig::preset("tiny-llm").style, "gpt2");
  EXPECT_EQ(ViTConfig::preset("vit-b16").seq_len(), 197);
  EXPECT_HAS(error_of([] { LLMConfig::preset("tiny-vit"); }), "unknown llm preset \"tiny-vit\"");
  EXPECT_HAS(error_of([] { preset_kind("gpt3"); }), "gpt2-124m");
}

TEST(Config, JsonRoundTrip) {
  ViTConfig v = ViTConfig::preset("vit-b16");
  EXPECT_EQ(ViTConfig::from_json(v.to_json()), v);
  LLMConfig l = LLMConfig::preset("llama-tiny");
  EXPECT_EQ(LLMConfig::from_json(l.to_json()), l);
  VLMConfig m = VLMConfig::preset("tiny-vlm");
  m.text.dropout = 0.125;
  m.vision.cls_token = true;
  EXPECT_EQ(VLMConfig::from_json(m.to_json()), m);
  // HF-like layout: flat keys, a model_type, nested vision_config/text_config for the VLM.
  json j = json::parse(m.to_json());
  EXPECT_EQ(j["model_type"], "tessera-vlm");
  EXPECT_EQ(j["vision_config"]["d_model"], 128);
  EXPECT_EQ(j["text_config"]["style"], "gpt2");

  auto path = std::filesystem::temp_directory_path() / "tessera_test_vlm_config.json";
  {
    std::ofstream f(path);
    f << m.to_json();
  }
  EXPECT_EQ(VLMConfig::from_json_file(path.string()), m);
  std::filesystem::remove(path);
}

TEST(Config, OptionalKeysTakeDefaults) {
  LLMConfig c = LLMConfig::from_json(R"({"vocab_size": 100, "d_model": 64, "n_layers": 2, "n_heads": 4,
                                         "max_seq_len": 32})");
  EXPECT_EQ(c.style, "gpt2");
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.mlp_hidden, 256);
  EXPECT_TRUE(c.tie_embeddings);
  ViTConfig v = ViTConfig::from_json(R"({"image_size": 8, "patch_size": 4, "d_model": 16, "n_layers": 1,
                                         "n_heads": 2})");
  EXPECT_EQ(v.in_channels, 3);
  EXPECT_EQ(v.mlp_hidden, 64);
  EXPECT_FALSE(v.cls_token);
}

TEST(Config, ReaderErrorsNameSourceKeyTypeAndValue) {
  const std::string base = R"("image_size": 8, "patch_size": 4, "n_layers": 1, "n_heads": 2)";
  // missing required key
  auto msg = error_of([&] { ViTConfig::from_json("{" + base + "}", "cfg.json"); });
  EXPECT_HAS(msg, "cfg.json");
  EXPECT_HAS(msg, "missing required key \"d_model\"");
  // wrong type: a string where an integer is expected
  msg = error_of([&] { ViTConfig::from_json("{" + base + R"(, "d_model": "16"})", "cfg.json"); });
  EXPECT_HAS(msg, "key \"d_model\": expected an integer, found \"16\" (a string)");
  // a fraction is not an integer
  msg = error_of([&] { ViTConfig::from_json("{" + base + R"(, "d_model": 16.5})"); });
  EXPECT_HAS(msg, "expected an integer, found 16.5");
  // a bool must be a bool
  msg = error_of([&] { ViTConfig::from_json("{" + base + R"(, "d_model": 16, "cls_token": 1})"); });
  EXPECT_HAS(msg, "key \"cls_token\": expected a boolean");
  // unknown key, with the close known key suggested
  msg = error_of([&] { ViTConfig::from_json("{" + base + R"(, "d_model": 16, "d_modle": 3})", "cfg.json"); });
  EXPECT_HAS(msg, "unknown key \"d_modle\"");
  EXPECT_HAS(msg, "did you mean \"d_model\"?");
  // not JSON / not an object
  EXPECT_HAS(error_of([] { ViTConfig::from_json("{\"image_size\": ", "broken.json"); }), "broken.json: not valid JSON");
  EXPECT_HAS(error_of([] { LLMConfig::from_json("[1, 2]"); }), "must be a JSON object");
  // wrong model type
  EXPECT_HAS(error_of([] { ViTConfig::from_json(LLMConfig::preset("tiny-llm").to_json()); }),
             "expected \"tessera-vit\"");
  EXPECT_HAS(error_of([] { LLMConfig::from_json(VLMConfig::preset("tiny-vlm").to_json()); }),
             "VLMConfig::from_json");
  // missing file
  EXPECT_HAS(error_of([] { LLMConfig::from_json_file("/nonexistent/config.json"); }),
             "/nonexistent/config.json: cannot open");
}

TEST(Config, NestedErrorsNameThePath) {
  json j = json::parse(VLMConfig::preset("tiny-vlm").to_json());
  j["text_config"]["n_head"] = 4;
  auto msg = error_of([&] { VLMConfig::from_json(j.dump(), "vlm.json"); });
  EXPECT_HAS(msg, "vlm.json");
  EXPECT_HAS(msg, "unknown key \"text_config.n_head\"");
  EXPECT_HAS(msg, "did you mean \"n_heads\"?");
  j = json::parse(VLMConfig::preset("tiny-vlm").to_json());
  j["vision_config"]["patch_size"] = "4";
  EXPECT_HAS(error_of([&] { VLMConfig::from_json(j.dump()); }), "key \"vision_config.patch_size\": expected an integer");
  j = json::parse(VLMConfig::preset("tiny-vlm").to_json());
  j.erase("vision_config");
  EXPECT_HAS(error_of([&] { VLMConfig::from_json(j.dump()); }), "missing required key \"vision_config\"");
  j = json::parse(VLMConfig::preset("tiny-vlm").to_json());
  j["text_config"]["max_seq_len"] = 64;  // the 64 image tokens leave no room for text
  EXPECT_HAS(error_of([&] { VLMConfig::from_json(j.dump()); }), "must exceed the 64 image tokens");
}

TEST(Config, InvalidValues) {
  LLMConfig c = LLMConfig::preset("tiny-llm");
  c.d_model = 190;
  EXPECT_HAS(error_of([&] { c.validate("x.json"); }), "x.json: d_model = 190 is not divisible by n_heads = 6");
  c = LLMConfig::preset("llama-tiny");
  c.n_kv_heads = 4;
  EXPECT_HAS(error_of([&] { c.validate(); }), "n_heads = 6 is not divisible by n_kv_heads = 4");
  c = LLMConfig::preset("llama-tiny");
  c.d_model = 6 * 5;  // head dim 5 cannot be rotated in pairs
  EXPECT_HAS(error_of([&] { c.validate(); }), "even head dim");
  c = LLMConfig::preset("tiny-llm");
  c.style = "gpt3";
  EXPECT_HAS(error_of([&] { c.validate(); }), "style = \"gpt3\"");
  c = LLMConfig::preset("tiny-llm");
  c.dropout = 1.0;
  EXPECT_HAS(error_of([&] { c.validate(); }), "dropout = 1 must be in [0, 1)");
  c = LLMConfig::preset("tiny-llm");
  c.vocab_size = 0;
  EXPECT_HAS(error_of([&] { c.validate(); }), "vocab_size = 0 must be > 0");
  ViTConfig v = ViTConfig::preset("tiny-vit");
  v.patch_size = 5;
  EXPECT_HAS(error_of([&] { v.validate(); }), "image_size = 32 is not divisible by patch_size = 5");
  // from_json validates too
  json j = json::parse(LLMConfig::preset("tiny-llm").to_json());
  j["n_heads"] = 5;
  j["n_kv_heads"] = 5;
  EXPECT_HAS(error_of([&] { LLMConfig::from_json(j.dump(), "bad.json"); }), "bad.json: d_model = 192");
}
