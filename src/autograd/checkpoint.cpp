// Activation checkpointing: CheckpointNode recomputes its segment and runs a nested backward.
#include "tessera/autograd/checkpoint.h"

#include "tessera/autograd/autocast.h"
#include "tessera/autograd/autograd.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/saved_variable.h"
#include "tessera/autograd/variable.h"
#include "tessera/tensor/error.h"

#if __has_include("tessera/tensor/rng.h")
#include "tessera/tensor/rng.h"
#define TESSERA_CHECKPOINT_HAS_RNG 1
#endif

namespace tessera::autograd {

namespace {

#ifdef TESSERA_CHECKPOINT_HAS_RNG
using RngState = decltype(default_generator().get_state());
RngState get_rng_state() { return default_generator().get_state(); }
void set_rng_state(const RngState& s) { default_generator().set_state(s); }
#else
using RngState = int;  // no RNG yet: nothing to restore
RngState get_rng_state() { return 0; }
void set_rng_state(const RngState&) {}
#endif

class CheckpointNode final : public Node {
 public:
  CheckpointNode(CheckpointFn fn, const variable_list& inputs, bool preserve_rng, RngState rng)
      : fn_(std::move(fn)), preserve_rng_(preserve_rng), rng_(rng), autocast_(autocast::snapshot()) {
    for (const Tensor& t : inputs) {
      saved_.emplace_back(t, false);
      input_requires_grad_.push_back(t.defined() && autograd::requires_grad(t));
    }
    set_next_edges(collect_next_edges(inputs));
  }

  std::string name() const override { return "CheckpointFunctionBackward"; }
  void release_variables() override {
    for (auto& s : saved_) s.reset_data();
  }

  variable_list apply(variable_list&& grads) override {
    TESSERA_CHECK(!GradMode::is_enabled(), ValueError,
                  "checkpoint: double backward (create_graph=true) through a checkpointed segment is not supported");
    variable_list inputs;
    for (size_t i = 0; i < saved_.size(); ++i) {
      Tensor t = saved_[i].unpack(this);
      if (t.defined()) {
        t = t.detach();
        if (input_requires_grad_[i]) t.requires_grad_(true);
      }
      inputs.push_back(t);
    }
    variable_list outputs;
    {
      RngState current = get_rng_state();
      if (preserve_rng_) set_rng_state(rng_);
      try {
        EnableGradGuard grad;
        autocast::RestoreGuard autocast_state(autocast_);  // recompute in the forward's autocast dtypes
        outputs = fn_(inputs);
      } catch (...) {
        set_rng_state(current);
        throw;
      }
      set_rng_state(current);
    }
    variable_list roots, root_grads;
    for (size_t i = 0; i < outputs.size() && i < grads.size(); ++i) {
      if (outputs[i].defined() && grads[i].defined() && autograd::requires_grad(outputs[i])) {
        roots.push_back(outputs[i]);
        root_grads.push_back(grads[i]);
      }
    }
    if (!roots.empty()) autograd::backward(roots, root_grads);
    variable_list result;
    for (const Tensor& t : inputs) result.push_back(t.defined() ? t.grad() : Tensor());
    return result;
  }

 private:
  CheckpointFn fn_;
  std::vector<SavedVariable> saved_;
  std::vector<bool> input_requires_grad_;
  bool preserve_rng_;
  RngState rng_;
  autocast::Snapshot autocast_;
};

}  // namespace

variable_list checkpoint(const CheckpointFn& fn, const variable_list& inputs, bool preserve_rng_state) {
  if (!compute_requires_grad(inputs)) return fn(inputs);
  RngState rng = get_rng_state();
  variable_list outputs;
  {
    NoGradGuard no_grad;
    outputs = fn(inputs);
  }
  auto node = std::make_shared<CheckpointNode>(fn, inputs, preserve_rng_state, rng);
  for (Tensor& out : outputs) {
    if (!out.defined() || !out.is_floating_point()) {
      node->add_input_metadata(InputMetadata());
      continue;
    }
    for (const Tensor& in : inputs)
      if (in.defined() && in.is_same(out)) out = out.detach();  // do not rewrite an input's history
    set_history(out, node);
  }
  return outputs;
}

Tensor checkpoint(const std::function<Tensor(const Tensor&)>& fn, const Tensor& input, bool preserve_rng_state) {
  return checkpoint([fn](const variable_list& in) { return variable_list{fn(in[0])}; }, {input},
                    preserve_rng_state)[0];
}

}  // namespace tessera::autograd
