// models::LLM: construction for both styles, the forward pass with prefix embeddings, padding
// masks and KV caches, the shifted loss, GPT-2 initialisation and token generation.
#include "tessera/models/llm.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/ops.h"
#include "tessera/nn/functional.h"
#include "tessera/nn/init.h"
#include "tessera/nn/normalization.h"
#include "tessera/nn/transformer_block.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"

namespace tessera::models {

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Restores a module's training flag when a scope ends (also on an exception).
struct TrainingModeRestore {
  nn::Module& module;
  bool was_training;
  ~TrainingModeRestore() { module.train(was_training); }
};

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The last position's logits of a [1, S, V] tensor, as host floats.
std::vector<float> last_row(const Tensor& logits) {
  Tensor row = logits.select(0, 0).select(0, logits.size(1) - 1).to(Device::cpu(), kFloat32).contiguous();
  const float* p = row.data_ptr<float>();
  return std::vector<float>(p, p + row.numel());
}

}  // namespace

LLM::LLM(const LLMConfig& config) : nn::Module("LLM"), config_(config) {
  config_.validate("LLM");
  const auto& c = config_;
  const bool llama = c.is_llama();
  embed_tokens = register_module("embed_tokens", std::make_shared<nn::Embedding>(c.vocab_size, c.d_model));
  if (!llama)
    embed_positions = register_module("embed_positions", std::make_shared<nn::Embedding>(c.max_seq_len, c.d_model));
  layers = register_module("layers", std::make_shared<nn::ModuleList>());
  for (int64_t i = 0; i < c.n_layers; ++i) {
    nn::TransformerBlockOptions o;
    o.attn.d_model = c.d_model;
    o.attn.n_heads = c.n_heads;
    o.attn.n_kv_heads = c.n_kv_heads;
    o.attn.causal = true;
    o.attn.bias = !llama;
    o.attn.rope = llama;
    o.attn.rope_theta = c.rope_theta;
    o.attn.dropout = c.dropout;
    o.mlp.d_model = c.d_model;
    o.mlp.hidden = c.mlp_hidden;
    o.mlp.act = llama ? nn::Activation::SiLU : nn::Activation::GELUTanh;
    o.mlp.gated = llama;
    o.mlp.bias = !llama;
    o.norm = llama ? nn::NormKind::RMSNorm : nn::NormKind::LayerNorm;
    o.norm_eps = c.norm_eps;
    o.dropout = c.dropout;
    layers->push_back(std::make_shared<nn::TransformerBlock>(o));
  }
  if (llama)
    norm = register_module("norm", std::make_shared<nn::RMSNorm>(c.d_model, c.norm_eps));
  else
    norm = register_module("norm", std::make_shared<nn::LayerNorm>(c.d_model, c.norm_eps));
  if (!c.tie_embeddings)
    lm_head = register_module("lm_head", std::make_shared<nn::Linear>(c.d_model, c.vocab_size, /*bias=*/false));
  init();
}

void LLM::init() {
  constexpr double kStd = 0.02;
  const double residual_std = kStd / std::sqrt(2.0 * double(config_.n_layers));
  for (auto& [name, p] : named_parameters()) {
    Tensor t = p;
    if (t.dim() >= 2) {
      const bool residual = ends_with(name, "self_attn.o_proj.weight") || ends_with(name, "mlp.fc2.weight") ||
                            ends_with(name, "mlp.down_proj.weight");
      nn::init::normal_(t, 0.0, residual ? residual_std : kStd);
    } else if (ends_with(name, "bias")) {
      nn::init::zeros_(t);
    } else {
      nn::init::ones_(t);  // LayerNorm / RMSNorm weights
    }
  }
}

