// nn::MultiheadSelfAttention: projections, rope, KV cache and the choice between the fused
// kernel (no mask needed) and the masked path of functional::scaled_dot_product_attention.
#include "tessera/nn/attention.h"

#include <algorithm>
#include <memory>

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/ops.h"
#include "tessera/nn/functional.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::nn {

MultiheadSelfAttention::MultiheadSelfAttention(AttentionOptions o) : Module("MultiheadSelfAttention"), options(o) {
  TESSERA_CHECK(o.d_model > 0 && o.n_heads > 0 && o.d_model % o.n_heads == 0, ValueError,
                "MultiheadSelfAttention: d_model ({}) must be a positive multiple of n_heads ({})", o.d_model,
                o.n_heads);
  TESSERA_CHECK(o.n_kv_heads >= 0 && o.n_heads % kv_heads() == 0, ValueError,
                "MultiheadSelfAttention: n_heads ({}) must be a multiple of n_kv_heads ({})", o.n_heads, o.n_kv_heads);
  TESSERA_CHECK(o.dropout >= 0.0 && o.dropout <= 1.0, ValueError,
                "MultiheadSelfAttention: dropout probability has to be between 0 and 1, but got {}", o.dropout);
  TESSERA_CHECK(!o.rope || head_dim() % 2 == 0, ValueError,
                "MultiheadSelfAttention: rope needs an even head_dim, got {} (d_model {} / n_heads {})", head_dim(),
                o.d_model, o.n_heads);
  const int64_t hd = head_dim();
  qkv_proj = register_module("qkv_proj", std::make_shared<Linear>(o.d_model, (o.n_heads + 2 * kv_heads()) * hd, o.bias));
  o_proj = register_module("o_proj", std::make_shared<Linear>(o.n_heads * hd, o.d_model, o.bias));
}

namespace {

// Writes k_new [B, Hkv, S, hd] at [length, length + S) of the cache buffers, growing them.
void cache_append(KVCache& c, const Tensor& k_new, const Tensor& v_new) {
  const int64_t B = k_new.size(0), Hkv = k_new.size(1), S = k_new.size(2), hd = k_new.size(3);
  const int64_t need = c.length + S;
  if (c.k.defined()) {
    TESSERA_CHECK(c.k.dim() == 4 && c.k.size(0) == B && c.k.size(1) == Hkv && c.k.size(3) == hd &&
                      c.v.defined() && c.v.sizes().equals(c.k.sizes()),
                  ShapeError, "MultiheadSelfAttention.forward: KV cache of shape {} does not fit keys {}",
                  shape_str(c.k.sizes()), shape_str(k_new.sizes()));
    TESSERA_CHECK(c.k.dtype() == k_new.dtype() && c.k.device() == k_new.device(), DTypeError,
                  "MultiheadSelfAttention.forward: KV cache is {} on {}, keys are {} on {}", dtype_name(c.k.dtype()),
                  c.k.device().str(), dtype_name(k_new.dtype()), k_new.device().str());
  } else {
    TESSERA_CHECK(c.length == 0, ValueError, "MultiheadSelfAttention.forward: KV cache has length {} but no buffers",
                  c.length);
  }
  const int64_t cap = c.k.defined() ? c.k.size(2) : 0;
  TESSERA_CHECK(c.length >= 0 && c.length <= cap, ValueError,
                "MultiheadSelfAttention.forward: KV cache length {} exceeds its capacity {}", c.length, cap);
  if (need > cap) {
    const int64_t new_cap = std::max<int64_t>(need, 2 * cap);
    Tensor k2 = raw::empty({B, Hkv, new_cap, hd}, k_new.options());
    Tensor v2 = raw::empty({B, Hkv, new_cap, hd}, v_new.options());
    if (c.length > 0) {
      raw::copy_(raw::narrow(k2, 2, 0, c.length), raw::narrow(c.k, 2, 0, c.length));
      raw::copy_(raw::narrow(v2, 2, 0, c.length), raw::narrow(c.v, 2, 0, c.length));
    }
    c.k = k2;
    c.v = v2;
  }
  raw::copy_(raw::narrow(c.k, 2, c.length, S), k_new.detach());
  raw::copy_(raw::narrow(c.v, 2, c.length, S), v_new.detach());
}

// Note [right padding takes the fused path]
// With causal attention and no cached past, a batch whose padding is all on the right (each row
// of padding_mask is trues then falses) needs no mask: a real query i only sees keys j <= i, which
// are all real. Only the outputs at padding query positions change (they attend to earlier
// padding keys instead of being masked), and nothing real ever reads them: later real queries
// do not exist in that row, so losses that ignore padding get identical values and gradients.
// Such batches (the usual training layout) run the fused kernel. The check reads the mask on the
// host once per mask tensor (cached by identity and version, so the layers of one forward share
// it); left padding and holes take the exact masked path.
bool is_right_padded(const Tensor& mask /*[B, S] bool*/) {
  struct Last {
    std::weak_ptr<TensorImpl> impl;
    uint32_t version = 0;
    bool result = false;
  };
  thread_local Last last;
  if (auto held = last.impl.lock(); held && held == mask.impl_ptr() && last.version == mask._version()) {
    return last.result;
  }
  Tensor m = raw::contiguous(raw::to(mask, Device::cpu(), kBool));
  const bool* p = m.data_ptr<bool>();
  const int64_t B = m.size(0), S = m.size(1);
  bool ok = true;
  for (int64_t b = 0; b < B && ok; ++b) {
    bool seen_pad = false;
    for (int64_t s = 0; s < S; ++s) {
      if (!p[b * S + s]) seen_pad = true;
      else if (seen_pad) ok = false;
    }
    if (S > 0 && !p[b * S]) ok = false;  // a row of padding only: keep the exact path
  }
  last = Last{mask.impl_ptr(), mask._version(), ok};
  return ok;
}

}  // namespace

