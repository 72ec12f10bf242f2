// AutogradMeta: the autograd state a TensorImpl carries once autograd touches it (requires_grad,
// accumulated .grad, the grad_fn that produced it, hooks). Created lazily.
#pragma once

#include <memory>

#include "tessera/tensor/tensor.h"

namespace tessera::autograd {

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;  // null for leaves
  int64_t output_nr = 0;
};

// The meta of t, created on first use.
AutogradMeta& get_autograd_meta(const Tensor& t);
// The meta of t or nullptr.
inline AutogradMeta* autograd_meta_or_null(const Tensor& t) {
  return t.defined() ? t.impl()->autograd_meta.get() : nullptr;
}

}  // namespace tessera::autograd
