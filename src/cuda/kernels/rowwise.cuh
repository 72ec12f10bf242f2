// The row engine of norm.cu (Note [row kernels]): a group of threads (one warp, or one block)
// owns one row of n elements, reads it with 16-byte vector loads when alignment allows, and keeps
// the first R vectors of each thread in registers so that several passes over the row read
// global memory once. Included only by .cu files.
//
// Note [row kernels]
// - Rows of n <= 1024 elements: one warp per row, 8 rows per 256-thread block (WARP = true).
//   Longer rows: one block per row, 128..512 threads (WARP = false).
// - V = elements per vector: 16 bytes / sizeof(T) when every row pointer the kernel touches is
//   16-byte aligned and n % V == 0 (then each row start is aligned too), else 1.
// - A thread holds vectors lane, lane + G, ..., lane + (R-1)G of the row in registers (G = the
//   group's thread count); vectors beyond that are re-read from global memory (L2) in each pass.
#pragma once

#include "tessera/cuda/kernels/common.cuh"

namespace tessera::cuda::kern {

template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <int V, typename T, typename A>
__device__ __forceinline__ void load_vec(const T* p, int64_t vi, A (&out)[V]) {
  if constexpr (V == 1) {
    out[0] = cast<A>(p[vi]);
  } else {
    Pack<T, V> pk = *reinterpret_cast<const Pack<T, V>*>(p + vi * V);
#pragma unroll
    for (int k = 0; k < V; ++k) out[k] = cast<A>(pk.v[k]);
  }
}
template <int V, typename T, typename A>
__device__ __forceinline__ void store_vec(T* p, int64_t vi, const A (&in)[V]) {
  if constexpr (V == 1) {
    p[vi] = cast<T>(in[0]);
  } else {
    Pack<T, V> pk;
#pragma unroll
    for (int k = 0; k < V; ++k) pk.v[k] = cast<T>(in[k]);
    *reinterpret_cast<Pack<T, V>*>(p + vi * V) = pk;
  }
}

// Which row this thread works on, its lane in the row's group, and the group size.
template <bool WARP>
struct RowPos {
  int64_t row;
  int lane, G;
  __device__ __forceinline__ RowPos() {
    if constexpr (WARP) {
      row = int64_t(blockIdx.x) * (blockDim.x >> 5) + (threadIdx.x >> 5);
      lane = threadIdx.x & 31;
      G = 32;
    } else {
      row = blockIdx.x;
      lane = threadIdx.x;
      G = blockDim.x;
    }
  }
};

// Reduction over the row's group; every thread of the group gets the result. shm: 32 A.
template <bool WARP, typename A, typename Op>
__device__ __forceinline__ A group_reduce(A v, Op op, A* shm) {
  if constexpr (WARP) return warp_reduce(v, op);
  else return block_reduce(v, op, shm);
}

// Register cache of one input row: f(vals, vi) over every vector of the row; the first call
// (load = true) fills the registers, later calls reuse them.
template <typename T, typename A, int V, int R>
struct RowCache {
  A reg[R][V];
  template <bool LOAD, typename F>
  __device__ __forceinline__ void pass(const T* x, int64_t nvec, int lane, int G, F&& f) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      int64_t vi = lane + int64_t(r) * G;
      if (vi < nvec) {
        if constexpr (LOAD) load_vec<V>(x, vi, reg[r]);
        f(reg[r], vi);
      }
    }
    for (int64_t vi = lane + int64_t(R) * G; vi < nvec; vi += G) {
      A t[V];
      load_vec<V>(x, vi, t);
      f(t, vi);
    }
  }
};

// Same for two rows read together (backward kernels): f(a_vals, b_vals, vi).
template <typename T, typename A, int V, int R>
struct RowCache2 {
  A ra[R][V], rb[R][V];
  template <bool LOAD, typename F>
  __device__ __forceinline__ void pass(const T* a, const T* b, int64_t nvec, int lane, int G, F&& f) {
#pragma unroll
    for (int r = 0; r < R; ++r) {
      int64_t vi = lane + int64_t(r) * G;
      if (vi < nvec) {
        if constexpr (LOAD) {
          load_vec<V>(a, vi, ra[r]);
          load_vec<V>(b, vi, rb[r]);
        }
        f(ra[r], rb[r], vi);
      }
    }
    for (int64_t vi = lane + int64_t(R) * G; vi < nvec; vi += G) {
      A ta[V], tb[V];
      load_vec<V>(a, vi, ta);
      load_vec<V>(b, vi, tb);
      f(ta, tb, vi);
    }
  }
};

inline constexpr int kRowWarpBlock = 256;  // threads per block in warp-per-row mode
inline constexpr int kRowMaxBlock = 512;   // most threads per row in block-per-row mode
// Resident blocks per SM the row kernels ask for in __launch_bounds__ (Note [row kernel registers]).
inline constexpr int kRowWarpMinBlocks = 2;  // 2 x 256 threads: <= 128 registers per thread
inline constexpr int kRowMaxMinBlocks = 1;   // 1 x 512 threads: <= 128 registers per thread
#define TK_ROW_BOUNDS(WARP) \
  __launch_bounds__((WARP) ? kRowWarpBlock : kRowMaxBlock, (WARP) ? kRowWarpMinBlocks : kRowMaxMinBlocks)

// Note [row kernel registers]
// With the thread count alone in __launch_bounds__, ptxas (CUDA 13) aimed for more resident
// blocks than that bound forces, allocated 48..80 registers and spilled 4..80 bytes in 28
// (instantiation, arch) builds (in the one examined, for the uncached loop of RowCache2, which it
// unrolls and prefetches). Naming the minimum blocks per SM (above) gives every row kernel a
// budget of 128 registers, which none exceeds (tools/cuda_resource_report.sh checks it), except
// softmax_backward on float4 rows in warp mode on sm_80: that one caches 3 vectors per row
// instead of 4. Many instantiations now use more registers than before (e.g. bf16 softmax on rows
// of 4096: 63 -> 72 on sm_90), so fewer blocks may be resident; the effect on speed has not been
// measured on a GPU yet.

// Threads per block for block-per-row mode: enough that R vectors per thread cover the row.
inline int row_block_threads(int64_t nvec, int R) {
  int t = 128;
  while (t < kRowMaxBlock && int64_t(t) * R < nvec) t *= 2;
  return t;
}

inline bool aligned16(const void* p) { return p == nullptr || (reinterpret_cast<uintptr_t>(p) & 15) == 0; }

}  // namespace tessera::cuda::kern
