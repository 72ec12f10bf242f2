// Grad modes (thread-local): GradMode::is_enabled(), NoGradGuard, EnableGradGuard, AutoGradMode,
// InferenceMode, and anomaly detection (AnomalyMode, DetectAnomalyGuard), as in LibTorch.
#pragma once

namespace tessera {

// Note [grad mode is thread-local]
// Whether differentiable ops record graph nodes is a per-thread flag, like PyTorch's. The engine
// sets it to `create_graph` while it runs backward formulas, so that formulas written with the
// differentiable ops build a graph of the backward exactly when double backward was asked for.
struct GradMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

// Sets grad mode to `enabled` for its lifetime and restores the previous mode.
class AutoGradMode {
 public:
  explicit AutoGradMode(bool enabled) : prev_(GradMode::is_enabled()) { GradMode::set_enabled(enabled); }
  ~AutoGradMode() { GradMode::set_enabled(prev_); }
  AutoGradMode(const AutoGradMode&) = delete;
  AutoGradMode& operator=(const AutoGradMode&) = delete;

 private:
  bool prev_;
};

struct NoGradGuard : AutoGradMode {
  NoGradGuard() : AutoGradMode(false) {}
};
struct EnableGradGuard : AutoGradMode {
  EnableGradGuard() : AutoGradMode(true) {}
};

// InferenceMode: no graph recording (like NoGradGuard) and InferenceMode::is_enabled() is true.
// Unlike PyTorch, tensors created inside are ordinary tensors (no "inference tensor" flag).
class InferenceMode {
 public:
  explicit InferenceMode(bool enabled = true);
  ~InferenceMode();
  InferenceMode(const InferenceMode&) = delete;
  InferenceMode& operator=(const InferenceMode&) = delete;
  static bool is_enabled();

 private:
  bool prev_grad_;
  bool prev_inference_;
};

namespace autograd {

// Anomaly detection: nodes remember how they were created (op and C++ call stack), the engine
// checks every gradient for NaN and errors raised in backward name the node and the forward op.
struct AnomalyMode {
  static bool is_enabled();
  static void set_enabled(bool enabled);
};

class DetectAnomalyGuard {
 public:
  explicit DetectAnomalyGuard(bool enabled = true) : prev_(AnomalyMode::is_enabled()) {
    AnomalyMode::set_enabled(enabled);
  }
  ~DetectAnomalyGuard() { AnomalyMode::set_enabled(prev_); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;

 private:
  bool prev_;
};

}  // namespace autograd
}  // namespace tessera
