// nn::Linear and nn::Embedding.
#include "tessera/nn/linear.h"

#include <cmath>

#include "tessera/autograd/ops.h"
#include "tessera/nn/embedding.h"
#include "tessera/nn/functional.h"
#include "tessera/nn/init.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"

namespace tessera::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias) : UnaryModule("Linear"), in_features(in), out_features(out) {
  TESSERA_CHECK(in >= 0 && out >= 0, ValueError, "Linear: in_features ({}) and out_features ({}) must be >= 0", in,
                out);
  weight = register_parameter("weight", empty({out, in}));
  if (with_bias) bias = register_parameter("bias", empty({out}));
  reset_parameters();
}

void Linear::reset_parameters() {
  if (in_features > 0) {
    init::kaiming_uniform_(weight, std::sqrt(5.0));
  } else {
    init::zeros_(weight);
  }
  if (bias.defined()) {
    const double bound = in_features > 0 ? 1.0 / std::sqrt(double(in_features)) : 0.0;
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Linear::forward(const Tensor& x) { return functional::linear(x, weight, bias); }

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features, out_features, bias.defined());
}

Embedding::Embedding(int64_t num, int64_t dim) : UnaryModule("Embedding"), num_embeddings(num), embedding_dim(dim) {
  TESSERA_CHECK(num >= 0 && dim >= 0, ValueError, "Embedding: num_embeddings ({}) and embedding_dim ({}) must be >= 0",
                num, dim);
  weight = register_parameter("weight", empty({num, dim}));
  init::normal_(weight);
}

Tensor Embedding::forward(const Tensor& indices) {
  TESSERA_CHECK(indices.defined() && (indices.dtype() == kInt64 || indices.dtype() == kInt32), DTypeError,
                "Embedding.forward: expected int64 (or int32) indices, got {}",
                indices.defined() ? std::string(dtype_name(indices.dtype())) : std::string("undefined"));
  return embedding(weight, indices);
}

std::string Embedding::extra_repr() const { return fmt::format("{}, {}", num_embeddings, embedding_dim); }

}  // namespace tessera::nn
