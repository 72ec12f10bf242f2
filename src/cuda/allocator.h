// The caching device allocator (Note [caching allocator]). Internal.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tessera/cuda/cuda.h"
#include "tessera/tensor/storage.h"

namespace tessera::cuda {

// Note [caching allocator]
// cudaMalloc/cudaFree synchronise the device and cost tens of microseconds, so freed blocks are
// kept per device in free lists keyed by size and handed out again. Sizes are rounded to size
// classes: multiples of 512 B up to 1 MiB, multiples of 2 MiB above. A request takes the
// smallest cached block of at least its rounded size that wastes at most a quarter of the
// request (at least 512 B for small requests, 2 MiB for large ones). When cudaMalloc fails the cache is emptied and the call retried once; if it still
// fails the error says how much was asked for, allocated and reserved. Blocks are reused without
// waiting, which is safe under Note [cuda streams] (one stream per device).
class CachingAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes, Device device) override;
  void deallocate(void* ptr, size_t nbytes, Device device) override;

  MemoryStats stats(int device);
  void reset_peak(int device);
  void empty_cache();  // all devices

  static size_t round_size(size_t nbytes);

 private:
  struct DeviceState {
    std::multimap<size_t, void*> free_blocks;     // size -> ptr
    std::unordered_map<void*, size_t> live;       // ptr -> block size
    MemoryStats stats;
  };
  DeviceState& state(int device);
  void release_cached(int device, DeviceState& st);  // with mu_ held

  std::mutex mu_;
  std::vector<DeviceState> devices_;
};

CachingAllocator& caching_allocator();

}  // namespace tessera::cuda
