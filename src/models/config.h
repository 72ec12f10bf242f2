// Configurations of the built-in models (ViTConfig, LLMConfig, VLMConfig): their fields, checks,
// JSON form (Hugging-Face-like config.json: flat keys, the VLM nests "vision_config" and
// "text_config") and the named presets (tiny-vit, tiny-llm, llama-tiny, tiny-vlm, vit-b16, gpt2-124m).
//
// JSON is read by a small typed reader (config.cpp): every error is a tessera::ValueError naming
// the source (file path or "<string>"), the key, the expected type and the value found; missing
// required keys and unknown keys (probably a typo: the closest known key is suggested) are
// rejected, and the values are checked by validate() (Note [config invariants]).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::models {

// Note [config invariants]
// validate() enforces what the model code relies on, so a model built from a validated config
// never fails on shapes: sizes > 0; d_model % n_heads == 0; n_heads % n_kv_heads == 0; an even
// head dim for RoPE (llama style); image_size % patch_size == 0; 0 <= dropout < 1; norm_eps > 0;
// for a VLM, the text model's max_seq_len holds the image tokens plus at least one text token.

struct ViTConfig {
  int64_t image_size = 32;
  int64_t patch_size = 4;
  int64_t in_channels = 3;
  int64_t d_model = 128;
  int64_t n_layers = 4;
  int64_t n_heads = 4;
  int64_t mlp_hidden = 512;  // JSON default when absent: 4 * d_model
  bool cls_token = false;
  double norm_eps = 1e-6;
  double dropout = 0.0;

  int64_t grid_size() const { return image_size / patch_size; }
  int64_t num_patches() const { return grid_size() * grid_size(); }
  // Tokens out of the encoder: the patches, plus one when cls_token.
  int64_t seq_len() const { return num_patches() + (cls_token ? 1 : 0); }
  int64_t head_dim() const { return d_model / n_heads; }
  int64_t patch_dim() const { return in_channels * patch_size * patch_size; }

  // Throws ValueError naming `source` and the offending field (Note [config invariants]).
  void validate(const std::string& source = "ViTConfig") const;
  // JSON text with "model_type": "tessera-vit" and every field.
  std::string to_json() const;
  static ViTConfig from_json(const std::string& json_text, const std::string& source = "<string>");
  static ViTConfig from_json_file(const std::string& path);
  // Presets: "tiny-vit", "vit-b16".
  static ViTConfig preset(const std::string& name);
  bool operator==(const ViTConfig&) const = default;
};

struct LLMConfig {
  int64_t vocab_size = 512;
  int64_t d_model = 192;
  int64_t n_layers = 4;
  int64_t n_heads = 6;
  int64_t n_kv_heads = 6;     // grouped-query attention when < n_heads; JSON default: n_heads
  int64_t mlp_hidden = 768;   // JSON default: 4 * d_model
  int64_t max_seq_len = 256;  // learned positions (gpt2) / the longest sequence generate() accepts
  // "gpt2": LayerNorm, GELU (tanh) MLP, learned positions, biases.
  // "llama": RMSNorm, SwiGLU MLP, RoPE, no biases.
  std::string style = "gpt2";
  bool tie_embeddings = true;  // lm_head reuses embed_tokens.weight
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  double dropout = 0.0;

  bool is_llama() const { return style == "llama"; }
  int64_t head_dim() const { return d_model / n_heads; }

  void validate(const std::string& source = "LLMConfig") const;
  // JSON text with "model_type": "tessera-llm" and every field.
  std::string to_json() const;
  static LLMConfig from_json(const std::string& json_text, const std::string& source = "<string>");
  static LLMConfig from_json_file(const std::string& path);
  // Presets: "tiny-llm" (gpt2 style), "llama-tiny", "gpt2-124m".
  static LLMConfig preset(const std::string& name);
  bool operator==(const LLMConfig&) const = default;
};

struct VLMConfig {
  ViTConfig vision;
  LLMConfig text;
  int64_t projector_hidden = 192;  // projector MLP: vision.d_model -> projector_hidden -> text.d_model

  void validate(const std::string& source = "VLMConfig") const;
  // {"model_type": "tessera-vlm", "projector_hidden": .., "vision_config": {..}, "text_config": {..}}
  std::string to_json() const;
  static VLMConfig from_json(const std::string& json_text, const std::string& source = "<string>");
  static VLMConfig from_json_file(const std::string& path);
  // Presets: "tiny-vlm".
  static VLMConfig preset(const std::string& name);
  bool operator==(const VLMConfig&) const = default;
};

// Every preset name, and which config type it belongs to ("vit", "llm" or "vlm"; throws a
// ValueError listing the names for an unknown one).
std::vector<std::string> preset_names();
std::string preset_kind(const std::string& name);

}  // namespace tessera::models
