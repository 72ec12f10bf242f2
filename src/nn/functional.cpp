// nn::functional: linear, dropout, rotary embeddings and masked attention.
#include "tessera/nn/functional.h"

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "tessera/autograd/autocast.h"
#include "tessera/autograd/ops.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"
#include "tessera/tensor/raw.h"

namespace tessera::nn::functional {

namespace {

// Note [rope tables]
// cos/sin tables [S, hd] for positions offset..offset+S-1, computed in float64 on the host and
// rounded once to the dtype, then moved to the device. q and k of every layer ask for the same
// table, so the last few are kept per thread (keyed by every input of the table); training with a
// fixed sequence length builds each table once.
std::pair<Tensor, Tensor> rope_tables(int64_t S, int64_t hd, int64_t offset, double theta, DType dtype, Device device) {
  struct Entry {
    int64_t S, hd, offset;
    double theta;
    DType dtype;
    Device device;
    Tensor cos, sin;
  };
  thread_local std::vector<Entry> cache;
  for (const auto& e : cache) {
    if (e.S == S && e.hd == hd && e.offset == offset && e.theta == theta && e.dtype == dtype && e.device == device)
      return {e.cos, e.sin};
  }
  const int64_t half = hd / 2;
  std::vector<double> cs(size_t(S * hd)), sn(size_t(S * hd));
  for (int64_t s = 0; s < S; ++s) {
    const double pos = double(offset + s);
    for (int64_t i = 0; i < half; ++i) {
      const double angle = pos * std::pow(theta, -2.0 * double(i) / double(hd));
      const double c = std::cos(angle), si = std::sin(angle);
      cs[size_t(s * hd + i)] = cs[size_t(s * hd + i + half)] = c;
      sn[size_t(s * hd + i)] = sn[size_t(s * hd + i + half)] = si;
    }
  }
  Tensor cos_t = raw::to(from_vector<double>(cs, {S, hd}), device, dtype);
  Tensor sin_t = raw::to(from_vector<double>(sn, {S, hd}), device, dtype);
  if (cache.size() >= 4) cache.erase(cache.begin());
  cache.push_back(Entry{S, hd, offset, theta, dtype, device, cos_t, sin_t});
  return {cos_t, sin_t};
}

// Whether the device's fused attention kernel takes these inputs (mirrors check_qkv in
// src/tensor/ops/attention.cpp: CPU takes every floating dtype; CUDA bfloat16/float16 with head dim
// 64 or 128). Other inputs run the explicit math instead of failing.
bool fused_attention_supported(const Tensor& q) {
  if (!q.is_cuda()) return true;
  const int64_t d = q.size(3);
  return (q.dtype() == kBFloat16 || q.dtype() == kFloat16) && (d == 64 || d == 128);
}

}  // namespace

namespace {
void check_linear(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TESSERA_CHECK(weight.dim() == 2, ShapeError, "{}: expected a 2-D weight [out_features, in_features], got {}", op,
                shape_str(weight.sizes()));
  TESSERA_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), ShapeError,
                "{}: input {} has {} features in its last dim but weight {} expects in_features = {}", op,
                shape_str(x.sizes()), x.dim() >= 1 ? x.size(-1) : 0, shape_str(weight.sizes()), weight.size(1));
  TESSERA_CHECK(x.dtype() == weight.dtype(), DTypeError,
                "{}: input dtype {} differs from weight dtype {} (convert the input or the module with to())", op,
                dtype_name(x.dtype()), dtype_name(weight.dtype()));
  if (!bias.defined()) return;
  TESSERA_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), ShapeError,
                "{}: expected bias of shape [{}] for weight {}, got {}", op, weight.size(0), shape_str(weight.sizes()),
                shape_str(bias.sizes()));
  TESSERA_CHECK(bias.dtype() == weight.dtype(), DTypeError, "{}: bias dtype {} differs from weight dtype {}", op,
                dtype_name(bias.dtype()), dtype_name(weight.dtype()));
}

