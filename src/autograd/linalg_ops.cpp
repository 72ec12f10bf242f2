// Differentiable matrix products (Tensor::matmul/mm/bmm and the free functions). They forward to
// the raw kernels; autograd recording is added with the engine.
#include "tessera/autograd/ops.h"
#include "tessera/tensor/raw.h"

namespace tessera {

Tensor matmul(const Tensor& a, const Tensor& b) { return raw::matmul(a, b); }
Tensor mm(const Tensor& a, const Tensor& b) { return raw::mm(a, b); }
Tensor bmm(const Tensor& a, const Tensor& b) { return raw::bmm(a, b); }

Tensor Tensor::matmul(const Tensor& other) const { return tessera::matmul(*this, other); }
Tensor Tensor::mm(const Tensor& other) const { return tessera::mm(*this, other); }
Tensor Tensor::bmm(const Tensor& other) const { return tessera::bmm(*this, other); }

}  // namespace tessera
