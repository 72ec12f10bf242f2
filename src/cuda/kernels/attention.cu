// Fused (flash-style) attention on CUDA, bfloat16/float16 with float32 accumulation, head dims
// 64 and 128: O(S) memory, online softmax over 32-key tiles (forward), and the FA2 backward
// (D_i = rowsum(dout * out), P recomputed per tile from lse) split into a dk/dv kernel (one block
// per 32 keys, looping over queries) and a dq kernel (one block per 32 queries, looping over keys),
// so no atomics are needed and results are deterministic.
//
// Note [attention tiles]
// A block has 128 threads and works on 32x32 score tiles held in shared memory. Thread t owns
// row r = t / 4 of its 32-row block (a query row in the forward and dq kernels, a key row in the
// dk/dv kernel) and column slot c = t % 4: it computes the 8 scores (r, c + 4u), u < 8, and owns
// the output dims c + 4e, e < D/4, of row r. The 4 threads of a row are adjacent lanes of one
// warp, so row reductions are two shuffles and the P/dS tile of a row is shared through
// __syncwarp. Rows/keys past the sequence end are loaded as zeros and masked (score -inf / p 0).
// By default forward and backward run on tensor cores (attention_mma.cuh); the SIMT kernels
// here are the fallback for inputs not 16-byte aligned and a second implementation the tests
// check (kern::set_attention_impl(1)).
#include <cfloat>

#include "tessera/cuda/kernels/attention_mma.cuh"
#include "tessera/cuda/kernels/common.cuh"

namespace tessera::cuda::kern {

extern int g_attention_impl;

namespace {

constexpr int kTile = 32;
constexpr int kThreads = 128;
// Blocks per SM asked of ptxas: 4 x 128 threads = at most 128 registers per thread. With the
// thread count alone it aimed for more blocks (56..72 registers on sm_90) and the bfloat16
// forward / dk-dv kernels spilled 8..16 bytes; tools/cuda_resource_report.sh checks it.
constexpr int kMinBlocks = 4;

template <int D>
struct Pad {
  static constexpr int value = D + 2;  // 16-bit rows of (D + 2) elements: odd word stride, no bank conflicts
};

// Loads rows [row0, row0 + 32) of a [S, D] matrix into tile (zeros past S).
template <typename T, int D>
__device__ __forceinline__ void load_tile(T (*tile)[D + 2], const T* src, int64_t row0, int64_t S) {
  constexpr int kPairs = D / 2;  // 2 elements (4 bytes) per load
  for (int e = threadIdx.x; e < kTile * kPairs; e += kThreads) {
    int r = e / kPairs, c = (e % kPairs) * 2;
    int64_t gr = row0 + r;
    if (gr < S) {
      tile[r][c] = src[gr * D + c];
      tile[r][c + 1] = src[gr * D + c + 1];
    } else {
      tile[r][c] = T(0.0f);
      tile[r][c + 1] = T(0.0f);
    }
  }
}

template <typename T, int D>
__device__ __forceinline__ float dot_rows(const T* a, const T* b) {
  float s = 0;
#pragma unroll 16
  for (int c = 0; c < D; ++c) s += float(a[c]) * float(b[c]);
  return s;
}

// ---- forward: grid (B*H, ceil(Sq/32)) ----
template <typename T, int D>
__global__ void __launch_bounds__(kThreads, kMinBlocks) attn_fwd_kernel(T* out, float* lse, const T* q, const T* k,
                                                                        const T* v, int64_t Sq, int64_t Sk, bool causal,
                                                                        float scale) {
  __shared__ T Qs[kTile][D + 2], Ks[kTile][D + 2], Vs[kTile][D + 2];
  __shared__ float Ps[kTile][kTile + 1];
  const int64_t bh = blockIdx.x, q0 = int64_t(blockIdx.y) * kTile;
  const T* qb = q + bh * Sq * D;
  const T* kb = k + bh * Sk * D;
  const T* vb = v + bh * Sk * D;
  const int r = threadIdx.x / 4, c = threadIdx.x % 4;
  const int64_t qi = q0 + r;
  load_tile<T, D>(Qs, qb, q0, Sq);
  constexpr int E = D / 4;
  float acc[E];
#pragma unroll
  for (int e = 0; e < E; ++e) acc[e] = 0;
  float m = -INFINITY, l = 0;
  int64_t kend = Sk;
  if (causal) kend = min(Sk, q0 + kTile);
  for (int64_t k0 = 0; k0 < kend; k0 += kTile) {
    __syncthreads();  // previous tile fully used
    load_tile<T, D>(Ks, kb, k0, Sk);
    load_tile<T, D>(Vs, vb, k0, Sk);
    __syncthreads();
    float s[8];
    float tmax = -INFINITY;
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      int j = c + 4 * u;
      int64_t kj = k0 + j;
      float x = dot_rows<T, D>(Qs[r], Ks[j]) * scale;
      if (kj >= Sk || (causal && kj > qi)) x = -INFINITY;
      s[u] = x;
      tmax = fmaxf(tmax, x);
    }
    tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 1));
    tmax = fmaxf(tmax, __shfl_xor_sync(0xffffffffu, tmax, 2));
    float mnew = fmaxf(m, tmax);
    // mnew is -inf only for a padding row (qi >= Sq) whose first tile is all masked: keep it finite.
    float mref = mnew == -INFINITY ? 0.f : mnew;
    float alpha = __expf(m - mref);
    float rs = 0;
#pragma unroll
    for (int u = 0; u < 8; ++u) {
      float p = __expf(s[u] - mref);
      rs += p;
      Ps[r][c + 4 * u] = p;
    }
    rs += __shfl_xor_sync(0xffffffffu, rs, 1);
    rs += __shfl_xor_sync(0xffffffffu, rs, 2);
    l = l * alpha + rs;
    m = mnew;
    __syncwarp();
#pragma unroll
    for (int e = 0; e < E; ++e) acc[e] *= alpha;
    for (int j = 0; j < kTile; ++j) {
      float p = Ps[r][j];
#pragma unroll
      for (int e = 0; e < E; ++e) acc[e] += p * float(Vs[j][c + 4 * e]);
    }
  }
  if (qi < Sq) {
    float inv = 1.0f / l;
    T* orow = out + (bh * Sq + qi) * D;
#pragma unroll
    for (int e = 0; e < E; ++e) orow[c + 4 * e] = T(acc[e] * inv);
    if (c == 0) lse[bh * Sq + qi] = m + logf(l);
  }
}

