// Graph-building helpers used by every differentiable op: whether an op must record a node,
// the edge a tensor's gradient flows along, attaching a node to the outputs it produced, and the
// in-place and view bookkeeping (leaf checks, history rebase, view bases).
#pragma once

#include <memory>

#include "tessera/autograd/autograd_meta.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/node.h"

namespace tessera::autograd {

// t.grad_fn(), regenerating the grad_fn of a view whose base was modified in place since.
const std::shared_ptr<Node>& grad_fn_of(const Tensor& t);

// Whether t requires grad (a leaf with requires_grad, or a tensor with a grad_fn).
inline bool requires_grad(const Tensor& t) {
  const AutogradMeta* m = autograd_meta_or_null(t);
  if (!m) return false;
  if (m->requires_grad || m->grad_fn) return true;
  return m->is_view && grad_fn_of(t) != nullptr;
}

// Whether an op on these inputs must record a node: grad mode is on and one input requires grad
// (undefined tensors, e.g. an absent bias, are allowed).
template <class... Ts>
inline bool compute_requires_grad(const Ts&... inputs) {
  return GradMode::is_enabled() && (requires_grad(inputs) || ...);
}
bool compute_requires_grad(const std::vector<Tensor>& inputs);

// The leaf's AccumulateGrad node (created on first use; the leaf holds it weakly).
std::shared_ptr<Node> grad_accumulator(const Tensor& leaf);
// Where the gradient of t goes: (grad_fn, output_nr), the leaf's accumulator, or nowhere.
Edge gradient_edge(const Tensor& t);
template <class... Ts>
edge_list collect_next_edges(const Ts&... inputs) {
  edge_list edges;
  edges.reserve(sizeof...(Ts));
  (edges.push_back(gradient_edge(inputs)), ...);
  return edges;
}
edge_list collect_next_edges(const std::vector<Tensor>& inputs);

// Makes `node` the grad_fn of `out` (its next output): records out's shape/dtype/device in the node.
void set_history(const Tensor& out, const std::shared_ptr<Node>& node);

// Marks `view` (the result of a view op on `base`) as a differentiable view of base's root.
void as_view(const Tensor& base, const Tensor& view);
inline bool is_view(const Tensor& t) {
  const AutogradMeta* m = autograd_meta_or_null(t);
  return m && m->is_view;
}

// In-place ops: check_inplace throws PyTorch's errors for leaves (and views of leaves) that require
// grad while grad mode is on; rebase_history makes `node` the new grad_fn of `self` after the op
// (for views, of their base through CopySlices). `node`'s edge 0 must be self's old gradient edge.
void check_inplace(const Tensor& self);
void rebase_history(const Tensor& self, const std::shared_ptr<Node>& node);

}  // namespace tessera::autograd
