// In-place ops on differentiable views (Note [view + inplace rebase]): the geometry of a view
// inside its base, the two differentiable ops that move gradients between a view and its base,
// and the nodes CopySlices (base after an in-place op through a view) and AsStridedBackward (a view
// whose base changed since the view was made).
#pragma once

#include "tessera/autograd/node.h"

namespace tessera::autograd {

// Note [view + inplace rebase]
// When an in-place op writes through a view v of base b (Note [view tracking]), the op's node `fn`
// computes gradients for v's old value and the op's other inputs. b's history is rebased onto
// CopySlices(fn): given b's gradient G, it hands G with the region of v replaced by fn's gradient
// for v's old value to b's previous history, and fn's other gradients to the other inputs. v then
// gets AsStridedBackward (its gradient scattered into b's shape) as grad_fn. Other views of b learn
// about the change lazily: a view remembers the storage version at which its grad_fn was set
// (AutogradMeta::attr_version) and, if the version moved and b requires grad, its grad_fn is
// regenerated as AsStridedBackward the next time it is asked for (grad_fn_of).
// Views whose elements overlap (expand) cannot be written in place.

// A view's geometry inside a buffer of `extent` elements that holds its base at offset 0 with the
// base's strides (the base's storage span).
struct ViewFrame {
  Shape base_sizes, base_strides;
  Shape view_sizes, view_strides;
  int64_t view_offset = 0;  // relative to the base's first element
  int64_t extent = 0;
  bool base_contiguous = true;

  ViewFrame() = default;
  ViewFrame(const Tensor& base, const Tensor& view);
};

// grad of the base from grad of the view (zeros outside the view; overlapping view elements are
// summed). Differentiable (its derivative is view_of_base).
Tensor scatter_to_base(const Tensor& grad_view, const ViewFrame& f);
// The view's region of a base-shaped tensor. Differentiable (its derivative is scatter_to_base).
Tensor view_of_base(const Tensor& grad_base, const ViewFrame& f);

class CopySlices final : public Node {
 public:
  CopySlices(const Tensor& base, ViewFrame frame, std::shared_ptr<Node> fn);
  variable_list apply(variable_list&& grads) override;
  std::string name() const override { return "CopySlices"; }
  void release_variables() override { fn_->release_variables(); }

 private:
  ViewFrame frame_;
  std::shared_ptr<Node> fn_;
};

class AsStridedBackward final : public Node {
 public:
  explicit AsStridedBackward(ViewFrame frame) : frame_(std::move(frame)) {}
  variable_list apply(variable_list&& grads) override { return {scatter_to_base(grads[0], frame_)}; }
  std::string name() const override { return "AsStridedBackward0"; }

 private:
  ViewFrame frame_;
};

}  // namespace tessera::autograd
