// Node basics: sequence numbers, input metadata, hooks, iterative destruction of long chains.
#include "tessera/autograd/node.h"

#include <cxxabi.h>

#include <cstdlib>
#include <typeinfo>

#include "tessera/autograd/anomaly_mode.h"
#include "tessera/autograd/engine.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::autograd {

namespace {
thread_local uint64_t tl_next_sequence_nr = 0;

// Note [iterative node destruction]
// A node owns its next nodes through its edges, so dropping the last tensor of a 100,000-op chain
// would destroy 100,000 nodes recursively and overflow the stack. Instead, a dying node moves its
// edges into a thread-local queue; only the outermost destructor drains it, so every node in the
// chain is destroyed from that loop at constant stack depth.
// (The queue is leaked on purpose: graphs held by globals may die after thread-local destructors ran.)
thread_local std::vector<std::shared_ptr<Node>>* tl_dying = new std::vector<std::shared_ptr<Node>>();
thread_local bool tl_draining = false;
}  // namespace

uint64_t peek_sequence_nr() { return tl_next_sequence_nr; }

InputMetadata::InputMetadata(const Tensor& t) {
  if (!t.defined()) return;
  shape = t.sizes().vec();
  dtype = t.dtype();
  device = t.device();
  defined = true;
}

Tensor InputMetadata::zeros() const {
  TESSERA_INTERNAL_ASSERT(defined, "zeros of undefined input metadata");
  return raw::full(shape, 0, TensorOptions(dtype).device(device));
}

Tensor TensorHookList::run(Tensor grad, const char* node_name) const {
  if (!grad.defined()) return grad;  // no gradient reached this tensor: hooks are not called
  for (const auto& fn : fns) {
    if (!fn) continue;
    Tensor r = fn(grad);
    if (!r.defined()) continue;
    TESSERA_CHECK(r.sizes().equals(grad.sizes()), ShapeError,
                  "hook: a hook on a gradient of {} has changed the size of value: expected {} but got {}", node_name,
                  shape_str(grad.sizes()), shape_str(r.sizes()));
    TESSERA_CHECK(r.device() == grad.device(), DeviceError,
                  "hook: a hook on a gradient of {} has changed the device of value: expected {} but got {}",
                  node_name, grad.device().str(), r.device().str());
    grad = std::move(r);
  }
  return grad;
}

Node::Node() : Node(tl_next_sequence_nr++) {
  if (AnomalyMode::is_enabled()) forward_trace_ = std::make_unique<std::string>(current_backtrace(2));
}

Node::Node(uint64_t sequence_nr) : sequence_nr_(sequence_nr) {}

Node::~Node() {
  for (Edge& e : next_edges_)
    if (e.function) tl_dying->push_back(std::move(e.function));
  if (tl_draining) return;
  tl_draining = true;
  while (!tl_dying->empty()) {
    std::shared_ptr<Node> n = std::move(tl_dying->back());
    tl_dying->pop_back();
    n.reset();  // may run ~Node of n, which only appends to tl_dying
  }
  tl_draining = false;
}

std::string Node::name() const {
  const char* mangled = typeid(*this).name();
  int status = 0;
  char* demangled = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  std::string out = status == 0 && demangled ? demangled : mangled;
  std::free(demangled);
  return out;
}

bool Node::should_compute_output(size_t i) const {
  const Edge& e = next_edges_[i];
  return e.is_valid() && task_needs(e.function.get());
}

bool Node::should_compute_any_output() const {
  for (size_t i = 0; i < next_edges_.size(); ++i)
    if (should_compute_output(i)) return true;
  return false;
}

uint32_t Node::add_input_metadata(const Tensor& t) { return add_input_metadata(InputMetadata(t)); }
uint32_t Node::add_input_metadata(InputMetadata m) {
  input_metadata_.push_back(std::move(m));
  return uint32_t(input_metadata_.size() - 1);
}

void Node::add_tensor_pre_hook(uint32_t input_nr, std::shared_ptr<TensorHookList> hooks) {
  tensor_pre_hooks_.emplace_back(input_nr, std::move(hooks));
}

void Node::set_retains_grad_hook(uint32_t input_nr, std::function<void(const Tensor&)> hook) {
  for (auto& [nr, fn] : retains_grad_hooks_) {
    if (nr == input_nr) {
      fn = std::move(hook);
      return;
    }
  }
  retains_grad_hooks_.emplace_back(input_nr, std::move(hook));
}

bool Node::remove_retains_grad_hook(uint32_t input_nr, std::function<void(const Tensor&)>* out) {
  for (size_t i = 0; i < retains_grad_hooks_.size(); ++i) {
    if (retains_grad_hooks_[i].first == input_nr) {
      if (out) *out = std::move(retains_grad_hooks_[i].second);
      retains_grad_hooks_.erase(retains_grad_hooks_.begin() + i);
      return true;
    }
  }
  return false;
}

void Node::call_tensor_pre_hooks(variable_list& grads) {
  if (tensor_pre_hooks_.empty() && retains_grad_hooks_.empty()) return;
  std::string nm = name();
  for (auto& [nr, hooks] : tensor_pre_hooks_) grads[nr] = hooks->run(std::move(grads[nr]), nm.c_str());
  for (auto& [nr, fn] : retains_grad_hooks_)
    if (grads[nr].defined()) fn(grads[nr]);
}

void Node::call_pre_hooks(variable_list& grads) {
  for (auto& h : pre_hooks_) {
    variable_list r = (*h)(grads);
    if (!r.empty()) {
      TESSERA_CHECK(r.size() == grads.size(), ValueError,
                    "hook: a pre-hook of {} returned {} gradients but the node has {} inputs", name(), r.size(),
                    grads.size());
      grads = std::move(r);
    }
  }
}

void Node::call_post_hooks(variable_list& outputs, const variable_list& inputs) {
  for (auto& h : post_hooks_) {
    variable_list r = (*h)(outputs, inputs);
    if (!r.empty()) {
      TESSERA_CHECK(r.size() == outputs.size(), ValueError,
                    "hook: a post-hook of {} returned {} gradients but the node has {} outputs", name(), r.size(),
                    outputs.size());
      outputs = std::move(r);
    }
  }
}

const std::string& Node::forward_trace() const {
  static const std::string empty;
  return forward_trace_ ? *forward_trace_ : empty;
}
void Node::set_forward_trace(std::string trace) { forward_trace_ = std::make_unique<std::string>(std::move(trace)); }

GraphRoot::GraphRoot(edge_list roots, variable_list grads) : Node(kMaxSequenceNr), grads_(std::move(grads)) {
  next_edges_ = std::move(roots);
}

variable_list ErrorNode::apply(variable_list&&) { throw ValueError(msg_); }

}  // namespace tessera::autograd
