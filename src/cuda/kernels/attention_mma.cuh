// Tensor-core (mma.sync m16n8k16, 16-bit inputs, float32 accumulation) flash-attention forward
// for kernels/attention.cu. Included only by attention.cu.
//
// Note [attention mma fragments]
// A block has 4 warps and 64 query rows (16 per warp); K/V tiles of 64 keys x D go through
// shared memory (rows padded to D + 8 elements: 16-byte aligned, no bank conflicts). With
// g = lane / 4 and t = lane % 4, the PTX m16n8k16 layouts are
//   A (16x16, row-major): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..), a2 = (g, 2t+8..), a3 = (g+8, 2t+8..)
//   B (16x8, "col"):      b0 = (k 2t..2t+1, n g), b1 = (k 2t+8..2t+9, n g)
//   C (16x8, float):      c0,c1 = (g, 2t..2t+1), c2,c3 = (g+8, 2t..2t+1)
// (pairs along the contiguous dim share one 32-bit register, the lower index in the low half).
// Q fragments stay in registers; S = Q K^T takes B pairs straight from K's rows; the S
// accumulators of two adjacent 8-key tiles are exactly the A fragment of P for P V; V's B
// fragment pairs run down a column of V, so they are packed from two 16-bit loads.
// Each thread owns query rows g and g+8 of its warp: row max/sum reduce over the 4 lanes of a
// group with two shuffles. Scores are kept in base 2 (scale * log2 e) for exp2f.
#pragma once

#include "tessera/cuda/kernels/common.cuh"

