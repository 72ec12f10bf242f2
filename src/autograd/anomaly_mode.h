// Anomaly detection helpers (the mode flag itself is in grad_mode.h): the C++ call stack recorded
// when a node is created, and the context added to errors raised while a node runs backward.
#pragma once

#include <exception>
#include <string>

#include <vector>

#include "tessera/autograd/grad_mode.h"
#include "tessera/tensor/tensor.h"

namespace tessera::autograd {

class Node;

// The current C++ call stack, demangled, one frame per line, skipping `skip` innermost frames.
std::string current_backtrace(int skip = 1);

// Rethrows `error` (a tessera::Error or std::exception) with a note naming `node`, the forward op
// that created it and, in anomaly mode, the forward call stack. Keeps the error's class.
[[noreturn]] void rethrow_with_node_context(std::exception_ptr error, const Node& node);

// Anomaly mode: throws if any defined gradient in `grads` has a NaN, naming node and output index.
void check_for_nan(const Node& node, const std::vector<Tensor>& grads);

}  // namespace tessera::autograd
