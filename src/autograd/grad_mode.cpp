// Thread-local grad / inference / anomaly mode flags.
#include "tessera/autograd/grad_mode.h"

namespace tessera {

namespace {
thread_local bool tl_grad_enabled = true;
thread_local bool tl_inference = false;
// Anomaly mode is process-wide in PyTorch too (a debugging switch).
bool g_anomaly = false;
}  // namespace

bool GradMode::is_enabled() { return tl_grad_enabled; }
void GradMode::set_enabled(bool enabled) { tl_grad_enabled = enabled; }

InferenceMode::InferenceMode(bool enabled) : prev_grad_(tl_grad_enabled), prev_inference_(tl_inference) {
  if (enabled) {
    tl_grad_enabled = false;
    tl_inference = true;
  }
}
InferenceMode::~InferenceMode() {
  tl_grad_enabled = prev_grad_;
  tl_inference = prev_inference_;
}
bool InferenceMode::is_enabled() { return tl_inference; }

namespace autograd {
bool AnomalyMode::is_enabled() { return g_anomaly; }
void AnomalyMode::set_enabled(bool enabled) { g_anomaly = enabled; }
}  // namespace autograd

}  // namespace tessera
