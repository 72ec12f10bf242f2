// Differentiable fused attention (tessera::scaled_dot_product_attention). Plain backward calls the
// fused backward kernel (P recomputed from lse); under create_graph the gradients are written with
// differentiable ops (scores recomputed), so second derivatives work.
#include <cmath>

#include "tessera/autograd/autocast.h"
#include "tessera/autograd/function_node.h"
#include "tessera/autograd/ops.h"
#include "tessera/tensor/raw.h"

namespace tessera {

using autograd::variable_list;

namespace {
// softmax(q k^T * scale) with keys j > query i masked out when causal (top-left alignment).
Tensor attention_probs(const Tensor& q, const Tensor& k, bool causal, double scale) {
  Tensor s = matmul(q, k.transpose(-1, -2)) * scale;
  if (causal) {
    const int64_t sq = q.size(2), sk = k.size(2);
    Tensor rows = raw::reshape(raw::arange(0, sq, 1, TensorOptions(kInt64).device(q.device())), {sq, 1});
    Tensor cols = raw::reshape(raw::arange(0, sk, 1, TensorOptions(kInt64).device(q.device())), {1, sk});
    s = s.masked_fill(raw::binary(BinaryOp::Gt, cols, rows), -INFINITY);
  }
  return s.softmax(-1);
}
}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, bool is_causal,
                                    std::optional<double> scale) {
  if (autocast::active(q)) {  // autocast: lower precision (Note [autocast op lists])
    Tensor lq = autocast::to_lower(q), lk = autocast::to_lower(k), lv = autocast::to_lower(v);
    autocast::ExcludeGuard excluded;
    return scaled_dot_product_attention(lq, lk, lv, is_causal, scale);
  }
  auto [out, lse] = raw::scaled_dot_product_attention(q, k, v, is_causal, scale);
  if (!autograd::compute_requires_grad(q, k, v)) return out;
  const double sc = scale ? *scale : 1.0 / std::sqrt(double(q.size(3)));
  auto node = autograd::make_node<5>("ScaledDotProductAttentionBackward0", [is_causal, sc](auto& n, variable_list& g) {
    Tensor qs = n.saved(0), ks = n.saved(1), vs = n.saved(2);
    if (!GradMode::is_enabled()) {
      auto [dq, dk, dv] = raw::scaled_dot_product_attention_backward(g[0].to(qs.dtype()), qs, ks, vs, n.saved(3),
                                                                     n.saved(4), is_causal, sc);
      return variable_list{dq, dk, dv};
    }
    // create_graph: dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dP * P)), dQ = dS K s, dK = dS^T Q s
    Tensor p = attention_probs(qs, ks, is_causal, sc);
    Tensor dp = matmul(g[0], vs.transpose(-1, -2));
    Tensor ds = p * (dp - (dp * p).sum({-1}, /*keepdim=*/true));
    variable_list r(3);
    if (n.should_compute_output(0)) r[0] = matmul(ds, ks) * sc;
    if (n.should_compute_output(1)) r[1] = matmul(ds.transpose(-1, -2), qs) * sc;
    if (n.should_compute_output(2)) r[2] = matmul(p.transpose(-1, -2), g[0]);
    return r;
  }, q, k, v);
  autograd::set_history(out, node);
  node->save(0, q);
  node->save(1, k);
  node->save(2, v);
  node->save(3, out, /*is_output=*/true);
  node->save(4, lse);
  return out;
}

}  // namespace tessera
