// models::LLM: the causal language model, GPT-2 style (LayerNorm, GELU-tanh MLP, learned
// positions, biases) or Llama style (RMSNorm, SwiGLU, RoPE, grouped-query heads, no biases).
// Optional prefix embeddings (a VLM's image tokens) come before the token embeddings; KV caches
// make generation incremental; loss() applies the HF shift.
//
// Parameter names: embed_tokens.weight, embed_positions.weight (gpt2 only),
// layers.<i>.{input_layernorm,self_attn.qkv_proj,self_attn.o_proj,post_attention_layernorm}.*,
// layers.<i>.mlp.{fc1,fc2}.* (gpt2) | layers.<i>.mlp.{gate_proj,up_proj,down_proj}.weight (llama),
// norm.*, lm_head.weight (only when !tie_embeddings: Note [tied lm_head]).
#pragma once

#include <memory>
#include <vector>

#include "tessera/models/config.h"
#include "tessera/nn/attention.h"
#include "tessera/nn/container.h"
#include "tessera/nn/embedding.h"
#include "tessera/nn/linear.h"
#include "tessera/nn/unary_module.h"

namespace tessera::models {

// Note [tied lm_head]
// With tie_embeddings the output projection IS embed_tokens.weight: no lm_head module exists
// (lm_head == nullptr), logits = hidden @ embed_tokens.weight^T. So the tied tensor appears once in
// named_parameters() and once in state_dict() (as embed_tokens.weight, the name HF checkpoints
// keep), and a state dict saved from a tied model loads into one with no key to drop or alias.

struct GenerationOptions {
  int64_t max_new_tokens = 32;
  double temperature = 0.0;  // 0 = greedy (argmax; the first index on ties)
  int64_t top_k = 0;         // sample only among the k most likely tokens (0 = all)
  uint64_t seed = 0;         // sampling is a deterministic function of (seed, logits)
  int64_t eos_id = -1;       // stop after producing this token (it is returned); -1 = none
  bool use_cache = true;     // false recomputes the whole sequence each step (a reference)
};

class LLM : public nn::Module {
 public:
  // Validates the config (Note [config invariants]) and initialises the parameters (init()).
  explicit LLM(const LLMConfig& config);

  // input_ids int64 [B, T] (T may be 0 when prefix_embeds is given); padding_mask bool, true = a
  // real token, of shape [B, T] (text only), [B, P + T] or [B, past + P + T] (past = cached
  // length); the positions it does not cover (past, prefix) count as real. prefix_embeds
  // [B, P, d_model] go before the token embeddings. caches: one nn::KVCache per layer (an empty
  // vector is filled with n_layers fresh caches); positions then start at the cached length.
  // Returns logits [B, P + T, vocab_size].
  Tensor forward(const Tensor& input_ids, const Tensor& padding_mask = {}, const Tensor& prefix_embeds = {},
                 std::vector<nn::KVCache>* caches = nullptr);
  // forward() without the lm_head: the final-normed hidden states [B, P + T, d_model].
  Tensor forward_hidden(const Tensor& input_ids, const Tensor& padding_mask = {}, const Tensor& prefix_embeds = {},
                        std::vector<nn::KVCache>* caches = nullptr);
  // hidden [..., d_model] -> logits [..., vocab_size] (Note [tied lm_head]).
  Tensor lm_logits(const Tensor& hidden);

  // Mean next-token cross entropy with the HF shift: logits [B, S, V] at position t are scored
  // against labels[:, t + 1]; labels int64 [B, S], ignore_index (-100) positions are left out.
  static Tensor loss(const Tensor& logits, const Tensor& labels, int64_t ignore_index = -100);

  // Decodes after `prompt` (batch 1; may be empty when prefix_embeds [1, P, d] is given) under
  // no-grad in eval mode (the training flag is restored), with the KV cache unless
  // !options.use_cache. Returns the new tokens only (eos_id included when it stopped on it); stops
  // at max_new_tokens, at eos_id, or when the sequence reaches max_seq_len.
  std::vector<int64_t> generate(const std::vector<int64_t>& prompt, const GenerationOptions& options = {},
                                const Tensor& prefix_embeds = {});

  // GPT-2 initialisation: every Linear/Embedding weight N(0, 0.02), the residual projections
  // (self_attn.o_proj and mlp.fc2 / mlp.down_proj weights) N(0, 0.02 / sqrt(2 * n_layers)), biases
  // 0, norm weights 1. Draws from the default generator (tessera::manual_seed first).
  void init();
  std::string extra_repr() const override;
  const LLMConfig& config() const { return config_; }

  std::shared_ptr<nn::Embedding> embed_tokens;
  std::shared_ptr<nn::Embedding> embed_positions;  // gpt2 style only
  std::shared_ptr<nn::ModuleList> layers;          // TransformerBlocks
  std::shared_ptr<nn::UnaryModule> norm;           // LayerNorm (gpt2) or RMSNorm (llama)
  std::shared_ptr<nn::Linear> lm_head;             // nullptr when tied (Note [tied lm_head])

 private:
  LLMConfig config_;
};

// Picks the next token from one row of logits (greedy, or temperature / top-k sampling with a
// splitmix64 stream `state`, advanced in place). Exposed for tests.
int64_t sample_token(const std::vector<float>& logits, double temperature, int64_t top_k, uint64_t& state);

}  // namespace tessera::models
