// Second derivatives (create_graph): gradgradcheck of the ops whose backward formulas are written
// with differentiable ops, plus explicit double-backward values.
#include <functional>

#include "test_util.h"

using namespace tessera;
using namespace tt;
namespace ag = tessera::autograd;

namespace {
uint64_t g_seed = 500;
Tensor in(IntArrayRef shape, double lo = -1, double hi = 1) { return ag::gradcheck_input(shape, g_seed++, lo, hi); }
Tensor idx(const std::vector<int64_t>& v, IntArrayRef shape) { return from_vector<int64_t>(v, shape); }

void gg(const char* what, const ag::GradcheckFn& f, const variable_list& inputs) {
  SCOPED_TRACE(what);
  EXPECT_TRUE(ag::gradgradcheck(f, inputs));
}
ag::GradcheckFn f1(std::function<Tensor(const Tensor&)> f) {
  return [f](const variable_list& v) { return variable_list{f(v[0])}; };
}
ag::GradcheckFn f2(std::function<Tensor(const Tensor&, const Tensor&)> f) {
  return [f](const variable_list& v) { return variable_list{f(v[0], v[1])}; };
}
}  // namespace

TEST(GradGrad, Elementwise) {
  gg("mul", f2([](auto& a, auto& b) { return a * b; }), {in({3, 4}), in({4})});
  gg("div", f2([](auto& a, auto& b) { return a / b; }), {in({3, 4}), in({3, 1}, 0.5, 2)});
  gg("add/sub", f2([](auto& a, auto& b) { return (a + b) * (a - b); }), {in({3}), in({3})});
  gg("pow tensor", f2([](auto& a, auto& b) { return a.pow(b); }), {in({3}, 0.5, 2), in({3})});
  gg("pow scalar", f1([](auto& x) { return x.pow(3); }), {in({2, 3})});
  gg("exp", f1([](auto& x) { return x.exp(); }), {in({2, 3})});
  gg("log", f1([](auto& x) { return x.log(); }), {in({2, 3}, 0.5, 2)});
  gg("sqrt/rsqrt", f1([](auto& x) { return x.sqrt() + x.rsqrt(); }), {in({2, 3}, 0.5, 2)});
  gg("tanh", f1([](auto& x) { return x.tanh(); }), {in({2, 3})});
  gg("sigmoid", f1([](auto& x) { return x.sigmoid(); }), {in({2, 3})});
  gg("gelu", f1([](auto& x) { return x.gelu(); }), {in({2, 3}, -2, 2)});
  gg("gelu tanh", f1([](auto& x) { return x.gelu("tanh"); }), {in({2, 3}, -2, 2)});
  gg("silu", f1([](auto& x) { return x.silu(); }), {in({2, 3}, -2, 2)});
  gg("sin/cos/square", f1([](auto& x) { return x.sin() * x.cos() + x.square(); }), {in({2, 3})});
  gg("reciprocal/log1p", f1([](auto& x) { return x.reciprocal() + x.log1p(); }), {in({2, 3}, 0.5, 2)});
  gg("relu/abs/clamp", f1([](auto& x) { return x.relu() * x + x.abs() * x + x.clamp(-0.5, 0.5) * x; }), {in({2, 3})});
  gg("maximum/where", f2([](auto& a, auto& b) { return a.maximum(b) * a + where(a > b, a * a, b * b); }),
     {in({2, 3}), in({3})});
}