namespace tessera::cuda::kern {
namespace mma_attn {

constexpr int kBQ = 64, kBK = 64, kWarps = 4, kThreads = kWarps * 32;

template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  return uint32_t(T(lo).bits) | (uint32_t(T(hi).bits) << 16);
}
template <typename T>
__device__ __forceinline__ uint32_t ld32(const T* p) {
  return *reinterpret_cast<const uint32_t*>(p);
}
template <typename T>
__device__ __forceinline__ uint32_t ld_pair(const T* a, const T* b) {  // two separate 16-bit elements
  return uint32_t(a->bits) | (uint32_t(b->bits) << 16);
}

template <typename T>
__device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, bf16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
        "{%0,%1,%2,%3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Rows [row0, row0 + 64) of a [S, D] matrix into tile (row stride D + 8), zeros past S; 16-byte
// vectors (D is a multiple of 8 and every row start is 16-byte aligned when the base is).
template <typename T, int D>
__device__ __forceinline__ void load_tile64(T* tile, const T* src, int64_t row0, int64_t S) {
  constexpr int kVecs = D / 8;
  for (int e = threadIdx.x; e < kBK * kVecs; e += kThreads) {
    int r = e / kVecs, c = (e % kVecs) * 8;
    int64_t gr = row0 + r;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (gr < S) v = *reinterpret_cast<const uint4*>(src + gr * D + c);
    *reinterpret_cast<uint4*>(tile + r * (D + 8) + c) = v;
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) fwd_kernel(T* out, float* lse, const T* q, const T* k, const T* v,
                                                       int64_t Sq, int64_t Sk, bool causal, float scale) {
  constexpr int LD = D + 8;
  __shared__ __align__(16) T Ks[kBK * LD];
  __shared__ __align__(16) T Vs[kBK * LD];
  const int64_t bh = blockIdx.x, q0 = int64_t(blockIdx.y) * kBQ;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const T* kb = k + bh * Sk * D;
  const T* vb = v + bh * Sk * D;

  // Q fragments (staged through Ks).
  load_tile64<T, D>(Ks, q + bh * Sq * D, q0, Sq);
  __syncthreads();
  uint32_t qf[D / 16][4];
  {
    const T* qs = Ks + (warp * 16) * LD;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      qf[kk][0] = ld32(qs + g * LD + kk * 16 + 2 * t);
      qf[kk][1] = ld32(qs + (g + 8) * LD + kk * 16 + 2 * t);
      qf[kk][2] = ld32(qs + g * LD + kk * 16 + 2 * t + 8);
      qf[kk][3] = ld32(qs + (g + 8) * LD + kk * 16 + 2 * t + 8);
    }
  }
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  const float sl2 = scale * 1.4426950408889634f;  // log2(e)
  const int64_t qrow[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
  int64_t kend = Sk;
  if (causal) kend = min(Sk, q0 + kBQ);

  for (int64_t k0 = 0; k0 < kend; k0 += kBK) {
    __syncthreads();  // Ks (Q staging or the previous tile) and Vs fully read
    load_tile64<T, D>(Ks, kb, k0, Sk);
    load_tile64<T, D>(Vs, vb, k0, Sk);
    __syncthreads();
    // S = Q K^T for this warp's 16 rows x 64 keys: 8 n-tiles of 8 keys.
    float s[kBK / 8][4];
#pragma unroll
    for (int n = 0; n < kBK / 8; ++n) {
      s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
      const T* kr = Ks + (n * 8 + g) * LD;
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) mma<T>(s[n], qf[kk], ld32(kr + kk * 16 + 2 * t), ld32(kr + kk * 16 + 2 * t + 8));
    }
    // scale (base 2), mask, row max
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < kBK / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int64_t key = k0 + n * 8 + 2 * t + (e & 1);
        int hr = e >> 1;  // 0: row g, 1: row g + 8
        float x = s[n][e] * sl2;
        if (key >= Sk || (causal && key > qrow[hr])) x = -INFINITY;
        s[n][e] = x;
        mx[hr] = fmaxf(mx[hr], x);
      }
    float alpha[2], mref[2];
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) {
      mx[hr] = fmaxf(mx[hr], __shfl_xor_sync(0xffffffffu, mx[hr], 1));
      mx[hr] = fmaxf(mx[hr], __shfl_xor_sync(0xffffffffu, mx[hr], 2));
      float mn = fmaxf(m[hr], mx[hr]);
      mref[hr] = mn == -INFINITY ? 0.f : mn;
      alpha[hr] = exp2f(m[hr] - mref[hr]);
      m[hr] = mn;
    }
    float rs[2] = {0.f, 0.f};
#pragma unroll
    for (int n = 0; n < kBK / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float p = exp2f(s[n][e] - mref[e >> 1]);
        s[n][e] = p;
        rs[e >> 1] += p;
      }
#pragma unroll
    for (int hr = 0; hr < 2; ++hr) l[hr] = l[hr] * alpha[hr] + rs[hr];  // per-thread partial sums
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= alpha[0];
      o[n][1] *= alpha[0];
      o[n][2] *= alpha[1];
      o[n][3] *= alpha[1];
    }
    // O += P V: 4 k-chunks of 16 keys; P's A fragment from S tiles 2kc and 2kc+1.
#pragma unroll
    for (int kc = 0; kc < kBK / 16; ++kc) {
      uint32_t pa[4];
      pa[0] = pack2<T>(s[2 * kc][0], s[2 * kc][1]);
      pa[1] = pack2<T>(s[2 * kc][2], s[2 * kc][3]);
      pa[2] = pack2<T>(s[2 * kc + 1][0], s[2 * kc + 1][1]);
      pa[3] = pack2<T>(s[2 * kc + 1][2], s[2 * kc + 1][3]);
      const T* v0 = Vs + (kc * 16 + 2 * t) * LD;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        const T* vc = v0 + n * 8 + g;
        uint32_t b0 = ld_pair(vc, vc + LD), b1 = ld_pair(vc + 8 * LD, vc + 9 * LD);
        mma<T>(o[n], pa, b0, b1);
      }
    }
  }
  // finish: full row sums, normalise, store
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    l[hr] += __shfl_xor_sync(0xffffffffu, l[hr], 1);
    l[hr] += __shfl_xor_sync(0xffffffffu, l[hr], 2);
  }
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    if (qrow[hr] >= Sq) continue;
    float inv = 1.f / l[hr];
    T* orow = out + (bh * Sq + qrow[hr]) * D;
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      *reinterpret_cast<uint32_t*>(orow + n * 8 + 2 * t) = pack2<T>(o[n][2 * hr] * inv, o[n][2 * hr + 1] * inv);
    if (t == 0) lse[bh * Sq + qrow[hr]] = (m[hr] + log2f(l[hr])) * 0.6931471805599453f;
  }
}

