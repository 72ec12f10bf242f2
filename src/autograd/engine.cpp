// The backward engine (Note [engine]): dependency counting, per-node input buffers, a ready
// queue ordered by sequence number, gradient validation, hooks, captures for autograd::grad.
#include "tessera/autograd/engine.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <queue>

#include "tessera/autograd/anomaly_mode.h"
#include "tessera/autograd/autocast.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/ops.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::autograd {

// Note [engine]
// 1. A depth-first walk from the graph root counts, for every reachable node, how many edges point
//    at it (its dependencies) and creates its state (dependency count + input buffer).
// 2. The root is ready. Running a node: tensor hooks on its incoming gradients, captures (for
//    autograd::grad), pre-hooks, apply, validation of every returned gradient against the
//    metadata the receiving node recorded (shape: broadcast gradients are summed down; dtype: cast;
//    device: error), post-hooks, release of saved tensors unless keep_graph.
// 3. Each returned gradient is summed into the input buffer of the node its edge points at; a node
//    whose dependency count reaches zero is ready. Ready nodes run highest sequence number first
//    (Note [sequence numbers]).
// Everything is iterative (explicit stacks and a heap), so graph depth never touches the C++ stack.
// The engine runs on the calling thread; a backward called from inside a node (checkpoint) is a
// nested run with its own state.

namespace {

// Open-addressing hash map keyed by node pointer. The dependency pass inserts every reachable
// node before execution starts, so value addresses are stable while nodes run.
template <class V>
class NodeMap {
 public:
  explicit NodeMap(size_t expected = 16) { rehash(std::bit_ceil(std::max<size_t>(16, expected * 2))); }

  // Returns (value, inserted).
  std::pair<V*, bool> try_emplace(const Node* key) {
    if ((size_ + 1) * 4 > keys_.size() * 3) rehash(keys_.size() * 2);
    size_t i = slot(key);
    if (keys_[i] == key) return {&values_[i], false};
    keys_[i] = key;
    ++size_;
    return {&values_[i], true};
  }
  V* find(const Node* key) {
    size_t i = slot(key);
    return keys_[i] == key ? &values_[i] : nullptr;
  }
  const V* find(const Node* key) const { return const_cast<NodeMap*>(this)->find(key); }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  size_t slot(const Node* key) const {
    size_t mask = keys_.size() - 1;
    size_t i = (reinterpret_cast<uintptr_t>(key) >> 4) * 0x9E3779B97F4A7C15ull >> 20 & mask;
    while (keys_[i] != nullptr && keys_[i] != key) i = (i + 1) & mask;
    return i;
  }
  void rehash(size_t cap) {
    std::vector<const Node*> old_keys(cap, nullptr);
    std::vector<V> old_values(cap);
    old_keys.swap(keys_);
    old_values.swap(values_);
    size_ = 0;
    for (size_t i = 0; i < old_keys.size(); ++i) {
      if (!old_keys[i]) continue;
      size_t j = slot(old_keys[i]);
      keys_[j] = old_keys[i];
      values_[j] = std::move(old_values[i]);
      ++size_;
    }
  }

  std::vector<const Node*> keys_;
  std::vector<V> values_;
  size_t size_ = 0;
};

struct NodeState {
  int32_t dependencies = 0;
  variable_list buffer;  // incoming gradients, summed; sized num_inputs on first use
};

struct Capture {
  uint32_t input_nr;   // which incoming gradient of the node
  uint32_t output_idx;  // which result of autograd::grad
};
struct ExecInfo {
  bool needed = false;  // the node must run (it leads to a wanted gradient)
  std::vector<Capture> captures;
};

struct GraphTask {
  bool keep_graph = false;
  bool create_graph = false;
  NodeMap<NodeState> nodes;
  NodeMap<ExecInfo> exec_info;  // empty: run the whole graph
  variable_list captured;
  GraphTask* parent = nullptr;  // enclosing task (nested backward)
};

thread_local GraphTask* tl_current_task = nullptr;

struct ReadyEntry {
  uint64_t seq;
  Node* node;
  NodeState* state;
  bool operator<(const ReadyEntry& o) const { return seq < o.seq; }  // max-heap on seq
};

// Sum `grad` into `slot`. In place when nobody else can see the old tensor; with create_graph the
// sum is a differentiable op so the backward graph records it.
void accumulate(Tensor& slot, Tensor&& grad) {
  if (!grad.defined()) return;
  if (!slot.defined()) {
    slot = std::move(grad);
    return;
  }
  if (GradMode::is_enabled()) {
    slot = slot + grad;
    return;
  }
  bool in_place = slot.impl_ptr().use_count() == 1 && slot.storage().use_count() == 1 &&
                  slot.impl()->autograd_meta == nullptr && slot.sizes().equals(grad.sizes()) &&
                  slot.is_contiguous() && promote_types(slot.dtype(), grad.dtype()) == slot.dtype() &&
                  slot.device() == grad.device();
  if (in_place) {
    raw::binary_(BinaryOp::Add, slot, grad);
  } else {
    slot = raw::binary(BinaryOp::Add, slot, grad);
  }
}

bool expandable_to(IntArrayRef shape, IntArrayRef target) {
  if (shape.size() > target.size()) return false;
  size_t off = target.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1 && shape[i] != target[i + off]) return false;
  return true;
}

