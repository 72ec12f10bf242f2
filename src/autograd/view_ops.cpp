// Differentiable views, joins, copies and casts: the Tensor methods forward to the raw kernels
// and record their backward (views are marked with their base, Note [view tracking]; in-place
// copy_/fill_ rebase the history, Note [view + inplace rebase]).
#include <numeric>

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

// Records a single-input view: `out` is a view of `self`, with backward `f`.
template <class F>
Tensor record_view(const Tensor& self, Tensor out, const char* name, F f) {
  autograd::as_view(self, out);
  if (compute_requires_grad(self)) {
    auto node = make_node<0>(name, std::move(f), self);
    set_history(out, node);
  }
  return out;
}

// Records a single-input op whose output is a new tensor (not a view).
template <class F>
Tensor record_unary(const Tensor& self, Tensor out, const char* name, F f) {
  if (compute_requires_grad(self)) {
    auto node = make_node<0>(name, std::move(f), self);
    set_history(out, node);
  }
  return out;
}

}  // namespace

// ---- gradients of slicing views (differentiable, for double backward) ----

Tensor slice_backward(const Tensor& grad, IntArrayRef input_sizes, int64_t dim, int64_t start, int64_t end,
                      int64_t step) {
  Tensor out = raw::full(input_sizes, 0, grad.options());
  raw::copy_(raw::slice(out, dim, start, end, step), grad);
  return record_unary(grad, out, "SliceBackwardBackward0",
                      [dim, start, end, step](auto&, variable_list& g) -> variable_list {
                        return {g[0].slice(dim, start, end, step)};
                      });
}

Tensor select_backward(const Tensor& grad, IntArrayRef input_sizes, int64_t dim, int64_t index) {
  Tensor out = raw::full(input_sizes, 0, grad.options());
  raw::copy_(raw::select(out, dim, index), grad);
  return record_unary(grad, out, "SelectBackwardBackward0", [dim, index](auto&, variable_list& g) -> variable_list {
    return {g[0].select(dim, index)};
  });
}

Tensor sum_to(const Tensor& x, IntArrayRef shape) {
  if (x.sizes().equals(shape)) return x;
  Tensor out = raw::sum_to(x, shape);
  Shape in_sizes = x.sizes().vec();
  return record_unary(x, out, "SumToBackward0", [in_sizes](auto&, variable_list& g) -> variable_list {
    return {g[0].expand(in_sizes)};
  });
}

// ---- conversions and copies ----

namespace {
Tensor to_impl(const Tensor& self, Device device, DType dtype, bool non_blocking, bool copy) {
  Tensor out = raw::to(self, device, dtype, copy, non_blocking);
  if (out.is_same(self) || !is_floating_point(dtype)) return out;
  DType src_dtype = self.dtype();
  Device src_device = self.device();
  return record_unary(self, out, "ToCopyBackward0", [src_dtype, src_device](auto&, variable_list& g) -> variable_list {
    return {g[0].to(src_device, src_dtype)};
  });
}
}  // namespace

Tensor Tensor::to(DType dtype, bool non_blocking, bool copy) const {
  return to_impl(*this, device(), dtype, non_blocking, copy);
}
Tensor Tensor::to(Device device, bool non_blocking, bool copy) const {
  return to_impl(*this, device, dtype(), non_blocking, copy);
}
Tensor Tensor::to(Device device, DType dtype, bool non_blocking, bool copy) const {
  return to_impl(*this, device, dtype, non_blocking, copy);
}
Tensor Tensor::to(const TensorOptions& o, bool non_blocking, bool copy) const {
  return to_impl(*this, o.device(), o.dtype(), non_blocking, copy);
}
Tensor Tensor::pin_memory() const {
  Tensor out = raw::pin_memory(*this);
  if (out.is_same(*this)) return out;
  return record_unary(*this, out, "ToCopyBackward0", [](auto&, variable_list& g) -> variable_list { return {g[0]}; });
}
bool Tensor::is_pinned() const { return raw::is_pinned(*this); }
Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }
Tensor Tensor::clone() const {
  return record_unary(*this, raw::clone(*this), "CloneBackward0",
                      [](auto&, variable_list& g) -> variable_list { return {g[0]}; });
}

Tensor& Tensor::copy_(const Tensor& src, bool non_blocking) {
  autograd::check_inplace(*this);
  bool rg = compute_requires_grad(*this, src);
  raw::copy_(*this, src, non_blocking);
  bump_version();
  if (rg) {
    Shape src_sizes = src.sizes().vec();
    DType src_dtype = src.dtype();
    Device src_device = src.device();
    auto node = make_node<0>("CopyBackward0", [src_sizes, src_dtype, src_device](auto& n, variable_list& g) {
      variable_list out(2);
      if (n.should_compute_output(0)) out[0] = raw::full(g[0].sizes(), 0, g[0].options());
      if (n.should_compute_output(1)) out[1] = sum_to(g[0], src_sizes).to(src_device, src_dtype);
      return out;
    }, *this, src);
    autograd::rebase_history(*this, node);
  }
  return *this;
}

