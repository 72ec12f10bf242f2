// Raw reductions: sum, mean, prod, amax/amin, max_dim/min_dim, argmax/argmin, var/std,
// logsumexp, sum_to (undo broadcasting), allclose and equal. Each validates dims and dtypes,
// picks the output dtype the way PyTorch does, allocates the keepdim-shaped output, calls the
// backend primitive, and views the result without the reduced dims unless keepdim.
#include <algorithm>
#include <cmath>

#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::raw {

namespace {

// Sorted, unique, non-negative dims; an empty list means every dim. A 0-dim tensor accepts
// dim 0 / -1 and reduces nothing.
std::vector<int64_t> reduce_dims(const Tensor& x, IntArrayRef dims, const char* op) {
  TESSERA_CHECK(x.defined(), ValueError, "{}: undefined tensor", op);
  const int64_t nd = x.dim();
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t d = 0; d < nd; ++d) out.push_back(d);
    return out;
  }
  std::vector<bool> seen(size_t(std::max<int64_t>(nd, 1)), false);
  for (int64_t d : dims) {
    int64_t w = wrap_dim(d, nd, op);
    TESSERA_CHECK(!seen[size_t(w)], ValueError, "{}: dim {} appears multiple times in the list of dims", op, w);
    seen[size_t(w)] = true;
    if (nd > 0) out.push_back(w);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Shape keepdim_shape(const Tensor& x, const std::vector<int64_t>& dims) {
  Shape s = x.sizes().vec();
  for (int64_t d : dims) s[size_t(d)] = 1;
  return s;
}

Shape result_shape(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  if (keepdim) return keepdim_shape(x, dims);
  Shape s;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) s.push_back(x.size(d));
  return s;
}

// The keepdim-shaped output viewed as the result shape.
Tensor finish(const Tensor& out, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return keepdim ? out : view(out, result_shape(x, dims, keepdim));
}

Tensor reduce_impl(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, bool keepdim, DType out_dtype) {
  Tensor out = empty(keepdim_shape(x, dims), TensorOptions(out_dtype).device(x.device()));
  if (out.numel() > 0) backend_for(x).reduce(op, out, x, dims);
  return finish(out, x, dims, keepdim);
}

// Max/min reductions cannot reduce zero elements (PyTorch's messages).
void check_nonempty_reduction(const Tensor& x, const std::vector<int64_t>& dims, bool dims_given, const char* op) {
  if (x.numel() != 0) return;
  TESSERA_CHECK(dims_given, ValueError,
                "{}(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
                "with the 'dim' argument.",
                op);
  for (int64_t d : dims)
    TESSERA_CHECK(x.size(d) != 0, ValueError, "{}(): Expected reduction dim {} to have non-zero size.", op, d);
}

Tensor minmax(const Tensor& x, IntArrayRef dims, bool keepdim, bool is_max, const char* op) {
  std::vector<int64_t> d = reduce_dims(x, dims, op);
  check_nonempty_reduction(x, d, !dims.empty(), op);
  return reduce_impl(is_max ? ReduceOp::Max : ReduceOp::Min, x, d, keepdim, x.dtype());
}

std::tuple<Tensor, Tensor> arg_impl(const Tensor& x, int64_t dim, bool keepdim, bool is_max, const char* op) {
  TESSERA_CHECK(x.defined(), ValueError, "{}: undefined tensor", op);
  int64_t d = wrap_dim(dim, x.dim(), op);
  std::vector<int64_t> dims;
  if (x.dim() > 0) {
    dims.push_back(d);
    TESSERA_CHECK(x.size(d) != 0, ValueError, "{}(): Expected reduction dim {} to have non-zero size.", op, d);
  }
  Shape ks = keepdim_shape(x, dims);
  Tensor values = empty(ks, x.options());
  Tensor indices = empty(ks, TensorOptions(kInt64).device(x.device()));
  if (values.numel() > 0) backend_for(x).arg_reduce(is_max, values, indices, x, d);
  return {finish(values, x, dims, keepdim), finish(indices, x, dims, keepdim)};
}

