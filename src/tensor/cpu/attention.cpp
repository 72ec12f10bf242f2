// CPU fused attention primitives (Backend::attention / attention_backward), blocked over query
// rows so that every product is a small GEMM (cpu/gemm_serial.h) and only a [block, Sk] score
// tile is ever stored (Note [cpu blocked attention]); operands are read and written with their
// strides (Note [cpu attention strides]). Parallel over (batch*head, query block) in
// the forward and over batch*head in the backward. 16-bit floats compute in float32 (converted per
// head), float32 in float32, float64 in float64 (Note [reduced precision compute]).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/gemm_serial.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/cpu/norm_rows.h"
#include "tessera/tensor/dtype.h"

namespace tessera::cpu {

namespace {

// Note [cpu blocked attention]
// For one (batch, head) and a block of up to kQBlock query rows [r0, r1):
//   forward:  S = Q_blk K^T * scale  ([bq, nk], nk = Sk, or min(r1, Sk) when causal: later keys
//             are masked for every row of the block), row softmax over each row's visible keys
//             (j <= i when causal, top-left alignment; masked entries of P are 0), lse = m + log l,
//             O_blk = P V.
//   backward: P = exp(S - lse) recomputed (masked entries 0), dV += P^T dO_blk, dP = dO_blk V^T,
//             dS = P (dP - rowsum(dO * O)) * scale, dQ_blk = dS K, dK += dS^T Q_blk.
// Memory: a [kQBlock, Sk] tile per thread (two in the backward) plus, for 16-bit inputs, float32
// copies of one head's q/k/v (and dout/out). Masked entries contribute exact zeros, so the result
// equals the unblocked formula up to float rounding of the GEMMs' summation order.
//
// Note [cpu attention strides]
// Every operand (q, k, v, dout, out and the outputs out, dq, dk, dv) may have any strides over
// [B, H, S] as long as D has unit stride and rows do not overlap (stride(2) >= D): the GEMMs
// take the row stride as their leading dimension. So the q/k/v views of a fused QKV projection
// ([B, S, 3, H, D] permuted) are read in place, and raw::scaled_dot_product_attention writes out
// in [B, S, H, D] memory order (Note [attention output layout]).
constexpr int64_t kQBlock = 128;

// Keys query i sees: [0, Sk) or, causal, [0, min(i + 1, Sk)).
inline int64_t keys_for(int64_t i, int64_t sk, bool causal) { return causal ? std::min(i + 1, sk) : sk; }

// A [B, H, S, D] operand with unit stride along D (Note [cpu attention strides]): the rows of
// head bh = b * H + h start at head(bh) and are `ss` elements apart.
template <typename P>
struct Heads {
  P* p;
  int64_t sb, sh, ss, H;
  P* head(int64_t bh) const { return p + (bh / H) * sb + (bh % H) * sh; }
};
template <typename P>
Heads<P> heads_of(const Tensor& t) {
  return Heads<P>{static_cast<P*>(t.data_ptr()), t.stride(0), t.stride(1), t.stride(2), t.size(1)};
}

// `rows` rows of `d` elements (row stride ss) as accumulation type A: the rows themselves when T
// is A (*ld = ss), else converted into `buf` (*ld = d).
template <typename T, typename A>
const A* rows_as_acc(const T* src, int64_t rows, int64_t d, int64_t ss, std::vector<A>& buf, int64_t* ld) {
  if constexpr (std::is_same_v<T, A>) {
    *ld = ss;
    return src;
  } else {
    buf.resize(size_t(rows * d));
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < d; ++c) buf[size_t(r * d + c)] = cast_element<A>(src[r * ss + c]);
    *ld = d;
    return buf.data();
  }
}

// Writes `rows` rows of `d` elements from src (row stride lds) to dst (row stride ss), unless
// they are the same memory.
template <typename T, typename A>
void store_rows(T* dst, int64_t ss, const A* src, int64_t lds, int64_t rows, int64_t d) {
  if constexpr (std::is_same_v<T, A>) {
    if (static_cast<const void*>(dst) == static_cast<const void*>(src)) return;
  }
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < d; ++c) dst[r * ss + c] = cast_element<T>(src[r * lds + c]);
}

// The rows an output is accumulated in: the output's own rows when T is A, else `buf`.
template <typename T, typename A>
A* acc_rows(T* dst, int64_t ss, int64_t rows, int64_t d, std::vector<A>& buf, int64_t* ld) {
  if constexpr (std::is_same_v<T, A>) {
    *ld = ss;
    return dst;
  } else {
    buf.resize(size_t(rows * d));
    *ld = d;
    return buf.data();
  }
}

