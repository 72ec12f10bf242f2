// Public factory functions (the random ones live in ops/random.cpp).
#include "tessera/tensor/factory.h"

#include <cstring>

#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera {

namespace {
Tensor finish(Tensor t, const TensorOptions& options) {
  if (options.requires_grad()) t.requires_grad_(true);
  return t;
}
TensorOptions like(const Tensor& t, const std::optional<TensorOptions>& options) {
  return options ? *options : t.options();
}
}  // namespace

Tensor empty(IntArrayRef sizes, const TensorOptions& o) { return finish(raw::empty(sizes, o), o); }
Tensor zeros(IntArrayRef sizes, const TensorOptions& o) { return finish(raw::full(sizes, 0, o), o); }
Tensor ones(IntArrayRef sizes, const TensorOptions& o) { return finish(raw::full(sizes, 1, o), o); }
Tensor full(IntArrayRef sizes, Scalar value, const TensorOptions& o) { return finish(raw::full(sizes, value, o), o); }
Tensor empty_like(const Tensor& t, std::optional<TensorOptions> o) { return empty(t.sizes(), like(t, o)); }
Tensor zeros_like(const Tensor& t, std::optional<TensorOptions> o) { return zeros(t.sizes(), like(t, o)); }
Tensor ones_like(const Tensor& t, std::optional<TensorOptions> o) { return ones(t.sizes(), like(t, o)); }
Tensor full_like(const Tensor& t, Scalar v, std::optional<TensorOptions> o) { return full(t.sizes(), v, like(t, o)); }

Tensor arange(Scalar end, std::optional<TensorOptions> options) { return arange(0, end, 1, options); }
Tensor arange(Scalar start, Scalar end, Scalar step, std::optional<TensorOptions> options) {
  bool integral = !start.is_floating_point() && !end.is_floating_point() && !step.is_floating_point();
  TensorOptions o = options ? *options : TensorOptions(integral ? kInt64 : kFloat32);
  return finish(raw::arange(start, end, step, o), o);
}
Tensor linspace(Scalar start, Scalar end, int64_t steps, const TensorOptions& o) {
  return finish(raw::linspace(start, end, steps, o), o);
}
Tensor eye(int64_t n, const TensorOptions& o) { return finish(raw::eye(n, n, o), o); }
Tensor eye(int64_t n, int64_t m, const TensorOptions& o) { return finish(raw::eye(n, m, o), o); }
Tensor scalar_tensor(Scalar value, const TensorOptions& o) { return finish(raw::scalar_tensor(value, o), o); }

template <typename T>
Tensor from_vector(const std::vector<T>& values, IntArrayRef shape, std::optional<TensorOptions> options) {
  TESSERA_CHECK(numel_of(shape) == int64_t(values.size()), ShapeError,
                "from_vector: shape {} has {} elements but {} values were given", shape_str(shape), numel_of(shape),
                values.size());
  constexpr DType host_dtype = dtype_of<T>::value;
  Tensor host = raw::empty(shape, TensorOptions(host_dtype));
  if constexpr (std::is_same_v<T, bool>) {
    bool* p = host.data_ptr<bool>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = values[i];
  } else {
    if (!values.empty()) std::memcpy(host.data_ptr(), values.data(), values.size() * sizeof(T));
  }
  TensorOptions o = options ? *options : TensorOptions(host_dtype);
  return finish(raw::to(host, o.device(), o.dtype()), o);
}

template <typename T>
Tensor tensor(const std::vector<T>& values, std::optional<TensorOptions> options) {
  return from_vector(values, {int64_t(values.size())}, options);
}

#define TESSERA_INSTANTIATE_FROM_VECTOR(T)                                                              \
  template Tensor from_vector<T>(const std::vector<T>&, IntArrayRef, std::optional<TensorOptions>); \
  template Tensor tensor<T>(const std::vector<T>&, std::optional<TensorOptions>);
TESSERA_INSTANTIATE_FROM_VECTOR(float)
TESSERA_INSTANTIATE_FROM_VECTOR(double)
TESSERA_INSTANTIATE_FROM_VECTOR(int32_t)
TESSERA_INSTANTIATE_FROM_VECTOR(int64_t)
TESSERA_INSTANTIATE_FROM_VECTOR(bool)
TESSERA_INSTANTIATE_FROM_VECTOR(BFloat16)
TESSERA_INSTANTIATE_FROM_VECTOR(Half)

Tensor from_blob(void* data, IntArrayRef sizes, const TensorOptions& options, std::function<void(void*)> deleter) {
  size_t nbytes = size_t(numel_of(sizes)) * element_size(options.dtype());
  auto storage = std::make_shared<StorageImpl>(data, nbytes, options.device(), std::move(deleter));
  return finish(Tensor::make(std::move(storage), sizes.vec(), contiguous_strides(sizes), 0, options.dtype()), options);
}

}  // namespace tessera