// ---- backward on tensor cores (same fragment rules). Dynamic shared memory, rows of LD = D + 8.
// Rows [row0, row0 + ROWS) of a [S, D] matrix into tile, zeros past S (16-byte vectors).
template <typename T, int D, int ROWS>
__device__ __forceinline__ void load_rows(T* tile, const T* src, int64_t row0, int64_t S) {
  constexpr int kVecs = D / 8;
  for (int e = threadIdx.x; e < ROWS * kVecs; e += kThreads) {
    int r = e / kVecs, c = (e % kVecs) * 8;
    int64_t gr = row0 + r;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (gr < S) v = *reinterpret_cast<const uint4*>(src + gr * D + c);
    *reinterpret_cast<uint4*>(tile + r * (D + 8) + c) = v;
  }
}
// The A fragment of rows [0, 16) x dims [kk*16, kk*16 + 16) of a row-major tile (row stride LD).
template <typename T, int LD>
__device__ __forceinline__ void a_frag(uint32_t (&a)[4], const T* rows, int kk, int g, int t) {
  a[0] = ld32(rows + g * LD + kk * 16 + 2 * t);
  a[1] = ld32(rows + (g + 8) * LD + kk * 16 + 2 * t);
  a[2] = ld32(rows + g * LD + kk * 16 + 2 * t + 8);
  a[3] = ld32(rows + (g + 8) * LD + kk * 16 + 2 * t + 8);
}
// The A fragment (16 x 16) of two adjacent 8-column accumulator tiles c0, c1.
template <typename T>
__device__ __forceinline__ void acc_to_a(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
  a[0] = pack2<T>(c0[0], c0[1]);
  a[1] = pack2<T>(c0[2], c0[3]);
  a[2] = pack2<T>(c1[0], c1[1]);
  a[3] = pack2<T>(c1[2], c1[3]);
}
constexpr int kBwdKeys = 64, kBwdQ = 32;  // dk/dv kernel: 64 keys per block, 32-query tiles
constexpr int kDqRows = 64, kDqKeys = 32;  // dq kernel: 64 queries per block, 32-key tiles
template <int D>
constexpr int bwd_smem_bytes() {
  return (2 * 64 + 2 * 32) * (D + 8) * 2 + 2 * 32 * 4;
}

