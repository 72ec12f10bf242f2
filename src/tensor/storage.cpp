// Storage and allocators: the aligned CPU allocator and the per-device allocator registry.
#include "tessera/tensor/storage.h"

#include <malloc.h>

#include <cstdlib>
#include <new>

#include "tessera/tensor/error.h"

namespace tessera {

namespace {
// Note [cpu allocator keeps freed pages]
// A training step frees and reallocates the same activation and gradient sizes every step. glibc
// serves blocks above its mmap threshold with fresh mmap()s and returns freed heap tops to the kernel,
// so each step would page-fault and zero those megabytes again (~5-8% of a tiny-vlm step). The CPU
// allocator therefore raises the mmap threshold to glibc's maximum (32 MiB) and the trim threshold to
// 1 GiB once: freed blocks stay in the heap and are reused. Peak RSS is unchanged (the same bytes are
// live at the peak); only memory after the peak is returned later.
class CpuAllocator final : public Allocator {
 public:
  CpuAllocator() {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
  }
  void* allocate(size_t nbytes, Device) override {
    if (nbytes == 0) return nullptr;
    size_t rounded = (nbytes + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) throw RuntimeError(fmt::format("cpu allocator: out of memory allocating {} bytes", nbytes));
    return p;
  }
  void deallocate(void* ptr, size_t, Device) override { std::free(ptr); }
};

// Constant-initialised (all null) so that a backend registering from a static initialiser in
// another translation unit cannot be overwritten by this one's dynamic initialisation; the CPU
// entry falls back to cpu_allocator().
Allocator* g_allocators[kNumDeviceTypes] = {nullptr, nullptr};
Allocator* g_pinned_allocator = nullptr;
}  // namespace

Allocator* pinned_allocator() { return g_pinned_allocator; }
void register_pinned_allocator(Allocator* allocator) { g_pinned_allocator = allocator; }

Allocator* cpu_allocator() {
  static CpuAllocator a;
  return &a;
}

void register_allocator(DeviceType type, Allocator* allocator) { g_allocators[int(type)] = allocator; }

Allocator* allocator_for(Device device) {
  Allocator* a = g_allocators[int(device.type)];
  if (!a && device.is_cpu()) return cpu_allocator();
  if (!a) {
    throw DeviceError(fmt::format("no allocator for device {}: tessera was built without the CUDA backend, "
                                  "or no CUDA device is available", device.str()));
  }
  return a;
}

StorageImpl::StorageImpl(size_t nbytes, Device device)
    : nbytes_(nbytes), device_(device), allocator_(allocator_for(device)) {
  data_ = allocator_->allocate(nbytes, device);
}

StorageImpl::StorageImpl(size_t nbytes, Device device, Allocator* allocator)
    : nbytes_(nbytes), device_(device), allocator_(allocator) {
  data_ = allocator_->allocate(nbytes, device);
}

StorageImpl::StorageImpl(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter)
    : data_(data), nbytes_(nbytes), device_(device), deleter_(std::move(deleter)) {}

StorageImpl::~StorageImpl() {
  if (allocator_) allocator_->deallocate(data_, nbytes_, device_);
  else if (deleter_) deleter_(data_);
}

}  // namespace tessera