// ---- backward preprocessing: Di[row] = sum_d dout[row, d] * out[row, d]; one warp per row ----
template <typename T, int D>
__global__ void attn_bwd_dot_kernel(float* Di, const T* dout, const T* out, int64_t rows) {
  int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= rows) return;
  float s = 0;
  for (int c = lane; c < D; c += 32) s += float(dout[row * D + c]) * float(out[row * D + c]);
  s = warp_reduce(s, SumOp{});
  if (lane == 0) Di[row] = s;
}

// ---- backward dk/dv: grid (B*H, ceil(Sk/32)); row r of the block is key k0 + r ----
template <typename T, int D>
__global__ void __launch_bounds__(kThreads, kMinBlocks) attn_bwd_dkdv_kernel(T* dk, T* dv, const T* dout, const T* q,
                                                                             const T* k, const T* v, const float* lse,
                                                                             const float* Di, int64_t Sq, int64_t Sk,
                                                                             bool causal, float scale) {
  __shared__ T Ks[kTile][D + 2], Vs[kTile][D + 2], Qs[kTile][D + 2], Gs[kTile][D + 2];
  __shared__ float Ps[kTile][kTile + 1], Ds[kTile][kTile + 1];  // [key][query]
  __shared__ float Ls[kTile], Dd[kTile];
  const int64_t bh = blockIdx.x, k0 = int64_t(blockIdx.y) * kTile;
  const T* qb = q + bh * Sq * D;
  const T* gb = dout + bh * Sq * D;
  const int r = threadIdx.x / 4, c = threadIdx.x % 4;
  const int64_t kj = k0 + r;
  load_tile<T, D>(Ks, k + bh * Sk * D, k0, Sk);
  load_tile<T, D>(Vs, v + bh * Sk * D, k0, Sk);
  constexpr int E = D / 4;
  float adk[E], adv[E];
#pragma unroll
  for (int e = 0; e < E; ++e) adk[e] = adv[e] = 0;
  const int64_t qstart = causal ? (k0 / kTile) * kTile : 0;  // queries i >= k0 see keys of this block
  for (int64_t q0 = qstart; q0 < Sq; q0 += kTile) {
    __syncthreads();
    load_tile<T, D>(Qs, qb, q0, Sq);
    load_tile<T, D>(Gs, gb, q0, Sq);
    if (threadIdx.x < kTile) {
      int64_t i = q0 + threadIdx.x;
      Ls[threadIdx.x] = i < Sq ? lse[bh * Sq + i] : 0.f;
      Dd[threadIdx.x] = i < Sq ? Di[bh * Sq + i] : 0.f;
    }
    __syncthreads();
#pragma unroll 2
    for (int u = 0; u < 8; ++u) {
      int ii = c + 4 * u;
      int64_t i = q0 + ii;
      float p = 0, ds = 0;
      if (i < Sq && kj < Sk && !(causal && kj > i)) {
        float sc = dot_rows<T, D>(Qs[ii], Ks[r]) * scale;
        p = __expf(sc - Ls[ii]);
        float dp = dot_rows<T, D>(Gs[ii], Vs[r]);
        ds = p * (dp - Dd[ii]);
      }
      Ps[r][ii] = p;
      Ds[r][ii] = ds;
    }
    __syncwarp();
    for (int ii = 0; ii < kTile; ++ii) {
      float p = Ps[r][ii], ds = Ds[r][ii];
#pragma unroll
      for (int e = 0; e < E; ++e) {
        adv[e] += p * float(Gs[ii][c + 4 * e]);
        adk[e] += ds * float(Qs[ii][c + 4 * e]);
      }
    }
  }
  if (kj < Sk) {
    T* dkr = dk + (bh * Sk + kj) * D;
    T* dvr = dv + (bh * Sk + kj) * D;
#pragma unroll
    for (int e = 0; e < E; ++e) {
      dkr[c + 4 * e] = T(adk[e] * scale);
      dvr[c + 4 * e] = T(adv[e]);
    }
  }
}

