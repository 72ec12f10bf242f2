// Differentiable reductions, softmax and norms (Tensor methods and free functions) with their
// derivatives. Each backward restores the reduced dims (keepdim form) and broadcasts. The fused
// backward kernels (softmax_backward, layer_norm_backward, rms_norm_backward) are used for plain
// backward; under create_graph the formulas are written with differentiable ops (recomputing
// mean/rstd from x) so that second derivatives are correct.
#include <algorithm>

#include "tessera/autograd/autocast.h"
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

// Sorted, unique, wrapped dims of a reduction (empty list: all dims).
Shape reduced_dims(IntArrayRef dims, int64_t ndim) {
  Shape out;
  if (dims.empty()) {
    for (int64_t d = 0; d < ndim; ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, std::max<int64_t>(ndim, 1)));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (ndim == 0) out.clear();
  return out;
}

// g (the gradient of a reduction over `dims`) with the reduced dims put back as size 1.
Tensor unsqueeze_to(const Tensor& g, const Shape& dims, bool keepdim) {
  if (keepdim) return g;
  Tensor r = g;
  for (int64_t d : dims) r = r.unsqueeze(d);
  return r;
}

int64_t count_of(IntArrayRef sizes, const Shape& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= sizes[size_t(d)];
  return n;
}

template <class F>
Tensor record(const char* name, const Tensor& x, Tensor out, F f) {
  if (compute_requires_grad(x)) {
    auto node = make_node<0>(name, std::move(f), x);
    set_history(out, node);
  }
  return out;
}

Tensor sum_impl(const Tensor& x, IntArrayRef dim, bool keepdim, std::optional<DType> dtype, bool all) {
  if (!dtype && autocast::active(x)) {  // autocast: float32 output (Note [autocast op lists])
    Tensor x32 = autocast::to_fp32(x);
    autocast::ExcludeGuard excluded;
    return sum_impl(x32, dim, keepdim, dtype, all);
  }
  Tensor out = raw::sum(x, all ? IntArrayRef() : dim, keepdim && !all, dtype);
  Shape dims = reduced_dims(all ? IntArrayRef() : dim, x.dim());
  Shape in = x.sizes().vec();
  bool kd = keepdim && !all;
  return record("SumBackward0", x, out, [dims, in, kd](auto&, variable_list& g) -> variable_list {
    return {unsqueeze_to(g[0], dims, kd).expand(in)};
  });
}

Tensor mean_impl(const Tensor& x, IntArrayRef dim, bool keepdim, std::optional<DType> dtype, bool all) {
  Tensor out = raw::mean(x, all ? IntArrayRef() : dim, keepdim && !all, dtype);
  Shape dims = reduced_dims(all ? IntArrayRef() : dim, x.dim());
  Shape in = x.sizes().vec();
  bool kd = keepdim && !all;
  double n = double(count_of(in, dims));
  return record("MeanBackward0", x, out, [dims, in, kd, n](auto&, variable_list& g) -> variable_list {
    return {(unsqueeze_to(g[0], dims, kd) / n).expand(in)};
  });
}

// Gradient of amax/amin (and max()/min()): split evenly between the tied extreme elements.
template <bool IsMax>
Tensor minmax_impl(const Tensor& x, IntArrayRef dim, bool keepdim, bool all) {
  Tensor out = IsMax ? raw::amax(x, all ? IntArrayRef() : dim, keepdim && !all)
                     : raw::amin(x, all ? IntArrayRef() : dim, keepdim && !all);
  if (!compute_requires_grad(x)) return out;
  Shape dims = reduced_dims(all ? IntArrayRef() : dim, x.dim());
  bool kd = keepdim && !all;
  auto node = make_node<2>(IsMax ? "AmaxBackward0" : "AminBackward0", [dims, kd](auto& n, variable_list& g) {
    Tensor xs = n.saved(0), res = unsqueeze_to(n.saved(1), dims, kd);
    Tensor mask = (xs == res).to(g[0].dtype());
    Tensor count = mask.sum(dims, /*keepdim=*/true);
    return variable_list{unsqueeze_to(g[0], dims, kd) * mask / count};
  }, x);
  set_history(out, node);
  node->save(0, x);
  node->save(1, out, /*is_output=*/true);
  return out;
}

