// SavedVariable: a tensor a backward node keeps from the forward pass, with the version it had
// when saved (Note [saved variable versions]).
#pragma once

#include <memory>

#include "tessera/autograd/node.h"
#include "tessera/tensor/tensor.h"

namespace tessera::autograd {

// Note [saved variable versions]
// A node saves the tensors its formula needs and the storage version each had then. unpack()
// compares with the current version (shared by all views, Note [version counter]) and throws
// PyTorch's "modified by an inplace operation" error on mismatch, so a formula never silently reads
// overwritten data. A node that saves one of its own outputs must not own it (the output's meta owns
// the node: a cycle), so an output is stored as a plain alias and given the node back as grad_fn
// when unpacked under create_graph. After release (backward without retain_graph) unpack throws
// "Trying to backward through the graph a second time".
class SavedVariable {
 public:
  SavedVariable() = default;
  SavedVariable(const Tensor& t, bool is_output);

  // The saved tensor; `saved_for` is the node that saved it (its grad_fn when it is an output).
  Tensor unpack(Node* saved_for = nullptr) const;
  void reset_data();
  bool defined() const { return was_defined_; }

 private:
  Tensor data_;
  uint32_t saved_version_ = 0;
  uint32_t output_nr_ = 0;
  bool was_defined_ = false;
  bool is_output_ = false;
  bool requires_grad_ = false;
  bool released_ = false;
};

}  // namespace tessera::autograd