// Note [linear folds the leading dims]: x [..., in] is viewed as [rows, in] (a copy only when its
// leading dims do not merge), so forward and both backward products are single 2-D GEMMs; in
// particular grad_weight = g[rows, out]^T x[rows, in] instead of a batched product summed
// afterwards. w^T is read in place (Note [gemm operand layout]). With a bias the product is one
// addmm, whose GEMM adds the bias in its epilogue (Backend::gemm_bias), as torch's linear does.
// `product` maps the folded [rows, in] input to [rows, out].
template <typename Product>
Tensor folded(const Tensor& x, const Tensor& weight, Product product) {
  Shape out_shape = x.sizes().vec();
  out_shape.back() = weight.size(0);
  Tensor x2 = x.dim() == 2 ? x : x.reshape({-1, weight.size(1)});
  return product(x2).view(out_shape);
}
}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TESSERA_CHECK(x.defined() && weight.defined(), ValueError, "linear: expected defined input and weight");
  if (autocast::active(x)) {  // autocast: lower precision, like torch's linear (Note [autocast op lists])
    Tensor lx = autocast::to_lower(x), lw = autocast::to_lower(weight), lb = autocast::to_lower(bias);
    autocast::ExcludeGuard excluded;
    return linear(lx, lw, lb);
  }
  check_linear("linear", x, weight, bias);
  if (x.dim() >= 2 && weight.size(1) > 0) {
    if (bias.defined()) return folded(x, weight, [&](const Tensor& x2) { return addmm(bias, x2, weight.t()); });
    return folded(x, weight, [&](const Tensor& x2) { return matmul(x2, weight.t()); });
  }
  Tensor y = matmul(x, weight.t());
  return bias.defined() ? y + bias : y;
}

Tensor linear_gelu_tanh(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  TESSERA_CHECK(x.defined() && weight.defined(), ValueError, "linear_gelu_tanh: expected defined input and weight");
  if (autocast::active(x)) {  // autocast: lower precision, as linear (Note [autocast op lists])
    Tensor lx = autocast::to_lower(x), lw = autocast::to_lower(weight), lb = autocast::to_lower(bias);
    autocast::ExcludeGuard excluded;
    return linear_gelu_tanh(lx, lw, lb);
  }
  check_linear("linear_gelu_tanh", x, weight, bias);
  if (!bias.defined() || x.dim() < 2 || weight.size(1) == 0) return linear(x, weight, bias).gelu("tanh");
  return folded(x, weight, [&](const Tensor& x2) { return addmm_gelu_tanh(bias, x2, weight.t()); });
}

Tensor dropout(const Tensor& x, double p, bool training) {
  TESSERA_CHECK(p >= 0.0 && p <= 1.0, ValueError, "dropout: dropout probability has to be between 0 and 1, but got {}",
                p);
  TESSERA_CHECK(x.defined(), ValueError, "dropout: expected a defined input");
  if (!training || p == 0.0) return x;
  TESSERA_CHECK(x.is_floating_point(), DTypeError, "dropout: expected a floating-point input, got {}",
                dtype_name(x.dtype()));
  if (p == 1.0) return x * 0.0;
  Tensor keep = raw::dropout_mask(x.sizes(), p, x.device());
  // The mask already scaled, in x's dtype: x * (keep ? 1/(1-p) : 0). A constant for autograd.
  Tensor scaled = raw::where(keep, raw::scalar_tensor(1.0 / (1.0 - p), TensorOptions(x.dtype()).device(x.device())),
                             raw::scalar_tensor(0.0, TensorOptions(x.dtype()).device(x.device())));
  return x * scaled;
}

Tensor apply_rope(const Tensor& x, int64_t position_offset, double theta) {
  TESSERA_CHECK(x.defined() && x.dim() == 4, ShapeError, "apply_rope: expected x of shape [B, H, S, head_dim], got {}",
                x.defined() ? shape_str(x.sizes()) : std::string("undefined"));
  TESSERA_CHECK(x.is_floating_point(), DTypeError, "apply_rope: expected a floating-point x, got {}",
                dtype_name(x.dtype()));
  const int64_t S = x.size(2), hd = x.size(3), half = hd / 2;
  TESSERA_CHECK(hd % 2 == 0 && hd > 0, ShapeError, "apply_rope: head_dim must be even and positive, got {} (x {})", hd,
                shape_str(x.sizes()));
  TESSERA_CHECK(position_offset >= 0, ValueError, "apply_rope: position_offset must be >= 0, got {}",
                position_offset);
  TESSERA_CHECK(theta > 0.0, ValueError, "apply_rope: theta must be > 0, got {}", theta);
  auto [cos_t, sin_t] = rope_tables(S, hd, position_offset, theta, x.dtype(), x.device());
  Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  Tensor rotated = cat({x2.neg(), x1}, -1);
  return x * cos_t + rotated * sin_t;
}