// ---- backward dq: grid (B*H, ceil(Sq/32)); row r of the block is query q0 + r ----
template <typename T, int D>
__global__ void __launch_bounds__(kThreads, kMinBlocks) attn_bwd_dq_kernel(T* dq, const T* dout, const T* q,
                                                                           const T* k, const T* v, const float* lse,
                                                                           const float* Di, int64_t Sq, int64_t Sk,
                                                                           bool causal, float scale) {
  __shared__ T Qs[kTile][D + 2], Gs[kTile][D + 2], Ks[kTile][D + 2], Vs[kTile][D + 2];
  __shared__ float Ds[kTile][kTile + 1];  // [query][key]
  const int64_t bh = blockIdx.x, q0 = int64_t(blockIdx.y) * kTile;
  const T* kb = k + bh * Sk * D;
  const T* vb = v + bh * Sk * D;
  const int r = threadIdx.x / 4, c = threadIdx.x % 4;
  const int64_t qi = q0 + r;
  load_tile<T, D>(Qs, q + bh * Sq * D, q0, Sq);
  load_tile<T, D>(Gs, dout + bh * Sq * D, q0, Sq);
  const float li = qi < Sq ? lse[bh * Sq + qi] : 0.f;
  const float di = qi < Sq ? Di[bh * Sq + qi] : 0.f;
  constexpr int E = D / 4;
  float adq[E];
#pragma unroll
  for (int e = 0; e < E; ++e) adq[e] = 0;
  int64_t kend = Sk;
  if (causal) kend = min(Sk, q0 + kTile);
  for (int64_t k0 = 0; k0 < kend; k0 += kTile) {
    __syncthreads();
    load_tile<T, D>(Ks, kb, k0, Sk);
    load_tile<T, D>(Vs, vb, k0, Sk);
    __syncthreads();
#pragma unroll 2
    for (int u = 0; u < 8; ++u) {
      int jj = c + 4 * u;
      int64_t j = k0 + jj;
      float ds = 0;
      if (qi < Sq && j < Sk && !(causal && j > qi)) {
        float p = __expf(dot_rows<T, D>(Qs[r], Ks[jj]) * scale - li);
        float dp = dot_rows<T, D>(Gs[r], Vs[jj]);
        ds = p * (dp - di);
      }
      Ds[r][jj] = ds;
    }
    __syncwarp();
    for (int jj = 0; jj < kTile; ++jj) {
      float ds = Ds[r][jj];
#pragma unroll
      for (int e = 0; e < E; ++e) adq[e] += ds * float(Ks[jj][c + 4 * e]);
    }
  }
  if (qi < Sq) {
    T* dqr = dq + (bh * Sq + qi) * D;
#pragma unroll
    for (int e = 0; e < E; ++e) dqr[c + 4 * e] = T(adq[e] * scale);
  }
}