template <typename T>
void attention_fwd(Heads<T> out, acc_type<T>* lse, Heads<const T> q, Heads<const T> k, Heads<const T> v, int64_t bh,
                   int64_t sq, int64_t sk, int64_t d, bool causal, double scale) {
  using A = acc_type<T>;
  const int64_t nqb = (sq + kQBlock - 1) / kQBlock;
  parallel_for(bh * nqb, std::min(sq, kQBlock) * sk * d * 4, [&](int64_t i0, int64_t i1) {
    std::vector<A> s(static_cast<size_t>(std::min(sq, kQBlock) * sk)), kbuf, vbuf, qbuf, obuf;
    int64_t loaded = -1, ldk = 0, ldv = 0;
    const A *kb = nullptr, *vb = nullptr;
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t b = it / nqb, r0 = (it % nqb) * kQBlock, r1 = std::min(sq, r0 + kQBlock), bq = r1 - r0;
      const int64_t nk = causal ? std::min(r1, sk) : sk;
      if (b != loaded) {
        kb = rows_as_acc<T, A>(k.head(b), sk, d, k.ss, kbuf, &ldk);
        vb = rows_as_acc<T, A>(v.head(b), sk, d, v.ss, vbuf, &ldv);
        loaded = b;
      }
      int64_t ldq = 0, ldo = 0;
      const A* qp = rows_as_acc<T, A>(q.head(b) + r0 * q.ss, bq, d, q.ss, qbuf, &ldq);
      gemm_serial(false, true, bq, nk, d, A(scale), qp, ldq, kb, ldk, A(0), s.data(), nk);
      for (int64_t i = 0; i < bq; ++i) {
        const int64_t row = r0 + i, n = keys_for(row, sk, causal);
        A* p = s.data() + i * nk;
        const A m = rows::max_nonan(p, n);
        A l = 0;
#pragma omp simd reduction(+ : l)
        for (int64_t j = 0; j < n; ++j) {
          const A e = rows::exp_nonpos<A>(p[j] - m);
          p[j] = e;
          l += e;
        }
        const A inv = A(1) / l;
#pragma omp simd
        for (int64_t j = 0; j < n; ++j) p[j] *= inv;
        std::fill(p + n, p + nk, A(0));
        lse[b * sq + row] = m + std::log(l);
      }
      T* orows = out.head(b) + r0 * out.ss;
      A* op = acc_rows<T, A>(orows, out.ss, bq, d, obuf, &ldo);
      gemm_serial(false, false, bq, d, nk, A(1), s.data(), nk, vb, ldv, A(0), op, ldo);
      store_rows<T, A>(orows, out.ss, op, ldo, bq, d);
    }
  });
}