// dk, dv for 64 keys (16 per warp: the M dim is keys), looping over 32-query tiles:
// S^T = K Q^T, dP^T = V dO^T, P^T = exp(scale S^T - lse), dS^T = P^T (dP^T - Di),
// dV += P^T dO, dK += dS^T Q; dK scaled at the end.
template <typename T, int D>
__global__ void __launch_bounds__(kThreads) bwd_dkdv_kernel(T* dk, T* dv, const T* dout, const T* q, const T* k,
                                                            const T* v, const float* lse, const float* Di,
                                                            int64_t Sq, int64_t Sk, bool causal, float scale) {
  constexpr int LD = D + 8;
  extern __shared__ __align__(16) unsigned char smem[];
  T* Ks = reinterpret_cast<T*>(smem);
  T* Vs = Ks + kBwdKeys * LD;
  T* Qs = Vs + kBwdKeys * LD;
  T* Gs = Qs + kBwdQ * LD;
  float* Ls = reinterpret_cast<float*>(Gs + kBwdQ * LD);
  float* Dd = Ls + kBwdQ;
  const int64_t bh = blockIdx.x, k0 = int64_t(blockIdx.y) * kBwdKeys;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const T* qb = q + bh * Sq * D;
  const T* gb = dout + bh * Sq * D;
  load_rows<T, D, kBwdKeys>(Ks, k + bh * Sk * D, k0, Sk);
  load_rows<T, D, kBwdKeys>(Vs, v + bh * Sk * D, k0, Sk);
  const T* Kw = Ks + warp * 16 * LD;
  const T* Vw = Vs + warp * 16 * LD;
  float adk[D / 8][4], adv[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) adk[n][e] = adv[n][e] = 0.f;
  const int64_t key[2] = {k0 + warp * 16 + g, k0 + warp * 16 + g + 8};
  const int64_t qstart = causal ? k0 : 0;  // k0 is a multiple of kBwdQ
  for (int64_t q0 = qstart; q0 < Sq; q0 += kBwdQ) {
    __syncthreads();
    load_rows<T, D, kBwdQ>(Qs, qb, q0, Sq);
    load_rows<T, D, kBwdQ>(Gs, gb, q0, Sq);
    if (threadIdx.x < kBwdQ) {
      int64_t i = q0 + threadIdx.x;
      Ls[threadIdx.x] = i < Sq ? lse[bh * Sq + i] : 0.f;
      Dd[threadIdx.x] = i < Sq ? Di[bh * Sq + i] : 0.f;
    }
    __syncthreads();
    float st[kBwdQ / 8][4], dpt[kBwdQ / 8][4];
#pragma unroll
    for (int n = 0; n < kBwdQ / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) st[n][e] = dpt[n][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t ak[4], av[4];
      a_frag<T, LD>(ak, Kw, kk, g, t);
      a_frag<T, LD>(av, Vw, kk, g, t);
#pragma unroll
      for (int n = 0; n < kBwdQ / 8; ++n) {
        const T* qr = Qs + (n * 8 + g) * LD + kk * 16 + 2 * t;
        const T* gr = Gs + (n * 8 + g) * LD + kk * 16 + 2 * t;
        mma<T>(st[n], ak, ld32(qr), ld32(qr + 8));
        mma<T>(dpt[n], av, ld32(gr), ld32(gr + 8));
      }
    }
#pragma unroll
    for (int n = 0; n < kBwdQ / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int qi = n * 8 + 2 * t + (e & 1);
        int64_t query = q0 + qi, kj = key[e >> 1];
        bool ok = query < Sq && kj < Sk && !(causal && kj > query);
        float p = ok ? __expf(st[n][e] * scale - Ls[qi]) : 0.f;
        st[n][e] = p;
        dpt[n][e] = p * (dpt[n][e] - Dd[qi]);
      }
#pragma unroll
    for (int kc = 0; kc < kBwdQ / 16; ++kc) {
      uint32_t ap[4], as[4];
      acc_to_a<T>(ap, st[2 * kc], st[2 * kc + 1]);
      acc_to_a<T>(as, dpt[2 * kc], dpt[2 * kc + 1]);
      const T* g0 = Gs + (kc * 16 + 2 * t) * LD + g;
      const T* q0p = Qs + (kc * 16 + 2 * t) * LD + g;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        const T* gc = g0 + n * 8;
        const T* qc = q0p + n * 8;
        mma<T>(adv[n], ap, ld_pair(gc, gc + LD), ld_pair(gc + 8 * LD, gc + 9 * LD));
        mma<T>(adk[n], as, ld_pair(qc, qc + LD), ld_pair(qc + 8 * LD, qc + 9 * LD));
      }
    }
  }
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    if (key[hr] >= Sk) continue;
    T* dkr = dk + (bh * Sk + key[hr]) * D;
    T* dvr = dv + (bh * Sk + key[hr]) * D;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      *reinterpret_cast<uint32_t*>(dkr + n * 8 + 2 * t) = pack2<T>(adk[n][2 * hr] * scale, adk[n][2 * hr + 1] * scale);
      *reinterpret_cast<uint32_t*>(dvr + n * 8 + 2 * t) = pack2<T>(adv[n][2 * hr], adv[n][2 * hr + 1]);
    }
  }
}