template <typename T, int D>
cudaError_t fwd_t(char* out, float* lse, const char* q, const char* k, const char* v, int64_t BH, int64_t Sq,
                  int64_t Sk, bool causal, double scale, cudaStream_t s) {
  auto a16 = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  if (g_attention_impl == 0 && a16(out) && a16(q) && a16(k) && a16(v)) {  // tensor cores: 16-byte tile loads
    dim3 grid(unsigned(BH), unsigned((Sq + mma_attn::kBQ - 1) / mma_attn::kBQ));
    mma_attn::fwd_kernel<T, D><<<grid, mma_attn::kThreads, 0, s>>>(
        reinterpret_cast<T*>(out), lse, reinterpret_cast<const T*>(q), reinterpret_cast<const T*>(k),
        reinterpret_cast<const T*>(v), Sq, Sk, causal, float(scale));
    return cudaGetLastError();
  }
  dim3 grid(unsigned(BH), unsigned((Sq + kTile - 1) / kTile));
  attn_fwd_kernel<T, D><<<grid, kThreads, 0, s>>>(reinterpret_cast<T*>(out), lse, reinterpret_cast<const T*>(q),
                                                  reinterpret_cast<const T*>(k), reinterpret_cast<const T*>(v), Sq,
                                                  Sk, causal, float(scale));
  return cudaGetLastError();
}

template <typename T, int D>
cudaError_t bwd_t(char* dq, char* dk, char* dv, const char* dout, const char* q, const char* k, const char* v,
                  const char* out, const float* lse, float* Di, int64_t BH, int64_t Sq, int64_t Sk, bool causal,
                  double scale, cudaStream_t s) {
  const T* g = reinterpret_cast<const T*>(dout);
  const T* qq = reinterpret_cast<const T*>(q);
  const T* kk = reinterpret_cast<const T*>(k);
  const T* vv = reinterpret_cast<const T*>(v);
  int64_t rows = BH * Sq;
  attn_bwd_dot_kernel<T, D><<<unsigned((rows + 7) / 8), 256, 0, s>>>(Di, g, reinterpret_cast<const T*>(out), rows);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) return err;
  auto a16 = [](const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15) == 0; };
  if (g_attention_impl == 0 && a16(dq) && a16(dk) && a16(dv) && a16(dout) && a16(q) && a16(k) && a16(v)) {
    constexpr int smem = mma_attn::bwd_smem_bytes<D>();
    auto kdkdv = mma_attn::bwd_dkdv_kernel<T, D>;
    auto kdq = mma_attn::bwd_dq_kernel<T, D>;
    if ((err = cudaFuncSetAttribute(kdkdv, cudaFuncAttributeMaxDynamicSharedMemorySize, smem)) != cudaSuccess) return err;
    if ((err = cudaFuncSetAttribute(kdq, cudaFuncAttributeMaxDynamicSharedMemorySize, smem)) != cudaSuccess) return err;
    dim3 gk(unsigned(BH), unsigned((Sk + mma_attn::kBwdKeys - 1) / mma_attn::kBwdKeys));
    kdkdv<<<gk, mma_attn::kThreads, smem, s>>>(reinterpret_cast<T*>(dk), reinterpret_cast<T*>(dv), g, qq, kk, vv, lse,
                                               Di, Sq, Sk, causal, float(scale));
    if ((err = cudaGetLastError()) != cudaSuccess) return err;
    dim3 gq(unsigned(BH), unsigned((Sq + mma_attn::kDqRows - 1) / mma_attn::kDqRows));
    kdq<<<gq, mma_attn::kThreads, smem, s>>>(reinterpret_cast<T*>(dq), g, qq, kk, vv, lse, Di, Sq, Sk, causal,
                                             float(scale));
    return cudaGetLastError();
  }
  dim3 gk(unsigned(BH), unsigned((Sk + kTile - 1) / kTile));
  attn_bwd_dkdv_kernel<T, D><<<gk, kThreads, 0, s>>>(reinterpret_cast<T*>(dk), reinterpret_cast<T*>(dv), g, qq, kk,
                                                     vv, lse, Di, Sq, Sk, causal, float(scale));
  if ((err = cudaGetLastError()) != cudaSuccess) return err;
  dim3 gq(unsigned(BH), unsigned((Sq + kTile - 1) / kTile));
  attn_bwd_dq_kernel<T, D><<<gq, kThreads, 0, s>>>(reinterpret_cast<T*>(dq), g, qq, kk, vv, lse, Di, Sq, Sk, causal,
                                                   float(scale));
  return cudaGetLastError();
}

}  // namespace