// values/indices along one dim: the gradient goes to the selected element.
std::tuple<Tensor, Tensor> max_min_dim(const Tensor& x, int64_t dim, bool keepdim, bool is_max) {
  auto [values, indices] = is_max ? raw::max_dim(x, dim, keepdim) : raw::min_dim(x, dim, keepdim);
  if (compute_requires_grad(x)) {
    int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1));
    Shape in = x.sizes().vec();
    bool scalar = x.dim() == 0;
    auto node = make_node<1>(is_max ? "MaxBackward0" : "MinBackward0", [d, in, keepdim, scalar](
                                                                             auto& n, variable_list& g) {
      Tensor gv = g[0], idx = n.saved(0);
      if (scalar) return variable_list{gv};
      if (!keepdim) {
        gv = gv.unsqueeze(d);
        idx = raw::unsqueeze(idx, d);
      }
      return variable_list{raw::full(in, 0, gv.options()).scatter_add(d, idx, gv)};
    }, x);
    set_history(values, node);
    node->add_input_metadata(autograd::InputMetadata());  // indices: no gradient
    node->save(0, indices);
  }
  return {values, indices};
}

Tensor var_std_impl(const Tensor& x, IntArrayRef dim, int64_t correction, bool keepdim, bool is_std, bool all) {
  Tensor out = is_std ? raw::std(x, all ? IntArrayRef() : dim, correction, keepdim && !all)
                      : raw::var(x, all ? IntArrayRef() : dim, correction, keepdim && !all);
  if (!compute_requires_grad(x)) return out;
  Shape dims = reduced_dims(all ? IntArrayRef() : dim, x.dim());
  bool kd = keepdim && !all;
  double denom = double(std::max<int64_t>(count_of(x.sizes(), dims) - correction, 0));
  // d var = 2 (x - mean) / (N - correction); d std = d var / (2 std)
  auto node = make_node<2>(is_std ? "StdBackward0" : "VarBackward0", [dims, kd, denom, is_std](
                                                                         auto& n, variable_list& g) {
    Tensor xs = n.saved(0);
    Tensor centered = xs - xs.mean(dims, /*keepdim=*/true);
    Tensor gk = unsqueeze_to(g[0], dims, kd);
    if (is_std) return variable_list{gk * centered / (unsqueeze_to(n.saved(1), dims, kd) * denom)};
    return variable_list{gk * centered * (2.0 / denom)};
  }, x);
  set_history(out, node);
  node->save(0, x);
  if (is_std) node->save(1, out, /*is_output=*/true);
  return out;
}

}  // namespace

Tensor Tensor::sum(std::optional<DType> dtype) const { return sum_impl(*this, {}, false, dtype, true); }
Tensor Tensor::sum(IntArrayRef dim, bool keepdim, std::optional<DType> dtype) const {
  return sum_impl(*this, dim, keepdim, dtype, false);
}
Tensor Tensor::mean(std::optional<DType> dtype) const { return mean_impl(*this, {}, false, dtype, true); }
Tensor Tensor::mean(IntArrayRef dim, bool keepdim, std::optional<DType> dtype) const {
  return mean_impl(*this, dim, keepdim, dtype, false);
}

Tensor Tensor::prod() const {
  if (autocast::active(*this)) {  // autocast: float32 output (Note [autocast op lists])
    Tensor x32 = autocast::to_fp32(*this);
    autocast::ExcludeGuard excluded;
    return x32.prod();
  }
  Tensor out = raw::prod(*this, {}, false);
  if (!compute_requires_grad(*this)) return out;
  // d prod / d x_i = prod_{j != i} x_j, computed without dividing by zero: with no zero it is
  // prod / x_i; with one zero only that element gets the product of the others; with two or more
  // every gradient is 0.
  auto node = make_node<2>("ProdBackward0", [](auto& n, variable_list& g) -> variable_list {
    Tensor x = n.saved(0), res = n.saved(1);
    Tensor is_zero = x == 0.0;
    int64_t zeros = raw::sum(is_zero, {}, false, DType::Int64).template item<int64_t>();
    if (zeros == 0) return {g[0] * res / x};
    if (zeros > 1) return {raw::full(x.sizes(), 0, g[0].options())};
    Tensor others = where(is_zero, raw::full({}, 1, x.options()), x).prod();
    return {where(is_zero, g[0] * others, raw::full({}, 0, g[0].options()))};
  }, *this);
  set_history(out, node);
  node->save(0, *this);
  node->save(1, out, /*is_output=*/true);
  return out;
}

