// AccumulateGrad: sums gradients into leaf .grad and runs post-accumulate-grad hooks.
#include "tessera/autograd/accumulate_grad.h"

#include "tessera/autograd/autograd_meta.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::autograd {

AccumulateGrad::AccumulateGrad(Tensor variable) : Node(kMaxSequenceNr), variable_(std::move(variable)) {
  add_input_metadata(variable_);
}

void AccumulateGrad::call_tensor_pre_hooks(variable_list& grads) {
  AutogradMeta* m = autograd_meta_or_null(variable_);
  if (m && m->hooks) grads[0] = m->hooks->run(std::move(grads[0]), "AccumulateGrad");
}

void accumulate_into_grad(const Tensor& leaf, Tensor new_grad) {
  AutogradMeta& m = get_autograd_meta(leaf);
  Tensor& grad = m.grad;
  if (!grad.defined()) {
    // Steal the incoming gradient when it is ours alone (no other handle, no other view of its
    // storage, no graph) and laid out densely; otherwise keep a copy.
    bool steal = !GradMode::is_enabled() && new_grad.impl_ptr().use_count() == 1 &&
                 new_grad.storage().use_count() == 1 && new_grad.impl()->autograd_meta == nullptr &&
                 new_grad.is_contiguous();
    if (steal) {
      grad = std::move(new_grad);
    } else if (GradMode::is_enabled()) {
      grad = new_grad.clone();  // differentiable: the .grad keeps its graph (create_graph)
    } else {
      grad = raw::clone(new_grad);
    }
  } else if (!GradMode::is_enabled()) {
    bool in_place = grad.impl()->autograd_meta == nullptr || !grad.requires_grad();
    if (in_place && grad.sizes().equals(new_grad.sizes())) {
      raw::binary_(BinaryOp::Add, grad, new_grad);
    } else {
      grad = raw::binary(BinaryOp::Add, grad, new_grad);
    }
  } else {
    grad = grad + new_grad;
  }
}

variable_list AccumulateGrad::apply(variable_list&& grads) {
  Tensor g = std::move(grads[0]);
  if (!g.defined()) return {};
  std::lock_guard<std::mutex> lock(mutex_);
  accumulate_into_grad(variable_, std::move(g));
  AutogradMeta* m = autograd_meta_or_null(variable_);
  if (m && m->post_accumulate_grad_hooks) {
    for (const auto& hook : *m->post_accumulate_grad_hooks)
      if (hook) hook(variable_);
  }
  return {};
}

}  // namespace tessera::autograd
