// CopySlices / AsStridedBackward and the view <-> base gradient moves (Note [view + inplace rebase]).
#include "tessera/autograd/view_inplace.h"

#include "tessera/autograd/function_node.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/variable.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::autograd {

ViewFrame::ViewFrame(const Tensor& base, const Tensor& view)
    : base_sizes(base.sizes().vec()),
      base_strides(base.strides().vec()),
      view_sizes(view.sizes().vec()),
      view_strides(view.strides().vec()),
      view_offset(view.storage_offset() - base.storage_offset()) {
  extent = 1;
  for (size_t d = 0; d < base_sizes.size(); ++d) {
    if (base_sizes[d] == 0) {
      extent = 0;
      break;
    }
    extent += (base_sizes[d] - 1) * base_strides[d];
  }
  base_contiguous = base.is_contiguous();
}

namespace {

Tensor scatter_raw(const Tensor& g, const ViewFrame& f) {
  // Overlapping view elements (stride 0) all receive the same value: sum their gradients first.
  Shape sizes = f.view_sizes;
  bool reduce = false;
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (f.view_strides[d] == 0 && sizes[d] > 1) {
      sizes[d] = 1;
      reduce = true;
    }
  }
  Tensor src = reduce ? raw::sum_to(g, sizes) : g;
  Tensor buf = raw::full({f.extent}, 0, g.options());
  if (src.numel() > 0) raw::copy_(raw::as_strided(buf, sizes, f.view_strides, f.view_offset), src);
  return raw::as_strided(buf, f.base_sizes, f.base_strides, 0);
}

Tensor gather_raw(const Tensor& g, const ViewFrame& f) {
  if (f.base_contiguous) {
    Tensor c = raw::contiguous(g);
    return raw::as_strided(c, f.view_sizes, f.view_strides, c.storage_offset() + f.view_offset);
  }
  Tensor buf = raw::empty({f.extent}, g.options());
  raw::copy_(raw::as_strided(buf, f.base_sizes, f.base_strides, 0), g);
  return raw::as_strided(buf, f.view_sizes, f.view_strides, f.view_offset);
}

}  // namespace

Tensor scatter_to_base(const Tensor& grad_view, const ViewFrame& f) {
  if (!grad_view.defined()) return Tensor();
  Tensor out = scatter_raw(grad_view, f);
  if (compute_requires_grad(grad_view)) {
    auto node = make_node<0>("AsStridedScatterBackward0", [f](auto&, variable_list& g) -> variable_list {
      return {view_of_base(g[0], f)};
    }, grad_view);
    set_history(out, node);
  }
  return out;
}

Tensor view_of_base(const Tensor& grad_base, const ViewFrame& f) {
  if (!grad_base.defined()) return Tensor();
  Tensor out = gather_raw(grad_base, f);
  if (compute_requires_grad(grad_base)) {
    auto node = make_node<0>("AsStridedBackward0", [f](auto&, variable_list& g) -> variable_list {
      return {scatter_to_base(g[0], f)};
    }, grad_base);
    set_history(out, node);
  }
  return out;
}

CopySlices::CopySlices(const Tensor& base, ViewFrame frame, std::shared_ptr<Node> fn)
    : frame_(std::move(frame)), fn_(std::move(fn)) {
  add_next_edge(gradient_edge(base));
  for (size_t i = 1; i < fn_->num_outputs(); ++i) add_next_edge(fn_->next_edge(i));
}

variable_list CopySlices::apply(variable_list&& grads) {
  variable_list out(num_outputs());
  const Tensor& g = grads[0];
  if (!g.defined()) return out;
  if (GradMode::is_enabled()) {
    // create_graph: result = g - scatter(view(g)) + scatter(fn(view(g))[0]), all differentiable.
    Tensor gv = view_of_base(g, frame_);
    variable_list res = fn_->apply({gv});
    Tensor result = g - scatter_to_base(gv, frame_);
    if (res[0].defined()) result = result + scatter_to_base(res[0], frame_);
    out[0] = result;
    for (size_t i = 1; i < res.size(); ++i) out[i] = std::move(res[i]);
    return out;
  }
  // result = g with the view's region replaced by fn's gradient for the view's old value.
  Tensor result = raw::empty({frame_.extent}, g.options());
  Tensor result_base = raw::as_strided(result, frame_.base_sizes, frame_.base_strides, 0);
  raw::copy_(result_base, g);
  Tensor slice = raw::as_strided(result, frame_.view_sizes, frame_.view_strides, frame_.view_offset);
  variable_list res = fn_->apply({raw::clone(slice)});
  TESSERA_CHECK(res.size() == fn_->num_outputs(), ValueError,
                "function {} returned an incorrect number of gradients (expected {}, got {})", fn_->name(),
                fn_->num_outputs(), res.size());
  if (res[0].defined()) {
    raw::copy_(slice, res[0]);
  } else {
    raw::fill_(slice, 0);
  }
  out[0] = result_base;
  for (size_t i = 1; i < res.size(); ++i) out[i] = std::move(res[i]);
  return out;
}

}  // namespace tessera::autograd