void validate_outputs(const Node& fn, variable_list& grads) {
  TESSERA_CHECK(grads.size() == fn.num_outputs(), ValueError,
                "function {} returned an incorrect number of gradients (expected {}, got {})", fn.name(),
                fn.num_outputs(), grads.size());
  for (size_t i = 0; i < grads.size(); ++i) {
    const Edge& e = fn.next_edge(i);
    Tensor& g = grads[i];
    if (!e.is_valid() || !g.defined()) continue;
    const InputMetadata& m = e.function->input_metadata(e.input_nr);
    if (!m.defined) {
      g = Tensor();
      continue;
    }
    if (!m.same_shape(g)) {
      TESSERA_CHECK(expandable_to(m.shape, g.sizes()), ShapeError,
                    "Function {} returned an invalid gradient at index {} - got {} but expected shape compatible "
                    "with {}",
                    fn.name(), i, shape_str(g.sizes()), shape_str(m.shape));
      g = tessera::sum_to(g, m.shape);
    }
    TESSERA_CHECK(g.device() == m.device, DeviceError,
                  "Function {} returned an invalid gradient at index {} - expected device {} but got {}", fn.name(),
                  i, m.device.str(), g.device().str());
    if (g.dtype() != m.dtype) {
      TESSERA_CHECK(is_floating_point(g.dtype()), DTypeError,
                    "Function {} returned an invalid gradient at index {} - expected dtype {} but got {}", fn.name(),
                    i, dtype_name(m.dtype), dtype_name(g.dtype()));
      g = g.to(m.dtype);
    }
  }
}

// Counts dependencies of every node reachable from root (iteratively).
void compute_dependencies(GraphTask& task, Node* root) {
  std::vector<Node*> stack{root};
  task.nodes.try_emplace(root);
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges()) {
      Node* next = e.function.get();
      if (!next) continue;
      auto [state, inserted] = task.nodes.try_emplace(next);
      ++state->dependencies;
      if (inserted) stack.push_back(next);
    }
  }
}

// Marks the nodes on a path from root to one of the output edges as needed and registers the
// captures (autograd::grad) — a post-order walk with an explicit stack.
void init_to_execute(GraphTask& task, Node* root, const edge_list& outputs, bool accumulate_grad) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Edge& e = outputs[i];
    auto [info, inserted] = task.exec_info.try_emplace(e.function.get());
    if (accumulate_grad) {
      info->needed = true;
    } else {
      info->captures.push_back({e.input_nr, uint32_t(i)});
    }
  }
  task.captured.resize(outputs.size());
  auto is_target = [&](Node* n) {
    ExecInfo* info = task.exec_info.find(n);
    return info && (info->needed || !info->captures.empty());
  };
  struct Frame {
    Node* node;
    size_t next = 0;
  };
  NodeMap<char> visited;
  std::vector<Frame> stack{{root}};
  visited.try_emplace(root);
  while (!stack.empty()) {
    Frame& f = stack.back();
    const edge_list& edges = f.node->next_edges();
    if (f.next < edges.size()) {
      Node* child = edges[f.next++].function.get();
      if (!child) continue;
      if (visited.try_emplace(child).second) stack.push_back({child});
      continue;
    }
    Node* n = f.node;
    stack.pop_back();
    bool needed = false;
    for (const Edge& e : edges)
      if (e.function && is_target(e.function.get())) needed = true;
    if (needed) task.exec_info.try_emplace(n).first->needed = true;
  }
}

