// Tensor metadata accessors, raw data access and item(). Op methods live in src/autograd/.
#include "tessera/tensor/tensor.h"

#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera {

namespace {
const TensorImpl& checked(const std::shared_ptr<TensorImpl>& impl, const char* what) {
  if (!impl) throw ValueError(fmt::format("{}: called on an undefined tensor", what));
  return *impl;
}
}  // namespace

Tensor Tensor::make(Storage storage, Shape sizes, Shape strides, int64_t offset, DType dtype) {
  TESSERA_INTERNAL_ASSERT(sizes.size() == strides.size(), "sizes {} strides {}", sizes.size(), strides.size());
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->sizes = std::move(sizes);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

int64_t Tensor::dim() const { return int64_t(checked(impl_, "dim").sizes.size()); }
IntArrayRef Tensor::sizes() const { return checked(impl_, "sizes").sizes; }
IntArrayRef Tensor::strides() const { return checked(impl_, "strides").strides; }
int64_t Tensor::size(int64_t d) const { return impl_->sizes[wrap_dim(d, dim(), "size")]; }
int64_t Tensor::stride(int64_t d) const { return impl_->strides[wrap_dim(d, dim(), "stride")]; }
int64_t Tensor::numel() const { return numel_of(checked(impl_, "numel").sizes); }
DType Tensor::dtype() const { return checked(impl_, "dtype").dtype; }
Device Tensor::device() const { return checked(impl_, "device").storage->device(); }
TensorOptions Tensor::options() const { return TensorOptions().dtype(dtype()).device(device()); }
int64_t Tensor::storage_offset() const { return checked(impl_, "storage_offset").offset; }
size_t Tensor::element_size() const { return tessera::element_size(dtype()); }
size_t Tensor::nbytes() const { return size_t(numel()) * element_size(); }
const Storage& Tensor::storage() const { return checked(impl_, "storage").storage; }
bool Tensor::is_alias_of(const Tensor& other) const {
  return defined() && other.defined() && impl_->storage == other.impl_->storage;
}

bool Tensor::is_contiguous() const {
  const TensorImpl& t = checked(impl_, "is_contiguous");
  int64_t expected = 1;
  for (int64_t d = int64_t(t.sizes.size()) - 1; d >= 0; --d) {
    if (t.sizes[d] == 1) continue;
    if (t.strides[d] != expected) return false;
    expected *= t.sizes[d];
  }
  return true;
}

void* Tensor::data_ptr() const {
  const TensorImpl& t = checked(impl_, "data_ptr");
  return static_cast<char*>(t.storage->data()) + t.offset * int64_t(tessera::element_size(t.dtype));
}

uint32_t Tensor::_version() const { return checked(impl_, "_version").storage->version(); }
void Tensor::bump_version() const { checked(impl_, "bump_version").storage->bump_version(); }

std::string Tensor::toString() const {
  if (!defined()) return "UndefinedTensor";
  return fmt::format("Tensor{} {} {}", shape_str(sizes()), dtype_name(dtype()), device().str());
}

Scalar Tensor::item() const {
  TESSERA_CHECK(defined(), ValueError, "item: called on an undefined tensor");
  TESSERA_CHECK(numel() == 1, ValueError,
                "item: a Tensor with {} elements cannot be converted to Scalar (shape {})", numel(),
                shape_str(sizes()));
  Tensor host = is_cpu() ? *this : raw::to(*this, Device::cpu(), dtype());
  return TESSERA_DISPATCH_ALL_TYPES(dtype(), "item", [&]() -> Scalar {
    return Scalar(*static_cast<const scalar_t*>(host.data_ptr()));
  });
}

}  // namespace tessera