Tensor LLM::forward_hidden(const Tensor& input_ids, const Tensor& padding_mask, const Tensor& prefix_embeds,
                           std::vector<nn::KVCache>* caches) {
  const char* op = "LLM.forward";
  const auto& c = config_;
  TESSERA_CHECK(input_ids.defined() && input_ids.dim() == 2, ShapeError,
                "{}: expected input_ids of shape [B, T], got {}", op,
                input_ids.defined() ? shape_str(input_ids.sizes()) : std::string("undefined"));
  TESSERA_CHECK(input_ids.dtype() == kInt64 || input_ids.dtype() == kInt32, DTypeError,
                "{}: expected int64 input_ids, got {}", op, dtype_name(input_ids.dtype()));
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  int64_t P = 0;
  if (prefix_embeds.defined()) {
    TESSERA_CHECK(prefix_embeds.dim() == 3 && prefix_embeds.size(0) == B && prefix_embeds.size(2) == c.d_model,
                  ShapeError, "{}: expected prefix_embeds of shape [{}, P, {}] (batch of input_ids, d_model), got {}",
                  op, B, c.d_model, shape_str(prefix_embeds.sizes()));
    TESSERA_CHECK(prefix_embeds.is_floating_point(), DTypeError, "{}: expected floating-point prefix_embeds, got {}",
                  op, dtype_name(prefix_embeds.dtype()));
    P = prefix_embeds.size(1);
  }
  const int64_t S = P + T;
  TESSERA_CHECK(S > 0, ShapeError, "{}: nothing to run: input_ids {} and no prefix_embeds", op,
                shape_str(input_ids.sizes()));
  if (caches) {
    if (caches->empty()) caches->resize(size_t(c.n_layers));
    TESSERA_CHECK(int64_t(caches->size()) == c.n_layers, ValueError,
                  "{}: got {} KV caches for {} layers (pass an empty vector to have them created)", op,
                  caches->size(), c.n_layers);
  }
  const int64_t past = caches ? (*caches)[0].length : 0;
  TESSERA_CHECK(c.is_llama() || past + S <= c.max_seq_len, ValueError,
                "{}: {} cached + {} prefix + {} new tokens exceed max_seq_len = {} (the learned position table); "
                "shorten the input or raise max_seq_len",
                op, past, P, T, c.max_seq_len);

  const Tensor& w = embed_tokens->weight;
  Tensor x;
  if (T > 0) x = embed_tokens->forward(input_ids.to(w.device()));
  if (P > 0) {
    Tensor pre = prefix_embeds.to(w.device(), w.dtype());
    x = T > 0 ? cat({pre, x}, 1) : pre;
  }
  if (embed_positions) {
    Tensor pos = tessera::arange(past, past + S, 1, TensorOptions(kInt64).device(w.device()));
    x = x + embed_positions->forward(pos);  // [S, d] broadcast over the batch
  }
  x = nn::functional::dropout(x, c.dropout, is_training());

  // The key mask [B, past + S]: what the caller gave, with real tokens prepended for the positions
  // it does not cover; dropped when every token is real (the fused causal kernel then runs).
  Tensor mask;
  if (padding_mask.defined()) {
    const int64_t n = padding_mask.dim() == 2 ? padding_mask.size(1) : -1;
    TESSERA_CHECK(padding_mask.dtype() == kBool && padding_mask.dim() == 2 && padding_mask.size(0) == B &&
                      (n == T || n == S || n == past + S),
                  ShapeError,
                  "{}: expected a bool padding_mask of shape [{}, {}] (text), [{}, {}] (prefix + text) or [{}, {}] "
                  "(cached + prefix + text), got {} {}",
                  op, B, T, B, S, B, past + S, shape_str(padding_mask.sizes()), dtype_name(padding_mask.dtype()));
    mask = padding_mask.to(w.device());
    if (n < past + S) mask = cat({tessera::ones({B, past + S - n}, TensorOptions(kBool).device(w.device())), mask}, 1);
    if (mask.to(kInt64).min().item<int64_t>() == 1) mask = Tensor();
  }
  for (int64_t i = 0; i < layers->size(); ++i)
    x = layers->at<nn::TransformerBlock>(i)->forward(x, mask, caches ? &(*caches)[size_t(i)] : nullptr);
  return norm->forward(x);
}

Tensor LLM::lm_logits(const Tensor& hidden) {
  if (lm_head) return lm_head->forward(hidden);
  return nn::functional::linear(hidden, embed_tokens->weight);  // Note [tied lm_head]
}

Tensor LLM::forward(const Tensor& input_ids, const Tensor& padding_mask, const Tensor& prefix_embeds,
                    std::vector<nn::KVCache>* caches) {
  return lm_logits(forward_hidden(input_ids, padding_mask, prefix_embeds, caches));
}

Tensor LLM::loss(const Tensor& logits, const Tensor& labels, int64_t ignore_index) {
  const char* op = "LLM.loss";
  TESSERA_CHECK(logits.defined() && labels.defined() && logits.dim() == 3 && labels.dim() == 2 &&
                    labels.size(0) == logits.size(0) && labels.size(1) == logits.size(1),
                ShapeError, "{}: expected logits [B, S, V] and labels [B, S], got {} and {}", op,
                logits.defined() ? shape_str(logits.sizes()) : std::string("undefined"),
                labels.defined() ? shape_str(labels.sizes()) : std::string("undefined"));
  TESSERA_CHECK(labels.dtype() == kInt64 || labels.dtype() == kInt32, DTypeError, "{}: expected int64 labels, got {}",
                op, dtype_name(labels.dtype()));
  const int64_t S = logits.size(1), V = logits.size(2);
  TESSERA_CHECK(S >= 2, ShapeError, "{}: the shifted loss needs at least 2 positions, got logits {}", op,
                shape_str(logits.sizes()));
  Tensor lg = logits.slice(1, 0, S - 1).reshape({-1, V});
  Tensor lb = labels.slice(1, 1, S).reshape({-1}).to(logits.device(), kInt64);
  return cross_entropy(lg, lb, ignore_index);
}

