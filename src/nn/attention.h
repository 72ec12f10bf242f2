// nn::MultiheadSelfAttention: fused qkv projection, optional rotary embeddings, grouped-query
// heads, causal and padding masks, and a KV cache for incremental decoding.
#pragma once

#include <memory>

#include "tessera/nn/linear.h"

namespace tessera::nn {

// Note [KV cache]
// k, v are [B, Hkv, capacity, hd] buffers; positions [0, length) hold the keys/values (after rope)
// of every token seen so far. forward() with a cache writes the new tokens' k/v at [length,
// length + S) (growing the buffers, capacity doubling, when needed), attends over [0, length + S)
// and advances length. The buffers are written without autograd: gradients flow to the current
// call's k/v only (decoding runs under no-grad anyway). An empty cache (undefined k) is allocated
// on first use with the input's dtype and device. Reset with `cache = KVCache{}`.
struct KVCache {
  Tensor k, v;
  int64_t length = 0;
};

struct AttentionOptions {
  int64_t d_model = 0, n_heads = 0, n_kv_heads = 0;  // n_kv_heads 0 = n_heads
  bool causal = true;
  bool bias = true;
  bool rope = false;
  double rope_theta = 10000.0;
  double dropout = 0.0;  // on the attention probabilities, training only
};

class MultiheadSelfAttention : public Module {
 public:
  explicit MultiheadSelfAttention(AttentionOptions options);
  // x [B, S, D] -> [B, S, D]. padding_mask: bool [B, Sk] with Sk = (cache ? cache->length : 0) + S,
  // true = a real token (keys that are padding are never attended to by real tokens; the outputs
  // at padding positions are unspecified, see Note [right padding takes the fused path]). Pass an
  // undefined mask when nothing is padded. Query/key positions (for rope and causality) start at
  // cache->length.
  Tensor forward(const Tensor& x, const Tensor& padding_mask = {}, KVCache* cache = nullptr);
  std::string extra_repr() const override;

  int64_t head_dim() const { return options.d_model / options.n_heads; }
  int64_t kv_heads() const { return options.n_kv_heads > 0 ? options.n_kv_heads : options.n_heads; }

  AttentionOptions options;
  std::shared_ptr<Linear> qkv_proj;  // d -> (H + 2 Hkv) * hd, rows ordered q heads, k heads, v heads
  std::shared_ptr<Linear> o_proj;    // H * hd -> d
};

}  // namespace tessera::nn
