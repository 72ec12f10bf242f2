// Raw copy, cast, fill, clone, contiguous and device transfer.
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::raw {

void copy_(const Tensor& dst, const Tensor& src) {
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
  be.copy(dst, s);
}

void fill_(const Tensor& t, Scalar value) {
  TESSERA_CHECK(t.defined(), ValueError, "fill_: undefined tensor");
  if (t.numel() == 0) return;
  backend_for(t).fill(t, value);
}

Tensor to(const Tensor& t, Device device, DType dtype, bool copy) {
  TESSERA_CHECK(t.defined(), ValueError, "to: undefined tensor");
  if (!copy && t.device() == device && t.dtype() == dtype) return t;
  Tensor out = empty(t.sizes(), TensorOptions(dtype).device(device));
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