int g_attention_impl = 0;
void set_attention_impl(int impl) { g_attention_impl = impl; }
int attention_impl() { return g_attention_impl; }

bool attention_supported(DT dt, int64_t head_dim) {
  return (dt == DT::BF16 || dt == DT::F16) && (head_dim == 64 || head_dim == 128);
}

cudaError_t attention_forward(char* out, float* lse, const char* q, const char* k, const char* v, DT dt, int64_t BH,
                              int64_t Sq, int64_t Sk, int64_t D, bool causal, double scale, cudaStream_t s) {
  if (BH == 0 || Sq == 0) return cudaSuccess;
  if (dt == DT::BF16) {
    if (D == 64) return fwd_t<bf16, 64>(out, lse, q, k, v, BH, Sq, Sk, causal, scale, s);
    if (D == 128) return fwd_t<bf16, 128>(out, lse, q, k, v, BH, Sq, Sk, causal, scale, s);
  } else if (dt == DT::F16) {
    if (D == 64) return fwd_t<f16, 64>(out, lse, q, k, v, BH, Sq, Sk, causal, scale, s);
    if (D == 128) return fwd_t<f16, 128>(out, lse, q, k, v, BH, Sq, Sk, causal, scale, s);
  }
  return cudaErrorInvalidValue;
}

cudaError_t attention_backward(char* dq, char* dk, char* dv, const char* dout, const char* q, const char* k,
                               const char* v, const char* out, const float* lse, float* workspace, DT dt,
                               int64_t BH, int64_t Sq, int64_t Sk, int64_t D, bool causal, double scale,
                               cudaStream_t s) {
  if (BH == 0 || Sq == 0 || Sk == 0) return cudaSuccess;
  if (dt == DT::BF16) {
    if (D == 64) return bwd_t<bf16, 64>(dq, dk, dv, dout, q, k, v, out, lse, workspace, BH, Sq, Sk, causal, scale, s);
    if (D == 128) return bwd_t<bf16, 128>(dq, dk, dv, dout, q, k, v, out, lse, workspace, BH, Sq, Sk, causal, scale, s);
  } else if (dt == DT::F16) {
    if (D == 64) return bwd_t<f16, 64>(dq, dk, dv, dout, q, k, v, out, lse, workspace, BH, Sq, Sk, causal, scale, s);
    if (D == 128) return bwd_t<f16, 128>(dq, dk, dv, dout, q, k, v, out, lse, workspace, BH, Sq, Sk, causal, scale, s);
  }
  return cudaErrorInvalidValue;
}

}  // namespace tessera::cuda::kern
