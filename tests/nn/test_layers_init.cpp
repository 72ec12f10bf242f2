// nn::init: statistics of every initialiser (large samples, fixed seeds), bounds, determinism per
// seed, dtype/stride independence, fan computations; clip_grad_norm_ behaviour beyond the golden data.
#include "nn_test_util.h"

using namespace tessera;
using namespace nnt;

namespace {
struct Stats {
  double mean = 0, std = 0, min = INFINITY, max = -INFINITY;
};
Stats stats(const Tensor& t) {
  auto v = values(t);
  Stats s;
  for (double x : v) {
    s.mean += x / double(v.size());
    s.min = std::min(s.min, x);
    s.max = std::max(s.max, x);
  }
  for (double x : v) s.std += (x - s.mean) * (x - s.mean) / double(v.size());
  s.std = std::sqrt(s.std);
  return s;
}
}  // namespace

TEST(Init, DistributionsHaveTheRequestedMoments) {
  manual_seed(1);
  Tensor t = empty({200, 100});
  nn::init::normal_(t, 0.5, 2.0);
  Stats s = stats(t);  // 20000 draws: mean within ~5 sigma, std within 3%
  EXPECT_NEAR(s.mean, 0.5, 5 * 2.0 / std::sqrt(20000.0));
  EXPECT_NEAR(s.std, 2.0, 0.06);
  nn::init::uniform_(t, -3.0, 1.0);
  s = stats(t);
  EXPECT_GE(s.min, -3.0);
  EXPECT_LT(s.max, 1.0);
  EXPECT_NEAR(s.mean, -1.0, 0.05);
  EXPECT_NEAR(s.std, 4.0 / std::sqrt(12.0), 0.03);
  nn::init::trunc_normal_(t, 0.0, 1.0, -1.0, 0.5);
  s = stats(t);
  EXPECT_GE(s.min, -1.0);
  EXPECT_LE(s.max, 0.5);
  // Mean of N(0,1) truncated to [-1, 0.5]: (phi(-1) - phi(0.5)) / (Phi(0.5) - Phi(-1)).
  auto phi = [](double x) { return std::exp(-x * x / 2) / std::sqrt(2 * M_PI); };
  auto Phi = [](double x) { return 0.5 * (1 + std::erf(x / std::sqrt(2.0))); };
  EXPECT_NEAR(s.mean, (phi(-1.0) - phi(0.5)) / (Phi(0.5) - Phi(-1.0)), 0.02);
  nn::init::trunc_normal_(t, 0.0, 0.02);  // ViT's init: the whole mass is inside [-2, 2]
  EXPECT_NEAR(stats(t).std, 0.02, 0.001);
  nn::init::ones_(t);
  EXPECT_EQ(stats(t).min, 1.0);
  nn::init::zeros_(t);
  EXPECT_EQ(stats(t).max, 0.0);
  nn::init::constant_(t, 0.25);
  EXPECT_EQ(stats(t).min, 0.25);
  EXPECT_EQ(stats(t).max, 0.25);
}

TEST(Init, KaimingAndXavierBounds) {
  manual_seed(2);
  Tensor w = empty({64, 48});
  EXPECT_EQ(nn::init::fan_in(w), 48);
  EXPECT_EQ(nn::init::fan_out(w), 64);
  EXPECT_EQ(nn::init::fan_in(empty({8, 3, 5, 5})), 75);
  nn::init::kaiming_uniform_(w, std::sqrt(5.0));
  Stats s = stats(w);
  EXPECT_LE(s.max, 1.0 / std::sqrt(48.0));
  EXPECT_GE(s.min, -1.0 / std::sqrt(48.0));
  EXPECT_GT(s.max, 0.95 / std::sqrt(48.0));
  nn::init::kaiming_normal_(w, 0.0, "fan_in", "relu");
  EXPECT_NEAR(stats(w).std, std::sqrt(2.0 / 48.0), 0.01);
  nn::init::xavier_uniform_(w);
  EXPECT_LE(stats(w).max, std::sqrt(6.0 / 112.0));
  nn::init::xavier_normal_(w, 2.0);
  EXPECT_NEAR(stats(w).std, 2.0 * std::sqrt(2.0 / 112.0), 0.01);
  EXPECT_NEAR(nn::init::calculate_gain("tanh"), 5.0 / 3.0, 1e-15);
  EXPECT_THROW_WITH(nn::init::calculate_gain("swish"), ValueError, "calculate_gain: unsupported nonlinearity swish");
  Tensor v = empty({5});
  EXPECT_THROW_WITH(nn::init::kaiming_uniform_(v), ShapeError, "fewer than 2 dimensions");
  EXPECT_THROW_WITH(nn::init::kaiming_uniform_(w, 0.0, "fan_avg"), ValueError, "mode fan_avg not supported");
  Tensor ints = zeros({2, 2}, kInt64);
  EXPECT_THROW_WITH(nn::init::normal_(ints), DTypeError, "normal_: expected a floating-point tensor, got int64");
  EXPECT_THROW_WITH(nn::init::uniform_(w, 1.0, 0.0), ValueError, "uniform_: expects a <= b");
}

