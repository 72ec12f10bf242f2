// Custom autograd functions, as LibTorch's torch::autograd::Function:
//
//   struct MulConstant : public tessera::autograd::Function<MulConstant> {
//     static Tensor forward(AutogradContext* ctx, Tensor x, double c) {
//       ctx->saved_data["c"] = c;
//       return x * c;
//     }
//     static variable_list backward(AutogradContext* ctx, variable_list grads) {
//       return {grads[0] * ctx->saved_data["c"].toDouble(), Tensor()};  // one per forward argument
//     }
//   };
//   Tensor y = MulConstant::apply(x, 5.5);
//
// forward runs with grad mode off and returns a Tensor or a variable_list; backward returns one
// gradient per forward argument (undefined for non-tensor arguments; a std::vector<Tensor> argument
// counts as one argument per element).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/ivalue.h"
#include "tessera/autograd/node.h"
#include "tessera/autograd/saved_variable.h"
#include "tessera/autograd/variable.h"

namespace tessera::autograd {

// State shared by forward and backward of one call of a custom Function.
struct AutogradContext {
  AutogradContext() = default;
  AutogradContext(const AutogradContext&) = delete;
  AutogradContext& operator=(const AutogradContext&) = delete;

  // Non-tensor state (or tensors that are not inputs/outputs) for backward.
  std::unordered_map<std::string, IValue> saved_data;

  // Tensors backward needs (inputs or outputs of forward): saved with version checks.
  void save_for_backward(variable_list to_save);
  // Inputs forward modified in place (their history is rebased onto this function).
  void mark_dirty(const variable_list& inputs);
  // Outputs that are not differentiable (e.g. indices); they do not require grad.
  void mark_non_differentiable(const variable_list& outputs);
  // When true (default), undefined incoming gradients reach backward as zeros.
  void set_materialize_grads(bool value) { materialize_grads_ = value; }
  // The saved tensors (throws once they were freed by a backward without retain_graph).
  variable_list get_saved_variables() const;
  // Whether backward must compute the gradient of the i-th tensor input.
  bool needs_input_grad(size_t tensor_input_index) const;

  // ---- used by Function<T>::apply and CppNode ----
  const std::unordered_set<const TensorImpl*>& dirty() const { return dirty_; }
  const std::unordered_set<const TensorImpl*>& non_differentiable() const { return non_differentiable_; }
  bool materialize_grads() const { return materialize_grads_; }
  void save_variables(const variable_list& outputs);  // after forward: turns to_save into SavedVariables
  void release_variables();
  void set_grad_fn(const std::shared_ptr<Node>& fn) { grad_fn_ = fn; }

 private:
  variable_list to_save_;
  std::vector<SavedVariable> saved_;
  std::unordered_set<const TensorImpl*> dirty_, non_differentiable_;
  std::weak_ptr<Node> grad_fn_;
  bool materialize_grads_ = true;
  bool saved_released_ = false;
};

// The demangled name of a type (CppNode<T>::name()).
std::string demangled_type_name(const char* mangled);

// The node of one call of a custom Function T.
template <class T>
class CppNode final : public Node {
 public:
  variable_list apply(variable_list&& grads) override;
  std::string name() const override { return demangled_type_name(typeid(T).name()); }
  void release_variables() override { ctx_.release_variables(); }

  AutogradContext ctx_;
  std::vector<bool> is_variable_input_;
};

// Attaches the forward outputs to `node` (or leaves them alone when node is null) following the
// ctx's dirty / non-differentiable marks; returns the tensors the caller gets.
variable_list wrap_function_outputs(const variable_list& inputs, variable_list outputs, AutogradContext& ctx,
                                    const std::shared_ptr<Node>& node);
// The checks and filtering of CppNode::apply's result (one gradient per tensor input).
variable_list filter_function_grads(const Node& node, const std::vector<bool>& is_variable_input,
                                    variable_list grads);

namespace detail {
inline void extract_vars(std::vector<bool>&, variable_list&) {}
template <typename A, typename... Rest>
void extract_vars(std::vector<bool>& is_var, variable_list& list, A&& arg, Rest&&... rest) {
  using D = std::decay_t<A>;
  if constexpr (std::is_same_v<D, Tensor>) {
    is_var.push_back(true);
    list.push_back(arg);
  } else if constexpr (std::is_same_v<D, std::vector<Tensor>>) {
    for (const Tensor& t : arg) {
      is_var.push_back(true);
      list.push_back(t);
    }
  } else {
    is_var.push_back(false);
  }
  extract_vars(is_var, list, std::forward<Rest>(rest)...);
}
}  // namespace detail

template <class T>
struct Function {
  template <typename X = T, typename... Args>
  static auto apply(Args&&... args) {
    auto node = std::make_shared<CppNode<X>>();
    variable_list inputs;
    detail::extract_vars(node->is_variable_input_, inputs, args...);
    bool executable = compute_requires_grad(inputs);
    if (executable) node->set_next_edges(collect_next_edges(inputs));
    node->ctx_.set_grad_fn(node);

    using R = decltype(X::forward(std::declval<AutogradContext*>(), std::declval<Args>()...));
    static_assert(std::is_same_v<R, Tensor> || std::is_same_v<R, variable_list>,
                  "Function::forward must return a Tensor or a variable_list");
    variable_list outputs;
    {
      AutoGradMode no_grad(false);
      if constexpr (std::is_same_v<R, Tensor>) {
        outputs.push_back(X::forward(&node->ctx_, std::forward<Args>(args)...));
      } else {
        outputs = X::forward(&node->ctx_, std::forward<Args>(args)...);
      }
    }
    outputs = wrap_function_outputs(inputs, std::move(outputs), node->ctx_, executable ? node : nullptr);
    if constexpr (std::is_same_v<R, Tensor>) {
      return outputs[0];
    } else {
      return outputs;
    }
  }
};

template <class T>
variable_list CppNode<T>::apply(variable_list&& grads) {
  if (ctx_.materialize_grads()) {
    for (size_t i = 0; i < grads.size(); ++i)
      if (!grads[i].defined() && input_metadata(i).defined) grads[i] = input_metadata(i).zeros();
  }
  variable_list out = T::backward(&ctx_, std::move(grads));
  return filter_function_grads(*this, is_variable_input_, std::move(out));
}

}  // namespace tessera::autograd