Tensor& Tensor::fill_(Scalar value) {
  autograd::check_inplace(*this);
  bool rg = compute_requires_grad(*this);
  raw::fill_(*this, value);
  bump_version();
  if (rg) {
    auto node = make_node<0>("FillBackward0", [](auto&, variable_list& g) -> variable_list {
      return {raw::full(g[0].sizes(), 0, g[0].options())};
    }, *this);
    autograd::rebase_history(*this, node);
  }
  return *this;
}
Tensor& Tensor::zero_() { return fill_(0); }

// ---- views ----

Tensor Tensor::view(IntArrayRef shape) const {
  Shape in = sizes().vec();
  return record_view(*this, raw::view(*this, shape), "ViewBackward0",
                     [in](auto&, variable_list& g) -> variable_list { return {g[0].reshape(in)}; });
}

Tensor Tensor::reshape(IntArrayRef shape) const {
  Tensor out = raw::reshape(*this, shape);
  Shape in = sizes().vec();
  auto f = [in](auto&, variable_list& g) -> variable_list { return {g[0].reshape(in)}; };
  if (out.storage() == storage()) return record_view(*this, out, "ViewBackward0", f);
  return record_unary(*this, out, "UnsafeViewBackward0", f);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  return record_view(*this, raw::transpose(*this, d0, d1), "TransposeBackward0",
                     [d0, d1](auto&, variable_list& g) -> variable_list { return {g[0].transpose(d0, d1)}; });
}

Tensor Tensor::t() const {
  TESSERA_CHECK(dim() <= 2, ShapeError, "t: expects a tensor with <= 2 dimensions, but self is {}D", dim());
  Tensor out = dim() < 2 ? raw::transpose(*this, 0, 0) : raw::transpose(*this, 0, 1);
  return record_view(*this, out, "TBackward0", [](auto&, variable_list& g) -> variable_list { return {g[0].t()}; });
}

Tensor Tensor::permute(IntArrayRef dims) const {
  Tensor out = raw::permute(*this, dims);
  Shape inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i) inverse[wrap_dim(dims[i], dim())] = int64_t(i);
  return record_view(*this, out, "PermuteBackward0",
                     [inverse](auto&, variable_list& g) -> variable_list { return {g[0].permute(inverse)}; });
}

Tensor Tensor::slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) const {
  Tensor out = raw::slice(*this, dim, start, end, step);
  // Normalised bounds, as raw::slice computed them.
  int64_t d = wrap_dim(dim, this->dim());
  int64_t n = size(d);
  int64_t s = start.value_or(0), e = end.value_or(n);
  if (s < 0) s += n;
  if (e < 0) e += n;
  s = std::clamp<int64_t>(s, 0, n);
  e = std::clamp<int64_t>(e, s, n);
  Shape in = sizes().vec();
  return record_view(*this, out, "SliceBackward0", [in, d, s, e, step](auto&, variable_list& g) -> variable_list {
    return {slice_backward(g[0], in, d, s, e, step)};
  });
}

Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  Tensor checked = raw::narrow(*this, dim, start, length);  // validates and normalises
  int64_t d = wrap_dim(dim, this->dim());
  int64_t s = start < 0 ? start + size(d) : start;
  Shape in = sizes().vec();
  return record_view(*this, checked, "SliceBackward0", [in, d, s, length](auto&, variable_list& g) -> variable_list {
    return {slice_backward(g[0], in, d, s, s + length, 1)};
  });
}

Tensor Tensor::select(int64_t dim, int64_t index) const {
  Tensor out = raw::select(*this, dim, index);
  int64_t d = wrap_dim(dim, this->dim());
  int64_t i = index < 0 ? index + size(d) : index;
  Shape in = sizes().vec();
  return record_view(*this, out, "SelectBackward0", [in, d, i](auto&, variable_list& g) -> variable_list {
    return {select_backward(g[0], in, d, i)};
  });
}

Tensor Tensor::expand(IntArrayRef sizes) const {
  Shape in = this->sizes().vec();
  return record_view(*this, raw::expand(*this, sizes), "ExpandBackward0",
                     [in](auto&, variable_list& g) -> variable_list { return {sum_to(g[0], in)}; });
}

Tensor Tensor::unsqueeze(int64_t dim) const {
  int64_t d = wrap_dim(dim, this->dim() + 1);
  return record_view(*this, raw::unsqueeze(*this, dim), "UnsqueezeBackward0",
                     [d](auto&, variable_list& g) -> variable_list { return {g[0].squeeze(d)}; });
}