bool should_run(const GraphTask& task, const Node* n) {
  if (task.exec_info.empty()) return true;
  const ExecInfo* info = task.exec_info.find(n);
  return info && (info->needed || !info->captures.empty());
}

variable_list call_function(GraphTask& task, Node& fn, variable_list& inputs) {
  fn.call_pre_hooks(inputs);
  variable_list outputs;
  // Post-hooks see the incoming gradients too, so keep a copy only when there are any.
  variable_list inputs_copy;
  if (fn.has_post_hooks()) inputs_copy = inputs;
  if (AnomalyMode::is_enabled()) {
    try {
      outputs = fn.apply(std::move(inputs));
      validate_outputs(fn, outputs);
    } catch (...) {
      rethrow_with_node_context(std::current_exception(), fn);
    }
    check_for_nan(fn, outputs);
  } else {
    outputs = fn.apply(std::move(inputs));
    validate_outputs(fn, outputs);
  }
  if (fn.has_post_hooks()) fn.call_post_hooks(outputs, inputs_copy);
  if (!task.keep_graph) fn.release_variables();
  return outputs;
}

void execute(GraphTask& task, Node* root) {
  std::priority_queue<ReadyEntry> ready;
  ready.push({root->sequence_nr(), root, task.nodes.find(root)});
  while (!ready.empty()) {
    ReadyEntry entry = ready.top();
    ready.pop();
    Node& fn = *entry.node;
    variable_list inputs = std::move(entry.state->buffer);
    inputs.resize(fn.num_inputs());
    fn.call_tensor_pre_hooks(inputs);

    if (!task.exec_info.empty()) {
      ExecInfo* info = task.exec_info.find(&fn);
      if (info) {
        for (const Capture& c : info->captures) task.captured[c.output_idx] = inputs[c.input_nr];
      }
      if (!info || !info->needed) continue;
    }

    variable_list outputs = call_function(task, fn, inputs);
    const edge_list& edges = fn.next_edges();
    for (size_t i = 0; i < outputs.size(); ++i) {
      const Edge& e = edges[i];
      if (!e.is_valid()) continue;
      Node* next = e.function.get();
      if (!should_run(task, next)) continue;
      NodeState* state = task.nodes.find(next);
      TESSERA_INTERNAL_ASSERT(state != nullptr, "node {} missing from the dependency map", next->name());
      if (state->buffer.empty()) state->buffer.resize(next->num_inputs());
      accumulate(state->buffer[e.input_nr], std::move(outputs[i]));
      if (--state->dependencies == 0) ready.push({next->sequence_nr(), next, state});
    }
  }
}

}  // namespace

bool task_needs(const Node* fn) {
  GraphTask* t = tl_current_task;
  if (!t || t->exec_info.empty()) return true;
  // Nodes outside the running graph (created by formulas or recomputation during this backward)
  // are not restricted by it.
  return !t->nodes.find(fn) || should_run(*t, fn);
}

variable_list run_backward(const edge_list& roots, variable_list grad_roots, bool keep_graph, bool create_graph,
                           const edge_list& outputs, bool accumulate_grad) {
  auto root = std::make_shared<GraphRoot>(roots, std::move(grad_roots));
  GraphTask task;
  task.keep_graph = keep_graph;
  task.create_graph = create_graph;
  compute_dependencies(task, root.get());
  if (!outputs.empty()) init_to_execute(task, root.get(), outputs, accumulate_grad);

  struct TaskScope {
    GraphTask* prev;
    explicit TaskScope(GraphTask* t) : prev(tl_current_task) {
      t->parent = prev;
      tl_current_task = t;
    }
    ~TaskScope() { tl_current_task = prev; }
  } scope(&task);
  AutoGradMode mode(create_graph);
  autocast::ExcludeGuard no_autocast;  // backward formulas run in the forward's dtypes (Note [autocast op lists])
  // The root passes on the seed gradients (GraphRoot ignores its inputs).
  execute(task, root.get());
  return std::move(task.captured);
}

}  // namespace tessera::autograd