Tensor Tensor::max() const {
  TESSERA_CHECK(numel() != 0, ValueError,
                "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
                "with the 'dim' argument.");
  return minmax_impl<true>(*this, {}, false, true);
}
Tensor Tensor::min() const {
  TESSERA_CHECK(numel() != 0, ValueError,
                "min(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
                "with the 'dim' argument.");
  return minmax_impl<false>(*this, {}, false, true);
}
std::tuple<Tensor, Tensor> Tensor::max(int64_t dim, bool keepdim) const { return max_min_dim(*this, dim, keepdim, true); }
std::tuple<Tensor, Tensor> Tensor::min(int64_t dim, bool keepdim) const {
  return max_min_dim(*this, dim, keepdim, false);
}
Tensor Tensor::amax(IntArrayRef dim, bool keepdim) const { return minmax_impl<true>(*this, dim, keepdim, false); }
Tensor Tensor::amin(IntArrayRef dim, bool keepdim) const { return minmax_impl<false>(*this, dim, keepdim, false); }
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const { return raw::argmax(*this, dim, keepdim); }
Tensor Tensor::argmin(std::optional<int64_t> dim, bool keepdim) const { return raw::argmin(*this, dim, keepdim); }
Tensor Tensor::var(IntArrayRef dim, int64_t correction, bool keepdim) const {
  return var_std_impl(*this, dim, correction, keepdim, false, false);
}
Tensor Tensor::var(int64_t correction) const { return var_std_impl(*this, {}, correction, false, false, true); }
Tensor Tensor::std(IntArrayRef dim, int64_t correction, bool keepdim) const {
  return var_std_impl(*this, dim, correction, keepdim, true, false);
}
Tensor Tensor::std(int64_t correction) const { return var_std_impl(*this, {}, correction, false, true, true); }

Tensor Tensor::logsumexp(IntArrayRef dim, bool keepdim) const {
  if (autocast::active(*this)) {  // autocast: float32 (Note [autocast op lists])
    Tensor x32 = autocast::to_fp32(*this);
    autocast::ExcludeGuard excluded;
    return x32.logsumexp(dim, keepdim);
  }
  Tensor out = raw::logsumexp(*this, dim, keepdim);
  if (!compute_requires_grad(*this)) return out;
  Shape dims = reduced_dims(dim, this->dim());
  auto node = make_node<2>("LogsumexpBackward0", [dims, keepdim](auto& n, variable_list& g) -> variable_list {
    Tensor x = n.saved(0), res = unsqueeze_to(n.saved(1), dims, keepdim);
    return {unsqueeze_to(g[0], dims, keepdim) * (x - res).exp()};
  }, *this);
  set_history(out, node);
  node->save(0, *this);
  node->save(1, out, /*is_output=*/true);
  return out;
}

namespace {
Tensor softmax_impl(const Tensor& x, int64_t dim, std::optional<DType> dtype, bool log) {
  if (!dtype && autocast::active(x)) {  // autocast: float32 output (Note [autocast op lists])
    Tensor x32 = autocast::to_fp32(x);
    autocast::ExcludeGuard excluded;
    return softmax_impl(x32, dim, dtype, log);
  }
  Tensor out = log ? raw::log_softmax(x, dim, dtype) : raw::softmax(x, dim, dtype);
  if (!compute_requires_grad(x)) return out;
  int64_t d = wrap_dim(dim, std::max<int64_t>(x.dim(), 1));
  if (x.dim() == 0) d = 0;
  bool scalar = x.dim() == 0;
  auto node = make_node<1>(log ? "LogSoftmaxBackward0" : "SoftmaxBackward0", [d, log, scalar](
                                                                                 auto& n, variable_list& g) {
    Tensor y = n.saved(0);
    const Tensor& gy = g[0];
    if (scalar) return variable_list{raw::full({}, 0, gy.options())};  // softmax of one element is constant
    if (!GradMode::is_enabled()) return variable_list{raw::softmax_backward(gy, y, d, log)};
    if (log) return variable_list{gy - y.exp() * gy.sum({d}, /*keepdim=*/true)};
    return variable_list{y * (gy - (gy * y).sum({d}, /*keepdim=*/true))};
  }, x);
  set_history(out, node);
  node->save(0, out, /*is_output=*/true);
  return out;
}
}  // namespace

Tensor Tensor::softmax(int64_t dim, std::optional<DType> dtype) const { return softmax_impl(*this, dim, dtype, false); }
Tensor Tensor::log_softmax(int64_t dim, std::optional<DType> dtype) const {
  return softmax_impl(*this, dim, dtype, true);
}
bool Tensor::allclose(const Tensor& other, double rtol, double atol, bool equal_nan) const {
  return raw::allclose(*this, other, rtol, atol, equal_nan);
}
bool Tensor::equal(const Tensor& other) const { return raw::equal(*this, other); }

Tensor sum(const Tensor& x, std::optional<DType> dtype) { return x.sum(dtype); }
Tensor sum(const Tensor& x, IntArrayRef dim, bool keepdim, std::optional<DType> dtype) {
  return x.sum(dim, keepdim, dtype);
}
Tensor mean(const Tensor& x, std::optional<DType> dtype) { return x.mean(dtype); }
Tensor mean(const Tensor& x, IntArrayRef dim, bool keepdim, std::optional<DType> dtype) {
  return x.mean(dim, keepdim, dtype);
}
Tensor var(const Tensor& x, IntArrayRef dim, int64_t correction, bool keepdim) {
  return x.var(dim, correction, keepdim);
}
Tensor std(const Tensor& x, IntArrayRef dim, int64_t correction, bool keepdim) {
  return x.std(dim, correction, keepdim);
}
Tensor logsumexp(const Tensor& x, IntArrayRef dim, bool keepdim) { return x.logsumexp(dim, keepdim); }
Tensor softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype) { return x.softmax(dim, dtype); }
Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype) { return x.log_softmax(dim, dtype); }

