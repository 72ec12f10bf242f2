// Tensor's autograd methods: requires_grad_, grad, is_leaf, grad_fn, retain_grad, detach,
// backward, register_hook and register_post_accumulate_grad_hook.
#include "tessera/autograd/autograd.h"
#include "tessera/autograd/autograd_meta.h"
#include "tessera/autograd/variable.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera {

using autograd::AutogradMeta;
using autograd::autograd_meta_or_null;
using autograd::get_autograd_meta;

Tensor& Tensor::requires_grad_(bool requires_grad) {
  TESSERA_CHECK(!requires_grad || is_floating_point(), DTypeError,
                "requires_grad_: only Tensors of floating point dtype can require gradients (got {})",
                dtype_name(dtype()));
  if (!is_leaf()) {
    TESSERA_CHECK(requires_grad, ValueError,
                  "you can only change requires_grad flags of leaf variables. If you want to use a computed variable "
                  "in a subgraph that doesn't require differentiation use var_no_grad = var.detach().");
    return *this;
  }
  get_autograd_meta(*this).requires_grad = requires_grad;
  return *this;
}

bool Tensor::requires_grad() const { return autograd::requires_grad(*this); }

const Tensor& Tensor::grad() const {
  static const Tensor undefined;
  auto* m = autograd_meta_or_null(*this);
  return m ? m->grad : undefined;
}

Tensor& Tensor::mutable_grad() { return get_autograd_meta(*this).grad; }

void Tensor::set_grad(const Tensor& g) {
  if (g.defined()) {
    TESSERA_CHECK(g.sizes().equals(sizes()), ShapeError,
                  "set_grad: assigned grad has data of a different size ({} vs the tensor's {})", shape_str(g.sizes()),
                  shape_str(sizes()));
    TESSERA_CHECK(g.dtype() == dtype(), DTypeError, "set_grad: assigned grad has dtype {} but the tensor has {}",
                  dtype_name(g.dtype()), dtype_name(dtype()));
    TESSERA_CHECK(g.device() == device(), DeviceError, "set_grad: assigned grad is on {} but the tensor is on {}",
                  g.device().str(), device().str());
  }
  get_autograd_meta(*this).grad = g;
}

bool Tensor::is_leaf() const { return autograd::grad_fn_of(*this) == nullptr; }

std::shared_ptr<autograd::Node> Tensor::grad_fn() const { return autograd::grad_fn_of(*this); }

int64_t Tensor::output_nr() const {
  auto* m = autograd_meta_or_null(*this);
  if (!m) return 0;
  autograd::grad_fn_of(*this);  // views: regenerate first
  return m->output_nr;
}

void Tensor::retain_grad() const {
  TESSERA_CHECK(requires_grad(), ValueError, "can't retain_grad on Tensor that has requires_grad=False");
  if (is_leaf()) return;  // leaves keep their .grad anyway
  AutogradMeta& m = get_autograd_meta(*this);
  if (m.retains_grad) return;
  std::weak_ptr<TensorImpl> weak = impl_;
  m.grad_fn->set_retains_grad_hook(m.output_nr, [weak](const Tensor& g) {
    auto impl = weak.lock();
    if (!impl || !impl->autograd_meta) return;
    Tensor& grad = impl->autograd_meta->grad;
    if (!grad.defined()) {
      grad = g.clone();
    } else {
      grad = grad + g;
    }
  });
  m.retains_grad = true;
}

bool Tensor::retains_grad() const {
  auto* m = autograd_meta_or_null(*this);
  return m && m->retains_grad && !is_leaf();
}

Tensor Tensor::detach() const { return raw::as_strided(*this, sizes(), strides(), storage_offset()); }

Tensor& Tensor::detach_() {
  if (auto* m = autograd_meta_or_null(*this)) {
    TESSERA_CHECK(!m->is_view, ValueError,
                  "Can't detach views in-place. Use detach() instead. If you are using DistributedDataParallel "
                  "(DDP) for training, and gradient_as_bucket_view is set as True, gradients are views of DDP "
                  "buckets, and hence detach_() cannot be called on these gradients. To fix this error, please "
                  "refer to the Optimizer.zero_grad() function in torch/optim/optimizer.py as the solution.");
    m->grad_fn = nullptr;
    m->requires_grad = false;
    m->output_nr = 0;
  }
  return *this;
}

void Tensor::backward(const Tensor& gradient, std::optional<bool> retain_graph, bool create_graph,
                      const std::vector<Tensor>& inputs) const {
  autograd::variable_list grads;
  if (gradient.defined()) grads.push_back(gradient);
  autograd::backward({*this}, grads, retain_graph, create_graph, inputs);
}

HookHandle Tensor::_register_hook(std::function<Tensor(const Tensor&)> hook) const {
  TESSERA_CHECK(requires_grad(), ValueError, "cannot register a hook on a tensor that doesn't require gradient");
  const auto& fn = autograd::grad_fn_of(*this);
  AutogradMeta& m = get_autograd_meta(*this);
  if (!m.hooks) {
    m.hooks = std::make_shared<autograd::TensorHookList>();
    if (fn) fn->add_tensor_pre_hook(m.output_nr, m.hooks);  // leaves: AccumulateGrad reads m.hooks
  }
  m.hooks->fns.push_back(std::move(hook));
  size_t idx = m.hooks->fns.size() - 1;
  std::weak_ptr<autograd::TensorHookList> weak = m.hooks;
  return HookHandle([weak, idx] {
    if (auto list = weak.lock()) list->fns[idx] = nullptr;
  });
}

HookHandle Tensor::register_post_accumulate_grad_hook(std::function<void(const Tensor&)> hook) const {
  TESSERA_CHECK(requires_grad(), ValueError,
                "cannot register a hook on a tensor that doesn't require gradient");
  TESSERA_CHECK(is_leaf(), ValueError, "post accumulate grad hooks cannot be registered on non-leaf tensors");
  AutogradMeta& m = get_autograd_meta(*this);
  if (!m.post_accumulate_grad_hooks)
    m.post_accumulate_grad_hooks = std::make_shared<std::vector<std::function<void(const Tensor&)>>>();
  m.post_accumulate_grad_hooks->push_back(std::move(hook));
  size_t idx = m.post_accumulate_grad_hooks->size() - 1;
  std::weak_ptr<std::vector<std::function<void(const Tensor&)>>> weak = m.post_accumulate_grad_hooks;
  return HookHandle([weak, idx] {
    if (auto list = weak.lock()) (*list)[idx] = nullptr;
  });
}

}  // namespace tessera