Tensor argreduce(const Tensor& x, std::optional<int64_t> dim, bool keepdim, bool is_max, const char* op) {
  TESSERA_CHECK(x.defined(), ValueError, "{}: undefined tensor", op);
  if (dim) return std::get<1>(arg_impl(x, *dim, keepdim, is_max, op));
  TESSERA_CHECK(x.numel() != 0, ValueError, "{}(): Expected reduction dim to be specified for input.numel() == 0.",
                op);
  Tensor idx = std::get<1>(arg_impl(reshape(x, {-1}), 0, false, is_max, op));
  return keepdim ? view(idx, Shape(size_t(x.dim()), 1)) : idx;
}

}  // namespace

Tensor sum(const Tensor& x, IntArrayRef dims, bool keepdim, std::optional<DType> dtype) {
  std::vector<int64_t> d = reduce_dims(x, dims, "sum");
  const bool integral = is_integral(x.dtype(), /*include_bool=*/true);
  DType out_dtype = dtype ? *dtype : (integral ? kInt64 : x.dtype());
  // The kernel accumulates integers in int64; any other requested dtype is computed in that dtype.
  Tensor in = (out_dtype == x.dtype() || (integral && out_dtype == kInt64)) ? x : to(x, x.device(), out_dtype);
  return reduce_impl(ReduceOp::Sum, in, d, keepdim, out_dtype);
}

Tensor mean(const Tensor& x, IntArrayRef dims, bool keepdim, std::optional<DType> dtype) {
  std::vector<int64_t> d = reduce_dims(x, dims, "mean");
  DType out_dtype = dtype ? *dtype : x.dtype();
  TESSERA_CHECK(is_floating_point(out_dtype), DTypeError,
                "mean(): could not infer output dtype. Input dtype must be either a floating point or complex "
                "dtype. Got: {}",
                dtype_name(out_dtype));
  Tensor in = out_dtype == x.dtype() ? x : to(x, x.device(), out_dtype);
  return reduce_impl(ReduceOp::Mean, in, d, keepdim, out_dtype);
}

Tensor prod(const Tensor& x, IntArrayRef dims, bool keepdim) {
  std::vector<int64_t> d = reduce_dims(x, dims, "prod");
  DType out_dtype = is_integral(x.dtype(), true) ? kInt64 : x.dtype();
  return reduce_impl(ReduceOp::Prod, x, d, keepdim, out_dtype);
}

Tensor amax(const Tensor& x, IntArrayRef dims, bool keepdim) { return minmax(x, dims, keepdim, true, "amax"); }
Tensor amin(const Tensor& x, IntArrayRef dims, bool keepdim) { return minmax(x, dims, keepdim, false, "amin"); }

std::tuple<Tensor, Tensor> max_dim(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_impl(x, dim, keepdim, true, "max");
}
std::tuple<Tensor, Tensor> min_dim(const Tensor& x, int64_t dim, bool keepdim) {
  return arg_impl(x, dim, keepdim, false, "min");
}
Tensor argmax(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return argreduce(x, dim, keepdim, true, "argmax");
}
Tensor argmin(const Tensor& x, std::optional<int64_t> dim, bool keepdim) {
  return argreduce(x, dim, keepdim, false, "argmin");
}

Tensor var(const Tensor& x, IntArrayRef dims, int64_t correction, bool keepdim) {
  std::vector<int64_t> d = reduce_dims(x, dims, "var");
  TESSERA_CHECK(x.is_floating_point(), DTypeError,
                "var: std and var only support floating point and complex dtypes, got {}", dtype_name(x.dtype()));
  TESSERA_CHECK(correction >= 0, ValueError, "var: correction must be non-negative, got {}", correction);
  Tensor out = empty(keepdim_shape(x, d), x.options());
  if (out.numel() > 0) backend_for(x).var(out, x, d, correction);
  return finish(out, x, d, keepdim);
}

// std = sqrt(var): the var primitive, then the elementwise sqrt primitive in place.
Tensor std(const Tensor& x, IntArrayRef dims, int64_t correction, bool keepdim) {
  std::vector<int64_t> d = reduce_dims(x, dims, "std");
  TESSERA_CHECK(x.is_floating_point(), DTypeError,
                "std: std and var only support floating point and complex dtypes, got {}", dtype_name(x.dtype()));
  TESSERA_CHECK(correction >= 0, ValueError, "std: correction must be non-negative, got {}", correction);
  Tensor out = empty(keepdim_shape(x, d), x.options());
  if (out.numel() > 0) {
    backend_for(x).var(out, x, d, correction);
    backend_for(x).unary(UnaryOp::Sqrt, out, out);
  }
  return finish(out, x, d, keepdim);
}

