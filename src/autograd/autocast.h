// Mixed precision: autocast. Inside an AutocastGuard(device type, low dtype), the differentiable ops
// listed in Note [autocast op lists] cast their floating inputs on that device type, so that the
// matrix products run in bfloat16/float16 while the numerically sensitive ops run in float32. The
// casts are ordinary differentiable to() calls: gradients flow back to float32 master weights in
// float32. The state is thread-local, per device type (CPU, CUDA), and guards nest.
#pragma once

#include "tessera/tensor/device.h"
#include "tessera/tensor/dtype.h"
#include "tessera/tensor/tensor.h"

namespace tessera {

namespace autocast {

// Note [autocast op lists]
// PyTorch's CUDA lists (ATen/autocast_mode.h, 2.x), applied on every device type (tessera's CPU norms
// and softmax compute in float32 anyway, so one policy keeps CPU runs predictive of GPU runs):
//   lower precision (inputs cast to the autocast dtype): matmul, mm, bmm, scaled_dot_product_attention
//     (and nn::functional::linear, which is a matmul);
//   float32 (inputs cast to float32): layer_norm, rms_norm, cross_entropy (= log_softmax + nll_loss),
//     logsumexp, exp, log, log1p, rsqrt, reciprocal, pow;
//   float32 output (PyTorch's fp32_set_opt_dtype; only when no dtype argument is given): softmax,
//     log_softmax, sum, prod.
// Everything else (add, mul, mean, gelu, ...) runs in the dtype of its inputs, promoting mixed
// inputs as usual (a float32 residual + a bfloat16 branch gives float32). Only eligible inputs are
// cast: floating point and not float64; integer/bool/float64 tensors pass through untouched.
// An op entry point applies the policy once and runs the op itself with autocast excluded
// (ExcludeGuard), like PyTorch's autocast dispatch key; the engine runs backward formulas with
// autocast off, so backward ops run in the dtypes the forward chose.

// Whether autocast is on for this thread and device type (false inside an ExcludeGuard).
bool is_enabled(DeviceType device_type);
void set_enabled(DeviceType device_type, bool enabled);
// The low dtype used on this device type (default bfloat16).
DType get_dtype(DeviceType device_type);
void set_dtype(DeviceType device_type, DType dtype);
// True if autocast is on for any device type (the cheap test every op entry point makes first).
bool any_enabled();

// Turns every device type off for its lifetime (used by op entry points and the engine).
class ExcludeGuard {
 public:
  ExcludeGuard();
  ~ExcludeGuard();
  ExcludeGuard(const ExcludeGuard&) = delete;
  ExcludeGuard& operator=(const ExcludeGuard&) = delete;

 private:
  bool prev_;
};

// The autocast settings of this thread as ops see them, and a guard that reinstates such a snapshot
// (activation checkpointing recomputes its segment under the forward's autocast settings).
struct Snapshot {
  bool enabled[kNumDeviceTypes] = {false, false};
  DType dtype[kNumDeviceTypes] = {kBFloat16, kBFloat16};
};
Snapshot snapshot();
class RestoreGuard {
 public:
  explicit RestoreGuard(const Snapshot& snapshot);
  ~RestoreGuard();
  RestoreGuard(const RestoreGuard&) = delete;
  RestoreGuard& operator=(const RestoreGuard&) = delete;

 private:
  Snapshot prev_;
  bool prev_excluded_;
};

// ---- helpers for op entry points ----
// Whether autocast applies to an op whose first tensor input is `t` (defined, device type enabled).
bool active(const Tensor& t);
// t cast to the autocast dtype of its device type if eligible, else t.
Tensor to_lower(const Tensor& t);
// t cast to float32 if eligible (bfloat16/float16), else t.
Tensor to_fp32(const Tensor& t);

}  // namespace autocast

// torch.autocast(device_type, dtype, enabled) as an RAII guard: sets autocast for `device_type` and
// restores the previous setting (enabled flag and dtype) on destruction, so guards nest;
// AutocastGuard(kCPU, kBFloat16, /*enabled=*/false) turns autocast off inside a region.
// dtype must be bfloat16 or float16.
class AutocastGuard {
 public:
  explicit AutocastGuard(DeviceType device_type, DType dtype = kBFloat16, bool enabled = true);
  ~AutocastGuard();
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  DeviceType device_type_;
  bool prev_enabled_;
  DType prev_dtype_;
};

}  // namespace tessera
