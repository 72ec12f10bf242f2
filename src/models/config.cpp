// The model configs: validation (Note [config invariants]), JSON write/read through a small typed
// reader that names the source, key, expected type and found value, and the named presets.
#include "tessera/models/config.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "tessera/tensor/error.h"

namespace tessera::models {

namespace {

using json = nlohmann::ordered_json;

const char* kViTType = "tessera-vit";
const char* kLLMType = "tessera-llm";
const char* kVLMType = "tessera-vlm";

// Levenshtein distance, for "did you mean" on unknown keys.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number with a fraction";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    default: return "an unsupported value";
  }
}

std::string shown(const json& v) {
  std::string s = v.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// Reads typed fields of one JSON object; remembers which keys were read so that finish() can
// reject the others. `prefix` is the path of this object inside the file ("vision_config.").
class Reader {
 public:
  Reader(const json& obj, std::string source, std::string prefix)
      : obj_(obj), source_(std::move(source)), prefix_(std::move(prefix)) {
    TESSERA_CHECK(obj_.is_object(), ValueError, "config {}: {} must be a JSON object, found {} ({})", source_,
                  prefix_.empty() ? std::string("the top level") : "\"" + prefix_.substr(0, prefix_.size() - 1) + "\"",
                  shown(obj_), type_name(obj_));
  }

  int64_t get_int(const std::string& key, std::optional<int64_t> def = std::nullopt) {
    const json* v = find(key, "an integer", def.has_value());
    if (!v) return *def;
    if (v->is_number_integer()) return v->get<int64_t>();
    if (v->is_number_unsigned()) {
      auto u = v->get<uint64_t>();
      TESSERA_CHECK(u <= static_cast<uint64_t>(INT64_MAX), ValueError,
                    "config {}: key \"{}{}\": expected an integer, found {} (out of the int64 range)", source_, prefix_,
                    key, shown(*v));
      return static_cast<int64_t>(u);
    }
    throw wrong_type(key, "an integer", *v);
  }
  double get_double(const std::string& key, std::optional<double> def = std::nullopt) {
    const json* v = find(key, "a number", def.has_value());
    if (!v) return *def;
    if (v->is_number()) return v->get<double>();
    throw wrong_type(key, "a number", *v);
  }
  bool get_bool(const std::string& key, std::optional<bool> def = std::nullopt) {
    const json* v = find(key, "a boolean (true/false)", def.has_value());
    if (!v) return *def;
    if (v->is_boolean()) return v->get<bool>();
    throw wrong_type(key, "a boolean (true/false)", *v);
  }
  std::string get_string(const std::string& key, std::optional<std::string> def = std::nullopt) {
    const json* v = find(key, "a string", def.has_value());
    if (!v) return *def;
    if (v->is_string()) return v->get<std::string>();
    throw wrong_type(key, "a string", *v);
  }
  const json& get_object(const std::string& key) {
    const json* v = find(key, "an object", false);
    if (!v->is_object()) throw wrong_type(key, "an object", *v);
    return *v;
  }
  bool has(const std::string& key) const { return obj_.contains(key); }

  // Checks "model_type" when present (it is optional on input, always written on output).
  void check_model_type(const std::string& expected, const std::string& hint) {
    std::string t = get_string("model_type", expected);
    TESSERA_CHECK(t == expected, ValueError,
                  "config {}: key \"{}model_type\" is \"{}\", expected \"{}\"{}", source_, prefix_, t, expected, hint);
  }

  // Every key of the object must have been read: an unread one is unknown (probably a typo).
  void finish() const {
    for (const auto& [key, value] : obj_.items()) {
      if (read_.count(key)) continue;
      std::string best;
      size_t best_d = 4;  // suggest only close names
      for (const auto& k : read_) {
        size_t d = edit_distance(key, k);
        if (d < best_d) best_d = d, best = k;
      }
      std::vector<std::string> known(read_.begin(), read_.end());
      throw ValueError(fmt::format("config {}: unknown key \"{}{}\"{}; the known keys are: {}", source_, prefix_, key,
                                   best.empty() ? std::string() : fmt::format(" (did you mean \"{}\"?)", best),
                                   fmt::join(known, ", ")));
    }
  }

 private:
  const json* find(const std::string& key, const char* expected, bool optional) {
    read_.insert(key);
    auto it = obj_.find(key);
    if (it == obj_.end()) {
      TESSERA_CHECK(optional, ValueError, "config {}: missing required key \"{}{}\" ({})", source_, prefix_, key,
                    expected);
      return nullptr;
    }
    return &*it;
  }
  ValueError wrong_type(const std::string& key, const char* expected, const json& v) const {
    return ValueError(fmt::format("config {}: key \"{}{}\": expected {}, found {} ({})", source_, prefix_, key,
                                  expected, shown(v), type_name(v)));
  }

  const json& obj_;
  std::string source_;
  std::string prefix_;
  std::set<std::string> read_;
};

json parse_text(const std::string& text, const std::string& source) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw ValueError(fmt::format("config {}: not valid JSON: {}", source, e.what()));
  }
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  TESSERA_CHECK(f.good(), ValueError, "config {}: cannot open the file (check the path)", path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void check_positive(const std::string& source, const char* key, int64_t v) {
  TESSERA_CHECK(v > 0, ValueError, "config {}: {} = {} must be > 0", source, key, v);
}
void check_dropout(const std::string& source, double p) {
  TESSERA_CHECK(p >= 0.0 && p < 1.0, ValueError, "config {}: dropout = {} must be in [0, 1)", source, p);
}
void check_eps(const std::string& source, double eps) {
  TESSERA_CHECK(eps > 0.0, ValueError, "config {}: norm_eps = {} must be > 0", source, eps);
}

// ---- per-type JSON bodies (shared by the top-level and nested forms) ----

json vit_json(const ViTConfig& c) {
  json j;
  j["model_type"] = kViTType;
  j["image_size"] = c.image_size;
  j["patch_size"] = c.patch_size;
  j["in_channels"] = c.in_channels;
  j["d_model"] = c.d_model;
  j["n_layers"] = c.n_layers;
  j["n_heads"] = c.n_heads;
  j["mlp_hidden"] = c.mlp_hidden;
  j["cls_token"] = c.cls_token;
  j["norm_eps"] = c.norm_eps;
  j["dropout"] = c.dropout;
  return j;
}

ViTConfig vit_from(const json& j, const std::string& source, const std::string& prefix) {
  Reader r(j, source, prefix);
  r.check_model_type(kViTType, "");
  ViTConfig c;
  c.image_size = r.get_int("image_size");
  c.patch_size = r.get_int("patch_size");
  c.in_channels = r.get_int("in_channels", 3);
  c.d_model = r.get_int("d_model");
  c.n_layers = r.get_int("n_layers");
  c.n_heads = r.get_int("n_heads");
  c.mlp_hidden = r.get_int("mlp_hidden", 4 * c.d_model);
  c.cls_token = r.get_bool("cls_token", false);
  c.norm_eps = r.get_double("norm_eps", 1e-6);
  c.dropout = r.get_double("dropout", 0.0);
  r.finish();
  c.validate(prefix.empty() ? source : source + " " + prefix.substr(0, prefix.size() - 1));
  return c;
}

json llm_json(const LLMConfig& c) {
  json j;
  j["model_type"] = kLLMType;
  j["style"] = c.style;
  j["vocab_size"] = c.vocab_size;
  j["d_model"] = c.d_model;
  j["n_layers"] = c.n_layers;
  j["n_heads"] = c.n_heads;
  j["n_kv_heads"] = c.n_kv_heads;
  j["mlp_hidden"] = c.mlp_hidden;
  j["max_seq_len"] = c.max_seq_len;
  j["tie_embeddings"] = c.tie_embeddings;
  j["rope_theta"] = c.rope_theta;
  j["norm_eps"] = c.norm_eps;
  j["dropout"] = c.dropout;
  return j;
}

LLMConfig llm_from(const json& j, const std::string& source, const std::string& prefix) {
  Reader r(j, source, prefix);
  r.check_model_type(kLLMType, "");
  LLMConfig c;
  c.style = r.get_string("style", "gpt2");
  c.vocab_size = r.get_int("vocab_size");
  c.d_model = r.get_int("d_model");
  c.n_layers = r.get_int("n_layers");
  c.n_heads = r.get_int("n_heads");
  c.n_kv_heads = r.get_int("n_kv_heads", c.n_heads);
  c.mlp_hidden = r.get_int("mlp_hidden", 4 * c.d_model);
  c.max_seq_len = r.get_int("max_seq_len");
  c.tie_embeddings = r.get_bool("tie_embeddings", true);
  c.rope_theta = r.get_double("rope_theta", 10000.0);
  c.norm_eps = r.get_double("norm_eps", 1e-5);
  c.dropout = r.get_double("dropout", 0.0);
  r.finish();
  c.validate(prefix.empty() ? source : source + " " + prefix.substr(0, prefix.size() - 1));
  return c;
}

json vlm_json(const VLMConfig& c) {
  json j;
  j["model_type"] = kVLMType;
  j["projector_hidden"] = c.projector_hidden;
  j["vision_config"] = vit_json(c.vision);
  j["text_config"] = llm_json(c.text);
  return j;
}

VLMConfig vlm_from(const json& j, const std::string& source) {
  Reader r(j, source, "");
  r.check_model_type(kVLMType, "");
  VLMConfig c;
  c.projector_hidden = r.get_int("projector_hidden");
  c.vision = vit_from(r.get_object("vision_config"), source, "vision_config.");
  c.text = llm_from(r.get_object("text_config"), source, "text_config.");
  r.finish();
  c.validate(source);
  return c;
}

const char* kHintVLM = " (a VLM config: use VLMConfig::from_json)";

}  // namespace

