// Raw softmax / log_softmax (+ backward), layer_norm and rms_norm (+ backward). The backend
// primitives work on contiguous [rows, n] data over the last dim(s): softmax along another dim
// moves that dim last (a transposed contiguous copy), computes, and moves it back.
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::raw {

namespace {

void check_float(const Tensor& x, const char* op) {
  TESSERA_CHECK(x.defined(), ValueError, "{}: undefined tensor", op);
  TESSERA_CHECK(x.is_floating_point(), DTypeError,
                "{}: expected a floating point input, but got {} (pass a float dtype, e.g. dtype=kFloat32)", op,
                dtype_name(x.dtype()));
}

// Runs f(out, in) on `x` with `dim` moved last and contiguous, and returns the result laid out
// like x (contiguous).
template <typename F>
Tensor along_last(const Tensor& x, int64_t dim, const F& f) {
  const int64_t last = x.dim() - 1;
  if (x.dim() == 0 || (dim == last && x.is_contiguous())) {
    Tensor in = contiguous(x);
    Tensor out = empty(in.sizes(), in.options());
    if (out.numel() > 0) f(out, in);
    return out;
  }
  Tensor in = contiguous(transpose(x, dim, last));
  Tensor out = empty(in.sizes(), in.options());
  if (out.numel() > 0) f(out, in);
  return contiguous(transpose(out, dim, last));
}

Tensor softmax_impl(const Tensor& x0, int64_t dim, std::optional<DType> dtype, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  TESSERA_CHECK(x0.defined(), ValueError, "{}: undefined tensor", op);
  Tensor x = dtype && *dtype != x0.dtype() ? to(x0, x0.device(), *dtype) : x0;
  check_float(x, op);
  int64_t d = wrap_dim(dim, x.dim(), op);
  return along_last(x, d, [&](const Tensor& out, const Tensor& in) { backend_for(in).softmax(out, in, log); });
}

// Rows of x normalised over its trailing `normalized_shape` dims; checks the shapes.
int64_t norm_rows(const Tensor& x, IntArrayRef ns, const char* op) {
  TESSERA_CHECK(!ns.empty(), ShapeError,
                "{}: Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, "
                "but got normalized_shape = {}",
                op, shape_str(ns));
  const int64_t nd = x.dim(), k = int64_t(ns.size());
  bool ok = nd >= k;
  for (int64_t i = 0; ok && i < k; ++i) ok = x.size(nd - k + i) == ns[size_t(i)];
  TESSERA_CHECK(ok, ShapeError, "{}: Given normalized_shape={}, expected input with shape [*, {}], but got input of size{}",
                op, shape_str(ns), shape_str(ns).substr(1, shape_str(ns).size() - 2), shape_str(x.sizes()));
  int64_t rows = 1;
  for (int64_t i = 0; i < nd - k; ++i) rows *= x.size(i);
  return rows;
}

// weight/bias (when defined) must have shape normalized_shape; returned contiguous in x's dtype.
Tensor norm_param(const Tensor& p, const Tensor& x, IntArrayRef ns, const char* what, const char* op) {
  if (!p.defined()) return p;
  TESSERA_CHECK(p.sizes().equals(ns), ShapeError,
                "{}: Expected {} to be of same shape as normalized_shape, but got {} of shape {} and "
                "normalized_shape = {}",
                op, what, what, shape_str(p.sizes()), shape_str(ns));
  TESSERA_CHECK(p.device() == x.device(), DeviceError, "{}: expected {} on {} (the input's device), but got {}", op,
                what, x.device().str(), p.device().str());
  return contiguous(to(p, x.device(), x.dtype()));
}

DType stat_dtype(const Tensor& x) { return x.dtype() == kFloat64 ? kFloat64 : kFloat32; }

// grad_out must have x's shape; returned contiguous in x's dtype.
Tensor grad_like(const Tensor& g, const Tensor& x, const char* op) {
  TESSERA_CHECK(g.defined(), ValueError, "{}: undefined grad_out", op);
  TESSERA_CHECK(g.sizes().equals(x.sizes()), ShapeError, "{}: grad_out of shape {} does not match the input shape {}",
                op, shape_str(g.sizes()), shape_str(x.sizes()));
  return contiguous(to(g, x.device(), x.dtype()));
}

void check_stats(const Tensor& s, int64_t rows, const char* what, const char* op) {
  TESSERA_CHECK(s.defined() && s.numel() == rows, ShapeError, "{}: expected {} with {} elements (one per row), got {}",
                op, what, rows, s.defined() ? shape_str(s.sizes()) : std::string("an undefined tensor"));
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype) { return softmax_impl(x, dim, dtype, false); }
Tensor log_softmax(const Tensor& x, int64_t dim, std::optional<DType> dtype) {
  return softmax_impl(x, dim, dtype, true);
}

Tensor softmax_backward(const Tensor& grad_out, const Tensor& out, int64_t dim, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  check_float(out, op);
  Tensor g = grad_like(grad_out, out, op);
  int64_t d = wrap_dim(dim, out.dim(), op);
  const int64_t last = out.dim() - 1;
  const bool moved = out.dim() > 0 && d != last;
  Tensor y = contiguous(moved ? transpose(out, d, last) : out);
  Tensor gy = contiguous(moved ? transpose(g, d, last) : g);
  Tensor gi = empty(y.sizes(), y.options());
  if (gi.numel() > 0) backend_for(y).softmax_backward(gi, gy, y, log);
  return moved ? contiguous(transpose(gi, d, last)) : gi;
}

std::tuple<Tensor, Tensor, Tensor> layer_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight,
                                              const Tensor& bias, double eps) {
  check_float(x, "layer_norm");
  const int64_t rows = norm_rows(x, normalized_shape, "layer_norm");
  Tensor w = norm_param(weight, x, normalized_shape, "weight", "layer_norm");
  Tensor b = norm_param(bias, x, normalized_shape, "bias", "layer_norm");
  Tensor xc = contiguous(x);
  Tensor out = empty(x.sizes(), x.options());
  TensorOptions so = TensorOptions(stat_dtype(x)).device(x.device());
  Tensor mean = empty({rows}, so), rstd = empty({rows}, so);
  if (rows > 0) backend_for(x).layer_norm(out, mean, rstd, xc, w, b, eps);
  return {out, mean, rstd};
}

std::tuple<Tensor, Tensor, Tensor> layer_norm_backward(const Tensor& grad_out, const Tensor& x,
                                                       IntArrayRef normalized_shape, const Tensor& mean,
                                                       const Tensor& rstd, const Tensor& weight,
                                                       bool need_weight_grad, bool need_bias_grad) {
  const char* op = "layer_norm_backward";
  check_float(x, op);
  const int64_t rows = norm_rows(x, normalized_shape, op);
  Tensor g = grad_like(grad_out, x, op);
  check_stats(mean, rows, "mean", op);
  check_stats(rstd, rows, "rstd", op);
  Tensor w = norm_param(weight, x, normalized_shape, "weight", op);
  Tensor xc = contiguous(x);
  Tensor m = contiguous(to(mean, x.device(), stat_dtype(x))), r = contiguous(to(rstd, x.device(), stat_dtype(x)));
  Tensor gi = empty(x.sizes(), x.options());
  Tensor gw = need_weight_grad ? empty(normalized_shape, x.options()) : Tensor();
  Tensor gb = need_bias_grad ? empty(normalized_shape, x.options()) : Tensor();
  if (rows > 0 && x.numel() > 0) {
    backend_for(x).layer_norm_backward(gi, gw, gb, g, xc, m, r, w);
  } else {
    if (gw.defined()) fill_(gw, 0);
    if (gb.defined()) fill_(gb, 0);
  }
  return {gi, gw, gb};
}

std::tuple<Tensor, Tensor> rms_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight, double eps) {
  check_float(x, "rms_norm");
  const int64_t rows = norm_rows(x, normalized_shape, "rms_norm");
  Tensor w = norm_param(weight, x, normalized_shape, "weight", "rms_norm");
  Tensor xc = contiguous(x);
  Tensor out = empty(x.sizes(), x.options());
  Tensor rstd = empty({rows}, TensorOptions(stat_dtype(x)).device(x.device()));
  if (rows > 0) backend_for(x).rms_norm(out, rstd, xc, w, eps);
  return {out, rstd};
}

std::tuple<Tensor, Tensor> rms_norm_backward(const Tensor& grad_out, const Tensor& x, IntArrayRef normalized_shape,
                                             const Tensor& rstd, const Tensor& weight, bool need_weight_grad) {
  const char* op = "rms_norm_backward";
  check_float(x, op);
  const int64_t rows = norm_rows(x, normalized_shape, op);
  Tensor g = grad_like(grad_out, x, op);
  check_stats(rstd, rows, "rstd", op);
  Tensor w = norm_param(weight, x, normalized_shape, "weight", op);
  Tensor xc = contiguous(x);
  Tensor r = contiguous(to(rstd, x.device(), stat_dtype(x)));
  Tensor gi = empty(x.sizes(), x.options());
  Tensor gw = need_weight_grad ? empty(normalized_shape, x.options()) : Tensor();
  if (rows > 0 && x.numel() > 0) {
    backend_for(x).rms_norm_backward(gi, gw, g, xc, r, w);
  } else if (gw.defined()) {
    fill_(gw, 0);
  }
  return {gi, gw};
}

}  // namespace tessera::raw
