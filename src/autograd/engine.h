// The backward engine: runs a graph of Nodes from its roots (Note [engine]).
#pragma once

#include "tessera/autograd/node.h"

namespace tessera::autograd {

// Runs backward from `roots` (edges of the tensors backward was called on) seeded with
// `grad_roots`. keep_graph: do not free saved tensors. create_graph: run the formulas with grad mode
// on, so their results have a graph. `outputs` (optional): the edges of the tensors whose gradients
// are wanted; only the part of the graph leading to them runs and their gradients are returned
// (autograd::grad). accumulate_grad: leaves reached accumulate into .grad (backward); with
// `outputs`, only the AccumulateGrad nodes in `outputs` do.
variable_list run_backward(const edge_list& roots, variable_list grad_roots, bool keep_graph, bool create_graph,
                           const edge_list& outputs, bool accumulate_grad);

// While a backward runs on this thread: whether `fn` is needed by it (false for nodes outside the
// part of the graph restricted by autograd::grad's inputs). True when no backward is running.
bool task_needs(const Node* fn);

}  // namespace tessera::autograd