int64_t sample_token(const std::vector<float>& logits, double temperature, int64_t top_k, uint64_t& state) {
  TESSERA_CHECK(!logits.empty(), ValueError, "sample_token: empty logits");
  TESSERA_CHECK(temperature >= 0.0 && std::isfinite(temperature), ValueError,
                "sample_token: temperature must be a finite value >= 0 (0 = greedy), got {}", temperature);
  TESSERA_CHECK(top_k >= 0, ValueError, "sample_token: top_k must be >= 0 (0 = all tokens), got {}", top_k);
  const int64_t n = int64_t(logits.size());
  if (temperature == 0.0) return int64_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<double> z(logits.begin(), logits.end());
  for (double& v : z) v /= temperature;
  double cutoff = -std::numeric_limits<double>::infinity();
  if (top_k > 0 && top_k < n) {  // keep the values >= the k-th largest
    std::vector<double> sorted = z;
    std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(), std::greater<double>());
    cutoff = sorted[size_t(top_k - 1)];
  }
  double mx = -std::numeric_limits<double>::infinity();
  for (double v : z)
    if (v >= cutoff) mx = std::max(mx, v);
  double total = 0.0;
  for (double& v : z) {
    v = v >= cutoff ? std::exp(v - mx) : 0.0;
    total += v;
  }
  const double u = double(splitmix64(state) >> 11) * 0x1.0p-53 * total;
  double acc = 0.0;
  int64_t last = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (z[size_t(i)] == 0.0) continue;
    acc += z[size_t(i)];
    last = i;
    if (u < acc) return i;
  }
  return last;
}

std::vector<int64_t> LLM::generate(const std::vector<int64_t>& prompt, const GenerationOptions& opt,
                                   const Tensor& prefix_embeds) {
  const char* op = "LLM.generate";
  const auto& c = config_;
  int64_t P = 0;
  if (prefix_embeds.defined()) {
    TESSERA_CHECK(prefix_embeds.dim() == 3 && prefix_embeds.size(0) == 1, ShapeError,
                  "{}: expected prefix_embeds of shape [1, P, {}] (one sequence), got {}", op, c.d_model,
                  shape_str(prefix_embeds.sizes()));
    P = prefix_embeds.size(1);
  }
  TESSERA_CHECK(!prompt.empty() || P > 0, ValueError, "{}: empty prompt and no prefix_embeds: nothing to continue",
                op);
  for (int64_t t : prompt)
    TESSERA_CHECK(t >= 0 && t < c.vocab_size, IndexError, "{}: prompt token {} is outside the vocabulary [0, {})", op,
                  t, c.vocab_size);
  TESSERA_CHECK(P + int64_t(prompt.size()) <= c.max_seq_len, ValueError,
                "{}: prefix ({}) + prompt ({}) tokens exceed max_seq_len = {}", op, P, prompt.size(), c.max_seq_len);
  std::vector<int64_t> out;
  if (opt.max_new_tokens <= 0) return out;

  NoGradGuard no_grad;
  TrainingModeRestore restore{*this, is_training()};
  eval();
  const Device dev = embed_tokens->weight.device();
  auto ids_tensor = [&](const std::vector<int64_t>& ids) {
    return from_vector<int64_t>(ids, {1, int64_t(ids.size())}).to(dev);
  };
  std::vector<int64_t> seq = prompt;
  std::vector<nn::KVCache> caches;
  Tensor logits = opt.use_cache ? forward(ids_tensor(seq), {}, prefix_embeds, &caches)
                                : forward(ids_tensor(seq), {}, prefix_embeds);
  uint64_t state = opt.seed;
  while (true) {
    const int64_t tok = sample_token(last_row(logits), opt.temperature, opt.top_k, state);
    out.push_back(tok);
    seq.push_back(tok);
    if (tok == opt.eos_id || int64_t(out.size()) >= opt.max_new_tokens) break;
    if (P + int64_t(seq.size()) > c.max_seq_len) break;  // no position left to feed `tok` at
    logits = opt.use_cache ? forward(ids_tensor({tok}), {}, {}, &caches) : forward(ids_tensor(seq), {}, prefix_embeds);
  }
  return out;
}

std::string LLM::extra_repr() const {
  return fmt::format("style={}, vocab_size={}, d_model={}, n_layers={}, n_heads={}, n_kv_heads={}, tied={}",
                     config_.style, config_.vocab_size, config_.d_model, config_.n_layers, config_.n_heads,
                     config_.n_kv_heads, config_.tie_embeddings);
}

}  // namespace tessera::models
