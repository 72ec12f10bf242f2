// The caching allocator of page-locked ("pinned") host memory behind Tensor::pin_memory
// (Note [pinned host memory]). Internal.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "tessera/tensor/storage.h"

namespace tessera::cuda {

// Note [pinned host memory]
// cudaMemcpyAsync from or to pageable host memory is staged through a driver buffer and does not
// overlap with the host; from pinned memory it is a DMA that returns at once. cudaHostAlloc and
// cudaFreeHost are slow (they map pages and synchronise), so freed pinned blocks are cached by size
// (rounded like the device allocator: 512 B steps up to 1 MiB, 2 MiB above). A block that an
// asynchronous copy used (record_use, called by CudaBackend::copy_non_blocking) carries one event
// per such copy; freed, it is reused only after those events complete, so a CPU tensor dropped
// while its non-blocking copy is still in flight is never overwritten under the DMA.
class PinnedHostAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes, Device device) override;
  void deallocate(void* ptr, size_t nbytes, Device device) override;
  // Records an event on `stream` for the live block starting at `base` (a storage's data()).
  void record_use(void* base, cudaStream_t stream);
  size_t cached_bytes();
  void empty_cache();

 private:
  struct Block {
    size_t size = 0;
    std::vector<cudaEvent_t> events;
  };
  std::mutex mu_;
  std::unordered_map<void*, Block> live_;
  std::vector<std::pair<void*, Block>> pending_;  // freed while a copy may still use them
  std::multimap<size_t, void*> free_;
};

PinnedHostAllocator& pinned_host_allocator();

}  // namespace tessera::cuda