// ---- validation ----

void ViTConfig::validate(const std::string& source) const {
  check_positive(source, "image_size", image_size);
  check_positive(source, "patch_size", patch_size);
  check_positive(source, "in_channels", in_channels);
  check_positive(source, "d_model", d_model);
  check_positive(source, "n_layers", n_layers);
  check_positive(source, "n_heads", n_heads);
  check_positive(source, "mlp_hidden", mlp_hidden);
  TESSERA_CHECK(image_size % patch_size == 0, ValueError,
                "config {}: image_size = {} is not divisible by patch_size = {}; pick a patch size that divides "
                "the image size",
                source, image_size, patch_size);
  TESSERA_CHECK(d_model % n_heads == 0, ValueError,
                "config {}: d_model = {} is not divisible by n_heads = {} (the head dim must be an integer)", source,
                d_model, n_heads);
  check_eps(source, norm_eps);
  check_dropout(source, dropout);
}

void LLMConfig::validate(const std::string& source) const {
  TESSERA_CHECK(style == "gpt2" || style == "llama", ValueError,
                "config {}: style = \"{}\" is not a known style; expected \"gpt2\" or \"llama\"", source, style);
  check_positive(source, "vocab_size", vocab_size);
  check_positive(source, "d_model", d_model);
  check_positive(source, "n_layers", n_layers);
  check_positive(source, "n_heads", n_heads);
  check_positive(source, "n_kv_heads", n_kv_heads);
  check_positive(source, "mlp_hidden", mlp_hidden);
  check_positive(source, "max_seq_len", max_seq_len);
  TESSERA_CHECK(d_model % n_heads == 0, ValueError,
                "config {}: d_model = {} is not divisible by n_heads = {} (the head dim must be an integer)", source,
                d_model, n_heads);
  TESSERA_CHECK(n_heads % n_kv_heads == 0, ValueError,
                "config {}: n_heads = {} is not divisible by n_kv_heads = {} (each key/value head serves a whole "
                "group of query heads)",
                source, n_heads, n_kv_heads);
  TESSERA_CHECK(!is_llama() || head_dim() % 2 == 0, ValueError,
                "config {}: the llama style uses RoPE, which needs an even head dim; found d_model / n_heads = {}",
                source, head_dim());
  TESSERA_CHECK(rope_theta > 0.0, ValueError, "config {}: rope_theta = {} must be > 0", source, rope_theta);
  check_eps(source, norm_eps);
  check_dropout(source, dropout);
}

