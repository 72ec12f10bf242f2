// Differentiable reductions, softmax and norms: the Tensor methods and free functions. For now
// they forward to the raw kernels (no graph recording yet; the autograd helper adds the nodes).
#include "tessera/autograd/ops.h"
#include "tessera/tensor/raw.h"

namespace tessera {

Tensor Tensor::sum(std::optional<DType> dtype) const { return raw::sum(*this, {}, false, dtype); }
Tensor Tensor::sum(IntArrayRef dim, bool keepdim, std::optional<DType> dtype) const {
  return raw::sum(*this, dim, keepdim, dtype);
}
Tensor Tensor::mean(std::optional<DType> dtype) const { return raw::mean(*this, {}, false, dtype); }
Tensor Tensor::mean(IntArrayRef dim, bool keepdim, std::optional<DType> dtype) const {
  return raw::mean(*this, dim, keepdim, dtype);
}
Tensor Tensor::prod() const { return raw::prod(*this, {}, false); }
Tensor Tensor::max() const {
  TESSERA_CHECK(numel() != 0, ValueError,
                "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
                "with the 'dim' argument.");
  return raw::amax(*this, {}, false);
}
Tensor Tensor::min() const {
  TESSERA_CHECK(numel() != 0, ValueError,
                "min(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim "
                "with the 'dim' argument.");
  return raw::amin(*this, {}, false);
}
std::tuple<Tensor, Tensor> Tensor::max(int64_t dim, bool keepdim) const { return raw::max_dim(*this, dim, keepdim); }
std::tuple<Tensor, Tensor> Tensor::min(int64_t dim, bool keepdim) const { return raw::min_dim(*this, dim, keepdim); }
Tensor Tensor::amax(IntArrayRef dim, bool keepdim) const { return raw::amax(*this, dim, keepdim); }
Tensor Tensor::amin(IntArrayRef dim, bool keepdim) const { return raw::amin(*this, dim, keepdim); }
Tensor Tensor::argmax(std::optional<int64_t> dim, bool keepdim) const { return raw::argmax(*this, dim, keepdim); }
Tensor Tensor::argmin(std::optional<int64_t> dim, bool keepdim) const { return raw::argmin(*this, dim, keepdim); }
Tensor Tensor::var(IntArrayRef dim, int64_t correction, bool keepdim) const {
  return raw::var(*this, dim, correction, keepdim);
}
Tensor Tensor::var(int64_t correction) const { return raw::var(*this, {}, correction, false); }
Tensor Tensor::std(IntArrayRef dim, int64_t correction, bool keepdim) const {
  return raw::std(*this, dim, correction, keepdim);
}
Tensor Tensor::std(int64_t correction) const { return raw::std(*this, {}, correction, false); }
Tensor Tensor::logsumexp(IntArrayRef dim, bool keepdim) const { return raw::logsumexp(*this, dim, keepdim); }
Tensor Tensor::softmax(int64_t dim, std::optional<DType> dtype) const { return raw::softmax(*this, dim, dtype); }
Tensor Tensor::log_softmax(int64_t dim, std::optional<DType> dtype) const {
  return raw::log_softmax(*this, dim, dtype);
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
Tensor layer_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  return std::get<0>(raw::layer_norm(x, normalized_shape, weight, bias, eps));
}
Tensor rms_norm(const Tensor& x, IntArrayRef normalized_shape, const Tensor& weight, double eps) {
  return std::get<0>(raw::rms_norm(x, normalized_shape, weight, eps));
}
bool allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  return a.allclose(b, rtol, atol, equal_nan);
}
bool equal(const Tensor& a, const Tensor& b) { return a.equal(b); }

}  // namespace tessera
