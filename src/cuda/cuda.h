// Public CUDA helpers: device availability, synchronisation, and the caching allocator's memory
// statistics. Includes no CUDA header, so any tessera user can include it; it exists only when
// tessera was built with the CUDA backend (TESSERA_HAVE_CUDA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tessera::cuda {

// True when the CUDA backend registered itself at load (cudaGetDeviceCount succeeded with >= 1).
bool is_available();
int device_count();
// Why is_available() is false ("" when it is true), e.g. "no CUDA-capable device is detected".
std::string unavailable_reason();
// Whether float32 GEMMs may use TF32 tensor cores (torch.backends.cuda.matmul.allow_tf32; default
// false: full float32 precision). bfloat16/float16 GEMMs always accumulate in float32.
void set_allow_tf32(bool allow);
bool allow_tf32();
// Waits for all work queued on `device` (-1: the current device).
void synchronize(int device = -1);

struct MemoryStats {
  size_t allocated = 0;       // bytes in live tensors (rounded to the allocator's size classes)
  size_t reserved = 0;        // bytes obtained with cudaMalloc (live + cached)
  size_t peak_allocated = 0;  // max of `allocated` since start or reset_peak_memory_stats
  int64_t num_allocs = 0;     // allocate() calls
  int64_t num_cache_hits = 0; // allocate() calls served from the cache
  int64_t num_device_allocs = 0;  // cudaMalloc calls
};
MemoryStats memory_stats(int device = 0);
size_t memory_allocated(int device = 0);
size_t memory_reserved(int device = 0);
size_t max_memory_allocated(int device = 0);
void reset_peak_memory_stats(int device = 0);
// Returns cached, unused blocks of every device, and cached pinned host blocks, to the driver.
void empty_cache();
// Bytes of pinned host memory (Tensor::pin_memory) cached for reuse.
size_t pinned_memory_cached();

}  // namespace tessera::cuda
