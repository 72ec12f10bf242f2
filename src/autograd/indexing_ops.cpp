// Differentiable indexing ops and the fused cross-entropy loss, with their derivatives:
// index_select <-> index_add, gather <-> scatter_add, embedding (embedding_backward), tril/triu
// (mask the gradient), cross_entropy (the fused kernel's backward, or a composite formula of
// differentiable ops under create_graph).
#include "tessera/autograd/autocast.h"
#include "tessera/autograd/function_node.h"
#include "tessera/autograd/ops.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera {

using autograd::compute_requires_grad;
using autograd::make_node;
using autograd::set_history;
using autograd::variable_list;

namespace {
Tensor zeros_of(IntArrayRef sizes, const Tensor& like) { return raw::full(sizes, 0, like.options()); }
}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = raw::index_select(x, dim, index);
  if (compute_requires_grad(x)) {
    int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1));
    Shape in = x.sizes().vec();
    auto node = make_node<1>("IndexSelectBackward0", [d, in](auto& n, variable_list& g) -> variable_list {
      return {zeros_of(in, g[0]).index_add(d, n.saved(0), g[0])};
    }, x);
    set_history(out, node);
    node->save(0, index);
  }
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  Tensor out = raw::gather(x, dim, index);
  if (compute_requires_grad(x)) {
    int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1));
    Shape in = x.sizes().vec();
    auto node = make_node<1>("GatherBackward0", [d, in](auto& n, variable_list& g) -> variable_list {
      return {zeros_of(in, g[0]).scatter_add(d, n.saved(0), g[0])};
    }, x);
    set_history(out, node);
    node->save(0, index);
  }
  return out;
}

namespace {
// out = x with src added at index along dim (out of place or in place); grad_x = g,
// grad_src = g.gather(dim, index).
template <class F>
void record_scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src, F&& attach) {
  int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1));
  auto node = make_node<1>("ScatterAddBackward0", [d](auto& n, variable_list& g) {
    variable_list r(2);
    if (n.should_compute_output(0)) r[0] = g[0];
    if (n.should_compute_output(1)) r[1] = g[0].gather(d, n.saved(0));
    return r;
  }, x, src);
  node->save(0, index);
  attach(node);
}
}  // namespace

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  Tensor out = raw::scatter_add(x, dim, index, src);
  if (compute_requires_grad(x, src))
    record_scatter_add(x, dim, index, src, [&](const auto& node) { set_history(out, node); });
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  Tensor out = raw::embedding(weight, indices);
  if (compute_requires_grad(weight)) {
    int64_t num_weights = weight.size(0);
    auto node = make_node<1>("EmbeddingBackward0", [num_weights](auto& n, variable_list& g) -> variable_list {
      Tensor idx = n.saved(0);
      if (GradMode::is_enabled()) {  // create_graph: index_add is differentiable in the gradient
        int64_t dim = g[0].size(-1);
        Tensor flat = g[0].reshape({-1, dim});
        return {zeros_of({num_weights, dim}, g[0]).index_add(0, idx.reshape({-1}), flat)};
      }
      return {raw::embedding_backward(g[0], idx, num_weights)};
    }, weight);
    set_history(out, node);
    node->save(0, indices);
  }
  return out;
}

Tensor one_hot(const Tensor& indices, int64_t num_classes) { return raw::one_hot(indices, num_classes); }

Tensor tril(const Tensor& x, int64_t diagonal) {
  Tensor out = raw::tril(x, diagonal);
  if (compute_requires_grad(x)) {
    auto node = make_node<0>("TrilBackward0", [diagonal](auto&, variable_list& g) -> variable_list {
      return {g[0].tril(diagonal)};
    }, x);
    set_history(out, node);
  }
  return out;
}

Tensor triu(const Tensor& x, int64_t diagonal) {
  Tensor out = raw::triu(x, diagonal);
  if (compute_requires_grad(x)) {
    auto node = make_node<0>("TriuBackward0", [diagonal](auto&, variable_list& g) -> variable_list {
      return {g[0].triu(diagonal)};
    }, x);
    set_history(out, node);
  }
  return out;
}

