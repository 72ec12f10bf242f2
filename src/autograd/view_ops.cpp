// Differentiable view, copy and conversion ops on Tensor (forwarding to the raw kernels).
#include "tessera/tensor/raw.h"

namespace tessera {

Tensor Tensor::to(DType dtype, bool copy) const { return raw::to(*this, device(), dtype, copy); }
Tensor Tensor::to(Device device, bool copy) const { return raw::to(*this, device, dtype(), copy); }
Tensor Tensor::to(Device device, DType dtype, bool copy) const { return raw::to(*this, device, dtype, copy); }
Tensor Tensor::to(const TensorOptions& o, bool copy) const { return raw::to(*this, o.device(), o.dtype(), copy); }
Tensor Tensor::contiguous() const { return is_contiguous() ? *this : clone(); }
Tensor Tensor::clone() const { return raw::clone(*this); }
Tensor& Tensor::copy_(const Tensor& src) {
  raw::copy_(*this, src);
  bump_version();
  return *this;
}
Tensor& Tensor::fill_(Scalar value) {
  raw::fill_(*this, value);
  bump_version();
  return *this;
}
Tensor& Tensor::zero_() { return fill_(0); }

Tensor Tensor::view(IntArrayRef shape) const { return raw::view(*this, shape); }
Tensor Tensor::reshape(IntArrayRef shape) const { return raw::reshape(*this, shape); }
Tensor Tensor::transpose(int64_t d0, int64_t d1) const { return raw::transpose(*this, d0, d1); }
Tensor Tensor::t() const {
  TESSERA_CHECK(dim() <= 2, ShapeError, "t: expects a tensor with <= 2 dimensions, but self is {}D", dim());
  return dim() < 2 ? raw::transpose(*this, 0, 0) : raw::transpose(*this, 0, 1);
}
Tensor Tensor::permute(IntArrayRef dims) const { return raw::permute(*this, dims); }
Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  return raw::narrow(*this, dim, start, length);
}
Tensor Tensor::slice(int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) const {
  return raw::slice(*this, dim, start, end, step);
}
Tensor Tensor::select(int64_t dim, int64_t index) const { return raw::select(*this, dim, index); }
Tensor Tensor::expand(IntArrayRef sizes) const { return raw::expand(*this, sizes); }
Tensor Tensor::unsqueeze(int64_t dim) const { return raw::unsqueeze(*this, dim); }
Tensor Tensor::squeeze() const { return raw::squeeze(*this); }
Tensor Tensor::squeeze(int64_t dim) const { return raw::squeeze(*this, dim); }
Tensor Tensor::flatten(int64_t s, int64_t e) const { return raw::flatten(*this, s, e); }
Tensor Tensor::unflatten(int64_t dim, IntArrayRef sizes) const { return raw::unflatten(*this, dim, sizes); }
std::vector<Tensor> Tensor::chunk(int64_t chunks, int64_t dim) const { return raw::chunk(*this, chunks, dim); }
std::vector<Tensor> Tensor::split(int64_t size, int64_t dim) const { return raw::split(*this, size, dim); }
std::vector<Tensor> Tensor::split_with_sizes(IntArrayRef sizes, int64_t dim) const {
  return raw::split_with_sizes(*this, sizes, dim);
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) { return raw::cat(tensors, dim); }
Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) { return raw::stack(tensors, dim); }

}  // namespace tessera
