// Strided copy with dtype casts (every dtype pair) and fill, on one device. A same-dtype copy
// whose two innermost dims are swapped between dst and src (a transpose) goes through 32x32
// tiles in shared memory so that both the reads and the writes are coalesced.
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
// Tiled transpose over the two innermost dims (a = ndim-2, b = ndim-1) of a Geo<2>; the outer
// dims (at most kMaxDims-2 of them) index blockIdx.z. Any strides are correct; the tiles pay off
// when dst is unit-stride in b and src in a. E is an unsigned type of the element size.
template <typename E>
__global__ void transpose_copy_kernel(Geo<2> g, int64_t batch) {
  __shared__ E tile[32][33];  // [b][a], padded against bank conflicts
  const int nd = g.ndim;
  const int64_t na = g.sizes[nd - 2], nb = g.sizes[nd - 1];
  const int64_t dsa = g.strides[0][nd - 2], dsb = g.strides[0][nd - 1];
  const int64_t ssa = g.strides[1][nd - 2], ssb = g.strides[1][nd - 1];
  E* dst = reinterpret_cast<E*>(g.data[0]);
  const E* src = reinterpret_cast<const E*>(g.data[1]);
  const int64_t a0 = int64_t(blockIdx.y) * 32, b0 = int64_t(blockIdx.x) * 32;
  for (int64_t z = blockIdx.z; z < batch; z += gridDim.z) {
    int64_t od = 0, os = 0, rem = z;
    for (int d = nd - 3; d >= 0; --d) {
      int64_t c = rem % g.sizes[d];
      rem /= g.sizes[d];
      od += c * g.strides[0][d];
      os += c * g.strides[1][d];
    }
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {  // read along a (src's unit stride)
      int64_t a = a0 + threadIdx.x, b = b0 + k;
      if (a < na && b < nb) tile[k][threadIdx.x] = src[os + a * ssa + b * ssb];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < 32; k += blockDim.y) {  // write along b (dst's unit stride)
      int64_t a = a0 + k, b = b0 + threadIdx.x;
      if (a < na && b < nb) dst[od + a * dsa + b * dsb] = tile[threadIdx.x][k];
    }
    __syncthreads();
  }
}

int elem_size(DT dt) {
  switch (dt) {
    case DT::F64: case DT::I64: return 8;
    case DT::F32: case DT::I32: return 4;
    case DT::BF16: case DT::F16: return 2;
    case DT::Bool: return 1;
  }
  return 0;
}

// True (and launched) when g is a same-dtype copy whose innermost dims are swapped.
bool try_transpose_copy(const Geo<2>& g, cudaStream_t s, cudaError_t* err) {
  if (g.dtype[0] != g.dtype[1] || g.ndim < 2) return false;
  const int nd = g.ndim;
  if (g.strides[0][nd - 1] != 1 || g.strides[1][nd - 2] != 1 || g.strides[1][nd - 1] == 1) return false;
  int64_t na = g.sizes[nd - 2], nb = g.sizes[nd - 1];
  if (na < 16 || nb < 16) return false;  // thin: the elementwise loop is as good
  int64_t batch = 1;
  for (int d = 0; d < nd - 2; ++d) batch *= g.sizes[d];
  int64_t gy = (na + 31) / 32, gx = (nb + 31) / 32;
  if (gy > 65535 || gx > (int64_t(1) << 31) - 1) return false;
  dim3 grid(unsigned(gx), unsigned(gy), unsigned(batch < 65535 ? batch : 65535));
  dim3 block(32, 8);
  switch (elem_size(g.dtype[0])) {
    case 1: transpose_copy_kernel<uint8_t><<<grid, block, 0, s>>>(g, batch); break;
    case 2: transpose_copy_kernel<uint16_t><<<grid, block, 0, s>>>(g, batch); break;
    case 4: transpose_copy_kernel<uint32_t><<<grid, block, 0, s>>>(g, batch); break;
    case 8: transpose_copy_kernel<uint64_t><<<grid, block, 0, s>>>(g, batch); break;
    default: return false;
  }
  *err = cudaGetLastError();
  return true;
}

template <typename T>
cudaError_t fill_t(const Geo<1>& g, KScalar v, cudaStream_t s) {
  T* out = reinterpret_cast<T*>(g.data[0]);
  T val = cast<T>(scalar_as<compute_t<T>>(v));
  return launch_elementwise<1>(g, s, [=] __device__(Offsets<1> o) { out[o.o[0]] = val; });
}
}  // namespace

cudaError_t copy(const Geo<2>& g, cudaStream_t s) {
  if (g.numel == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  if (try_transpose_copy(g, s, &err)) return err;
  TK_DISPATCH_ALL(g.dtype[0], copy1, g, s)
}

cudaError_t fill(const Geo<1>& g, KScalar v, cudaStream_t s) { TK_DISPATCH_ALL(g.dtype[0], fill_t, g, v, s) }

}  // namespace tessera::cuda::kern
