// Raw factory ops: empty, full, arange, linspace, eye, scalar_tensor.
#include <cmath>

#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::raw {

Tensor empty(IntArrayRef sizes, const TensorOptions& options) {
  for (int64_t s : sizes) {
    TESSERA_CHECK(s >= 0, ShapeError, "empty: negative dimension {} in shape {}", s, shape_str(sizes));
  }
  int64_t n = numel_of(sizes);
  auto storage = std::make_shared<StorageImpl>(size_t(n) * element_size(options.dtype()), options.device());
  return Tensor::make(std::move(storage), sizes.vec(), contiguous_strides(sizes), 0, options.dtype());
}

Tensor empty_strided(IntArrayRef sizes, IntArrayRef strides, const TensorOptions& options) {
  TESSERA_CHECK(sizes.size() == strides.size(), ShapeError, "empty_strided: {} sizes but {} strides", sizes.size(),
                strides.size());
  int64_t extent = 1;
  for (size_t i = 0; i < sizes.size(); ++i) {
    TESSERA_CHECK(sizes[i] >= 0 && strides[i] >= 0, ShapeError, "empty_strided: invalid size/stride {}/{}", sizes[i],
                  strides[i]);
    if (sizes[i] == 0) extent = 0;
  }
  if (extent != 0) {
    for (size_t i = 0; i < sizes.size(); ++i) extent += (sizes[i] - 1) * strides[i];
  }
  auto storage = std::make_shared<StorageImpl>(size_t(extent) * element_size(options.dtype()), options.device());
  return Tensor::make(std::move(storage), sizes.vec(), strides.vec(), 0, options.dtype());
}

Tensor empty_like(const Tensor& t) { return empty(t.sizes(), t.options()); }

Tensor full(IntArrayRef sizes, Scalar value, const TensorOptions& options) {
  Tensor t = empty(sizes, options);
  fill_(t, value);
  return t;
}

Tensor scalar_tensor(Scalar value, const TensorOptions& options) { return full({}, value, options); }

Tensor arange(Scalar start, Scalar end, Scalar step, const TensorOptions& options) {
  double s = start.to_double(), e = end.to_double(), st = step.to_double();
  TESSERA_CHECK(st != 0, ValueError, "arange: step must be nonzero");
  TESSERA_CHECK((st > 0 && e >= s) || (st < 0 && e <= s), ValueError,
                "arange: upper bound and larger bound inconsistent with step sign (start={}, end={}, step={})", s, e,
                st);
  int64_t n = int64_t(std::ceil((e - s) / st));
  Tensor host = empty({n}, TensorOptions(options.dtype()));
  TESSERA_DISPATCH_NUMERIC_TYPES(options.dtype(), "arange", [&] {
    auto* p = host.data_ptr<scalar_t>();
    bool integral = start.is_integral() && end.is_integral() && step.is_integral();
    for (int64_t i = 0; i < n; ++i) {
      if (integral) p[i] = scalar_t(start.to_long() + i * step.to_long());
      else p[i] = scalar_t(s + double(i) * st);
    }
  });
  return options.device().is_cpu() ? host : to(host, options.device(), options.dtype());
}

Tensor linspace(Scalar start, Scalar end, int64_t steps, const TensorOptions& options) {
  TESSERA_CHECK(steps >= 0, ValueError, "linspace: number of steps must be non-negative, got {}", steps);
  Tensor host = empty({steps}, TensorOptions(kFloat64));
  double s = start.to_double(), e = end.to_double();
  double* p = host.data_ptr<double>();
  double step = steps > 1 ? (e - s) / double(steps - 1) : 0.0;
  // Symmetric evaluation like PyTorch: the second half counts back from `end`.
  for (int64_t i = 0; i < steps; ++i) p[i] = i < steps / 2 ? s + step * double(i) : e - step * double(steps - 1 - i);
  return to(host, options.device(), options.dtype());
}

Tensor eye(int64_t n, int64_t m, const TensorOptions& options) {
  if (m < 0) m = n;
  TESSERA_CHECK(n >= 0, ValueError, "eye: n must be non-negative, got {}", n);
  Tensor host = full({n, m}, 0, TensorOptions(options.dtype()));
  TESSERA_DISPATCH_ALL_TYPES(options.dtype(), "eye", [&] {
    auto* p = host.data_ptr<scalar_t>();
    for (int64_t i = 0; i < std::min(n, m); ++i) p[i * m + i] = scalar_t(1);
  });
  return options.device().is_cpu() ? host : to(host, options.device(), options.dtype());
}

}  // namespace tessera::raw
