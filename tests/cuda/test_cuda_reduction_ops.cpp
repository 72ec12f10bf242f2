// The raw reduction / softmax / norm ops (src/tensor/ops/reduction.cpp, normalization.cpp) on
// CUDA tensors against the same ops on CPU tensors (the CPU backend is checked against float64
// references in tests/tensor): checks that the raw ops' dims, dtypes, keepdim shapes and
// undefined weights reach the CUDA primitives as their contract says.
#include <gtest/gtest.h>

#include "cuda_test_util.h"

using namespace cuda_test;

namespace {

Tol loose(DType dt, double k) {
  Tol t = tol_for(dt);
  return {t.rtol * k, t.atol * k};
}

void expect_same_meta(const Tensor& g, const Tensor& c, const std::string& what) {
  EXPECT_TRUE(g.is_cuda()) << what;
  EXPECT_EQ(g.dtype(), c.dtype()) << what;
  EXPECT_EQ(g.sizes().vec(), c.sizes().vec()) << what;
}

}  // namespace

TEST(CudaRawReduction, SumMeanProdAmaxVarLogsumexp) {
  REQUIRE_CUDA();
  const std::vector<std::vector<int64_t>> dims_list = {{}, {0}, {-1}, {0, 2}, {1}};
  for (DType dt : kAllTypes) {
    Tensor x = random_cpu({6, 7, 9}, dt, -3, 3);
    for (bool noncontig : {false, true}) {
      Tensor xg = to_cuda(x, noncontig);
      for (const auto& dims : dims_list) {
        for (bool kd : {false, true}) {
          std::string w = dn(dt) + (noncontig ? " noncontig" : "") + " dims " + shape_str(dims) + (kd ? " keepdim" : "");
          Tensor c = x.sum(dims, kd), g = xg.sum(dims, kd);
          expect_same_meta(g, c, "sum " + w);
          expect_close(g, c, loose(dt, 4), "sum " + w);
          if (!dims.empty()) {
            Tensor cm = x.amax(dims, kd), gm = xg.amax(dims, kd);
            expect_same_meta(gm, cm, "amax " + w);
            expect_close(gm, cm, {0, 0}, "amax " + w);
          }
          if (is_floating_point(dt)) {
            expect_close(xg.mean(dims, kd), x.mean(dims, kd), loose(dt, 4), "mean " + w);
            expect_close(xg.var(dims, 1, kd), x.var(dims, 1, kd), loose(dt, 8), "var " + w);
            expect_close(xg.logsumexp(dims, kd), x.logsumexp(dims, kd), loose(dt, 4), "logsumexp " + w);
          }
        }
      }
    }
  }
  Tensor p = random_cpu({4, 5}, kFloat64, 0.5, 1.5);
  expect_close(raw::prod(to_cuda(p), {1}, false), raw::prod(p, {1}, false), tol_for(kFloat64), "prod");
  Tensor pi = random_cpu({4, 3}, kInt32);
  Tensor gpi = raw::prod(to_cuda(pi), {0}, true);
  EXPECT_EQ(gpi.dtype(), kInt64);
  expect_close(gpi, raw::prod(pi, {0}, true), {0, 0}, "prod int32");
}

TEST(CudaRawReduction, MaxDimArgmaxSumTo) {
  REQUIRE_CUDA();
  for (DType dt : kAllTypes) {
    Tensor x = random_cpu({5, 8, 3}, dt);
    Tensor xg = to_cuda(x, true);
    for (int64_t d : {0, 1, -1}) {
      auto [cv, ci] = x.max(d, true);
      auto [gv, gi] = xg.max(d, true);
      expect_same_meta(gv, cv, "max values " + dn(dt));
      expect_close(gv, cv, {0, 0}, "max values " + dn(dt));
      expect_close(gi, ci, {0, 0}, "max indices " + dn(dt));
      expect_close(xg.argmin(d), x.argmin(d), {0, 0}, "argmin " + dn(dt));
    }
    expect_close(xg.argmax(), x.argmax(), {0, 0}, "argmax flattened " + dn(dt));
    Tensor st = raw::sum_to(xg, {8, 1});
    EXPECT_EQ(st.dtype(), dt);
    if (dt != kBool) expect_close(st, raw::sum_to(x, {8, 1}), loose(dt, 4), "sum_to " + dn(dt));
  }
  // 0-dim and empty inputs.
  Tensor s = scalar_tensor(2.5);
  expect_close(s.to(kDev).argmax(0), s.argmax(0), {0, 0}, "argmax 0-dim");
  expect_close(s.to(kDev).sum(), s.sum(), {0, 0}, "sum 0-dim");
  Tensor e = zeros({0, 3});
  expect_close(e.to(kDev).sum({0}), e.sum({0}), {0, 0}, "sum over an empty dim");
  expect_close(e.to(kDev).mean(), e.mean(), {0, 0}, "mean of nothing (nan)");
  // allclose / equal work on CUDA tensors (compared on the host).
  Tensor a = random_cpu({3, 4}, kFloat32);
  EXPECT_TRUE(to_cuda(a).allclose(to_cuda(a, true)));
  EXPECT_TRUE(to_cuda(a).equal(to_cuda(a, true)));
}

