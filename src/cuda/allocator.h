// The caching device allocator (Note [caching allocator]) and record_stream. Internal.
#pragma once

#include <cuda_runtime_api.h>

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
// request (at least 512 B for small requests, 2 MiB for large ones). When cudaMalloc fails the
// cache is emptied and the call retried once; if it still fails the error says how much was asked
// for, allocated and reserved.
//
// Stream-aware reuse: a block belongs to the stream that was current when it was allocated
// (Note [cuda streams]); freed, it returns to that stream's free list and is handed out again only
// to allocations on the same stream, whose work is ordered after every earlier use of the block,
// so no wait is needed. A tensor also used on another stream must say so with record_stream():
// when such a block is freed, an event is recorded on each of those streams and the block waits in
// a pending list until every event has completed (polled at the next allocate, waited for by
// empty_cache). This is PyTorch's CUDACachingAllocator contract.
class CachingAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes, Device device) override;
  void deallocate(void* ptr, size_t nbytes, Device device) override;
  // Marks the live block holding `ptr` (a block's base address) as used on `stream`.
  void record_stream(void* ptr, int device, cudaStream_t stream);

  MemoryStats stats(int device);
  void reset_peak(int device);
  void empty_cache();  // all devices

  static size_t round_size(size_t nbytes);

 private:
  struct Block {
    size_t size = 0;
    cudaStream_t stream = nullptr;           // the stream it was allocated on
    std::vector<cudaStream_t> other_streams;  // from record_stream
  };
  struct Pending {
    void* ptr;
    Block block;
    std::vector<cudaEvent_t> events;
  };
  struct DeviceState {
    std::map<cudaStream_t, std::multimap<size_t, void*>> free_blocks;  // stream -> size -> ptr
    std::unordered_map<void*, Block> live;
    std::vector<Pending> pending;  // freed, waiting for other streams' work
    MemoryStats stats;
  };
  DeviceState& state(int device);
  void process_pending(DeviceState& st, bool wait);      // with mu_ held
  void release_cached(int device, DeviceState& st);      // with mu_ held

  std::mutex mu_;
  std::vector<DeviceState> devices_;
};

CachingAllocator& caching_allocator();

}  // namespace tessera::cuda