Tensor logsumexp(const Tensor& x, IntArrayRef dims, bool keepdim) {
  std::vector<int64_t> d = reduce_dims(x, dims, "logsumexp");
  // Integer inputs are computed in the default float dtype, as PyTorch does.
  Tensor in = x.is_floating_point() ? x : to(x, x.device(), kFloat32);
  Tensor out = empty(keepdim_shape(in, d), in.options());
  if (out.numel() > 0) backend_for(in).logsumexp(out, in, d);
  return finish(out, in, d, keepdim);
}

Tensor sum_to(const Tensor& x, IntArrayRef shape) {
  TESSERA_CHECK(x.defined(), ValueError, "sum_to: undefined tensor");
  const int64_t nd = x.dim();
  const int64_t lead = nd - int64_t(shape.size());
  bool ok = lead >= 0;
  for (size_t i = 0; ok && i < shape.size(); ++i) ok = shape[i] == 1 || shape[i] == x.size(lead + int64_t(i));
  TESSERA_CHECK(ok, ShapeError, "sum_to: cannot sum a tensor of shape {} to shape {} ({} does not broadcast to {})",
                shape_str(x.sizes()), shape_str(shape), shape_str(shape), shape_str(x.sizes()));
  if (x.sizes().equals(shape)) return x;
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < lead; ++d) dims.push_back(d);
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] == 1 && x.size(lead + int64_t(i)) != 1) dims.push_back(lead + int64_t(i));
  if (dims.empty()) return view(x, shape);  // only size-1 dims differ
  Tensor s = sum(x, dims, /*keepdim=*/true, x.dtype());
  return view(s, shape);
}

namespace {
// Both tensors broadcast to one shape, on the CPU, contiguous, as `dtype`.
std::pair<Tensor, Tensor> host_pair(const Tensor& a, const Tensor& b, DType dtype, const char* op) {
  TESSERA_CHECK(a.defined() && b.defined(), ValueError, "{}: undefined tensor", op);
  TESSERA_CHECK(a.device() == b.device(), DeviceError,
                "{}: expected both tensors on the same device, but got {} and {}", op, a.device().str(),
                b.device().str());
  Shape s = broadcast_shapes(a.sizes(), b.sizes(), op);
  return {to(expand(a, s), Device::cpu(), dtype, /*copy=*/true), to(expand(b, s), Device::cpu(), dtype, true)};
}
}  // namespace

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  auto [ha, hb] = host_pair(a, b, kFloat64, "allclose");
  const double* pa = ha.data_ptr<double>();
  const double* pb = hb.data_ptr<double>();
  for (int64_t i = 0, n = ha.numel(); i < n; ++i) {
    double x = pa[i], y = pb[i];
    if (std::isnan(x) || std::isnan(y)) {
      if (equal_nan && std::isnan(x) && std::isnan(y)) continue;
      return false;
    }
    if (x == y) continue;  // equal infinities included
    if (std::isinf(x) || std::isinf(y)) return false;
    if (!(std::fabs(x - y) <= atol + rtol * std::fabs(y))) return false;
  }
  return true;
}

bool equal(const Tensor& a, const Tensor& b) {
  TESSERA_CHECK(a.defined() && b.defined(), ValueError, "equal: undefined tensor");
  if (!a.sizes().equals(b.sizes())) return false;
  const bool ints = is_integral(a.dtype(), true) && is_integral(b.dtype(), true);
  auto [ha, hb] = host_pair(a, b, ints ? kInt64 : kFloat64, "equal");
  const int64_t n = ha.numel();
  if (ints) {
    const int64_t* pa = ha.data_ptr<int64_t>();
    const int64_t* pb = hb.data_ptr<int64_t>();
    return std::equal(pa, pa + n, pb);
  }
  const double* pa = ha.data_ptr<double>();
  const double* pb = hb.data_ptr<double>();
  for (int64_t i = 0; i < n; ++i)
    if (!(pa[i] == pb[i])) return false;  // NaN is never equal
  return true;
}

}  // namespace tessera::raw
