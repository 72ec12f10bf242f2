// CPU fused attention primitives (Backend::attention / attention_backward), blocked over query
// rows so that every product is a small GEMM (cpu/gemm_serial.h) and only a [block, Sk] score
// tile is ever stored (Note [cpu blocked attention]). Parallel over (batch*head, query block) in
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
constexpr int64_t kQBlock = 128;

// Keys query i sees: [0, Sk) or, causal, [0, min(i + 1, Sk)).
inline int64_t keys_for(int64_t i, int64_t sk, bool causal) { return causal ? std::min(i + 1, sk) : sk; }

// `n` elements of `src` as accumulation type A: the pointer itself when T is A, else converted
// into `buf`.
template <typename T, typename A>
const A* as_acc(const T* src, int64_t n, std::vector<A>& buf) {
  if constexpr (std::is_same_v<T, A>) {
    return src;
  } else {
    buf.resize(size_t(n));
    for (int64_t i = 0; i < n; ++i) buf[size_t(i)] = cast_element<A>(src[i]);
    return buf.data();
  }
}

template <typename T, typename A>
void store(T* dst, const A* src, int64_t n) {
  if constexpr (std::is_same_v<T, A>) {
    if (dst != src) std::memcpy(dst, src, size_t(n) * sizeof(A));
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = cast_element<T>(src[i]);
  }
}

template <typename T>
void attention_fwd(T* out, acc_type<T>* lse, const T* q, const T* k, const T* v, int64_t bh, int64_t sq, int64_t sk,
                   int64_t d, bool causal, double scale) {
  using A = acc_type<T>;
  const int64_t nqb = (sq + kQBlock - 1) / kQBlock;
  parallel_for(bh * nqb, std::min(sq, kQBlock) * sk * d * 4, [&](int64_t i0, int64_t i1) {
    std::vector<A> s(size_t(std::min(sq, kQBlock) * sk)), kbuf, vbuf, qbuf, obuf(size_t(kQBlock * d));
    int64_t loaded = -1;
    const A *kb = nullptr, *vb = nullptr;
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t b = it / nqb, r0 = (it % nqb) * kQBlock, r1 = std::min(sq, r0 + kQBlock), bq = r1 - r0;
      const int64_t nk = causal ? std::min(r1, sk) : sk;
      if (b != loaded) {
        kb = as_acc<T, A>(k + b * sk * d, sk * d, kbuf);
        vb = as_acc<T, A>(v + b * sk * d, sk * d, vbuf);
        loaded = b;
      }
      const A* qp = as_acc<T, A>(q + (b * sq + r0) * d, bq * d, qbuf);
      gemm_serial(false, true, bq, nk, d, A(scale), qp, d, kb, d, A(0), s.data(), nk);
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
      A* op = obuf.data();
      if constexpr (std::is_same_v<T, A>) op = out + (b * sq + r0) * d;
      gemm_serial(false, false, bq, d, nk, A(1), s.data(), nk, vb, d, A(0), op, d);
      store<T, A>(out + (b * sq + r0) * d, op, bq * d);
    }
  });
}

