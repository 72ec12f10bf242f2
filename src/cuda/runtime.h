// RAII for CUDA devices, streams and events, the per-thread current stream every kernel of the
// CUDA backend is queued on (Note [cuda streams]), and record_stream. Installed for users who have
// the CUDA toolkit's headers (it includes cuda_runtime_api.h); tessera/cuda/cuda.h needs none.
#pragma once

#include <cuda_runtime_api.h>

#include <vector>

#include "tessera/tensor/tensor.h"

namespace tessera::cuda {

// Note [cuda streams]
// Every primitive of the CUDA backend enqueues its kernels on current_stream(device) of the calling
// thread, which is the legacy default stream unless a StreamGuard set another. Work on one stream
// is ordered; across streams the user orders it with events (Event::record / Event::wait), as in
// PyTorch. The caching allocator ties each block to the stream it was allocated on and reuses it
// only there (Note [caching allocator]); a tensor that work on another stream reads or writes must
// be passed to record_stream(t, stream) before it is freed. Blocking host<->device copies
// synchronise the stream before returning; copy_(src, /*non_blocking=*/true) between pinned host
// memory and the device does not (Note [pinned host memory]): synchronise before reading the host.

// Sets the current device for its scope and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
};

// An owned stream; the destructor waits for the stream's work before destroying it, so a later
// stream that the driver gives the same handle never inherits blocks still in use.
class Stream {
 public:
  explicit Stream(int device, bool non_blocking = true);
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  int device() const { return device_; }
  void synchronize() const;

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
};

class Event {
 public:
  explicit Event(bool timing = false);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record(cudaStream_t stream);
  void wait(cudaStream_t stream) const;  // stream waits for this event
  void synchronize() const;
  float elapsed_ms(const Event& end) const;  // both recorded with timing = true
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

cudaStream_t current_stream(int device);
// Makes `stream` current for its device on this thread for the guard's scope.
class StreamGuard {
 public:
  explicit StreamGuard(const Stream& stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  cudaStream_t prev_;
};

// True when every event has completed (waiting for them when `wait`); the events are then
// destroyed and the list cleared. An event that reports an error counts as completed (the work it
// marks is over either way). Used by the device and pinned host allocators' deferred reuse.
bool events_completed(std::vector<cudaEvent_t>& events, bool wait);

// Tells the caching allocator that work queued on `stream` uses `t`'s memory: when the storage is
// freed, its block is reused only after that work is done (Note [caching allocator]).
void record_stream(const Tensor& t, cudaStream_t stream);

}  // namespace tessera::cuda
