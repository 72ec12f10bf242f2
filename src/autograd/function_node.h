// How the built-in differentiable ops record their backward: a LambdaNode holds up to N saved
// tensors and a lambda with the derivative formula (non-tensor state lives in its captures). One
// class per formula through the template, one virtual call per node, no std::function.
//
//   Tensor Tensor::exp() const {
//     Tensor out = raw::unary(UnaryOp::Exp, *this);
//     if (compute_requires_grad(*this)) {
//       auto node = make_node<1>("ExpBackward0", [](auto& n, variable_list& g) -> variable_list {
//         return {g[0] * n.saved(0)};
//       }, *this);
//       set_history(out, node);
//       node->save(0, out, /*is_output=*/true);
//     }
//     return out;
//   }
//
// Formulas use the differentiable ops (operator*, Tensor::sum, ...), so under create_graph (grad
// mode on during backward) they record the graph of the backward itself.
#pragma once

#include <array>
#include <memory>
#include <utility>

#include "tessera/autograd/node.h"
#include "tessera/autograd/saved_variable.h"
#include "tessera/autograd/variable.h"

namespace tessera::autograd {

template <size_t N>
class SavedNode : public Node {
 public:
  // Saves t (is_output: t is an output of this node, see Note [saved variable versions]).
  void save(size_t i, const Tensor& t, bool is_output = false) { saved_[i] = SavedVariable(t, is_output); }
  Tensor saved(size_t i) { return saved_[i].unpack(this); }
  bool has_saved(size_t i) const { return saved_[i].defined(); }
  void release_variables() override {
    for (auto& s : saved_) s.reset_data();
  }

 private:
  std::array<SavedVariable, N> saved_;
};

template <size_t N, class F>
class LambdaNode final : public SavedNode<N> {
 public:
  LambdaNode(const char* name, F f) : name_(name), f_(std::move(f)) {}
  variable_list apply(variable_list&& grads) override {
    // Built-in formulas get at least one defined gradient; outputs nobody used stay undefined.
    bool any = false;
    for (const Tensor& g : grads) any |= g.defined();
    if (!any) return variable_list(this->num_outputs());
    return f_(*this, grads);
  }
  std::string name() const override { return name_; }

 private:
  const char* name_;
  F f_;
};

// A node for the formula `f` with next edges to `inputs` (tensors; undefined ones get no edge).
template <size_t N, class F, class... Ts>
std::shared_ptr<LambdaNode<N, F>> make_node(const char* name, F f, const Ts&... inputs) {
  auto node = std::make_shared<LambdaNode<N, F>>(name, std::move(f));
  node->set_next_edges(collect_next_edges(inputs...));
  return node;
}
template <size_t N, class F>
std::shared_ptr<LambdaNode<N, F>> make_node_list(const char* name, F f, const std::vector<Tensor>& inputs) {
  auto node = std::make_shared<LambdaNode<N, F>>(name, std::move(f));
  node->set_next_edges(collect_next_edges(inputs));
  return node;
}

// A gradient that may be undefined (multi-output nodes): zeros of output i's metadata then.
inline Tensor grad_or_zeros(const Node& n, const variable_list& grads, size_t i) {
  return grads[i].defined() ? grads[i] : n.input_metadata(i).zeros();
}

}  // namespace tessera::autograd