TEST(CudaRawReduction, LargeSums) {
  REQUIRE_CUDA();
  Tensor x = random_cpu({10000000}, kFloat32, 0, 1);
  Tensor xg = to_cuda(x);
  expect_close(xg.sum(), x.sum(), {2e-6, 0}, "sum of 1e7");
  expect_close(xg.view({5000000, 2}).sum({0}), x.view({5000000, 2}).sum({0}), {2e-6, 0}, "column sums of 5e6 rows");
}

TEST(CudaRawNorm, SoftmaxAnyDimAndBackward) {
  REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    Tensor x = random_cpu({4, 6, 10}, dt, -4, 4);
    Tensor xg = to_cuda(x, true);
    for (int64_t d : {0, 1, -1}) {
      std::string w = dn(dt) + " dim " + std::to_string(d);
      Tensor c = x.softmax(d), g = xg.softmax(d);
      expect_same_meta(g, c, "softmax " + w);
      expect_close(g, c, loose(dt, 2), "softmax " + w);
      expect_close(xg.log_softmax(d), x.log_softmax(d), loose(dt, 4), "log_softmax " + w);
      Tensor go = random_cpu({4, 6, 10}, dt);
      for (bool log : {false, true}) {
        Tensor y = log ? x.log_softmax(d) : x.softmax(d);
        expect_close(raw::softmax_backward(to_cuda(go, true), to_cuda(y), d, log), raw::softmax_backward(go, y, d, log),
                     loose(dt, 8), "softmax_backward " + w + (log ? " log" : ""));
      }
    }
  }
  Tensor big = random_cpu({4096, 768}, kFloat32, -5, 5);
  expect_close(to_cuda(big).softmax(-1), big.softmax(-1), {1e-5, 1e-7}, "softmax [4096, 768]");
  expect_close(layer_norm(to_cuda(big), {768}), layer_norm(big, {768}), {1e-4, 1e-5}, "layer_norm [4096, 768]");
}

TEST(CudaRawNorm, LayerNormRmsNormWithAndWithoutWeights) {
  REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    Tensor x = random_cpu({5, 3, 8}, dt), w = random_cpu({3, 8}, dt), b = random_cpu({3, 8}, dt);
    Tensor G = random_cpu({5, 3, 8}, dt);
    for (bool with_params : {true, false}) {
      std::string tag = dn(dt) + (with_params ? "" : " no weight/bias");
      Tensor wc = with_params ? w : Tensor(), bc = with_params ? b : Tensor();
      Tensor wg = with_params ? to_cuda(w) : Tensor(), bg = with_params ? to_cuda(b) : Tensor();
      auto [cy, cm, cr] = raw::layer_norm(x, {3, 8}, wc, bc, 1e-5);
      auto [gy, gm, gr] = raw::layer_norm(to_cuda(x, true), {3, 8}, wg, bg, 1e-5);
      expect_same_meta(gm, cm, "layer_norm mean " + tag);
      expect_close(gy, cy, loose(dt, 4), "layer_norm " + tag);
      expect_close(gm, cm, {1e-5, 1e-6}, "layer_norm mean " + tag);
      expect_close(gr, cr, {1e-4, 1e-6}, "layer_norm rstd " + tag);
      auto [cgx, cgw, cgb] = raw::layer_norm_backward(G, x, {3, 8}, cm, cr, wc, true, true);
      auto [ggx, ggw, ggb] = raw::layer_norm_backward(to_cuda(G, true), to_cuda(x), {3, 8}, gm, gr, wg, true, true);
      expect_close(ggx, cgx, loose(dt, 16), "layer_norm dx " + tag);
      expect_close(ggw, cgw, loose(dt, 16), "layer_norm dweight " + tag);
      expect_close(ggb, cgb, loose(dt, 16), "layer_norm dbias " + tag);
      auto [ry, rr] = raw::rms_norm(x, {3, 8}, wc, 1e-6);
      auto [gry, grr] = raw::rms_norm(to_cuda(x, true), {3, 8}, wg, 1e-6);
      expect_close(gry, ry, loose(dt, 4), "rms_norm " + tag);
      expect_close(grr, rr, {1e-4, 1e-6}, "rms_norm rstd " + tag);
      auto [rgx, rgw] = raw::rms_norm_backward(G, x, {3, 8}, rr, wc, true);
      auto [ggx2, ggw2] = raw::rms_norm_backward(to_cuda(G), to_cuda(x, true), {3, 8}, grr, wg, true);
      expect_close(ggx2, rgx, loose(dt, 16), "rms_norm dx " + tag);
      expect_close(ggw2, rgw, loose(dt, 16), "rms_norm dweight " + tag);
    }
  }
}
