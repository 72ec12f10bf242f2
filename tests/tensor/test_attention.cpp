// raw::scaled_dot_product_attention (+ backward) on the CPU: forward against a naive float64
// softmax(Q K^T * scale + causal mask) V built from loops here, backward against central finite
// differences of sum(out * G) in float64, every float dtype, Sq != Sk, non-contiguous inputs,
// and the validation errors (messages name the op).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "tessera/tensor/raw.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

std::vector<double> vals(const Tensor& t) {
  Tensor c = raw::contiguous(raw::to(t, Device::cpu(), kFloat64));
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

Tensor rnd(IntArrayRef shape, DType dt, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<double> u(-1.5, 1.5);
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<double> v(static_cast<size_t>(n));
  for (auto& x : v) x = u(g);
  return raw::to(from_vector<double>(v, shape), Device::cpu(), dt);
}

// out[b,h,i,:] and lse[b,h,i] of softmax(q k^T * scale + mask) v, float64, from loops.
void naive(const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v, int64_t BH,
           int64_t Sq, int64_t Sk, int64_t D, bool causal, double scale, std::vector<double>& out,
           std::vector<double>& lse) {
  out.assign(size_t(BH * Sq * D), 0.0);
  lse.assign(size_t(BH * Sq), 0.0);
  for (int64_t b = 0; b < BH; ++b)
    for (int64_t i = 0; i < Sq; ++i) {
      std::vector<double> s(size_t(Sk), -INFINITY);
      double m = -INFINITY;
      for (int64_t j = 0; j < Sk; ++j) {
        if (causal && j > i) continue;
        double d = 0;
        for (int64_t c = 0; c < D; ++c) d += q[size_t((b * Sq + i) * D + c)] * k[size_t((b * Sk + j) * D + c)];
        s[size_t(j)] = d * scale;
        m = std::max(m, s[size_t(j)]);
      }
      double l = 0;
      for (int64_t j = 0; j < Sk; ++j) l += std::exp(s[size_t(j)] - m);
      for (int64_t j = 0; j < Sk; ++j) {
        double p = std::exp(s[size_t(j)] - m) / l;
        for (int64_t c = 0; c < D; ++c) out[size_t((b * Sq + i) * D + c)] += p * v[size_t((b * Sk + j) * D + c)];
      }
      lse[size_t(b * Sq + i)] = m + std::log(l);
    }
}

double rel_err(const std::vector<double>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    num += (got[i] - want[i]) * (got[i] - want[i]);
    den += want[i] * want[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

}  // namespace

TEST(Attention, ForwardMatchesNaiveFloat64) {
  struct Case {
    int64_t B, H, Sq, Sk, D;
  };
  for (DType dt : {kFloat64, kFloat32, kBFloat16, kFloat16})
    for (Case cs : {Case{1, 1, 1, 1, 4}, Case{2, 3, 7, 7, 8}, Case{1, 2, 17, 17, 16}, Case{1, 1, 5, 9, 3},
                    Case{2, 1, 9, 4, 5}})
      for (bool causal : {false, true})
        for (std::optional<double> scale : {std::optional<double>(), std::optional<double>(0.3)}) {
          Tensor q = rnd({cs.B, cs.H, cs.Sq, cs.D}, dt, 1), k = rnd({cs.B, cs.H, cs.Sk, cs.D}, dt, 2),
                 v = rnd({cs.B, cs.H, cs.Sk, cs.D}, dt, 3);
          auto [out, lse] = raw::scaled_dot_product_attention(q, k, v, causal, scale);
          ASSERT_EQ(out.dtype(), dt);
          ASSERT_EQ(lse.dtype(), dt == kFloat64 ? kFloat64 : kFloat32);
          ASSERT_TRUE(lse.sizes().equals({cs.B, cs.H, cs.Sq}));
          std::vector<double> wo, wl;
          double sc = scale ? *scale : 1.0 / std::sqrt(double(cs.D));
          naive(vals(q), vals(k), vals(v), cs.B * cs.H, cs.Sq, cs.Sk, cs.D, causal, sc, wo, wl);
          double tol = dt == kFloat64 ? 1e-12 : dt == kFloat32 ? 1e-5 : 1e-2;
          std::string tag = std::string(dtype_name(dt)) + " Sq=" + std::to_string(cs.Sq) +
                            " Sk=" + std::to_string(cs.Sk) + (causal ? " causal" : "");
          EXPECT_LT(rel_err(vals(out), wo), tol) << tag;
          EXPECT_LT(rel_err(vals(lse), wl), dt == kFloat64 ? 1e-12 : 1e-5) << tag;
        }
}

TEST(Attention, NonContiguousInputs) {
  // q/k/v as transposes of [B, S, H, D] tensors (the layout a fused QKV projection produces).
  Tensor q = raw::transpose(rnd({2, 6, 3, 8}, kFloat64, 4), 1, 2), k = raw::transpose(rnd({2, 6, 3, 8}, kFloat64, 5), 1, 2),
         v = raw::transpose(rnd({2, 6, 3, 8}, kFloat64, 6), 1, 2);
  ASSERT_FALSE(q.is_contiguous());
  auto [out, lse] = raw::scaled_dot_product_attention(q, k, v, true);
  std::vector<double> wo, wl;
  naive(vals(q), vals(k), vals(v), 6, 6, 6, 8, true, 1 / std::sqrt(8.0), wo, wl);
  EXPECT_LT(rel_err(vals(out), wo), 1e-12);
  EXPECT_LT(rel_err(vals(lse), wl), 1e-12);
}

TEST(Attention, BackwardMatchesFiniteDifferences) {
  for (bool causal : {false, true})
    for (auto [Sq, Sk] : {std::pair<int64_t, int64_t>{4, 4}, {3, 5}, {5, 2}}) {
      const int64_t B = 1, H = 2, D = 3;
      const double scale = 0.7;
      Tensor q = rnd({B, H, Sq, D}, kFloat64, 7), k = rnd({B, H, Sk, D}, kFloat64, 8), v = rnd({B, H, Sk, D}, kFloat64, 9),
             g = rnd({B, H, Sq, D}, kFloat64, 10);
      auto [out, lse] = raw::scaled_dot_product_attention(q, k, v, causal, scale);
      auto [dq, dk, dv] = raw::scaled_dot_product_attention_backward(g, q, k, v, out, lse, causal, scale);
      std::vector<double> gv = vals(g);
      // loss(q, k, v) = sum(naive_out * g), differentiated numerically per element of each input.
      auto loss = [&](const std::vector<double>& qv, const std::vector<double>& kv, const std::vector<double>& vv) {
        std::vector<double> o, l;
        naive(qv, kv, vv, B * H, Sq, Sk, D, causal, scale, o, l);
        double s = 0;
        for (size_t i = 0; i < o.size(); ++i) s += o[i] * gv[i];
        return s;
      };
      std::vector<double> base[3] = {vals(q), vals(k), vals(v)};
      Tensor grads[3] = {dq, dk, dv};
      const char* names[3] = {"dq", "dk", "dv"};
      for (int which = 0; which < 3; ++which) {
        std::vector<double> got = vals(grads[which]), fd(base[which].size());
        for (size_t e = 0; e < fd.size(); ++e) {
          std::vector<double> in[3] = {base[0], base[1], base[2]};
          const double h = 1e-6;
          in[which][e] += h;
          double lp = loss(in[0], in[1], in[2]);
          in[which][e] -= 2 * h;
          double lm = loss(in[0], in[1], in[2]);
          fd[e] = (lp - lm) / (2 * h);
        }
        for (size_t e = 0; e < fd.size(); ++e)
          EXPECT_NEAR(got[e], fd[e], 1e-7) << names[which] << "[" << e << "] causal=" << causal << " Sq=" << Sq
                                           << " Sk=" << Sk;
      }
    }
}

TEST(Attention, BackwardReducedPrecisionMatchesFloat64) {
  for (DType dt : {kFloat32, kBFloat16, kFloat16}) {
    Tensor q = rnd({1, 2, 9, 16}, dt, 11), k = rnd({1, 2, 9, 16}, dt, 12), v = rnd({1, 2, 9, 16}, dt, 13),
           g = rnd({1, 2, 9, 16}, dt, 14);
    auto to64 = [](const Tensor& t) { return raw::to(t, Device::cpu(), kFloat64); };
    auto [o, l] = raw::scaled_dot_product_attention(q, k, v, true);
    auto [dq, dk, dv] = raw::scaled_dot_product_attention_backward(g, q, k, v, o, l, true);
    auto [o64, l64] = raw::scaled_dot_product_attention(to64(q), to64(k), to64(v), true);
    auto [dq64, dk64, dv64] =
        raw::scaled_dot_product_attention_backward(to64(g), to64(q), to64(k), to64(v), o64, l64, true);
    double tol = dt == kFloat32 ? 1e-5 : 3e-2;
    EXPECT_LT(rel_err(vals(dq), vals(dq64)), tol) << dtype_name(dt);
    EXPECT_LT(rel_err(vals(dk), vals(dk64)), tol) << dtype_name(dt);
    EXPECT_LT(rel_err(vals(dv), vals(dv64)), tol) << dtype_name(dt);
  }
}

namespace {
// dq, dk, dv of sum(out * g) from the explicit float64 formulas (P from naive scores):
// dV = P^T g, dP = g V^T, dS = P (dP - rowsum(dP P)) * scale, dQ = dS K, dK = dS^T Q.
void naive_backward(const std::vector<double>& q, const std::vector<double>& k, const std::vector<double>& v,
                    const std::vector<double>& g, int64_t BH, int64_t Sq, int64_t Sk, int64_t D, bool causal,
                    double scale, std::vector<double>& dq, std::vector<double>& dk, std::vector<double>& dv) {
  dq.assign(size_t(BH * Sq * D), 0.0);
  dk.assign(size_t(BH * Sk * D), 0.0);
  dv.assign(size_t(BH * Sk * D), 0.0);
  for (int64_t b = 0; b < BH; ++b)
    for (int64_t i = 0; i < Sq; ++i) {
      const double* qi = &q[size_t((b * Sq + i) * D)];
      const double* gi = &g[size_t((b * Sq + i) * D)];
      std::vector<double> p(size_t(Sk), 0.0), dp(size_t(Sk), 0.0);
      double m = -INFINITY;
      for (int64_t j = 0; j < Sk; ++j) {
        if (causal && j > i) continue;
        double d = 0;
        for (int64_t c = 0; c < D; ++c) d += qi[c] * k[size_t((b * Sk + j) * D + c)];
        p[size_t(j)] = d * scale;
        m = std::max(m, p[size_t(j)]);
      }
      double l = 0;
      for (int64_t j = 0; j < Sk; ++j) {
        p[size_t(j)] = (causal && j > i) ? 0.0 : std::exp(p[size_t(j)] - m);
        l += p[size_t(j)];
      }
      double rowsum = 0;
      for (int64_t j = 0; j < Sk; ++j) {
        p[size_t(j)] /= l;
        for (int64_t c = 0; c < D; ++c) dp[size_t(j)] += gi[c] * v[size_t((b * Sk + j) * D + c)];
        rowsum += dp[size_t(j)] * p[size_t(j)];
      }
      for (int64_t j = 0; j < Sk; ++j) {
        const double ds = p[size_t(j)] * (dp[size_t(j)] - rowsum) * scale;
        for (int64_t c = 0; c < D; ++c) {
          dv[size_t((b * Sk + j) * D + c)] += p[size_t(j)] * gi[c];
          dq[size_t((b * Sq + i) * D + c)] += ds * k[size_t((b * Sk + j) * D + c)];
          dk[size_t((b * Sk + j) * D + c)] += ds * qi[c];
        }
      }
    }
}
}  // namespace

TEST(Attention, ManyQueryBlocksMatchNaive) {
  // Longer sequences than one query block of the CPU kernel (Note [cpu blocked attention]: 128
  // rows), Sq < Sk and Sq > Sk, causal or not, non-contiguous inputs, float64 and float32.
  for (DType dt : {kFloat64, kFloat32, kBFloat16})
    for (auto [Sq, Sk] : {std::pair<int64_t, int64_t>{300, 300}, {261, 140}, {129, 390}, {1, 257}})
      for (bool causal : {false, true}) {
        const int64_t B = 1, H = 3, D = 12;
        Tensor q = raw::transpose(rnd({B, Sq, H, D}, dt, 21), 1, 2);
        Tensor k = raw::transpose(rnd({B, Sk, H, D}, dt, 22), 1, 2);
        Tensor v = raw::transpose(rnd({B, Sk, H, D}, dt, 23), 1, 2);
        Tensor g = raw::transpose(rnd({B, Sq, H, D}, dt, 24), 1, 2);  // dout strided too
        const double scale = 0.4;
        auto [out, lse] = raw::scaled_dot_product_attention(q, k, v, causal, scale);
        auto [dq, dk, dv] = raw::scaled_dot_product_attention_backward(g, q, k, v, out, lse, causal, scale);
        std::vector<double> wo, wl, wdq, wdk, wdv;
        naive(vals(q), vals(k), vals(v), B * H, Sq, Sk, D, causal, scale, wo, wl);
        naive_backward(vals(q), vals(k), vals(v), vals(g), B * H, Sq, Sk, D, causal, scale, wdq, wdk, wdv);
        const double tol = dt == kFloat64 ? 1e-12 : dt == kFloat32 ? 2e-5 : 3e-2;
        // Gradients can be exactly zero (one visible key: dS = P (dP - dP) = 0), so errors are
        // relative to the larger of the reference's norm and an O(1)-per-element scale.
        auto grad_err = [](const std::vector<double>& got, const std::vector<double>& want) {
          double num = 0, den = 0;
          for (size_t i = 0; i < got.size(); ++i) {
            num += (got[i] - want[i]) * (got[i] - want[i]);
            den += want[i] * want[i];
          }
          return std::sqrt(num / std::max(den, 1e-2 * double(got.size())));
        };
        std::string tag = fmt::format("{} Sq={} Sk={}{}", dtype_name(dt), Sq, Sk, causal ? " causal" : "");
        EXPECT_LT(rel_err(vals(out), wo), tol) << tag;
        EXPECT_LT(rel_err(vals(lse), wl), dt == kFloat64 ? 1e-12 : 1e-5) << tag;
        EXPECT_LT(grad_err(vals(dq), wdq), tol) << tag;
        EXPECT_LT(grad_err(vals(dk), wdk), tol) << tag;
        EXPECT_LT(grad_err(vals(dv), wdv), tol) << tag;
      }
}

TEST(Attention, ErrorsNameTheOp) {
  Tensor q = rnd({1, 1, 4, 8}, kFloat32, 1);
  auto expect_throw = [](auto f, const std::string& what) {
    try {
      f();
      ADD_FAILURE() << "no error: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("scaled_dot_product_attention"), std::string::npos) << e.what();
    }
  };
  expect_throw([&] { raw::scaled_dot_product_attention(raw::view(q, {4, 8}), q, q); }, "3-D q");
  expect_throw([&] { raw::scaled_dot_product_attention(q, raw::to(q, Device::cpu(), kFloat64), q); }, "dtypes");
  expect_throw([&] { raw::scaled_dot_product_attention(q, rnd({1, 1, 4, 7}, kFloat32, 2), rnd({1, 1, 4, 7}, kFloat32, 3)); },
               "head dims");
  expect_throw([&] { raw::scaled_dot_product_attention(q, q, rnd({1, 1, 5, 8}, kFloat32, 2)); }, "k/v shapes");
  Tensor qi = raw::to(q, Device::cpu(), kInt32);
  expect_throw([&] { raw::scaled_dot_product_attention(qi, qi, qi); }, "int dtype");
  auto [o, l] = raw::scaled_dot_product_attention(q, q, q);
  expect_throw([&] { raw::scaled_dot_product_attention_backward(q, q, q, q, o, raw::view(l, {4})); }, "lse shape");
}
