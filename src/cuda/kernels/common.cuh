// Device-side building blocks shared by every kernel file: element load/store with the 16-bit
// float rule (Note [reduced precision compute]: compute in float32, round once on store), dtype
// dispatch without fmt, the strided N-operand elementwise loop over a Geo, and block reductions.
// Included only by .cu files.
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <type_traits>

#include "tessera/cuda/kernels/kernel_api.h"
#include "tessera/tensor/half.h"

namespace tessera::cuda::kern {

using bf16 = ::tessera::BFloat16;
using f16 = ::tessera::Half;

template <typename T> struct Acc { using type = T; };
template <> struct Acc<bf16> { using type = float; };
template <> struct Acc<f16> { using type = float; };
template <> struct Acc<bool> { using type = int64_t; };
template <> struct Acc<int32_t> { using type = int64_t; };
template <typename T> using acc_t = typename Acc<T>::type;

template <typename T> struct Compute { using type = T; };  // elementwise math type
template <> struct Compute<bf16> { using type = float; };
template <> struct Compute<f16> { using type = float; };
template <typename T> using compute_t = typename Compute<T>::type;

template <typename T> inline constexpr bool is_f16_v = std::is_same_v<T, bf16> || std::is_same_v<T, f16>;
template <typename T> inline constexpr bool is_float_v = std::is_floating_point_v<T> || is_f16_v<T>;

// Converts between element types exactly as tessera::cpu::cast_element does.
template <typename To, typename From>
__host__ __device__ __forceinline__ To cast(From v) {
  if constexpr (std::is_same_v<To, From>) return v;
  else if constexpr (std::is_same_v<To, bool>) {
    if constexpr (is_f16_v<From>) return static_cast<float>(v) != 0.0f;
    else return v != From(0);
  } else if constexpr (is_f16_v<From>) return To(static_cast<float>(v));
  else if constexpr (is_f16_v<To>) return To(static_cast<float>(v));
  else return static_cast<To>(v);
}

template <typename T>
__host__ __device__ __forceinline__ T scalar_as(KScalar s) {
  if constexpr (std::is_same_v<T, bool>) return s.d != 0.0 || s.i != 0;
  else if constexpr (std::is_integral_v<T>) return T(s.i);
  else if constexpr (std::is_same_v<T, double>) return s.d;
  else return float(s.d);  // float, and the compute type of bf16/f16
}

// Calls f(T{}) for the C++ element type of dt.
template <typename F>
void dispatch_all(DT dt, F&& f) {
  switch (dt) {
    case DT::F32: return f(float{});
    case DT::F64: return f(double{});
    case DT::BF16: return f(bf16{});
    case DT::F16: return f(f16{});
    case DT::I32: return f(int32_t{});
    case DT::I64: return f(int64_t{});
    case DT::Bool: return f(bool{});
  }
  throw std::invalid_argument("tessera cuda kernel: bad dtype");
}
template <typename F>
void dispatch_float(DT dt, F&& f) {
  switch (dt) {
    case DT::F32: return f(float{});
    case DT::F64: return f(double{});
    case DT::BF16: return f(bf16{});
    case DT::F16: return f(f16{});
    default: throw std::invalid_argument("tessera cuda kernel: expected a floating dtype");
  }
}

// Returns FN<T>(args...) for the C++ element type of dt (extended __device__ lambdas may not live
// inside generic lambdas, so dispatch goes through function templates).
#define TK_CASE(E, T, FN, ...) \
  case DT::E: return FN<T>(__VA_ARGS__);
#define TK_DISPATCH_FLOAT(dt, FN, ...)                                           \
  switch (dt) {                                                                  \
    TK_CASE(F32, float, FN, __VA_ARGS__)                                         \
    TK_CASE(F64, double, FN, __VA_ARGS__)                                        \
    TK_CASE(BF16, ::tessera::cuda::kern::bf16, FN, __VA_ARGS__)                  \
    TK_CASE(F16, ::tessera::cuda::kern::f16, FN, __VA_ARGS__)                    \
    default: throw std::invalid_argument("tessera cuda kernel: expected a floating dtype"); \
  }
#define TK_DISPATCH_NUMERIC(dt, FN, ...)                                         \
  switch (dt) {                                                                  \
    TK_CASE(F32, float, FN, __VA_ARGS__)                                         \
    TK_CASE(F64, double, FN, __VA_ARGS__)                                        \
    TK_CASE(BF16, ::tessera::cuda::kern::bf16, FN, __VA_ARGS__)                  \
    TK_CASE(F16, ::tessera::cuda::kern::f16, FN, __VA_ARGS__)                    \
    TK_CASE(I32, int32_t, FN, __VA_ARGS__)                                       \
    TK_CASE(I64, int64_t, FN, __VA_ARGS__)                                       \
    default: throw std::invalid_argument("tessera cuda kernel: dtype not supported"); \
  }
#define TK_DISPATCH_ALL(dt, FN, ...)                                             \
  switch (dt) {                                                                  \
    TK_CASE(F32, float, FN, __VA_ARGS__)                                         \
    TK_CASE(F64, double, FN, __VA_ARGS__)                                        \
    TK_CASE(BF16, ::tessera::cuda::kern::bf16, FN, __VA_ARGS__)                  \
    TK_CASE(F16, ::tessera::cuda::kern::f16, FN, __VA_ARGS__)                    \
    TK_CASE(I32, int32_t, FN, __VA_ARGS__)                                       \
    TK_CASE(I64, int64_t, FN, __VA_ARGS__)                                       \
    TK_CASE(Bool, bool, FN, __VA_ARGS__)                                         \
  }                                                                              \
  throw std::invalid_argument("tessera cuda kernel: bad dtype");

inline int blocks_for(int64_t n, int threads = 256) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65536 * 8) b = 65536 * 8;  // grid-stride beyond this
  return int(b);
}