void VLMConfig::validate(const std::string& source) const {
  vision.validate(source + " vision_config");
  text.validate(source + " text_config");
  check_positive(source, "projector_hidden", projector_hidden);
  TESSERA_CHECK(text.max_seq_len > vision.seq_len(), ValueError,
                "config {}: text_config.max_seq_len = {} must exceed the {} image tokens of the vision encoder "
                "(they are a prefix of the text sequence); raise max_seq_len",
                source, text.max_seq_len, vision.seq_len());
}

// ---- JSON ----

std::string ViTConfig::to_json() const { return vit_json(*this).dump(2) + "\n"; }
std::string LLMConfig::to_json() const { return llm_json(*this).dump(2) + "\n"; }
std::string VLMConfig::to_json() const { return vlm_json(*this).dump(2) + "\n"; }

ViTConfig ViTConfig::from_json(const std::string& json_text, const std::string& source) {
  json j = parse_text(json_text, source);
  if (j.is_object() && j.value("model_type", json()) == kVLMType)
    throw ValueError(fmt::format("config {}: model_type is \"{}\", expected \"{}\"{}", source, kVLMType, kViTType,
                                 kHintVLM));
  return vit_from(j, source, "");
}
LLMConfig LLMConfig::from_json(const std::string& json_text, const std::string& source) {
  json j = parse_text(json_text, source);
  if (j.is_object() && j.value("model_type", json()) == kVLMType)
    throw ValueError(fmt::format("config {}: model_type is \"{}\", expected \"{}\"{}", source, kVLMType, kLLMType,
                                 kHintVLM));
  return llm_from(j, source, "");
}
VLMConfig VLMConfig::from_json(const std::string& json_text, const std::string& source) {
  return vlm_from(parse_text(json_text, source), source);
}

