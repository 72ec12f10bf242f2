// The caching device allocator (Note [caching allocator]).
#include "tessera/cuda/allocator.h"

#include <cuda_runtime_api.h>

#include "tessera/cuda/check.h"
#include "tessera/cuda/runtime.h"

namespace tessera::cuda {

namespace {
constexpr size_t kSmall = size_t(1) << 20;
constexpr size_t kSmallRound = 512;
constexpr size_t kLargeRound = size_t(2) << 20;

std::string mib(size_t b) { return fmt::format("{:.2f} MiB", double(b) / (1 << 20)); }
}  // namespace

CachingAllocator& caching_allocator() {
  static auto* a = new CachingAllocator();  // never destroyed: blocks may outlive static destructors
  return *a;
}

size_t CachingAllocator::round_size(size_t n) {
  if (n == 0) return 0;
  if (n <= kSmall) return (n + kSmallRound - 1) / kSmallRound * kSmallRound;
  return (n + kLargeRound - 1) / kLargeRound * kLargeRound;
}

CachingAllocator::DeviceState& CachingAllocator::state(int device) {
  if (device >= int(devices_.size())) devices_.resize(size_t(device) + 1);
  return devices_[size_t(device)];
}

void* CachingAllocator::allocate(size_t nbytes, Device device) {
  if (nbytes == 0) return nullptr;
  size_t size = round_size(nbytes);
  cudaStream_t stream = current_stream(device.index);
  std::lock_guard<std::mutex> lock(mu_);
  DeviceState& st = state(device.index);
  st.stats.num_allocs++;
  if (!st.pending.empty()) process_pending(st, /*wait=*/false);
  void* ptr = nullptr;
  size_t block = size;
  auto& free_list = st.free_blocks[stream];
  auto it = free_list.lower_bound(size);
  // Take a cached block only if it wastes little: a quarter of the request, at least one
  // rounding step (so a small request never pins a large block).
  size_t slack = std::max(size / 4, size <= kSmall ? kSmallRound : kLargeRound);
  if (it != free_list.end() && it->first - size <= slack) {
    block = it->first;
    ptr = it->second;
    free_list.erase(it);
    st.stats.num_cache_hits++;
  } else {
    DeviceGuard guard(device.index);
    cudaError_t err = cudaMalloc(&ptr, size);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release_cached(device.index, st);
      err = cudaMalloc(&ptr, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      throw RuntimeError(fmt::format(
          "CUDA out of memory on {}: tried to allocate {} ({} bytes); {} allocated by tessera, {} reserved "
          "(cached blocks were released first); the device has {} free of {} total",
          device.str(), mib(size), nbytes, mib(st.stats.allocated), mib(st.stats.reserved), mib(free_b),
          mib(total_b)));
    }
    TESSERA_CUDA_CHECK(err);
    st.stats.reserved += size;
    st.stats.num_device_allocs++;
  }
  st.live[ptr] = Block{block, stream, {}};
  st.stats.allocated += block;
  st.stats.peak_allocated = std::max(st.stats.peak_allocated, st.stats.allocated);
  return ptr;
}

void CachingAllocator::record_stream(void* ptr, int device, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(mu_);
  DeviceState& st = state(device);
  auto it = st.live.find(ptr);
  TESSERA_CHECK(it != st.live.end(), ValueError,
                "record_stream: the tensor's storage was not allocated by tessera's CUDA allocator on cuda:{}", device);
  Block& b = it->second;
  if (stream == b.stream) return;
  for (cudaStream_t s : b.other_streams)
    if (s == stream) return;
  b.other_streams.push_back(stream);
}

void CachingAllocator::deallocate(void* ptr, size_t, Device device) {
  if (!ptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  DeviceState& st = state(device.index);
  auto it = st.live.find(ptr);
  if (it == st.live.end()) return;  // not ours (cannot happen); never throw from a destructor path
  Block b = std::move(it->second);
  st.live.erase(it);
  st.stats.allocated -= b.size;
  if (b.other_streams.empty()) {
    st.free_blocks[b.stream].emplace(b.size, ptr);
    return;
  }
  // Used on other streams: reusable once the work queued there so far has finished. If an event
  // cannot be recorded (a sticky device error), the block is leaked rather than reused too early.
  DeviceGuard guard(device.index);
  Pending p{ptr, std::move(b), {}};
  for (cudaStream_t s : p.block.other_streams) {
    cudaEvent_t e = nullptr;
    if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess || cudaEventRecord(e, s) != cudaSuccess) {
      cudaGetLastError();
      if (e) cudaEventDestroy(e);
      return;
    }
    p.events.push_back(e);
  }
  st.pending.push_back(std::move(p));
}

void CachingAllocator::process_pending(DeviceState& st, bool wait) {
  std::vector<Pending> still;
  for (Pending& p : st.pending) {
    if (events_completed(p.events, wait)) {
      st.free_blocks[p.block.stream].emplace(p.block.size, p.ptr);
    } else {
      still.push_back(std::move(p));
    }
  }
  st.pending = std::move(still);
}

void CachingAllocator::release_cached(int device, DeviceState& st) {
  DeviceGuard guard(device);
  cudaDeviceSynchronize();
  process_pending(st, /*wait=*/true);
  for (auto& [stream, blocks] : st.free_blocks) {
    for (auto& [size, p] : blocks) {
      cudaFree(p);
      st.stats.reserved -= size;
    }
  }
  st.free_blocks.clear();
}

MemoryStats CachingAllocator::stats(int device) {
  std::lock_guard<std::mutex> lock(mu_);
  return state(device).stats;
}
void CachingAllocator::reset_peak(int device) {
  std::lock_guard<std::mutex> lock(mu_);
  DeviceState& st = state(device);
  st.stats.peak_allocated = st.stats.allocated;
}
void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t d = 0; d < devices_.size(); ++d) release_cached(int(d), devices_[d]);
}

}  // namespace tessera::cuda
