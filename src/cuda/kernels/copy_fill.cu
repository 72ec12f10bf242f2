// Strided copy with dtype casts (every dtype pair) and fill, on one device.
#include "tessera/cuda/kernels/common.cuh"

namespace tessera::cuda::kern {

namespace {
template <typename D, typename S>
cudaError_t copy2(const Geo<2>& g, cudaStream_t s) {
  D* dst = reinterpret_cast<D*>(g.data[0]);
  const S* src = reinterpret_cast<const S*>(g.data[1]);
  return launch_elementwise<2>(g, s, [=] __device__(Offsets<2> o) { dst[o.o[0]] = cast<D>(src[o.o[1]]); });
}
template <typename D>
cudaError_t copy1(const Geo<2>& g, cudaStream_t s) {
  switch (g.dtype[1]) {
    case DT::F32: return copy2<D, float>(g, s);
    case DT::F64: return copy2<D, double>(g, s);
    case DT::BF16: return copy2<D, bf16>(g, s);
    case DT::F16: return copy2<D, f16>(g, s);
    case DT::I32: return copy2<D, int32_t>(g, s);
    case DT::I64: return copy2<D, int64_t>(g, s);
    case DT::Bool: return copy2<D, bool>(g, s);
  }
  throw std::invalid_argument("tessera cuda kernel: bad dtype");
}
template <typename T>
cudaError_t fill_t(const Geo<1>& g, KScalar v, cudaStream_t s) {
  T* out = reinterpret_cast<T*>(g.data[0]);
  T val = cast<T>(scalar_as<compute_t<T>>(v));
  return launch_elementwise<1>(g, s, [=] __device__(Offsets<1> o) { out[o.o[0]] = val; });
}
}  // namespace

cudaError_t copy(const Geo<2>& g, cudaStream_t s) { TK_DISPATCH_ALL(g.dtype[0], copy1, g, s) }

cudaError_t fill(const Geo<1>& g, KScalar v, cudaStream_t s) { TK_DISPATCH_ALL(g.dtype[0], fill_t, g, v, s) }

}  // namespace tessera::cuda::kern