namespace {

// k/v [B, Hkv, S, D] -> [B, H, S, D] by repeating each head H / Hkv times (head h reads h / rep).
Tensor repeat_kv(const Tensor& t, int64_t rep) {
  if (rep == 1) return t;
  const int64_t B = t.size(0), Hkv = t.size(1), S = t.size(2), D = t.size(3);
  return t.unsqueeze(2).expand({B, Hkv, rep, S, D}).reshape({B, Hkv * rep, S, D});
}

// The most negative finite value of a floating dtype (bfloat16: one that rounds to a finite value).
double lowest_finite(DType t) {
  switch (t) {
    case kFloat64: return std::numeric_limits<double>::lowest();
    case kFloat16: return -65504.0;
    case kBFloat16: return -1e38;
    default: return double(std::numeric_limits<float>::lowest());
  }
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    bool is_causal, double dropout_p, std::optional<double> scale) {
  const char* op = "scaled_dot_product_attention";
  TESSERA_CHECK(q.defined() && k.defined() && v.defined(), ValueError, "{}: undefined q, k or v", op);
  TESSERA_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, ShapeError,
                "{}: expected 4-D q, k, v of shape [batch, heads, seq, head_dim], got {}, {}, {}", op,
                shape_str(q.sizes()), shape_str(k.sizes()), shape_str(v.sizes()));
  TESSERA_CHECK(k.sizes().equals(v.sizes()) && q.size(0) == k.size(0) && q.size(3) == k.size(3), ShapeError,
                "{}: q {}, k {}, v {}: k and v must have one shape, and share batch and head_dim with q", op,
                shape_str(q.sizes()), shape_str(k.sizes()), shape_str(v.sizes()));
  const int64_t H = q.size(1), Hkv = k.size(1);
  TESSERA_CHECK(Hkv > 0 && H % Hkv == 0, ShapeError,
                "{}: the number of query heads ({}) must be a multiple of the key/value heads ({}); q {}, k {}", op, H,
                Hkv, shape_str(q.sizes()), shape_str(k.sizes()));
  TESSERA_CHECK(dropout_p >= 0.0 && dropout_p <= 1.0, ValueError,
                "{}: dropout probability has to be between 0 and 1, but got {}", op, dropout_p);
  const Tensor kk = repeat_kv(k, H / Hkv), vv = repeat_kv(v, H / Hkv);
  if (!attn_mask.defined() && dropout_p == 0.0 && fused_attention_supported(q)) {
    return tessera::scaled_dot_product_attention(q, kk, vv, is_causal, scale);
  }

  const int64_t Sq = q.size(2), Sk = k.size(2);
  const double sc = scale ? *scale : 1.0 / std::sqrt(double(q.size(3)));
  Tensor scores = matmul(q, kk.transpose(-1, -2)) * sc;  // [B, H, Sq, Sk]
  // allowed: bool, broadcastable to scores, true = may attend (undefined = all allowed).
  Tensor allowed;
  if (attn_mask.defined()) {
    TESSERA_CHECK(attn_mask.dim() <= 4, ShapeError, "{}: attn_mask {} must broadcast to [B, H, Sq, Sk] = {}", op,
                  shape_str(attn_mask.sizes()), shape_str(scores.sizes()));
    for (int64_t d = 1; d <= attn_mask.dim(); ++d) {
      const int64_t m = attn_mask.size(-d), s = scores.size(-d);
      TESSERA_CHECK(m == 1 || m == s, ShapeError, "{}: attn_mask {} does not broadcast to [B, H, Sq, Sk] = {}", op,
                    shape_str(attn_mask.sizes()), shape_str(scores.sizes()));
    }
    if (attn_mask.dtype() == kBool) {
      allowed = attn_mask.to(q.device());
    } else {
      TESSERA_CHECK(attn_mask.is_floating_point(), DTypeError,
                    "{}: attn_mask must be bool (true = attend) or floating (added to the scores), got {}", op,
                    dtype_name(attn_mask.dtype()));
      scores = scores + attn_mask.to(scores.dtype());
    }
  }
  if (is_causal) {
    Tensor rows = raw::reshape(raw::arange(0, Sq, 1, TensorOptions(kInt64).device(q.device())), {Sq, 1});
    Tensor cols = raw::reshape(raw::arange(0, Sk, 1, TensorOptions(kInt64).device(q.device())), {1, Sk});
    Tensor causal = raw::binary(BinaryOp::Le, cols, rows);
    allowed = allowed.defined() ? raw::binary(BinaryOp::LogicalAnd, allowed, causal) : causal;
  }
  Tensor probs;
  if (allowed.defined()) {
    // Note [fully masked rows]: fill with the dtype's lowest finite value (not -inf) so a fully masked
    // row stays finite, then zero such rows after the softmax.
    Tensor blocked = raw::unary(UnaryOp::LogicalNot, allowed);
    probs = scores.masked_fill(blocked, lowest_finite(scores.dtype())).softmax(-1);
    Tensor any = raw::amax(raw::to(allowed, q.device(), kInt32), {-1}, /*keepdim=*/true);  // [.., Sq, 1]
    Tensor dead = raw::binary(BinaryOp::Eq, any, Scalar(0));
    probs = probs.masked_fill(dead, 0.0);
  } else {
    probs = scores.softmax(-1);
  }
  if (dropout_p > 0.0) probs = dropout(probs, dropout_p, /*training=*/true);
  return matmul(probs, vv);
}

}  // namespace tessera::nn::functional
