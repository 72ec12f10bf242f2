// Indexing kernels on uncoalesced strided tensors (TI): index_select, gather, index_add and
// scatter_add (atomics; float sums are therefore not bitwise deterministic), tril/triu.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "tessera/cuda/kernels/common.cuh"

namespace tessera::cuda::kern {

namespace {
// Splits flat index i of a tensor with `t.sizes` into coordinates.
__device__ __forceinline__ void coords(const TI& t, int64_t i, int64_t* c) {
  for (int d = t.ndim - 1; d >= 0; --d) {
    c[d] = i % t.sizes[d];
    i /= t.sizes[d];
  }
}
__device__ __forceinline__ int64_t offset(const TI& t, const int64_t* c) {
  int64_t o = 0;
  for (int d = 0; d < t.ndim; ++d) o += c[d] * t.strides[d];
  return o;
}
__device__ __forceinline__ int64_t load_index(const TI& idx, int64_t off) {
  return idx.dtype == DT::I32 ? int64_t(reinterpret_cast<const int32_t*>(idx.data)[off])
                              : reinterpret_cast<const int64_t*>(idx.data)[off];
}
int64_t numel(const TI& t) {
  int64_t n = 1;
  for (int d = 0; d < t.ndim; ++d) n *= t.sizes[d];
  return n;
}

template <typename F>
__global__ void for_each_kernel(int64_t n, F f) {
  int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) f(i);
}
template <typename F>
cudaError_t for_each(int64_t n, cudaStream_t s, F f) {
  if (n == 0) return cudaSuccess;
  for_each_kernel<<<blocks_for(n), 256, 0, s>>>(n, f);
  return cudaGetLastError();
}

template <typename T>
__device__ __forceinline__ void atomic_add(T* p, T v) {
  if constexpr (std::is_same_v<T, bf16>) {
    atomicAdd(reinterpret_cast<__nv_bfloat16*>(p), __float2bfloat16_rn(float(v)));
  } else if constexpr (std::is_same_v<T, f16>) {
    atomicAdd(reinterpret_cast<__half*>(p), __float2half_rn(float(v)));
  } else if constexpr (std::is_same_v<T, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(p), static_cast<unsigned long long>(v));
  } else {
    atomicAdd(p, v);
  }
}

}  // namespace

namespace {
template <typename T>
cudaError_t index_select_t(const TI& out, const TI& in, int dim, const TI& index, cudaStream_t s) {
  return for_each(numel(out), s, [=] __device__(int64_t i) {
    int64_t c[kMaxDims];
    coords(out, i, c);
    int64_t o = offset(out, c);
    c[dim] = load_index(index, c[dim] * index.strides[0]);
    reinterpret_cast<T*>(out.data)[o] = reinterpret_cast<const T*>(in.data)[offset(in, c)];
  });
}
template <typename T>
cudaError_t gather_t(const TI& out, const TI& in, int dim, const TI& index, cudaStream_t s) {
  return for_each(numel(out), s, [=] __device__(int64_t i) {
    int64_t c[kMaxDims];
    coords(out, i, c);
    int64_t o = offset(out, c);
    c[dim] = load_index(index, offset(index, c));
    reinterpret_cast<T*>(out.data)[o] = reinterpret_cast<const T*>(in.data)[offset(in, c)];
  });
}
template <typename T>
cudaError_t index_add_t(const TI& self, int dim, const TI& index, const TI& source, cudaStream_t s) {
  return for_each(numel(source), s, [=] __device__(int64_t i) {
    int64_t c[kMaxDims];
    coords(source, i, c);
    T v = reinterpret_cast<const T*>(source.data)[offset(source, c)];
    c[dim] = load_index(index, c[dim] * index.strides[0]);
    atomic_add(reinterpret_cast<T*>(self.data) + offset(self, c), v);
  });
}
template <typename T>
cudaError_t scatter_add_t(const TI& self, int dim, const TI& index, const TI& src, cudaStream_t s) {
  return for_each(numel(index), s, [=] __device__(int64_t i) {
    int64_t c[kMaxDims];
    coords(index, i, c);
    T v = reinterpret_cast<const T*>(src.data)[offset(src, c)];
    c[dim] = load_index(index, offset(index, c));
    atomic_add(reinterpret_cast<T*>(self.data) + offset(self, c), v);
  });
}
template <typename T>
cudaError_t tril_triu_t(const TI& out, const TI& in, int64_t k, bool upper, cudaStream_t s) {
  return for_each(numel(out), s, [=] __device__(int64_t i) {
    int64_t c[kMaxDims];
    coords(out, i, c);
    int64_t diff = c[out.ndim - 1] - c[out.ndim - 2];
    bool keep = upper ? diff >= k : diff <= k;
    reinterpret_cast<T*>(out.data)[offset(out, c)] = keep ? reinterpret_cast<const T*>(in.data)[offset(in, c)] : cast<T>(0);
  });
}
}  // namespace

cudaError_t index_select(const TI& out, const TI& in, int dim, const TI& index, cudaStream_t s) {
  TK_DISPATCH_ALL(out.dtype, index_select_t, out, in, dim, index, s)
}
cudaError_t gather(const TI& out, const TI& in, int dim, const TI& index, cudaStream_t s) {
  TK_DISPATCH_ALL(out.dtype, gather_t, out, in, dim, index, s)
}
cudaError_t index_add(const TI& self, int dim, const TI& index, const TI& source, cudaStream_t s) {
  TK_DISPATCH_NUMERIC(self.dtype, index_add_t, self, dim, index, source, s)
}
cudaError_t scatter_add(const TI& self, int dim, const TI& index, const TI& src, cudaStream_t s) {
  TK_DISPATCH_NUMERIC(self.dtype, scatter_add_t, self, dim, index, src, s)
}
cudaError_t tril_triu(const TI& out, const TI& in, int64_t k, bool upper, cudaStream_t s) {
  TK_DISPATCH_ALL(out.dtype, tril_triu_t, out, in, k, upper, s)
}

}  // namespace tessera::cuda::kern