template <typename T>
void attention_bwd(Heads<T> dq, Heads<T> dk, Heads<T> dv, Heads<const T> dout, Heads<const T> q, Heads<const T> k,
                   Heads<const T> v, Heads<const T> out, const acc_type<T>* lse, int64_t bh, int64_t sq, int64_t sk,
                   int64_t d, bool causal, double scale) {
  using A = acc_type<T>;
  parallel_for(bh, sq * sk * d * 8, [&](int64_t b0, int64_t b1) {
    const int64_t tile = std::min(sq, kQBlock) * sk;
    std::vector<A> s(static_cast<size_t>(tile)), dp(static_cast<size_t>(tile)), rowdot(static_cast<size_t>(kQBlock));
    std::vector<A> kbuf, vbuf, qbuf, gbuf, obuf, dqbuf, dkbuf, dvbuf;
    for (int64_t b = b0; b < b1; ++b) {
      int64_t ldk = 0, ldv = 0, lddk = 0, lddv = 0;
      const A* kb = rows_as_acc<T, A>(k.head(b), sk, d, k.ss, kbuf, &ldk);
      const A* vb = rows_as_acc<T, A>(v.head(b), sk, d, v.ss, vbuf, &ldv);
      A* dka = acc_rows<T, A>(dk.head(b), dk.ss, sk, d, dkbuf, &lddk);
      A* dva = acc_rows<T, A>(dv.head(b), dv.ss, sk, d, dvbuf, &lddv);
      for (int64_t j = 0; j < sk; ++j) {  // keys no query sees keep a zero gradient
        std::fill(dka + j * lddk, dka + j * lddk + d, A(0));
        std::fill(dva + j * lddv, dva + j * lddv + d, A(0));
      }
      for (int64_t r0 = 0; r0 < sq; r0 += kQBlock) {
        const int64_t r1 = std::min(sq, r0 + kQBlock), bq = r1 - r0;
        const int64_t nk = causal ? std::min(r1, sk) : sk;
        int64_t ldq = 0, ldg = 0, ldo = 0, lddq = 0;
        const A* qp = rows_as_acc<T, A>(q.head(b) + r0 * q.ss, bq, d, q.ss, qbuf, &ldq);
        const A* gp = rows_as_acc<T, A>(dout.head(b) + r0 * dout.ss, bq, d, dout.ss, gbuf, &ldg);
        const A* op = rows_as_acc<T, A>(out.head(b) + r0 * out.ss, bq, d, out.ss, obuf, &ldo);
        gemm_serial(false, true, bq, nk, d, A(scale), qp, ldq, kb, ldk, A(0), s.data(), nk);
        for (int64_t i = 0; i < bq; ++i) {
          const int64_t row = r0 + i, n = keys_for(row, sk, causal);
          A* p = s.data() + i * nk;
          const A l = lse[b * sq + row];
#pragma omp simd
          for (int64_t j = 0; j < n; ++j) p[j] = rows::exp_nonpos<A>(p[j] - l);
          std::fill(p + n, p + nk, A(0));
          A dot = 0;
          const A* gi = gp + i * ldg;
          const A* oi = op + i * ldo;
#pragma omp simd reduction(+ : dot)
          for (int64_t c = 0; c < d; ++c) dot += gi[c] * oi[c];
          rowdot[size_t(i)] = dot;
        }
        gemm_serial(true, false, nk, d, bq, A(1), s.data(), nk, gp, ldg, A(1), dva, lddv);   // dV += P^T dO
        gemm_serial(false, true, bq, nk, d, A(1), gp, ldg, vb, ldv, A(0), dp.data(), nk);    // dP = dO V^T
        for (int64_t i = 0; i < bq; ++i) {
          const A* p = s.data() + i * nk;
          A* g = dp.data() + i * nk;
          const A di = rowdot[size_t(i)], sc = A(scale);
#pragma omp simd
          for (int64_t j = 0; j < nk; ++j) g[j] = p[j] * (g[j] - di) * sc;  // dS (0 where masked)
        }
        T* dqrows = dq.head(b) + r0 * dq.ss;
        A* dqp = acc_rows<T, A>(dqrows, dq.ss, bq, d, dqbuf, &lddq);
        gemm_serial(false, false, bq, d, nk, A(1), dp.data(), nk, kb, ldk, A(0), dqp, lddq);  // dQ = dS K
        store_rows<T, A>(dqrows, dq.ss, dqp, lddq, bq, d);
        gemm_serial(true, false, nk, d, bq, A(1), dp.data(), nk, qp, ldq, A(1), dka, lddk);   // dK += dS^T Q
      }
      store_rows<T, A>(dk.head(b), dk.ss, dka, lddk, sk, d);
      store_rows<T, A>(dv.head(b), dv.ss, dva, lddv, sk, d);
    }
  });
}

}  // namespace

void CpuBackend::attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                           bool causal, double scale) {
  int64_t bh = q.size(0) * q.size(1), sq = q.size(2), sk = k.size(2), d = q.size(3);
  TESSERA_INTERNAL_ASSERT(lse.is_contiguous(), "attention: lse must be contiguous");
  TESSERA_DISPATCH_FLOATING_TYPES(q.dtype(), "scaled_dot_product_attention", [&] {
    using T = scalar_t;
    using A = acc_type<T>;
    attention_fwd<T>(heads_of<T>(out), lse.data_ptr<A>(), heads_of<const T>(q), heads_of<const T>(k),
                     heads_of<const T>(v), bh, sq, sk, d, causal, scale);
  });
}

void CpuBackend::attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                                    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                    const Tensor& lse, bool causal, double scale) {
  int64_t bh = q.size(0) * q.size(1), sq = q.size(2), sk = k.size(2), d = q.size(3);
  TESSERA_INTERNAL_ASSERT(lse.is_contiguous(), "attention_backward: lse must be contiguous");
  TESSERA_DISPATCH_FLOATING_TYPES(q.dtype(), "scaled_dot_product_attention_backward", [&] {
    using T = scalar_t;
    using A = acc_type<T>;
    attention_bwd<T>(heads_of<T>(dq), heads_of<T>(dk), heads_of<T>(dv), heads_of<const T>(dout), heads_of<const T>(q),
                     heads_of<const T>(k), heads_of<const T>(v), heads_of<const T>(out), lse.data_ptr<A>(), bh, sq, sk,
                     d, causal, scale);
  });
}

}  // namespace tessera::cpu