TEST(Init, DeterministicPerSeedAndLayoutIndependent) {
  Tensor a = empty({6, 7}), b = empty({6, 7});
  manual_seed(3);
  nn::init::normal_(a);
  manual_seed(3);
  nn::init::normal_(b);
  EXPECT_EQ(max_diff(a, b), 0.0);
  // A transposed (non-contiguous) target receives the same values in its logical order.
  Tensor base = empty({7, 6});
  Tensor tv = base.t();
  manual_seed(3);
  nn::init::normal_(tv);
  EXPECT_EQ(max_diff(tv, a), 0.0);
  // float64 trunc_normal_ draws are rounded once for float32.
  Tensor d = empty({6, 7}, kFloat64), f = empty({6, 7});
  manual_seed(4);
  nn::init::trunc_normal_(d, 0.0, 0.5);
  manual_seed(4);
  nn::init::trunc_normal_(f, 0.0, 0.5);
  EXPECT_LE(max_diff(d, f), 1e-7);
  // Parameters stay leaves that require grad, and no graph is recorded.
  auto lin = std::make_shared<nn::Linear>(3, 3);
  nn::init::normal_(lin->weight);
  EXPECT_TRUE(lin->weight.is_leaf() && lin->weight.requires_grad());
  EXPECT_FALSE(lin->weight.grad_fn());
}

TEST(ClipGradNorm, ScalesOnlyAboveTheThresholdAndReportsNonFinite) {
  Tensor p = zeros({3}).requires_grad_(), q = zeros({2, 2}).requires_grad_();
  p.set_grad(tensor<float>({3.f, 0.f, 0.f}));
  q.set_grad(tensor<float>({0.f, 4.f, 0.f, 0.f}).view({2, 2}));
  Tensor total = nn::clip_grad_norm_({p, q}, 10.0);
  EXPECT_EQ(total.dtype(), kFloat32);
  EXPECT_NEAR(total.item<double>(), 5.0, 1e-6);
  EXPECT_EQ(values(p.grad())[0], 3.0);  // below max_norm: untouched
  total = nn::clip_grad_norm_({p, q}, 1.0);
  EXPECT_NEAR(values(p.grad())[0], 3.0 / (5.0 + 1e-6), 1e-6);
  EXPECT_NEAR(values(q.grad())[1], 4.0 / (5.0 + 1e-6), 1e-6);
  // bfloat16 gradients: the norm is accumulated in float32.
  Tensor h = zeros({300}, kBFloat16).requires_grad_();
  h.set_grad(full({300}, 0.5, kBFloat16));
  EXPECT_NEAR(nn::clip_grad_norm_({h}, 1e9).item<double>(), 0.5 * std::sqrt(300.0), 1e-4);
  // No gradients at all: norm 0.
  EXPECT_EQ(nn::clip_grad_norm_({zeros({2}).requires_grad_()}, 1.0).item<double>(), 0.0);
  p.set_grad(tensor<float>({INFINITY, 0.f, 0.f}));
  EXPECT_THROW_WITH(nn::clip_grad_norm_({p, q}, 1.0, 2.0, true), ValueError, "is non-finite, so it cannot be clipped");
  EXPECT_TRUE(std::isinf(values(p.grad())[0]));  // untouched when it throws
  EXPECT_THROW_WITH(nn::clip_grad_norm_({p}, 1.0, -1.0), ValueError, "norm_type must be > 0");
}
