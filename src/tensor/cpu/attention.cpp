// CPU reference of the fused attention primitives (Backend::attention / attention_backward):
// one query row at a time (O(Sk) extra memory per row, O(Sk*D) per (batch, head) for the
// backward's dk/dv accumulators), parallel over (batch, head). 16-bit floats compute in float32,
// float32 in float32, float64 in float64 (Note [reduced precision compute]).
#include <cmath>
#include <limits>
#include <vector>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/dtype.h"

namespace tessera::cpu {

namespace {

template <typename T, typename A>
void to_acc(const T* src, A* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = cast_element<A>(src[i]);
}

// Keys query i sees: [0, Sk) or, causal, [0, min(i + 1, Sk)).
inline int64_t keys_for(int64_t i, int64_t sk, bool causal) { return causal ? std::min(i + 1, sk) : sk; }

template <typename T>
void attention_fwd(T* out, acc_type<T>* lse, const T* q, const T* k, const T* v, int64_t bh, int64_t sq, int64_t sk,
                   int64_t d, bool causal, double scale) {
  using A = acc_type<T>;
  parallel_for(bh, sq * sk * d * 2, [&](int64_t b0, int64_t b1) {
    std::vector<A> kb(static_cast<size_t>(sk * d)), vb(static_cast<size_t>(sk * d)), qi(static_cast<size_t>(d)), s(static_cast<size_t>(sk)), o(static_cast<size_t>(d));
    for (int64_t b = b0; b < b1; ++b) {
      to_acc(k + b * sk * d, kb.data(), sk * d);
      to_acc(v + b * sk * d, vb.data(), sk * d);
      for (int64_t i = 0; i < sq; ++i) {
        to_acc(q + (b * sq + i) * d, qi.data(), d);
        int64_t nk = keys_for(i, sk, causal);
        A m = -std::numeric_limits<A>::infinity();
        for (int64_t j = 0; j < nk; ++j) {
          A dot = 0;
          for (int64_t c = 0; c < d; ++c) dot += qi[size_t(c)] * kb[size_t(j * d + c)];
          s[size_t(j)] = dot * A(scale);
          m = std::max(m, s[size_t(j)]);
        }
        A l = 0;
        std::fill(o.begin(), o.end(), A(0));
        for (int64_t j = 0; j < nk; ++j) {
          A p = std::exp(s[size_t(j)] - m);
          l += p;
          for (int64_t c = 0; c < d; ++c) o[size_t(c)] += p * vb[size_t(j * d + c)];
        }
        T* orow = out + (b * sq + i) * d;
        for (int64_t c = 0; c < d; ++c) orow[c] = cast_element<T>(o[size_t(c)] / l);
        lse[b * sq + i] = m + std::log(l);
      }
    }
  });
}

template <typename T>
void attention_bwd(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* out,
                   const acc_type<T>* lse, int64_t bh, int64_t sq, int64_t sk, int64_t d, bool causal, double scale) {
  using A = acc_type<T>;
  parallel_for(bh, sq * sk * d * 4, [&](int64_t b0, int64_t b1) {
    std::vector<A> kb(static_cast<size_t>(sk * d)), vb(static_cast<size_t>(sk * d)), dkb(static_cast<size_t>(sk * d)), dvb(static_cast<size_t>(sk * d));
    std::vector<A> qi(static_cast<size_t>(d)), gi(static_cast<size_t>(d)), oi(static_cast<size_t>(d)), dqi(static_cast<size_t>(d));
    for (int64_t b = b0; b < b1; ++b) {
      to_acc(k + b * sk * d, kb.data(), sk * d);
      to_acc(v + b * sk * d, vb.data(), sk * d);
      std::fill(dkb.begin(), dkb.end(), A(0));
      std::fill(dvb.begin(), dvb.end(), A(0));
      for (int64_t i = 0; i < sq; ++i) {
        int64_t row = b * sq + i;
        to_acc(q + row * d, qi.data(), d);
        to_acc(dout + row * d, gi.data(), d);
        to_acc(out + row * d, oi.data(), d);
        A di = 0;  // D_i = dout_i . out_i
        for (int64_t c = 0; c < d; ++c) di += gi[size_t(c)] * oi[size_t(c)];
        std::fill(dqi.begin(), dqi.end(), A(0));
        int64_t nk = keys_for(i, sk, causal);
        for (int64_t j = 0; j < nk; ++j) {
          const A* kj = &kb[size_t(j * d)];
          const A* vj = &vb[size_t(j * d)];
          A s = 0, dp = 0;
          for (int64_t c = 0; c < d; ++c) {
            s += qi[size_t(c)] * kj[c];
            dp += gi[size_t(c)] * vj[c];
          }
          A p = std::exp(s * A(scale) - lse[row]);
          A ds = p * (dp - di) * A(scale);
          A* dkj = &dkb[size_t(j * d)];
          A* dvj = &dvb[size_t(j * d)];
          for (int64_t c = 0; c < d; ++c) {
            dvj[c] += p * gi[size_t(c)];
            dkj[c] += ds * qi[size_t(c)];
            dqi[size_t(c)] += ds * kj[c];
          }
        }
        for (int64_t c = 0; c < d; ++c) dq[row * d + c] = cast_element<T>(dqi[size_t(c)]);
      }
      for (int64_t e = 0; e < sk * d; ++e) {
        dk[b * sk * d + e] = cast_element<T>(dkb[size_t(e)]);
        dv[b * sk * d + e] = cast_element<T>(dvb[size_t(e)]);
      }
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