ViTConfig ViTConfig::from_json_file(const std::string& path) { return from_json(read_text(path), path); }
LLMConfig LLMConfig::from_json_file(const std::string& path) { return from_json(read_text(path), path); }
VLMConfig VLMConfig::from_json_file(const std::string& path) { return from_json(read_text(path), path); }

// ---- presets ----

namespace {

ViTConfig tiny_vit() {
  ViTConfig c;  // the bench encoder: 32x32 images, patch 4 -> 64 tokens, d 128, 4 layers, 4 heads
  c.image_size = 32, c.patch_size = 4, c.d_model = 128, c.n_layers = 4, c.n_heads = 4, c.mlp_hidden = 512;
  return c;
}
LLMConfig tiny_llm() {
  LLMConfig c;  // the bench LLM: vocab 512, d 192, 4 layers, 6 heads; 256 positions >= 64 + 64
  c.style = "gpt2", c.vocab_size = 512, c.d_model = 192, c.n_layers = 4, c.n_heads = 6, c.n_kv_heads = 6;
  c.mlp_hidden = 768, c.max_seq_len = 256, c.tie_embeddings = true, c.norm_eps = 1e-5;
  return c;
}
LLMConfig llama_tiny() {
  LLMConfig c;  // same width as tiny-llm, llama style with GQA (2 key/value heads)
  c.style = "llama", c.vocab_size = 512, c.d_model = 192, c.n_layers = 4, c.n_heads = 6, c.n_kv_heads = 2;
  c.mlp_hidden = 512, c.max_seq_len = 256, c.tie_embeddings = false, c.rope_theta = 10000.0, c.norm_eps = 1e-6;
  return c;
}
ViTConfig vit_b16() {
  ViTConfig c;  // ViT-B/16 (google/vit-base-patch16-224 shapes)
  c.image_size = 224, c.patch_size = 16, c.d_model = 768, c.n_layers = 12, c.n_heads = 12, c.mlp_hidden = 3072;
  c.cls_token = true, c.norm_eps = 1e-12;
  return c;
}
LLMConfig gpt2_124m() {
  LLMConfig c;  // GPT-2 small
  c.style = "gpt2", c.vocab_size = 50257, c.d_model = 768, c.n_layers = 12, c.n_heads = 12, c.n_kv_heads = 12;
  c.mlp_hidden = 3072, c.max_seq_len = 1024, c.tie_embeddings = true, c.norm_eps = 1e-5;
  return c;
}

const std::vector<std::pair<std::string, std::string>>& preset_table() {
  static const std::vector<std::pair<std::string, std::string>> t = {
      {"tiny-vit", "vit"},  {"vit-b16", "vit"},    {"tiny-llm", "llm"},
      {"llama-tiny", "llm"}, {"gpt2-124m", "llm"}, {"tiny-vlm", "vlm"}};
  return t;
}

[[noreturn]] void unknown_preset(const std::string& name, const char* kind) {
  std::vector<std::string> same, all;
  for (const auto& [n, k] : preset_table()) {
    all.push_back(n);
    if (k == kind) same.push_back(n);
  }
  throw ValueError(fmt::format("models: unknown {} preset \"{}\"; the {} presets are: {} (all presets: {})", kind, name,
                               kind, fmt::join(same, ", "), fmt::join(all, ", ")));
}

}  // namespace

ViTConfig ViTConfig::preset(const std::string& name) {
  if (name == "tiny-vit") return tiny_vit();
  if (name == "vit-b16") return vit_b16();
  unknown_preset(name, "vit");
}
LLMConfig LLMConfig::preset(const std::string& name) {
  if (name == "tiny-llm") return tiny_llm();
  if (name == "llama-tiny") return llama_tiny();
  if (name == "gpt2-124m") return gpt2_124m();
  unknown_preset(name, "llm");
}
VLMConfig VLMConfig::preset(const std::string& name) {
  if (name == "tiny-vlm") {
    VLMConfig c;
    c.vision = tiny_vit();
    c.text = tiny_llm();
    c.projector_hidden = 192;
    return c;
  }
  unknown_preset(name, "vlm");
}

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const auto& [n, k] : preset_table()) out.push_back(n);
  return out;
}

std::string preset_kind(const std::string& name) {
  for (const auto& [n, k] : preset_table())
    if (n == name) return k;
  std::vector<std::string> all = preset_names();
  throw ValueError(fmt::format("models: unknown preset \"{}\"; the presets are: {}", name, fmt::join(all, ", ")));
}

}  // namespace tessera::models