Tensor Tensor::squeeze() const {
  Shape in = sizes().vec();
  return record_view(*this, raw::squeeze(*this), "SqueezeBackward0",
                     [in](auto&, variable_list& g) -> variable_list { return {g[0].reshape(in)}; });
}

Tensor Tensor::squeeze(int64_t dim) const {
  Shape in = sizes().vec();
  return record_view(*this, raw::squeeze(*this, dim), "SqueezeBackward1",
                     [in](auto&, variable_list& g) -> variable_list { return {g[0].reshape(in)}; });
}

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  int64_t s = wrap_dim(start_dim, dim(), "flatten"), e = wrap_dim(end_dim, dim(), "flatten");
  TESSERA_CHECK(s <= e, ValueError, "flatten: start_dim ({}) cannot come after end_dim ({})", s, e);
  Shape sz;
  for (int64_t d = 0; d < s; ++d) sz.push_back(size(d));
  int64_t m = 1;
  for (int64_t d = s; d <= e; ++d) m *= size(d);
  sz.push_back(m);
  for (int64_t d = e + 1; d < dim(); ++d) sz.push_back(size(d));
  return reshape(sz);
}

Tensor Tensor::unflatten(int64_t dim, IntArrayRef sizes) const {
  Shape in = this->sizes().vec();
  return record_view(*this, raw::unflatten(*this, dim, sizes), "UnflattenBackward0",
                     [in](auto&, variable_list& g) -> variable_list { return {g[0].reshape(in)}; });
}

std::vector<Tensor> Tensor::split_with_sizes(IntArrayRef split_sizes, int64_t dim) const {
  std::vector<Tensor> outs = raw::split_with_sizes(*this, split_sizes, dim);
  for (const Tensor& o : outs) autograd::as_view(*this, o);
  if (compute_requires_grad(*this)) {
    int64_t d = wrap_dim(dim, this->dim());
    auto node = make_node<0>("SplitWithSizesBackward0", [d](auto& n, variable_list& g) -> variable_list {
      std::vector<Tensor> pieces;
      pieces.reserve(g.size());
      for (size_t i = 0; i < g.size(); ++i) pieces.push_back(autograd::grad_or_zeros(n, g, i));
      return {tessera::cat(pieces, d)};
    }, *this);
    for (const Tensor& o : outs) set_history(o, node);
  }
  return outs;
}

std::vector<Tensor> Tensor::split(int64_t split_size, int64_t dim) const {
  int64_t d = wrap_dim(dim, this->dim(), "split");
  TESSERA_CHECK(split_size > 0 || size(d) == 0, ValueError, "split: split_size must be positive, got {}", split_size);
  Shape sizes;
  for (int64_t start = 0; start < size(d); start += split_size) sizes.push_back(std::min(split_size, size(d) - start));
  return split_with_sizes(sizes, d);
}

std::vector<Tensor> Tensor::chunk(int64_t chunks, int64_t dim) const {
  TESSERA_CHECK(chunks > 0, ValueError, "chunk: number of chunks must be positive, got {}", chunks);
  int64_t d = wrap_dim(dim, this->dim(), "chunk");
  int64_t split_size = std::max<int64_t>(1, (size(d) + chunks - 1) / chunks);
  return split(split_size, d);
}

// ---- joins ----

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor out = raw::cat(tensors, dim);
  if (!compute_requires_grad(tensors)) return out;
  int64_t d = wrap_dim(dim, tensors[0].dim());
  std::vector<int64_t> lengths;
  std::vector<DType> dtypes;
  for (const Tensor& t : tensors) {
    lengths.push_back(t.size(d));
    dtypes.push_back(t.dtype());
  }
  auto node = autograd::make_node_list<0>("CatBackward0", [d, lengths, dtypes](auto& n, variable_list& g) {
    variable_list out(lengths.size());
    int64_t start = 0;
    for (size_t i = 0; i < lengths.size(); ++i) {
      if (n.should_compute_output(i)) out[i] = g[0].narrow(d, start, lengths[i]).to(dtypes[i]);
      start += lengths[i];
    }
    return out;
  }, tensors);
  set_history(out, node);
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  TESSERA_CHECK(!tensors.empty(), ValueError, "stack: expected a non-empty list of Tensors");
  Tensor out = raw::stack(tensors, dim);
  if (!compute_requires_grad(tensors)) return out;
  int64_t d = wrap_dim(dim, tensors[0].dim() + 1);
  std::vector<DType> dtypes;
  for (const Tensor& t : tensors) dtypes.push_back(t.dtype());
  auto node = autograd::make_node_list<0>("StackBackward0", [d, dtypes](auto& n, variable_list& g) {
    variable_list out(dtypes.size());
    for (size_t i = 0; i < dtypes.size(); ++i)
      if (n.should_compute_output(i)) out[i] = g[0].select(d, int64_t(i)).to(dtypes[i]);
    return out;
  }, tensors);
  set_history(out, node);
  return out;
}

}  // namespace tessera