// Offsets of operand k for flat index i of a Geo.
template <int N>
struct Offsets {
  int64_t o[N];
};
template <int N>
__device__ __forceinline__ Offsets<N> offsets_of(const Geo<N>& g, int64_t i) {
  Offsets<N> r;
  if (g.contiguous) {
#pragma unroll
    for (int k = 0; k < N; ++k) r.o[k] = i;
    return r;
  }
#pragma unroll
  for (int k = 0; k < N; ++k) r.o[k] = 0;
  for (int d = g.ndim - 1; d >= 0; --d) {
    int64_t sz = g.sizes[d];
    int64_t c = i % sz;
    i /= sz;
#pragma unroll
    for (int k = 0; k < N; ++k) r.o[k] += c * g.strides[k][d];
  }
  return r;
}

// f(Offsets<N>) for each element of g, grid-stride.
template <int N, typename F>
__global__ void elementwise_kernel(Geo<N> g, F f) {
  int64_t stride = int64_t(blockDim.x) * gridDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < g.numel; i += stride) {
    f(offsets_of<N>(g, i));
  }
}

// Contiguous fast path: every operand's offset is the flat index; each thread handles 4
// elements a block-width apart (coalesced, and 4 independent loads in flight per thread).
template <int N, typename F>
__global__ void elementwise_contig_kernel(int64_t n, F f) {
  constexpr int kPerThread = 4;
  int64_t step = int64_t(gridDim.x) * blockDim.x * kPerThread;
  for (int64_t base = int64_t(blockIdx.x) * blockDim.x * kPerThread + threadIdx.x; base < n; base += step) {
#pragma unroll
    for (int k = 0; k < kPerThread; ++k) {
      int64_t i = base + int64_t(k) * blockDim.x;
      if (i < n) {
        Offsets<N> o;
#pragma unroll
        for (int j = 0; j < N; ++j) o.o[j] = i;
        f(o);
      }
    }
  }
}

template <int N, typename F>
cudaError_t launch_elementwise(const Geo<N>& g, cudaStream_t s, F f) {
  if (g.numel == 0) return cudaSuccess;
  if (g.contiguous) {
    elementwise_contig_kernel<N><<<blocks_for((g.numel + 3) / 4), 256, 0, s>>>(g.numel, f);
  } else {
    elementwise_kernel<N><<<blocks_for(g.numel), 256, 0, s>>>(g, f);
  }
  return cudaGetLastError();
}

// ---- block reductions (blockDim.x a multiple of 32, at most 1024) ----
template <typename T, typename Op>
__device__ __forceinline__ T warp_reduce(T v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
// Every thread gets the result. `shm` holds 32 T.
template <typename T, typename Op>
__device__ __forceinline__ T block_reduce(T v, Op op, T* shm) {
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = (blockDim.x + 31) >> 5;
  v = warp_reduce(v, op);
  __syncthreads();  // shm may still be read from a previous call
  if (lane == 0) shm[warp] = v;
  __syncthreads();
  T r = shm[0];
  for (int w = 1; w < nwarps; ++w) r = op(r, shm[w]);
  return r;
}

struct SumOp {
  template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct MaxOp {  // NaN wins
  template <typename T> __device__ __forceinline__ T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (a != a) return a;
      if (b != b) return b;
    }
    return a > b ? a : b;
  }
};

inline int row_threads(int64_t n) {
  int t = 32;
  while (t < 1024 && t < n) t *= 2;
  return t;
}

}  // namespace tessera::cuda::kern
