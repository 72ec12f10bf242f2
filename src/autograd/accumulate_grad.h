// AccumulateGrad: the node at the end of every path to a leaf that requires grad; it adds the
// incoming gradient into leaf.grad() and then runs the leaf's post-accumulate-grad hooks.
#pragma once

#include <mutex>

#include "tessera/autograd/node.h"

namespace tessera::autograd {

class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(Tensor variable);
  variable_list apply(variable_list&& grads) override;
  std::string name() const override { return "AccumulateGrad"; }
  // Runs the leaf's register_hook hooks (they live in the leaf's AutogradMeta).
  void call_tensor_pre_hooks(variable_list& grads) override;
  const Tensor& variable() const { return variable_; }

 private:
  Tensor variable_;  // the leaf (shares its TensorImpl)
  std::mutex mutex_;
};

// leaf.grad += new_grad with PyTorch's rules: the first gradient is stolen when nobody else holds
// it (else cloned); later ones are added in place, or out of place under create_graph so that the
// .grad keeps its graph.
void accumulate_into_grad(const Tensor& leaf, Tensor new_grad);

}  // namespace tessera::autograd
