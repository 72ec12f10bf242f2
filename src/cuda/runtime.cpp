// Error conversion for CUDA/cuBLAS return codes, device/stream/event RAII, current streams, and
// the event-completion check of the allocators' deferred reuse.
#include "tessera/cuda/runtime.h"

#include <cublas_v2.h>

#include <unordered_map>

#include "tessera/cuda/check.h"

namespace tessera::cuda {

namespace detail {
void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line) {
  cudaGetLastError();  // clear a sticky-free error so later calls are not blamed for it
  throw RuntimeError(fmt::format("CUDA error {} ({}) from {} at {}:{}", cudaGetErrorName(err),
                                 cudaGetErrorString(err), what, file, line));
}
void throw_cublas_error(cublasStatus_t st, const char* what, const char* file, int line) {
  throw RuntimeError(fmt::format("cuBLAS error {} ({}) from {} at {}:{}", cublasGetStatusName(st),
                                 cublasGetStatusString(st), what, file, line));
}
}  // namespace detail

DeviceGuard::DeviceGuard(int device) {
  TESSERA_CUDA_CHECK(cudaGetDevice(&prev_));
  if (prev_ != device) TESSERA_CUDA_CHECK(cudaSetDevice(device));
}
DeviceGuard::~DeviceGuard() {
  int cur = -1;
  if (cudaGetDevice(&cur) == cudaSuccess && cur != prev_) cudaSetDevice(prev_);
}

Stream::Stream(int device, bool non_blocking) : device_(device) {
  DeviceGuard g(device);
  TESSERA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, non_blocking ? cudaStreamNonBlocking : cudaStreamDefault));
}
Stream::~Stream() {
  if (!stream_) return;
  cudaStreamSynchronize(stream_);
  cudaStreamDestroy(stream_);
}
void Stream::synchronize() const { TESSERA_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

Event::Event(bool timing) {
  TESSERA_CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
}
Event::~Event() {
  if (event_) cudaEventDestroy(event_);
}
void Event::record(cudaStream_t stream) { TESSERA_CUDA_CHECK(cudaEventRecord(event_, stream)); }
void Event::wait(cudaStream_t stream) const { TESSERA_CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0)); }
void Event::synchronize() const { TESSERA_CUDA_CHECK(cudaEventSynchronize(event_)); }
float Event::elapsed_ms(const Event& end) const {
  float ms = 0;
  TESSERA_CUDA_CHECK(cudaEventElapsedTime(&ms, event_, end.event_));
  return ms;
}

bool events_completed(std::vector<cudaEvent_t>& events, bool wait) {
  for (cudaEvent_t e : events) {
    cudaError_t r = wait ? cudaEventSynchronize(e) : cudaEventQuery(e);
    if (r == cudaErrorNotReady) return false;
    if (r != cudaSuccess) cudaGetLastError();
  }
  for (cudaEvent_t e : events) cudaEventDestroy(e);
  events.clear();
  return true;
}

namespace {
thread_local std::unordered_map<int, cudaStream_t> t_current;
}

cudaStream_t current_stream(int device) {
  auto it = t_current.find(device);
  return it == t_current.end() ? nullptr : it->second;
}

StreamGuard::StreamGuard(const Stream& stream) : device_(stream.device()), prev_(current_stream(stream.device())) {
  t_current[device_] = stream.get();
}
StreamGuard::~StreamGuard() { t_current[device_] = prev_; }

}  // namespace tessera::cuda
