// Custom autograd Functions: AutogradContext, wrapping of forward outputs, checks on backward's
// result.
#include "tessera/autograd/function.h"

#include <cxxabi.h>

#include <cstdlib>

#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::autograd {

std::string demangled_type_name(const char* mangled) {
  int status = 0;
  char* d = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string out = status == 0 && d ? d : mangled;
  std::free(d);
  return out;
}

void AutogradContext::save_for_backward(variable_list to_save) { to_save_ = std::move(to_save); }

void AutogradContext::mark_dirty(const variable_list& inputs) {
  dirty_.clear();
  for (const Tensor& t : inputs)
    if (t.defined()) dirty_.insert(t.impl());
}

void AutogradContext::mark_non_differentiable(const variable_list& outputs) {
  non_differentiable_.clear();
  for (const Tensor& t : outputs)
    if (t.defined()) non_differentiable_.insert(t.impl());
}

variable_list AutogradContext::get_saved_variables() const {
  TESSERA_CHECK(!saved_released_, ValueError,
                "Trying to backward through the graph a second time (or directly access saved tensors after they "
                "have already been freed). Saved intermediate values of the graph are freed when you call "
                ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph "
                "a second time or if you need to access saved tensors after calling backward.");
  variable_list out;
  out.reserve(saved_.size());
  auto fn = grad_fn_.lock();
  for (const SavedVariable& s : saved_) out.push_back(s.unpack(fn.get()));
  return out;
}

bool AutogradContext::needs_input_grad(size_t i) const {
  auto fn = grad_fn_.lock();
  return fn && i < fn->num_outputs() && fn->should_compute_output(i);
}

void AutogradContext::save_variables(const variable_list& outputs) {
  saved_.clear();
  saved_.reserve(to_save_.size());
  for (const Tensor& t : to_save_) {
    bool is_output = false;
    for (const Tensor& o : outputs) is_output |= t.defined() && o.defined() && o.is_same(t);
    saved_.emplace_back(t, is_output);
  }
  to_save_.clear();
}

void AutogradContext::release_variables() {
  for (SavedVariable& s : saved_) s.reset_data();
  saved_released_ = true;
}

variable_list wrap_function_outputs(const variable_list& inputs, variable_list outputs, AutogradContext& ctx,
                                    const std::shared_ptr<Node>& node) {
  auto is_input = [&](const Tensor& t) {
    for (const Tensor& in : inputs)
      if (in.defined() && in.is_same(t)) return true;
    return false;
  };
  for (const Tensor& in : inputs) {
    if (in.defined() && ctx.dirty().count(in.impl())) {
      check_inplace(in);
      in.bump_version();
    }
  }
  for (Tensor& out : outputs) {
    bool dirty = out.defined() && ctx.dirty().count(out.impl());
    bool input = out.defined() && is_input(out);
    if (!node) {
      if (input && !dirty) out = out.detach();  // a fresh handle: does not share the input's autograd state
      continue;
    }
    bool differentiable = out.defined() && out.is_floating_point() && !ctx.non_differentiable().count(out.impl());
    if (!differentiable) {
      if (input && !dirty) out = out.detach();
      node->add_input_metadata(InputMetadata());
      continue;
    }
    if (dirty) {
      rebase_history(out, node);
    } else {
      if (input) out = out.detach();
      set_history(out, node);
    }
  }
  if (node) {
    for (const Tensor& in : inputs)
      TESSERA_CHECK(!in.defined() || !ctx.dirty().count(in.impl()) || [&] {
        for (const Tensor& o : outputs)
          if (o.is_same(in)) return true;
        return false;
      }(), ValueError, "Function: some elements marked as dirty weren't returned as outputs");
    ctx.save_variables(outputs);
  }
  return outputs;
}

variable_list filter_function_grads(const Node& node, const std::vector<bool>& is_variable_input,
                                    variable_list grads) {
  size_t expected = is_variable_input.size();
  if (grads.size() > expected) {
    bool extra_undefined = true;
    for (size_t i = expected; i < grads.size(); ++i) extra_undefined &= !grads[i].defined();
    if (extra_undefined) grads.resize(expected);
  }
  TESSERA_CHECK(grads.size() == expected, ValueError,
                "function {} returned an incorrect number of gradients (expected {}, got {})", node.name(), expected,
                grads.size());
  variable_list result;
  result.reserve(node.num_outputs());
  for (size_t i = 0; i < grads.size(); ++i) {
    if (!is_variable_input[i]) {
      TESSERA_CHECK(!grads[i].defined(), ValueError,
                    "function {} returned a gradient different than None at position {}, but the corresponding "
                    "forward input was not a Variable",
                    node.name(), i + 1);
      continue;
    }
    result.push_back(std::move(grads[i]));
  }
  // A non-executable node has no edges; an executable one has one per tensor input.
  if (node.num_outputs() == 0) result.clear();
  return result;
}

}  // namespace tessera::autograd