namespace {
// d loss / d logits as differentiable ops (used under create_graph):
//   per row i with valid target: (softmax_i - (1 - eps) * onehot_i - eps / C) * scale_i
// where scale_i = g (sum), g / n_valid (mean) or g_i (none).
Tensor cross_entropy_grad_composite(const Tensor& g, const Tensor& logits, const Tensor& target, int64_t ignore_index,
                                    double eps, Reduction reduction) {
  const bool batched = logits.dim() == 2;
  Tensor lg = batched ? logits : logits.unsqueeze(0);
  Tensor tg = batched ? target : target.reshape({1});
  const int64_t C = lg.size(1);
  Tensor valid = raw::binary(BinaryOp::Ne, tg, Scalar(ignore_index));                     // bool [N]
  Tensor safe = raw::where(valid, tg, raw::full(tg.sizes(), 0, tg.options()));             // int64 [N]
  Tensor onehot = raw::to(raw::one_hot(safe, C), lg.device(), lg.dtype());                  // [N, C]
  Tensor validf = raw::to(valid, lg.device(), lg.dtype()).unsqueeze(1);                     // [N, 1]
  Tensor target_dist = onehot * (1.0 - eps) + eps / double(C);
  Tensor gl = (lg.softmax(1) - target_dist) * validf;
  Tensor scale = g.to(lg.dtype());
  if (reduction == Reduction::Mean) {
    double n_valid = raw::sum(raw::to(valid, lg.device(), DType::Float64), {}, false).item<double>();
    scale = scale / n_valid;
  }
  gl = reduction == Reduction::None ? gl * scale.reshape({-1, 1}) : gl * scale;
  return batched ? gl : gl.squeeze(0);
}
}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, double label_smoothing,
                     Reduction reduction) {
  if (autocast::active(logits)) {  // autocast: float32 (Note [autocast op lists])
    Tensor l32 = autocast::to_fp32(logits);
    autocast::ExcludeGuard excluded;
    return cross_entropy(l32, target, ignore_index, label_smoothing, reduction);
  }
  auto [loss, lse] = raw::cross_entropy(logits, target, ignore_index, label_smoothing, reduction);
  if (compute_requires_grad(logits)) {
    auto node = make_node<3>("CrossEntropyLossBackward0", [ignore_index, label_smoothing, reduction](
                                                              auto& n, variable_list& g) -> variable_list {
      Tensor lg = n.saved(0), tg = n.saved(1);
      if (GradMode::is_enabled())
        return {cross_entropy_grad_composite(g[0], lg, tg, ignore_index, label_smoothing, reduction)};
      return {raw::cross_entropy_backward(g[0], lg, n.saved(2), tg, ignore_index, label_smoothing, reduction)};
    }, logits);
    set_history(loss, node);
    node->save(0, logits);
    node->save(1, target);
    node->save(2, lse);
  }
  return loss;
}

Tensor Tensor::index_select(int64_t dim, const Tensor& index) const { return tessera::index_select(*this, dim, index); }
Tensor Tensor::gather(int64_t dim, const Tensor& index) const { return tessera::gather(*this, dim, index); }
Tensor Tensor::scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const {
  return tessera::scatter_add(*this, dim, index, src);
}
Tensor& Tensor::scatter_add_(int64_t dim, const Tensor& index, const Tensor& src) {
  autograd::check_inplace(*this);
  bool rg = compute_requires_grad(*this, src);
  raw::scatter_add_(*this, dim, index, src);
  bump_version();
  if (rg) record_scatter_add(*this, dim, index, src, [&](const auto& node) { autograd::rebase_history(*this, node); });
  return *this;
}

Tensor Tensor::index_add(int64_t dim, const Tensor& index, const Tensor& source) const {
  Tensor out = raw::index_add(*this, dim, index, source);
  if (compute_requires_grad(*this, source)) {
    int64_t d = wrap_dim(dim, std::max<int64_t>(this->dim(), 1));
    auto node = make_node<1>("IndexAddBackward0", [d](auto& n, variable_list& g) {
      variable_list r(2);
      if (n.should_compute_output(0)) r[0] = g[0];
      if (n.should_compute_output(1)) r[1] = g[0].index_select(d, n.saved(0));
      return r;
    }, *this, source);
    set_history(out, node);
    node->save(0, index);
  }
  return out;
}

Tensor Tensor::tril(int64_t diagonal) const { return tessera::tril(*this, diagonal); }
Tensor Tensor::triu(int64_t diagonal) const { return tessera::triu(*this, diagonal); }

}  // namespace tessera
