// Storage: a refcounted block of bytes on one device, obtained from that device's Allocator.
// Every view of a tensor shares its Storage, and with it the version counter
// (Note [version counter]).
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>

#include "tessera/tensor/device.h"

namespace tessera {

// A device's memory source. The CPU one is 64-byte aligned; the CUDA one caches blocks.
class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes, Device device) = 0;
  virtual void deallocate(void* ptr, size_t nbytes, Device device) = 0;
};

Allocator* cpu_allocator();
// Page-locked ("pinned") host memory for fast and asynchronous host<->device copies
// (Tensor::pin_memory). The CUDA backend registers its caching host allocator at load; nullptr
// when tessera has no usable CUDA device.
Allocator* pinned_allocator();
void register_pinned_allocator(Allocator* allocator);
// The allocator registered for a device type; throws DeviceError when the backend is absent.
Allocator* allocator_for(Device device);
void register_allocator(DeviceType type, Allocator* allocator);

// Note [version counter]
// Each in-place op on a tensor bumps the version of its Storage (shared by all views, by
// detach(), and by the tensor autograd saved). A saved tensor remembers the version it had when
// saved; backward checks it and throws PyTorch's "modified by an inplace operation" message.
class StorageImpl {
 public:
  StorageImpl(size_t nbytes, Device device);  // allocates from allocator_for(device)
  // Allocates from `allocator` (e.g. pinned_allocator() for pinned CPU memory).
  StorageImpl(size_t nbytes, Device device, Allocator* allocator);
  // Wraps external memory; `deleter` (may be empty) runs when the storage dies.
  StorageImpl(void* data, size_t nbytes, Device device, std::function<void(void*)> deleter);
  ~StorageImpl();
  StorageImpl(const StorageImpl&) = delete;
  StorageImpl& operator=(const StorageImpl&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  bool is_pinned() const { return allocator_ != nullptr && allocator_ == pinned_allocator(); }
  uint32_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  Allocator* allocator_ = nullptr;
  std::function<void(void*)> deleter_;
  std::atomic<uint32_t> version_{0};
};

using Storage = std::shared_ptr<StorageImpl>;

}  // namespace tessera
