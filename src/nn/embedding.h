// nn::Embedding: a [num_embeddings, embedding_dim] table indexed by int64 (or int32) token ids.
#pragma once

#include "tessera/nn/unary_module.h"

namespace tessera::nn {

class Embedding : public UnaryModule {
 public:
  // weight initialised N(0, 1), as PyTorch.
  Embedding(int64_t num_embeddings, int64_t embedding_dim);
  Tensor forward(const Tensor& indices) override;  // [...] -> [..., dim]; ids outside [0, num) throw
  std::string extra_repr() const override;

  int64_t num_embeddings, embedding_dim;
  Tensor weight;
};

}  // namespace tessera::nn
