// Random fills following Note [philox stream]: element i of a call depends only on
// (seed, offset + i), so the CPU and CUDA backends produce the same bits.
#include "tessera/cuda/kernels/common.cuh"
#include "tessera/cuda/kernels/philox.h"

namespace tessera::cuda::kern {

namespace {
template <typename F>
__global__ void philox_kernel(int64_t n, uint64_t seed, uint64_t offset, F f) {
  int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    f(i, philox::words(seed, offset, uint64_t(i)));
  }
}
template <typename F>
cudaError_t launch(int64_t n, uint64_t seed, uint64_t offset, cudaStream_t s, F f) {
  if (n == 0) return cudaSuccess;
  philox_kernel<<<blocks_for(n), 256, 0, s>>>(n, seed, offset, f);
  return cudaGetLastError();
}
}  // namespace

namespace {
template <typename T>
cudaError_t uniform_t(char* out, int64_t n, double low, double high, uint64_t seed, uint64_t offset, cudaStream_t s) {
  T* o = reinterpret_cast<T*>(out);
  return launch(n, seed, offset, s, [=] __device__(int64_t i, philox::U4 w) { o[i] = philox::uniform<T>(w, low, high); });
}
template <typename T>
cudaError_t normal_t(char* out, int64_t n, double mean, double std, uint64_t seed, uint64_t offset, cudaStream_t s) {
  T* o = reinterpret_cast<T*>(out);
  return launch(n, seed, offset, s, [=] __device__(int64_t i, philox::U4 w) { o[i] = philox::normal<T>(w, mean, std); });
}
template <typename T>
cudaError_t int_t(char* out, int64_t n, int64_t low, int64_t high, uint64_t seed, uint64_t offset, cudaStream_t s) {
  T* o = reinterpret_cast<T*>(out);
  return launch(n, seed, offset, s,
                [=] __device__(int64_t i, philox::U4 w) { o[i] = cast<T>(philox::randint(w, low, high)); });
}
}  // namespace

cudaError_t random_uniform(char* out, DT dt, int64_t n, double low, double high, uint64_t seed, uint64_t offset,
                           cudaStream_t s) {
  TK_DISPATCH_FLOAT(dt, uniform_t, out, n, low, high, seed, offset, s)
}
cudaError_t random_normal(char* out, DT dt, int64_t n, double mean, double std, uint64_t seed, uint64_t offset,
                          cudaStream_t s) {
  TK_DISPATCH_FLOAT(dt, normal_t, out, n, mean, std, seed, offset, s)
}
cudaError_t random_int(char* out, DT dt, int64_t n, int64_t low, int64_t high, uint64_t seed, uint64_t offset,
                       cudaStream_t s) {
  TK_DISPATCH_NUMERIC(dt, int_t, out, n, low, high, seed, offset, s)
}

cudaError_t dropout_mask(bool* out, int64_t n, double p, uint64_t seed, uint64_t offset, cudaStream_t s) {
  return launch(n, seed, offset, s, [=] __device__(int64_t i, philox::U4 w) { out[i] = philox::keep(w, p); });
}

}  // namespace tessera::cuda::kern
