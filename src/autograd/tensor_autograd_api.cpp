// Tensor's autograd accessors: requires_grad_, grad, is_leaf, detach.
// (The engine, backward() and hooks arrive with the autograd issue.)
#include "tessera/autograd/autograd_meta.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera {

namespace autograd {
AutogradMeta& get_autograd_meta(const Tensor& t) {
  TESSERA_CHECK(t.defined(), ValueError, "autograd: undefined tensor");
  auto& m = t.impl()->autograd_meta;
  if (!m) m = std::make_shared<AutogradMeta>();
  return *m;
}
}  // namespace autograd

Tensor& Tensor::requires_grad_(bool requires_grad) {
  TESSERA_CHECK(!requires_grad || is_floating_point(), DTypeError,
                "requires_grad_: only Tensors of floating point dtype can require gradients (got {})",
                dtype_name(dtype()));
  autograd::get_autograd_meta(*this).requires_grad = requires_grad;
  return *this;
}

bool Tensor::requires_grad() const {
  auto* m = autograd::autograd_meta_or_null(*this);
  return m && (m->requires_grad || m->grad_fn);
}

const Tensor& Tensor::grad() const {
  static const Tensor undefined;
  auto* m = autograd::autograd_meta_or_null(*this);
  return m ? m->grad : undefined;
}

Tensor& Tensor::mutable_grad() { return autograd::get_autograd_meta(*this).grad; }
void Tensor::set_grad(const Tensor& g) { autograd::get_autograd_meta(*this).grad = g; }

bool Tensor::is_leaf() const {
  auto* m = autograd::autograd_meta_or_null(*this);
  return !m || !m->grad_fn;
}

std::shared_ptr<autograd::Node> Tensor::grad_fn() const {
  auto* m = autograd::autograd_meta_or_null(*this);
  return m ? m->grad_fn : nullptr;
}

int64_t Tensor::output_nr() const {
  auto* m = autograd::autograd_meta_or_null(*this);
  return m ? m->output_nr : 0;
}

Tensor Tensor::detach() const { return raw::as_strided(*this, sizes(), strides(), storage_offset()); }

Tensor& Tensor::detach_() {
  if (auto* m = autograd::autograd_meta_or_null(*this)) {
    m->grad_fn = nullptr;
    m->requires_grad = false;
  }
  return *this;
}

}  // namespace tessera
