// SavedVariable: version-checked tensors saved for backward (Note [saved variable versions]).
#include "tessera/autograd/saved_variable.h"

#include <cctype>

#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/variable.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::autograd {

namespace {
// A new handle on t's data (same storage, so the same version counter) without autograd state.
Tensor plain_alias(const Tensor& t) {
  auto impl = std::make_shared<TensorImpl>(*t.impl());
  impl->autograd_meta = nullptr;
  return Tensor(std::move(impl));
}

// PyTorch names the forward op in this message: "ExpBackward0" -> "Exp".
std::string forward_op_name(const std::string& node_name) {
  size_t end = node_name.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(node_name[end - 1]))) --end;
  static const std::string suffix = "Backward";
  if (end >= suffix.size() && node_name.compare(end - suffix.size(), suffix.size(), suffix) == 0 &&
      end > suffix.size())
    return node_name.substr(0, end - suffix.size());
  return node_name;
}

std::string describe(const Tensor& t) {
  std::string dev = t.is_cpu() ? "" : t.device().str() + " ";
  return fmt::format("[tessera {}{} {}]", dev, dtype_name(t.dtype()), shape_str(t.sizes()));
}
}  // namespace

SavedVariable::SavedVariable(const Tensor& t, bool is_output) {
  if (!t.defined()) return;
  was_defined_ = true;
  is_output_ = is_output;
  saved_version_ = t._version();
  if (is_output) {
    // Note [saved variable versions]: never own our own output.
    output_nr_ = uint32_t(t.output_nr());
    requires_grad_ = t.requires_grad();
    data_ = plain_alias(t);
  } else {
    data_ = t;
  }
}

void SavedVariable::reset_data() {
  if (!was_defined_) return;
  released_ = true;
  data_ = Tensor();
}

Tensor SavedVariable::unpack(Node* saved_for) const {
  if (!was_defined_) return Tensor();
  TESSERA_CHECK(!released_, ValueError,
                "Trying to backward through the graph a second time (or directly access saved tensors after they "
                "have already been freed). Saved intermediate values of the graph are freed when you call "
                ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the graph "
                "a second time or if you need to access saved tensors after calling backward.");
  uint32_t current = data_._version();
  if (current != saved_version_) {
    std::shared_ptr<Node> fn;
    uint32_t nr = output_nr_;
    if (is_output_) {
      fn = saved_for ? saved_for->shared_from_this() : nullptr;
    } else {
      fn = grad_fn_of(data_);
      nr = uint32_t(data_.output_nr());
    }
    std::string msg = fmt::format(
        "one of the variables needed for gradient computation has been modified by an inplace operation: {}",
        describe(data_));
    if (fn) msg += fmt::format(", which is output {} of {},", nr, forward_op_name(fn->name()));
    msg += fmt::format(" is at version {}; expected version {} instead.", current, saved_version_);
    if (!AnomalyMode::is_enabled()) {
      msg += " Hint: enable anomaly detection to find the operation that failed to compute its gradient, with "
             "tessera::autograd::DetectAnomalyGuard.";
    } else {
      msg += " Hint: the forward trace further above shows the operation that failed to compute its gradient. "
             "The variable in question was changed in there or anywhere later. Good luck!";
    }
    throw ValueError(msg);
  }
  if (!is_output_ || !requires_grad_ || !saved_for || !GradMode::is_enabled()) return data_;
  // create_graph: the output gets its grad_fn back so that the backward graph reaches this node.
  Tensor out = plain_alias(data_);
  AutogradMeta& m = get_autograd_meta(out);
  m.grad_fn = saved_for->shared_from_this();
  m.output_nr = output_nr_;
  return out;
}

}  // namespace tessera::autograd