namespace {
// The trailing dims a norm reduces over, as dim indices of x.
Shape norm_dims(int64_t ndim, size_t k) {
  Shape d;
  for (int64_t i = ndim - int64_t(k); i < ndim; ++i) d.push_back(i);
  return d;
}
Tensor sum_over_batch(const Tensor& t, size_t k) {
  Shape dims;
  for (int64_t i = 0; i < t.dim() - int64_t(k); ++i) dims.push_back(i);
  return dims.empty() ? t : t.sum(dims, false);
}
}  // namespace

Tensor layer_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  if (autocast::active(x)) {  // autocast: float32 (Note [autocast op lists])
    Tensor x32 = autocast::to_fp32(x), w32 = autocast::to_fp32(weight), b32 = autocast::to_fp32(bias);
    autocast::ExcludeGuard excluded;
    return layer_norm(x32, normalized_shape, w32, b32, eps);
  }
  auto [out, mean, rstd] = raw::layer_norm(x, normalized_shape, weight, bias, eps);
  if (!compute_requires_grad(x, weight, bias)) return out;
  Shape ns = normalized_shape.vec();
  auto node = make_node<4>("NativeLayerNormBackward0", [ns, eps](auto& n, variable_list& g) {
    Tensor xs = n.saved(0), w = n.saved(3);
    bool need_x = n.should_compute_output(0), need_w = n.should_compute_output(1), need_b = n.should_compute_output(2);
    if (!GradMode::is_enabled()) {
      auto [gx, gw, gb] = raw::layer_norm_backward(g[0], xs, ns, n.saved(1), n.saved(2), w, need_w, need_b);
      return variable_list{need_x ? gx : Tensor(), gw, gb};
    }
    // create_graph: everything as differentiable ops of x (statistics recomputed).
    Shape dims = norm_dims(xs.dim(), ns.size());
    Tensor mu = xs.mean(dims, true);
    Tensor xc = xs - mu;
    Tensor rs = ((xc * xc).mean(dims, true) + eps).rsqrt();
    Tensor xhat = xc * rs;
    Tensor gxhat = w.defined() ? g[0] * w : g[0];
    variable_list r(3);
    if (need_x)
      r[0] = rs * (gxhat - gxhat.mean(dims, true) - xhat * (gxhat * xhat).mean(dims, true));
    if (need_w) r[1] = sum_over_batch(g[0] * xhat, ns.size());
    if (need_b) r[2] = sum_over_batch(g[0], ns.size());
    return r;
  }, x, weight, bias);
  set_history(out, node);
  node->save(0, x);
  node->save(1, mean);
  node->save(2, rstd);
  node->save(3, weight);
  return out;
}

Tensor rms_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight, double eps) {
  if (autocast::active(x)) {  // autocast: float32 (Note [autocast op lists])
    Tensor x32 = autocast::to_fp32(x), w32 = autocast::to_fp32(weight);
    autocast::ExcludeGuard excluded;
    return rms_norm(x32, normalized_shape, w32, eps);
  }
  auto [out, rstd] = raw::rms_norm(x, normalized_shape, weight, eps);
  if (!compute_requires_grad(x, weight)) return out;
  Shape ns = normalized_shape.vec();
  auto node = make_node<3>("RmsNormBackward0", [ns, eps](auto& n, variable_list& g) {
    Tensor xs = n.saved(0), w = n.saved(2);
    bool need_x = n.should_compute_output(0), need_w = n.should_compute_output(1);
    if (!GradMode::is_enabled()) {
      auto [gx, gw] = raw::rms_norm_backward(g[0], xs, ns, n.saved(1), w, need_w);
      return variable_list{need_x ? gx : Tensor(), gw};
    }
    Shape dims = norm_dims(xs.dim(), ns.size());
    Tensor rs = ((xs * xs).mean(dims, true) + eps).rsqrt();
    Tensor xhat = xs * rs;
    Tensor gxhat = w.defined() ? g[0] * w : g[0];
    variable_list r(2);
    if (need_x) r[0] = rs * (gxhat - xhat * (gxhat * xhat).mean(dims, true));
    if (need_w) r[1] = sum_over_batch(g[0] * xhat, ns.size());
    return r;
  }, x, weight);
  set_history(out, node);
  node->save(0, x);
  node->save(1, rstd);
  node->save(2, weight);
  return out;
}

bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  return a.allclose(b, rtol, atol, equal_nan);
}
bool equal(const Tensor& a, const Tensor& b) { return a.equal(b); }

}  // namespace tessera
