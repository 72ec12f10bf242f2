// Thread-local autocast state (per device type) and the cast helpers the op entry points call
// (Note [autocast op lists]).
#include "tessera/autograd/autocast.h"

#include "tessera/tensor/error.h"

namespace tessera {
namespace autocast {

namespace {
struct State {
  bool enabled[kNumDeviceTypes] = {false, false};
  DType dtype[kNumDeviceTypes] = {kBFloat16, kBFloat16};
  int num_enabled = 0;   // device types enabled (fast path of any_enabled)
  bool excluded = false;
};
thread_local State tl_state;

int idx(DeviceType t) { return static_cast<int>(t); }

bool eligible(const Tensor& t) {
  DType d = t.dtype();
  return d == kFloat32 || d == kBFloat16 || d == kFloat16;
}
}  // namespace

bool is_enabled(DeviceType t) { return tl_state.enabled[idx(t)] && !tl_state.excluded; }
bool any_enabled() { return tl_state.num_enabled > 0 && !tl_state.excluded; }

void set_enabled(DeviceType t, bool enabled) {
  State& s = tl_state;
  if (s.enabled[idx(t)] != enabled) s.num_enabled += enabled ? 1 : -1;
  s.enabled[idx(t)] = enabled;
}

DType get_dtype(DeviceType t) { return tl_state.dtype[idx(t)]; }

void set_dtype(DeviceType t, DType dtype) {
  TESSERA_CHECK(dtype == kBFloat16 || dtype == kFloat16, DTypeError,
                "autocast: the low-precision dtype must be bfloat16 or float16, got {}", dtype_name(dtype));
  tl_state.dtype[idx(t)] = dtype;
}

ExcludeGuard::ExcludeGuard() : prev_(tl_state.excluded) { tl_state.excluded = true; }
ExcludeGuard::~ExcludeGuard() { tl_state.excluded = prev_; }

Snapshot snapshot() {
  Snapshot s;
  for (int i = 0; i < kNumDeviceTypes; ++i) {
    s.enabled[i] = tl_state.enabled[i] && !tl_state.excluded;
    s.dtype[i] = tl_state.dtype[i];
  }
  return s;
}

RestoreGuard::RestoreGuard(const Snapshot& snap) : prev_excluded_(tl_state.excluded) {
  for (int i = 0; i < kNumDeviceTypes; ++i) {
    prev_.enabled[i] = tl_state.enabled[i];
    prev_.dtype[i] = tl_state.dtype[i];
    set_enabled(DeviceType(i), snap.enabled[i]);
    tl_state.dtype[i] = snap.dtype[i];
  }
  tl_state.excluded = false;
}

RestoreGuard::~RestoreGuard() {
  for (int i = 0; i < kNumDeviceTypes; ++i) {
    set_enabled(DeviceType(i), prev_.enabled[i]);
    tl_state.dtype[i] = prev_.dtype[i];
  }
  tl_state.excluded = prev_excluded_;
}

bool active(const Tensor& t) { return any_enabled() && t.defined() && is_enabled(t.device().type); }

Tensor to_lower(const Tensor& t) {
  if (!t.defined() || !eligible(t)) return t;
  DType low = get_dtype(t.device().type);
  return t.dtype() == low ? t : t.to(low);
}

Tensor to_fp32(const Tensor& t) {
  if (!t.defined() || !eligible(t) || t.dtype() == kFloat32) return t;
  return t.to(kFloat32);
}

}  // namespace autocast

AutocastGuard::AutocastGuard(DeviceType device_type, DType dtype, bool enabled)
    : device_type_(device_type),
      prev_enabled_(autocast::tl_state.enabled[autocast::idx(device_type)]),
      prev_dtype_(autocast::get_dtype(device_type)) {
  autocast::set_dtype(device_type, dtype);
  autocast::set_enabled(device_type, enabled);
}

AutocastGuard::~AutocastGuard() {
  autocast::set_enabled(device_type_, prev_enabled_);
  autocast::tl_state.dtype[autocast::idx(device_type_)] = prev_dtype_;
}

}  // namespace tessera