// dq for 64 queries (16 per warp), looping over 32-key tiles: S = Q K^T, dP = dO V^T,
// dS = P (dP - Di), dQ += dS K; scaled at the end.
template <typename T, int D>
__global__ void __launch_bounds__(kThreads) bwd_dq_kernel(T* dq, const T* dout, const T* q, const T* k, const T* v,
                                                          const float* lse, const float* Di, int64_t Sq, int64_t Sk,
                                                          bool causal, float scale) {
  constexpr int LD = D + 8;
  extern __shared__ __align__(16) unsigned char smem[];
  T* Qs = reinterpret_cast<T*>(smem);
  T* Gs = Qs + kDqRows * LD;
  T* Ks = Gs + kDqRows * LD;
  T* Vs = Ks + kDqKeys * LD;
  const int64_t bh = blockIdx.x, q0 = int64_t(blockIdx.y) * kDqRows;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const T* kb = k + bh * Sk * D;
  const T* vb = v + bh * Sk * D;
  load_rows<T, D, kDqRows>(Qs, q + bh * Sq * D, q0, Sq);
  load_rows<T, D, kDqRows>(Gs, dout + bh * Sq * D, q0, Sq);
  const T* Qw = Qs + warp * 16 * LD;
  const T* Gw = Gs + warp * 16 * LD;
  const int64_t qrow[2] = {q0 + warp * 16 + g, q0 + warp * 16 + g + 8};
  float li[2], di[2];
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    li[hr] = qrow[hr] < Sq ? lse[bh * Sq + qrow[hr]] : 0.f;
    di[hr] = qrow[hr] < Sq ? Di[bh * Sq + qrow[hr]] : 0.f;
  }
  float adq[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) adq[n][e] = 0.f;
  int64_t kend = Sk;
  if (causal) kend = min(Sk, q0 + kDqRows);
  for (int64_t k0 = 0; k0 < kend; k0 += kDqKeys) {
    __syncthreads();
    load_rows<T, D, kDqKeys>(Ks, kb, k0, Sk);
    load_rows<T, D, kDqKeys>(Vs, vb, k0, Sk);
    __syncthreads();
    float s[kDqKeys / 8][4], dp[kDqKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kDqKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) s[n][e] = dp[n][e] = 0.f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t aq[4], ag[4];
      a_frag<T, LD>(aq, Qw, kk, g, t);
      a_frag<T, LD>(ag, Gw, kk, g, t);
#pragma unroll
      for (int n = 0; n < kDqKeys / 8; ++n) {
        const T* kr = Ks + (n * 8 + g) * LD + kk * 16 + 2 * t;
        const T* vr = Vs + (n * 8 + g) * LD + kk * 16 + 2 * t;
        mma<T>(s[n], aq, ld32(kr), ld32(kr + 8));
        mma<T>(dp[n], ag, ld32(vr), ld32(vr + 8));
      }
    }
#pragma unroll
    for (int n = 0; n < kDqKeys / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        int64_t kj = k0 + n * 8 + 2 * t + (e & 1), query = qrow[e >> 1];
        bool ok = query < Sq && kj < Sk && !(causal && kj > query);
        float p = ok ? __expf(s[n][e] * scale - li[e >> 1]) : 0.f;
        s[n][e] = p * (dp[n][e] - di[e >> 1]);
      }
#pragma unroll
    for (int kc = 0; kc < kDqKeys / 16; ++kc) {
      uint32_t as[4];
      acc_to_a<T>(as, s[2 * kc], s[2 * kc + 1]);
      const T* k0p = Ks + (kc * 16 + 2 * t) * LD + g;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        const T* kc_ = k0p + n * 8;
        mma<T>(adq[n], as, ld_pair(kc_, kc_ + LD), ld_pair(kc_ + 8 * LD, kc_ + 9 * LD));
      }
    }
  }
#pragma unroll
  for (int hr = 0; hr < 2; ++hr) {
    if (qrow[hr] >= Sq) continue;
    T* dqr = dq + (bh * Sq + qrow[hr]) * D;
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      *reinterpret_cast<uint32_t*>(dqr + n * 8 + 2 * t) = pack2<T>(adq[n][2 * hr] * scale, adq[n][2 * hr + 1] * scale);
  }
}

}  // namespace mma_attn
}  // namespace tessera::cuda::kern
