// Autograd with the real ops beyond gradcheck: gradient dtypes for float32/bfloat16 parameters,
// checkpoint restoring the RNG so random masks match, anomaly mode on a NaN made in backward, a
// small MLP against a float64 host reference, and long elementwise chains.
#include "test_util.h"

using namespace tessera;
using namespace tt;
namespace ag = tessera::autograd;

TEST(OpsAutograd, GradientDtypesFollowParameters) {
  for (DType dt : {kFloat32, kBFloat16, kFloat16}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor w = make({0.5, -1.0, 2.0, 0.25}, {2, 2}, dt, true);
    Tensor x = make({1.0, 2.0, 3.0, 4.0}, {2, 2}, kFloat32);
    Tensor loss = (w.to(kFloat32) * x).sum() + (w * w).sum().to(kFloat32);
    loss.backward();
    ASSERT_TRUE(w.grad().defined());
    EXPECT_EQ(w.grad().dtype(), dt);
    std::vector<double> wv = values(w), xv = values(x), gv = values(w.grad());
    for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(gv[i], xv[i] + 2 * wv[i], 0.05) << i;
  }
  // mixed dtypes in one binary op: each input gets its own dtype back
  Tensor a = make({1, 2}, {2}, kFloat32, true);
  Tensor b = make({3, 4}, {2}, kFloat64, true);
  (a * b).sum().backward();
  EXPECT_EQ(a.grad().dtype(), kFloat32);
  EXPECT_EQ(b.grad().dtype(), kFloat64);
  expect_values(a.grad(), {3, 4});
  expect_values(b.grad(), {1, 2});
}

TEST(OpsAutograd, CheckpointRestoresRng) {
  auto segment = [](const Tensor& x) { return (x * rand_like(x)).tanh(); };
  Tensor x = make({0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, {6}, kFloat64, true);
  manual_seed(7);
  Tensor ref = segment(x);
  ref.sum().backward();
  std::vector<double> ref_grad = values(x.grad());
  x.set_grad(Tensor());
  manual_seed(7);
  Tensor out = ag::checkpoint(segment, x);
  expect_values(out, values(ref));
  Tensor after = rand({3});  // the RNG moved on after the forward...
  out.sum().backward();
  expect_values(x.grad(), ref_grad);  // ...and the recomputation used the forward's numbers
  Tensor again = rand({3});
  EXPECT_NE(values(after), values(again));  // backward put the RNG state back
  // without RNG preservation the recomputed mask differs
  x.set_grad(Tensor());
  manual_seed(7);
  Tensor out2 = ag::checkpoint(segment, x, /*preserve_rng_state=*/false);
  out2.sum().backward();
  EXPECT_NE(values(x.grad()), ref_grad);
}

TEST(OpsAutograd, AnomalyModeFindsNanFromRealOps) {
  Tensor x = make({0.0, 1.0}, {2}, kFloat64, true);
  {
    Tensor y = (x * 0.0).sqrt().sum();
    y.backward();  // NaN gradient passes silently without anomaly mode
    EXPECT_TRUE(std::isnan(values(x.grad())[0]));
  }
  ag::DetectAnomalyGuard guard;
  Tensor y = (x * 0.0).sqrt().sum();
  EXPECT_THROW_MSG(y.backward(), "returned nan values in its 0th output.");
}

TEST(OpsAutograd, MlpMatchesHostReference) {
  // two layers, tanh, mean squared error; reference gradients by explicit float64 loops
  const int B = 3, I = 4, H = 5, O = 2;
  Tensor x = ag::gradcheck_input({B, I}, 11, -1, 1, false);
  Tensor w1 = ag::gradcheck_input({I, H}, 12), b1 = ag::gradcheck_input({H}, 13);
  Tensor w2 = ag::gradcheck_input({H, O}, 14), b2 = ag::gradcheck_input({O}, 15);
  Tensor t = ag::gradcheck_input({B, O}, 16, -1, 1, false);
  Tensor h = (matmul(x, w1) + b1).tanh();
  Tensor y = matmul(h, w2) + b2;
  Tensor loss = ((y - t) * (y - t)).mean();
  loss.backward();

  auto X = values(x), W1 = values(w1), B1 = values(b1), W2 = values(w2), B2 = values(b2), T = values(t);
  std::vector<double> Hv(B * H), Yv(B * O), gW1(I * H, 0), gB1(H, 0), gW2(H * O, 0), gB2(O, 0);
  for (int b = 0; b < B; ++b)
    for (int j = 0; j < H; ++j) {
      double s = B1[j];
      for (int i = 0; i < I; ++i) s += X[b * I + i] * W1[i * H + j];
      Hv[b * H + j] = std::tanh(s);
    }
  for (int b = 0; b < B; ++b)
    for (int o = 0; o < O; ++o) {
      double s = B2[o];
      for (int j = 0; j < H; ++j) s += Hv[b * H + j] * W2[j * O + o];
      Yv[b * O + o] = s;
    }
  for (int b = 0; b < B; ++b) {
    std::vector<double> gh(H, 0);
    for (int o = 0; o < O; ++o) {
      double gy = 2 * (Yv[b * O + o] - T[b * O + o]) / (B * O);
      gB2[o] += gy;
      for (int j = 0; j < H; ++j) {
        gW2[j * O + o] += Hv[b * H + j] * gy;
        gh[j] += W2[j * O + o] * gy;
      }
    }
    for (int j = 0; j < H; ++j) {
      double gs = gh[j] * (1 - Hv[b * H + j] * Hv[b * H + j]);
      gB1[j] += gs;
      for (int i = 0; i < I; ++i) gW1[i * H + j] += X[b * I + i] * gs;
    }
  }
  expect_values(w1.grad(), gW1, 1e-12);
  expect_values(b1.grad(), gB1, 1e-12);
  expect_values(w2.grad(), gW2, 1e-12);
  expect_values(b2.grad(), gB2, 1e-12);
}

TEST(OpsAutograd, LongElementwiseChain) {
  // 100,000 elementwise ops: backward and destruction must not recurse
  Tensor x = make({0.5, -0.25}, {2}, kFloat64, true);
  Tensor h = x;
  for (int i = 0; i < 100000; ++i) h = (i % 2 == 0) ? h * 1.0 : h + 0.0;
  h.sum().backward();
  expect_values(x.grad(), {1, 1});
}

TEST(OpsAutograd, ViewsOfParametersInOptimizerStep) {
  // an optimizer-style in-place update under NoGradGuard between two forward/backward passes
  Tensor w = make({1, 2, 3, 4}, {2, 2}, kFloat64, true);
  for (int step = 0; step < 2; ++step) {
    (w.t() * w).sum().backward();
    NoGradGuard ng;
    w.sub_(w.grad() * 0.1);
    w.mutable_grad().zero_();
  }
  // d sum(w^T * w) / dw = 2 w^T: w <- w - 0.2 w^T twice, starting from [[1,2],[3,4]]
  expect_values(w, {0.64, 0.88, 2.32, 2.56}, 1e-12);
}
