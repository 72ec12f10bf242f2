// The autograd graph: Node (a backward function), Edge (where a node sends each gradient it
// computes), InputMetadata (shape/dtype/device of each gradient a node receives) and the hook
// types. Graph nodes are created by the differentiable ops (function_node.h), by custom Functions
// (function.h) and for leaves by AccumulateGrad (accumulate_grad.h); the engine runs them.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tessera/tensor/tensor.h"

namespace tessera::autograd {

using variable_list = std::vector<Tensor>;
class Node;

// Gradient i of a node flows to input `input_nr` of `function` (an invalid edge: nowhere).
struct Edge {
  std::shared_ptr<Node> function;
  uint32_t input_nr = 0;

  Edge() = default;
  Edge(std::shared_ptr<Node> fn, uint32_t nr) : function(std::move(fn)), input_nr(nr) {}
  bool is_valid() const { return function != nullptr; }
};
using edge_list = std::vector<Edge>;

// What a node expects for its input i (the gradient of its forward output i).
struct InputMetadata {
  Shape shape;
  DType dtype = DType::Float32;
  Device device;
  bool defined = false;  // false for outputs that cannot carry a gradient

  InputMetadata() = default;
  explicit InputMetadata(const Tensor& t);
  bool same_shape(const Tensor& g) const { return g.sizes().equals(shape); }
  // zeros of this shape/dtype/device (used to materialize a missing gradient)
  Tensor zeros() const;
};

// Hooks registered with Tensor::register_hook. Removed hooks are left empty so that indices stay
// stable. One list per (tensor, grad_fn) pair; it is shared by the tensor's AutogradMeta (which adds
// hooks) and by the node that runs them (Note [tensor hooks and in-place]).
struct TensorHookList {
  std::vector<std::function<Tensor(const Tensor&)>> fns;
  // Applies every hook in order; a hook returning a defined tensor replaces the gradient.
  Tensor run(Tensor grad, const char* node_name) const;
};

// Runs before a node's apply on all its incoming gradients (Node::register_prehook).
struct FunctionPreHook {
  virtual ~FunctionPreHook() = default;
  virtual variable_list operator()(const variable_list& grads) = 0;
};
// Runs after a node's apply with (gradients it produced, gradients it received) (Node::register_hook).
struct FunctionPostHook {
  virtual ~FunctionPostHook() = default;
  virtual variable_list operator()(const variable_list& outputs, const variable_list& inputs) = 0;
};

// Note [sequence numbers]
// Every node takes the next value of a thread-local counter when it is created. A node is always
// created after the nodes of its inputs (they exist when the op runs), so a higher sequence number
// means "later in the forward pass". The engine runs ready nodes highest sequence number first, so
// backward follows the reverse forward order (which keeps memory low: gradients of late
// activations are consumed first), like PyTorch. AccumulateGrad and the graph root take UINT64_MAX
// so they run as soon as they are ready.
uint64_t peek_sequence_nr();

class Node : public std::enable_shared_from_this<Node> {
 public:
  static constexpr uint64_t kMaxSequenceNr = std::numeric_limits<uint64_t>::max();

  Node();  // takes the next sequence number; records the forward trace in anomaly mode
  explicit Node(uint64_t sequence_nr);
  // Releases the chain of next edges iteratively (Note [iterative node destruction]).
  virtual ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Gradients w.r.t. the forward inputs (one per next edge, undefined where none) from the
  // gradients w.r.t. the forward outputs (one per input metadata, possibly undefined).
  virtual variable_list apply(variable_list&& grads) = 0;
  // PyTorch-style names: "ExpBackward0", "AccumulateGrad", or the custom Function's class name.
  virtual std::string name() const;
  // Frees the saved tensors (called after the node ran unless retain_graph).
  virtual void release_variables() {}

  uint64_t sequence_nr() const { return sequence_nr_; }

  // ---- outgoing edges (one per forward input) ----
  const edge_list& next_edges() const { return next_edges_; }
  edge_list& mutable_next_edges() { return next_edges_; }
  const Edge& next_edge(size_t i) const { return next_edges_[i]; }
  size_t num_outputs() const { return next_edges_.size(); }
  void add_next_edge(Edge e) { next_edges_.push_back(std::move(e)); }
  void set_next_edges(edge_list edges) { next_edges_ = std::move(edges); }
  // In a backward formula: whether gradient i must be computed: its edge is valid and, when
  // autograd::grad / backward with `inputs` restricts the graph, it leads to one of those inputs.
  // (In forward code, to decide what to save, test next_edge(i).is_valid() instead.)
  bool should_compute_output(size_t i) const;
  bool should_compute_any_output() const;

  // ---- incoming gradients (one per forward output) ----
  uint32_t add_input_metadata(const Tensor& t);
  uint32_t add_input_metadata(InputMetadata m);
  size_t num_inputs() const { return input_metadata_.size(); }
  const InputMetadata& input_metadata(size_t i) const { return input_metadata_[i]; }
  InputMetadata& mutable_input_metadata(size_t i) { return input_metadata_[i]; }

  // ---- hooks ----
  void add_tensor_pre_hook(uint32_t input_nr, std::shared_ptr<TensorHookList> hooks);
  void set_retains_grad_hook(uint32_t input_nr, std::function<void(const Tensor&)> hook);
  bool remove_retains_grad_hook(uint32_t input_nr, std::function<void(const Tensor&)>* out = nullptr);
  void register_prehook(std::unique_ptr<FunctionPreHook> hook) { pre_hooks_.push_back(std::move(hook)); }
  void register_hook(std::unique_ptr<FunctionPostHook> hook) { post_hooks_.push_back(std::move(hook)); }
  // Tensor hooks then retains_grad hooks on the incoming gradients (AccumulateGrad overrides it to
  // run the leaf's hooks).
  virtual void call_tensor_pre_hooks(variable_list& grads);
  void call_pre_hooks(variable_list& grads);
  void call_post_hooks(variable_list& outputs, const variable_list& inputs);
  bool has_post_hooks() const { return !post_hooks_.empty(); }

  // ---- anomaly mode ----
  // How the forward op that created this node was called ("" unless anomaly mode was on).
  const std::string& forward_trace() const;
  void set_forward_trace(std::string trace);

 protected:
  uint64_t sequence_nr_;
  edge_list next_edges_;
  std::vector<InputMetadata> input_metadata_;
  std::vector<std::pair<uint32_t, std::shared_ptr<TensorHookList>>> tensor_pre_hooks_;
  std::vector<std::pair<uint32_t, std::function<void(const Tensor&)>>> retains_grad_hooks_;
  std::vector<std::unique_ptr<FunctionPreHook>> pre_hooks_;
  std::vector<std::unique_ptr<FunctionPostHook>> post_hooks_;
  std::unique_ptr<std::string> forward_trace_;
};

// The node the engine starts from: passes the seed gradients to the roots (the outputs that
// backward was called on).
class GraphRoot final : public Node {
 public:
  GraphRoot(edge_list roots, variable_list grads);
  variable_list apply(variable_list&&) override { return grads_; }
  std::string name() const override { return "GraphRoot"; }

 private:
  variable_list grads_;
};

// A node that throws when run (e.g. the backward of an op without a derivative formula).
class ErrorNode final : public Node {
 public:
  ErrorNode(std::string msg, edge_list next) : msg_(std::move(msg)) { next_edges_ = std::move(next); }
  variable_list apply(variable_list&&) override;
  std::string name() const override { return "Error"; }

 private:
  std::string msg_;
};

}  // namespace tessera::autograd