Tensor MultiheadSelfAttention::forward(const Tensor& x, const Tensor& padding_mask, KVCache* cache) {
  const char* op = "MultiheadSelfAttention.forward";
  TESSERA_CHECK(x.defined() && x.dim() == 3 && x.size(2) == options.d_model, ShapeError,
                "{}: expected x of shape [B, S, {}], got {}", op, options.d_model,
                x.defined() ? shape_str(x.sizes()) : std::string("undefined"));
  const int64_t B = x.size(0), S = x.size(1), H = options.n_heads, Hkv = kv_heads(), hd = head_dim();
  const int64_t past = cache ? cache->length : 0, Sk = past + S;

  Tensor qkv = qkv_proj->forward(x);  // [B, S, (H + 2 Hkv) hd]
  auto parts = qkv.split_with_sizes({H * hd, Hkv * hd, Hkv * hd}, -1);
  Tensor q = parts[0].view({B, S, H, hd}).transpose(1, 2);  // [B, H, S, hd]
  Tensor k = parts[1].view({B, S, Hkv, hd}).transpose(1, 2);
  Tensor v = parts[2].view({B, S, Hkv, hd}).transpose(1, 2);
  if (options.rope) {
    q = functional::apply_rope(q, past, options.rope_theta);
    k = functional::apply_rope(k, past, options.rope_theta);
  }
  if (cache) {
    const Tensor k_prev = past > 0 ? raw::narrow(cache->k, 2, 0, past) : Tensor();
    const Tensor v_prev = past > 0 ? raw::narrow(cache->v, 2, 0, past) : Tensor();
    cache_append(*cache, k, v);
    if (past > 0) {
      if (GradMode::is_enabled() && (k.requires_grad() || v.requires_grad())) {
        // Keep the graph to this call's k/v; the cached prefix is a constant (Note [KV cache]).
        k = cat({raw::clone(k_prev), k}, 2);
        v = cat({raw::clone(v_prev), v}, 2);
      } else {
        k = raw::narrow(cache->k, 2, 0, Sk);
        v = raw::narrow(cache->v, 2, 0, Sk);
      }
    }
    cache->length = Sk;
  }

  // Masks. Causal with a cache is bottom-right aligned: query i (position past + i) sees keys j <=
  // past + i. With no padding (or right padding, Note [right padding takes the fused path]) and
  // either no past or a single query, the fused kernel does it all.
  Tensor mask;
  if (padding_mask.defined() && !(options.causal && past == 0 && S > 1 && padding_mask.dtype() == kBool &&
                                  padding_mask.dim() == 2 && padding_mask.size(0) == B && padding_mask.size(1) == Sk &&
                                  is_right_padded(padding_mask))) {
    TESSERA_CHECK(padding_mask.dtype() == kBool && padding_mask.dim() == 2 && padding_mask.size(0) == B &&
                      padding_mask.size(1) == Sk,
                  ShapeError, "{}: expected a bool padding_mask of shape [{}, {}] (batch, cached + new tokens), got {} {}",
                  op, B, Sk, shape_str(padding_mask.sizes()), dtype_name(padding_mask.dtype()));
    mask = raw::reshape(padding_mask.to(x.device()), {B, 1, 1, Sk});
  }
  bool fused_causal = false;
  if (options.causal && S > 1) {
    if (past == 0 && !mask.defined()) {
      fused_causal = true;
    } else {
      Tensor rows = raw::reshape(raw::arange(past, Sk, 1, TensorOptions(kInt64).device(x.device())), {S, 1});
      Tensor cols = raw::reshape(raw::arange(0, Sk, 1, TensorOptions(kInt64).device(x.device())), {1, Sk});
      Tensor causal = raw::binary(BinaryOp::Le, cols, rows);  // [S, Sk]
      mask = mask.defined() ? raw::binary(BinaryOp::LogicalAnd, mask, causal) : causal;
    }
  }
  const double p = is_training() ? options.dropout : 0.0;
  Tensor out = functional::scaled_dot_product_attention(q, k, v, mask, fused_causal, p);  // [B, H, S, hd]
  return o_proj->forward(out.transpose(1, 2).reshape({B, S, H * hd}));
}

std::string MultiheadSelfAttention::extra_repr() const {
  return fmt::format("d_model={}, n_heads={}, n_kv_heads={}, causal={}, rope={}, dropout={}", options.d_model,
                     options.n_heads, kv_heads(), options.causal, options.rope, options.dropout);
}

}  // namespace tessera::nn