TEST(GradGrad, ReductionsAndNorms) {
  gg("sum/mean", f1([](auto& x) { return (x * x).sum({1}) + (x * x * x).mean(); }), {in({3, 4})});
  gg("var/std", f1([](auto& x) { return x.var({1}) + x.std({0}); }), {in({3, 4})});
  gg("logsumexp", f1([](auto& x) { return x.logsumexp({1}); }), {in({3, 4})});
  gg("prod", f1([](auto& x) { return x.prod(); }), {in({4}, 0.5, 1.5)});
  gg("amax", f1([](auto& x) { return x.amax({1}) * x.sum(); }), {in({3, 4})});
  gg("softmax", f1([](auto& x) { return x.softmax(-1); }), {in({3, 4})});
  gg("softmax dim 0", f1([](auto& x) { return x.softmax(0); }), {in({3, 4})});
  gg("log_softmax", f1([](auto& x) { return x.log_softmax(1); }), {in({3, 4})});
  gg("layer_norm", [](const variable_list& v) { return variable_list{layer_norm(v[0], {4}, v[1], v[2])}; },
     {in({3, 4}), in({4}), in({4})});
  gg("layer_norm no affine", f1([](auto& x) { return layer_norm(x, {2, 3}); }), {in({2, 2, 3})});
  gg("rms_norm", f2([](auto& x, auto& w) { return rms_norm(x, {4}, w); }), {in({3, 4}), in({4})});
}

TEST(GradGrad, MatrixProductsAndIndexing) {
  gg("matmul", f2([](auto& a, auto& b) { return matmul(a, b); }), {in({3, 4}), in({4, 2})});
  gg("matmul batched broadcast", f2([](auto& a, auto& b) { return matmul(a, b); }), {in({2, 3, 4}), in({4, 2})});
  gg("matmul 1d", f2([](auto& a, auto& b) { return matmul(a, b); }), {in({4}), in({4, 2})});
  gg("mm/bmm", f2([](auto& a, auto& b) { return a.mm(b).unsqueeze(0).bmm(b.t().unsqueeze(0)); }),
     {in({3, 4}), in({4, 2})});
  gg("mlp", [](const variable_list& v) {
    return variable_list{matmul(matmul(v[0], v[1]).tanh(), v[2]).sum()};
  }, {in({2, 3}), in({3, 4}), in({4, 2})});
  gg("gather/index_select", f1([](auto& x) {
    return x.gather(1, idx({0, 2, 1, 1}, {2, 2})).square() + x.index_select(0, idx({1, 1}, {2})).sum(1, true);
  }), {in({2, 3})});
  gg("embedding", f1([](auto& w) { return embedding(w, idx({1, 2, 1}, {3})).exp(); }), {in({3, 2})});
  Tensor target = idx({1, 0, 3}, {3});
  gg("cross_entropy", f1([&](auto& l) { return cross_entropy(l, target, -100, 0.1); }), {in({3, 4})});
  gg("views", f1([](auto& x) { return x.t().reshape({6}).narrow(0, 1, 4).square().unsqueeze(1).expand({4, 2}); }),
     {in({2, 3})});
  gg("cat/stack/select", f2([](auto& a, auto& b) { return stack({a, b}, 0).select(1, 1).square() * cat({a, b}).sum(); }),
     {in({2, 3}), in({2, 3})});
}

TEST(GradGrad, ExplicitValues) {
  // y = sum(x^3): dy/dx = 3x^2, d/dx sum(3x^2) = 6x
  Tensor x = make({0.5, -1.0, 2.0}, {3}, kFloat64, true);
  Tensor y = (x * x * x).sum();
  auto g = ag::grad({y}, {x}, {}, std::nullopt, /*create_graph=*/true);
  expect_values(g[0], {0.75, 3.0, 12.0});
  EXPECT_TRUE(g[0].requires_grad());
  g[0].sum().backward();
  expect_values(x.grad(), {3.0, -6.0, 12.0});
  // .grad itself gets a graph with create_graph=true on backward
  Tensor w = make({1.0, 2.0}, {2}, kFloat64, true);
  (w * w * w).sum().backward({}, std::nullopt, /*create_graph=*/true);
  EXPECT_TRUE(w.grad().requires_grad());
  auto gg2 = ag::grad({w.grad().sum()}, {w});
  expect_values(gg2[0], {6.0, 12.0});
}
