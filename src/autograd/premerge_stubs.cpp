// TEMPORARY (delete when the elementwise and reduction branches are merged): minimal CPU-only
// definitions of the raw ops the engine needs before those branches land (gradient sums and
// sum_to), plus a differentiable operator+. They go through float64 on the host; slow but simple.
#include "tessera/autograd/function_node.h"
#include "tessera/autograd/ops.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera {

namespace {
std::vector<double> host_values(const Tensor& t) {
  Tensor c = raw::contiguous(raw::to(t, Device::cpu(), DType::Float64));
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}
Tensor from_host(const std::vector<double>& v, IntArrayRef shape, DType dtype) {
  Tensor h = raw::empty(shape, TensorOptions(DType::Float64));
  std::copy(v.begin(), v.end(), h.data_ptr<double>());
  return raw::to(h, Device::cpu(), dtype);
}
}  // namespace

namespace raw {

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b, Scalar alpha) {
  TESSERA_CHECK(op == BinaryOp::Add || op == BinaryOp::Sub, ValueError, "premerge stub: only add/sub");
  Shape shape = broadcast_shapes(a.sizes(), b.sizes(), "add");
  auto va = host_values(expand(a, shape)), vb = host_values(expand(b, shape));
  double s = (op == BinaryOp::Sub ? -1.0 : 1.0) * alpha.to_double();
  for (size_t i = 0; i < va.size(); ++i) va[i] += s * vb[i];
  return from_host(va, shape, promote_types(a.dtype(), b.dtype()));
}

void binary_(BinaryOp op, const Tensor& self, const Tensor& other, Scalar alpha) {
  copy_(self, binary(op, self, other, alpha));
}

Tensor sum_to(const Tensor& x, IntArrayRef shape) {
  auto v = host_values(x);
  std::vector<double> out(size_t(numel_of(shape)), 0.0);
  int64_t nd = x.dim(), off = nd - int64_t(shape.size());
  std::vector<int64_t> idx(nd, 0);
  Shape ostr = contiguous_strides(shape);
  for (size_t k = 0; k < v.size(); ++k) {
    int64_t o = 0;
    for (int64_t d = off; d < nd; ++d)
      if (shape[d - off] != 1) o += idx[d] * ostr[d - off];
    out[o] += v[k];
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < x.size(d)) break;
      idx[d] = 0;
    }
  }
  return from_host(out, shape, x.dtype());
}

}  // namespace raw

Tensor operator+(const Tensor& a, const Tensor& b) {
  Tensor out = raw::binary(BinaryOp::Add, a, b, 1);
  if (autograd::compute_requires_grad(a, b)) {
    Shape sa = a.sizes().vec(), sb = b.sizes().vec();
    auto node = autograd::make_node<0>("AddBackward0", [sa, sb](auto&, autograd::variable_list& g) {
      return autograd::variable_list{sum_to(g[0], sa), sum_to(g[0], sb)};
    }, a, b);
    autograd::set_history(out, node);
  }
  return out;
}
Tensor operator-(const Tensor& a, const Tensor& b) {
  TESSERA_CHECK(!autograd::compute_requires_grad(a, b), ValueError, "premerge stub: operator- is not differentiable");
  return raw::binary(BinaryOp::Sub, a, b, 1);
}

}  // namespace tessera
