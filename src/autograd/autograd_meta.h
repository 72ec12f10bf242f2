// AutogradMeta: the autograd state a TensorImpl carries once autograd touches it (requires_grad,
// the accumulated .grad, the grad_fn that produced it, hooks, and for differentiable views the base
// tensor they alias). Created lazily; a tensor that never meets autograd has none.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "tessera/autograd/node.h"
#include "tessera/tensor/tensor.h"

namespace tessera::autograd {

// Note [view tracking]
// Views created by differentiable view ops while grad mode is on remember their base: the root
// tensor (never itself a view) whose storage they alias. An in-place op on such a view changes the
// base too, so the base's history is rebased onto a CopySlices node (Note [view + inplace rebase]).
// Views made in no-grad mode or by raw:: ops are ordinary tensors to autograd.
struct AutogradMeta {
  std::shared_ptr<Node> grad_fn;           // null for leaves
  std::weak_ptr<Node> grad_accumulator;    // leaves: the AccumulateGrad node, while the graph holds it
  Tensor grad;
  uint32_t output_nr = 0;                  // which output of grad_fn this tensor is
  bool requires_grad = false;              // set by requires_grad_ (leaves)
  bool retains_grad = false;
  bool is_view = false;
  uint32_t attr_version = 0;               // views: storage version when grad_fn was last set
  Tensor base;                             // views: the root tensor whose storage they alias
  // Hooks from register_hook, bound to the current grad_fn (or, for leaves, run by AccumulateGrad).
  std::shared_ptr<TensorHookList> hooks;
  // Leaves: hooks run after the gradient was accumulated into .grad. Removed hooks stay empty.
  std::shared_ptr<std::vector<std::function<void(const Tensor&)>>> post_accumulate_grad_hooks;
};

// The meta of t, created on first use.
AutogradMeta& get_autograd_meta(const Tensor& t);
// The meta of t or nullptr.
inline AutogradMeta* autograd_meta_or_null(const Tensor& t) {
  return t.defined() ? t.impl()->autograd_meta.get() : nullptr;
}

}  // namespace tessera::autograd
