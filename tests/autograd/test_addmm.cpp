// addmm and addmm_gelu_tanh (the bias-epilogue GEMMs behind linear and the GELU MLP): values
// against mm + bias in float64, the composite beta/alpha/broadcast path, gradcheck and
// gradgradcheck, the graph they record (torch's node names), linear's use of them, and errors.
#include "tessera/nn/functional.h"
#include "test_util.h"

using namespace tessera;
using namespace tt;
namespace ag = tessera::autograd;

namespace {
uint64_t g_seed = 900;
Tensor in(IntArrayRef shape, double lo = -1, double hi = 1) { return ag::gradcheck_input(shape, g_seed++, lo, hi); }
double max_abs_diff(const Tensor& a, const Tensor& b) {
  return (a.detach().to(kFloat64) - b.detach().to(kFloat64)).abs().max().item<double>();
}
}  // namespace

TEST(Addmm, BiasPathEqualsMmPlusBiasEveryFloatDType) {
  for (DType dt : {kFloat64, kFloat32, kBFloat16, kFloat16}) {
    Tensor a = in({7, 13}).to(dt), w = in({5, 13}).to(dt), b = in({5}).to(dt);
    Tensor want = a.to(kFloat64).mm(w.to(kFloat64).t()) + b.to(kFloat64);
    Tensor got = addmm(b, a, w.t());
    EXPECT_EQ(got.dtype(), dt);
    EXPECT_EQ(got.sizes().vec(), (Shape{7, 5}));
    double tol = dt == kFloat64 ? 1e-12 : dt == kFloat32 ? 1e-5 : 5e-2;
    EXPECT_LT(max_abs_diff(got, want), tol) << dtype_name(dt);
  }
}

TEST(Addmm, CompositePathBetaAlphaAndBroadcastSelf) {
  Tensor a = in({4, 6}), m = in({6, 3}), c = in({4, 1}), r = in({3});
  EXPECT_LT(max_abs_diff(addmm(c, a, m, 0.5, 2.0), c * 0.5 + a.mm(m) * 2.0), 1e-12);
  EXPECT_LT(max_abs_diff(addmm(r, a, m, 1, 3.0), r + a.mm(m) * 3.0), 1e-12);
  // beta = 0 ignores self, NaN included (torch's rule)
  Tensor nan_self = raw::full({4, 3}, std::nan(""), TensorOptions(kFloat64));
  EXPECT_LT(max_abs_diff(addmm(nan_self, a, m, 0, 1), a.mm(m)), 1e-12);
}

TEST(Addmm, GradcheckAndGradgradcheck) {
  auto f = [](const variable_list& v) { return variable_list{addmm(v[0], v[1], v[2])}; };
  auto fg = [](const variable_list& v) { return variable_list{addmm(v[0], v[1], v[2], 0.5, -1.5)}; };
  auto gelu = [](const variable_list& v) { return variable_list{addmm_gelu_tanh(v[0], v[1], v[2])}; };
  variable_list inputs = {in({4}), in({3, 5}), in({5, 4})};
  EXPECT_TRUE(ag::gradcheck(f, inputs));
  EXPECT_TRUE(ag::gradcheck(fg, {in({3, 1}), in({3, 5}), in({5, 4})}));
  EXPECT_TRUE(ag::gradcheck(gelu, inputs));
  EXPECT_TRUE(ag::gradgradcheck(f, inputs));
  EXPECT_TRUE(ag::gradgradcheck(gelu, inputs));
}

TEST(Addmm, GeluTanhMatchesTheTwoOpsAndRecordsTheirGraph) {
  Tensor b = in({8}).requires_grad_(), a = in({6, 4}).requires_grad_(), w = in({8, 4}).requires_grad_();
  Tensor fused = addmm_gelu_tanh(b, a, w.t());
  Tensor ref = (a.mm(w.t()) + b).gelu("tanh");
  EXPECT_LT(max_abs_diff(fused, ref), 1e-12);
  ASSERT_TRUE(fused.grad_fn());
  EXPECT_EQ(fused.grad_fn()->name(), "GeluBackward0");
  EXPECT_EQ(fused.grad_fn()->next_edges()[0].function->name(), "AddmmBackward0");
  Tensor g = in({6, 8});
  auto gf = ag::grad({fused}, {a, w, b}, {g});
  auto gr = ag::grad({ref}, {a, w, b}, {g});
  for (size_t i = 0; i < 3; ++i) EXPECT_LT(max_abs_diff(gf[i], gr[i]), 1e-12) << "input " << i;
}

TEST(Addmm, LinearUsesItAndKeepsTorchGraph) {
  Tensor x = in({2, 3, 4}).requires_grad_(), w = in({5, 4}).requires_grad_(), b = in({5}).requires_grad_();
  Tensor y = nn::functional::linear(x, w, b);
  EXPECT_EQ(y.sizes().vec(), (Shape{2, 3, 5}));
  EXPECT_EQ(y.grad_fn()->name(), "ViewBackward0");  // torch: linear on 3-D input = view(addmm(...))
  EXPECT_EQ(y.grad_fn()->next_edges()[0].function->name(), "AddmmBackward0");
  Tensor ref = x.matmul(w.t()) + b;
  EXPECT_LT(max_abs_diff(y, ref), 1e-12);
  Tensor yg = nn::functional::linear_gelu_tanh(x, w, b);
  EXPECT_LT(max_abs_diff(yg, ref.gelu("tanh")), 1e-12);
  // no bias, 1-D input: the plain paths
  EXPECT_LT(max_abs_diff(nn::functional::linear_gelu_tanh(x, w), x.matmul(w.t()).gelu("tanh")), 1e-12);
  Tensor v = in({4});
  EXPECT_LT(max_abs_diff(nn::functional::linear(v, w, b), w.matmul(v) + b), 1e-12);
}

TEST(Addmm, ErrorsNameTheOpAndShapes) {
  Tensor a = in({3, 4}), m = in({5, 2});
  EXPECT_THROW_MSG(addmm(in({2}), a, m), "addmm: mat1 and mat2 shapes cannot be multiplied (3x4 and 5x2)");
  EXPECT_THROW_MSG(addmm(in({7}), a, in({4, 2})), "cannot be broadcast to the product's shape [3, 2]");
  EXPECT_THROW_MSG(addmm_gelu_tanh(in({3}), a, in({4, 2})), "expected a bias of shape [2]");
  EXPECT_THROW_MSG(addmm_gelu_tanh(in({2}).to(kFloat32), a, in({4, 2})), "addmm_gelu: expected one float dtype");
}
