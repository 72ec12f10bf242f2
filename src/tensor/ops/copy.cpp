// Raw copy, cast, fill, clone, contiguous and device transfer.
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"
#include "tessera/tensor/storage.h"

namespace tessera::raw {

void copy_(const Tensor& dst, const Tensor& src, bool non_blocking) {
  TESSERA_CHECK(dst.defined() && src.defined(), ValueError, "copy_: undefined tensor");
  Tensor s = src;
  if (!s.sizes().equals(dst.sizes())) {
    // broadcast src to dst (throws on mismatch)
    Shape b = broadcast_shapes(dst.sizes(), src.sizes(), "copy_");
    TESSERA_CHECK(IntArrayRef(b).equals(dst.sizes()), ShapeError,
                  "copy_: source of shape {} cannot be broadcast to destination of shape {}", shape_str(src.sizes()),
                  shape_str(dst.sizes()));
    s = expand(src, dst.sizes());
  }
  if (dst.numel() == 0) return;
  // The CUDA backend handles both directions of a host<->device copy.
  Backend& be = dst.is_cpu() ? backend_for(s.device()) : backend_for(dst.device());
  if (non_blocking) {
    be.copy_non_blocking(dst, s);
  } else {
    be.copy(dst, s);
  }
}

void fill_(const Tensor& t, Scalar value) {
  TESSERA_CHECK(t.defined(), ValueError, "fill_: undefined tensor");
  if (t.numel() == 0) return;
  backend_for(t).fill(t, value);
}

Tensor to(const Tensor& t, Device device, DType dtype, bool copy, bool non_blocking) {
  TESSERA_CHECK(t.defined(), ValueError, "to: undefined tensor");
  if (!copy && t.device() == device && t.dtype() == dtype) return t;
  Tensor out;
  if (non_blocking && device.is_cpu() && !t.is_cpu() && pinned_allocator()) {
    out = Tensor::make(std::make_shared<StorageImpl>(size_t(t.numel()) * element_size(dtype), device, pinned_allocator()),
                       t.sizes().vec(), contiguous_strides(t.sizes()), 0, dtype);
  } else {
    out = empty(t.sizes(), TensorOptions(dtype).device(device));
  }
  copy_(out, t, non_blocking);
  return out;
}

bool is_pinned(const Tensor& t) { return t.defined() && t.is_cpu() && t.storage() && t.storage()->is_pinned(); }

Tensor pin_memory(const Tensor& t) {
  TESSERA_CHECK(t.defined(), ValueError, "pin_memory: undefined tensor");
  TESSERA_CHECK(t.is_cpu(), DeviceError, "pin_memory: cannot pin a tensor on {}: only CPU tensors can be pinned",
                t.device().str());
  if (is_pinned(t)) return t;
  Allocator* a = pinned_allocator();
  TESSERA_CHECK(a, DeviceError,
                "pin_memory: pinned host memory needs a CUDA device, and none is available (tessera built without "
                "the CUDA backend, or no device found); pinning only speeds up copies to a GPU, so drop the call");
  Tensor out = Tensor::make(std::make_shared<StorageImpl>(size_t(t.numel()) * element_size(t.dtype()), t.device(), a),
                            t.sizes().vec(), contiguous_strides(t.sizes()), 0, t.dtype());
  copy_(out, t);
  return out;
}

Tensor contiguous(const Tensor& t) { return t.is_contiguous() ? t : clone(t); }

Tensor clone(const Tensor& t) {
  Tensor out = empty(t.sizes(), t.options());
  copy_(out, t);
  return out;
}

}  // namespace tessera::raw
