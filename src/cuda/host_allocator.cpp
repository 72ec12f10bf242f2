// The caching pinned host allocator (Note [pinned host memory]).
#include "tessera/cuda/host_allocator.h"

#include "tessera/cuda/allocator.h"
#include "tessera/cuda/check.h"
#include "tessera/cuda/runtime.h"

namespace tessera::cuda {

PinnedHostAllocator& pinned_host_allocator() {
  static auto* a = new PinnedHostAllocator();  // never destroyed, like the device allocator
  return *a;
}

void* PinnedHostAllocator::allocate(size_t nbytes, Device) {
  if (nbytes == 0) return nullptr;
  const size_t size = CachingAllocator::round_size(nbytes);
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < pending_.size();) {  // blocks whose copies have finished become free
    if (events_completed(pending_[i].second.events, false)) {
      free_.emplace(pending_[i].second.size, pending_[i].first);
      pending_.erase(pending_.begin() + std::ptrdiff_t(i));
    } else {
      ++i;
    }
  }
  auto it = free_.lower_bound(size);
  if (it != free_.end() && it->first - size <= std::max(size / 4, size_t(512))) {
    void* p = it->second;
    live_[p] = Block{it->first, {}};
    free_.erase(it);
    return p;
  }
  void* p = nullptr;
  cudaError_t err = cudaHostAlloc(&p, size, cudaHostAllocPortable);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw RuntimeError(fmt::format("pin_memory: cudaHostAlloc of {} bytes failed: {} ({}); pinned memory is limited "
                                   "by the host's RAM and locked-memory limits",
                                   size, cudaGetErrorName(err), cudaGetErrorString(err)));
  }
  live_[p] = Block{size, {}};
  return p;
}

void PinnedHostAllocator::deallocate(void* ptr, size_t, Device) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(ptr);
  if (it == live_.end()) return;
  Block b = std::move(it->second);
  live_.erase(it);
  if (b.events.empty()) {
    free_.emplace(b.size, ptr);
  } else {
    pending_.emplace_back(ptr, std::move(b));
  }
}

void PinnedHostAllocator::record_use(void* base, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(base);
  if (it == live_.end()) return;  // a pinned view of memory we did not allocate: nothing to guard
  auto& events = it->second.events;  // drop the events of copies that have finished
  for (size_t i = 0; i < events.size();) {
    if (cudaEventQuery(events[i]) == cudaSuccess) {
      cudaEventDestroy(events[i]);
      events.erase(events.begin() + std::ptrdiff_t(i));
    } else {
      cudaGetLastError();
      ++i;
    }
  }
  cudaEvent_t e = nullptr;
  TESSERA_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  cudaError_t err = cudaEventRecord(e, stream);
  if (err != cudaSuccess) {
    cudaEventDestroy(e);
    TESSERA_CUDA_CHECK(err);
  }
  events.push_back(e);
}

size_t PinnedHostAllocator::cached_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (auto& [size, p] : free_) n += size;
  for (auto& [p, b] : pending_) n += b.size;
  return n;
}

void PinnedHostAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [p, b] : pending_) {
    events_completed(b.events, true);
    free_.emplace(b.size, p);
  }
  pending_.clear();
  for (auto& [size, p] : free_) cudaFreeHost(p);
  free_.clear();
}

}  // namespace tessera::cuda
