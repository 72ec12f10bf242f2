// Differentiable indexing ops and the fused cross-entropy loss (Tensor methods and free
// functions). They forward to the raw kernels; autograd recording is added with the engine.
#include "tessera/autograd/ops.h"
#include "tessera/tensor/raw.h"

namespace tessera {

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) { return raw::index_select(x, dim, index); }
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) { return raw::gather(x, dim, index); }
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  return raw::scatter_add(x, dim, index, src);
}
Tensor embedding(const Tensor& weight, const Tensor& indices) { return raw::embedding(weight, indices); }
Tensor one_hot(const Tensor& indices, int64_t num_classes) { return raw::one_hot(indices, num_classes); }
Tensor tril(const Tensor& x, int64_t diagonal) { return raw::tril(x, diagonal); }
Tensor triu(const Tensor& x, int64_t diagonal) { return raw::triu(x, diagonal); }
Tensor cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index, double label_smoothing,
                     Reduction reduction) {
  return std::get<0>(raw::cross_entropy(logits, target, ignore_index, label_smoothing, reduction));
}

Tensor Tensor::index_select(int64_t dim, const Tensor& index) const { return tessera::index_select(*this, dim, index); }
Tensor Tensor::gather(int64_t dim, const Tensor& index) const { return tessera::gather(*this, dim, index); }
Tensor Tensor::scatter_add(int64_t dim, const Tensor& index, const Tensor& src) const {
  return tessera::scatter_add(*this, dim, index, src);
}
Tensor& Tensor::scatter_add_(int64_t dim, const Tensor& index, const Tensor& src) {
  raw::scatter_add_(*this, dim, index, src);
  bump_version();
  return *this;
}
Tensor Tensor::index_add(int64_t dim, const Tensor& index, const Tensor& source) const {
  return raw::index_add(*this, dim, index, source);
}
Tensor Tensor::tril(int64_t diagonal) const { return tessera::tril(*this, diagonal); }
Tensor Tensor::triu(int64_t diagonal) const { return tessera::triu(*this, diagonal); }

}  // namespace tessera