template <typename T>
void attention_bwd(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* out,
                   const acc_type<T>* lse, int64_t bh, int64_t sq, int64_t sk, int64_t d, bool causal, double scale) {
  using A = acc_type<T>;
  parallel_for(bh, sq * sk * d * 8, [&](int64_t b0, int64_t b1) {
    const int64_t tile = std::min(sq, kQBlock) * sk;
    std::vector<A> s(static_cast<size_t>(tile)), dp(static_cast<size_t>(tile)), rowdot(static_cast<size_t>(kQBlock));
    std::vector<A> kbuf, vbuf, qbuf, gbuf, obuf, dqbuf(size_t(kQBlock * d)), dkbuf, dvbuf;
    if constexpr (!std::is_same_v<T, A>) {
      dkbuf.resize(size_t(sk * d));
      dvbuf.resize(size_t(sk * d));
    }
    for (int64_t b = b0; b < b1; ++b) {
      const A* kb = as_acc<T, A>(k + b * sk * d, sk * d, kbuf);
      const A* vb = as_acc<T, A>(v + b * sk * d, sk * d, vbuf);
      A *dka = dkbuf.data(), *dva = dvbuf.data();
      if constexpr (std::is_same_v<T, A>) {
        dka = dk + b * sk * d;
        dva = dv + b * sk * d;
      }
      std::fill(dka, dka + sk * d, A(0));  // keys no query sees keep a zero gradient
      std::fill(dva, dva + sk * d, A(0));
      for (int64_t r0 = 0; r0 < sq; r0 += kQBlock) {
        const int64_t r1 = std::min(sq, r0 + kQBlock), bq = r1 - r0;
        const int64_t nk = causal ? std::min(r1, sk) : sk;
        const A* qp = as_acc<T, A>(q + (b * sq + r0) * d, bq * d, qbuf);
        const A* gp = as_acc<T, A>(dout + (b * sq + r0) * d, bq * d, gbuf);
        const A* op = as_acc<T, A>(out + (b * sq + r0) * d, bq * d, obuf);
        gemm_serial(false, true, bq, nk, d, A(scale), qp, d, kb, d, A(0), s.data(), nk);
        for (int64_t i = 0; i < bq; ++i) {
          const int64_t row = r0 + i, n = keys_for(row, sk, causal);
          A* p = s.data() + i * nk;
          const A l = lse[b * sq + row];
#pragma omp simd
          for (int64_t j = 0; j < n; ++j) p[j] = rows::exp_nonpos<A>(p[j] - l);
          std::fill(p + n, p + nk, A(0));
          A dot = 0;
#pragma omp simd reduction(+ : dot)
          for (int64_t c = 0; c < d; ++c) dot += gp[i * d + c] * op[i * d + c];
          rowdot[size_t(i)] = dot;
        }
        gemm_serial(true, false, nk, d, bq, A(1), s.data(), nk, gp, d, A(1), dva, d);         // dV += P^T dO
        gemm_serial(false, true, bq, nk, d, A(1), gp, d, vb, d, A(0), dp.data(), nk);         // dP = dO V^T
        for (int64_t i = 0; i < bq; ++i) {
          const A* p = s.data() + i * nk;
          A* g = dp.data() + i * nk;
          const A di = rowdot[size_t(i)], sc = A(scale);
#pragma omp simd
          for (int64_t j = 0; j < nk; ++j) g[j] = p[j] * (g[j] - di) * sc;  // dS (0 where masked)
        }
        A* dqp = dqbuf.data();
        if constexpr (std::is_same_v<T, A>) dqp = dq + (b * sq + r0) * d;
        gemm_serial(false, false, bq, d, nk, A(1), dp.data(), nk, kb, d, A(0), dqp, d);       // dQ = dS K
        store<T, A>(dq + (b * sq + r0) * d, dqp, bq * d);
        gemm_serial(true, false, nk, d, bq, A(1), dp.data(), nk, qp, d, A(1), dka, d);        // dK += dS^T Q
      }
      store<T, A>(dk + b * sk * d, dka, sk * d);
      store<T, A>(dv + b * sk * d, dva, sk * d);
    }
  });
}

}  // namespace

void CpuBackend::attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                           bool causal, double scale) {
  int64_t bh = q.size(0) * q.size(1), sq = q.size(2), sk = k.size(2), d = q.size(3);
  TESSERA_DISPATCH_FLOATING_TYPES(q.dtype(), "scaled_dot_product_attention", [&] {
    using A = acc_type<scalar_t>;
    attention_fwd<scalar_t>(out.data_ptr<scalar_t>(), lse.data_ptr<A>(), q.data_ptr<scalar_t>(),
                            k.data_ptr<scalar_t>(), v.data_ptr<scalar_t>(), bh, sq, sk, d, causal, scale);
  });
}

void CpuBackend::attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                                    const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                    const Tensor& lse, bool causal, double scale) {
  int64_t bh = q.size(0) * q.size(1), sq = q.size(2), sk = k.size(2), d = q.size(3);
  TESSERA_DISPATCH_FLOATING_TYPES(q.dtype(), "scaled_dot_product_attention_backward", [&] {
    using A = acc_type<scalar_t>;
    attention_bwd<scalar_t>(dq.data_ptr<scalar_t>(), dk.data_ptr<scalar_t>(), dv.data_ptr<scalar_t>(),
                            dout.data_ptr<scalar_t>(), q.data_ptr<scalar_t>(), k.data_ptr<scalar_t>(),
                            v.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), lse.data_ptr<A>(), bh, sq, sk, d,
                            causal, scale);
  });
}

}  // namespace tessera::cpu
