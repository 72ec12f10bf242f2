// RAII for CUDA devices, streams and events, and the per-thread current stream every kernel of
// the CUDA backend is queued on (Note [cuda streams]). Internal (includes CUDA headers).
#pragma once

#include <cuda_runtime_api.h>

namespace tessera::cuda {

// Note [cuda streams]
// Every primitive of the CUDA backend enqueues its kernels on current_stream(device), which is
// the legacy default stream unless a StreamGuard set another. Work on one stream is ordered, so
// the caching allocator may hand a freed block to the next allocation without waiting, as long
// as all work uses one stream per device (true for this first cut; multi-stream use must
// synchronise before freeing a tensor used on another stream). Host<->device copies synchronise
// the stream before returning, so copies to host memory are complete when copy_ returns.

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

}  // namespace tessera::cuda
