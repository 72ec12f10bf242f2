// Finite-difference gradchecks (float64) of every differentiable op: elementwise (broadcasting,
// scalars, in-place), reductions, softmax and norms, matrix products, indexing and
// cross-entropy, views and casts, with random shapes and non-contiguous inputs.
#include <functional>
#include <random>

#include "test_util.h"

using namespace tessera;
using namespace tt;
namespace ag = tessera::autograd;

namespace {

uint64_t g_seed = 1;
// A float64 leaf requiring grad with values in [lo, hi).
Tensor in(IntArrayRef shape, double lo = -1, double hi = 1) { return ag::gradcheck_input(shape, g_seed++, lo, hi); }
// The same, laid out transposed in memory (a non-contiguous leaf).
Tensor in_t(IntArrayRef shape, double lo = -1, double hi = 1) {
  Shape rev(shape.begin(), shape.end());
  std::reverse(rev.begin(), rev.end());
  Tensor base = ag::gradcheck_input(rev, g_seed++, lo, hi, false);
  Shape perm;
  for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) perm.push_back(d);
  Tensor t = raw::permute(base, perm);
  t.requires_grad_(true);
  return t;
}
Tensor idx(const std::vector<int64_t>& v, IntArrayRef shape) { return from_vector<int64_t>(v, shape); }

// Random small shape with `nd` dims, each in [1, 4].
Shape rand_shape(int nd) {
  static std::mt19937 rng(1234);
  Shape s;
  for (int i = 0; i < nd; ++i) s.push_back(1 + int64_t(rng() % 4));
  return s;
}

using Fn1 = std::function<Tensor(const Tensor&)>;
using Fn2 = std::function<Tensor(const Tensor&, const Tensor&)>;

void check1(const char* what, Fn1 f, Tensor x, ag::GradcheckOptions o = {}) {
  SCOPED_TRACE(what);
  EXPECT_TRUE(ag::gradcheck([&](const variable_list& v) { return variable_list{f(v[0])}; }, {x}, o));
}
void check2(const char* what, Fn2 f, Tensor a, Tensor b, ag::GradcheckOptions o = {}) {
  SCOPED_TRACE(what);
  EXPECT_TRUE(ag::gradcheck([&](const variable_list& v) { return variable_list{f(v[0], v[1])}; }, {a, b}, o));
}

}  // namespace

TEST(Gradcheck, BinaryBroadcastAndNonContiguous) {
  for (int trial = 0; trial < 3; ++trial) {
    Shape s = rand_shape(3);
    Shape sb = {1, s[1], s[2]};  // broadcast over dim 0
    Shape sc = {s[2]};           // broadcast over the leading dims
    check2("add", [](auto& a, auto& b) { return a + b; }, in(s), in(sb));
    check2("add alpha", [](auto& a, auto& b) { return a.add(b, 2.5); }, in(s), in(sc));
    check2("sub", [](auto& a, auto& b) { return a - b; }, in(sc), in(s));
    check2("sub alpha", [](auto& a, auto& b) { return a.sub(b, -0.5); }, in_t(s), in(sb));
    check2("mul", [](auto& a, auto& b) { return a * b; }, in_t(s), in(sb));
    check2("div", [](auto& a, auto& b) { return a / b; }, in(s), in(sc, 0.5, 2));
    check2("pow", [](auto& a, auto& b) { return a.pow(b); }, in(s, 0.5, 2), in(sb));
    check2("maximum", [](auto& a, auto& b) { return a.maximum(b); }, in(s), in(sb));
    check2("minimum", [](auto& a, auto& b) { return a.minimum(b); }, in_t(s), in(sc));
    check2("where", [](auto& a, auto& b) { return where(a > 0.0, a, b); }, in(s), in(sb));
  }
}

TEST(Gradcheck, ScalarOperands) {
  Shape s = {3, 4};
  check1("add scalar", [](auto& x) { return x + 2.0; }, in(s));
  check1("radd", [](auto& x) { return 2.0 + x; }, in(s));
  check1("sub scalar alpha", [](auto& x) { return x.sub(1.5, 2); }, in(s));
  check1("rsub", [](auto& x) { return 3.0 - x; }, in_t(s));
  check1("mul scalar", [](auto& x) { return x * -1.5; }, in(s));
  check1("div scalar", [](auto& x) { return x / 4.0; }, in(s));
  check1("rdiv", [](auto& x) { return 2.0 / x; }, in(s, 0.5, 2));
  check1("pow 3", [](auto& x) { return x.pow(3); }, in(s));
  check1("pow 0.5", [](auto& x) { return x.pow(0.5); }, in(s, 0.5, 2));
  check1("pow 0", [](auto& x) { return x.pow(0); }, in(s));
  check1("neg op", [](auto& x) { return -x; }, in(s));
}

TEST(Gradcheck, Unary) {
  Shape s = rand_shape(3);
  check1("neg", [](auto& x) { return x.neg(); }, in_t(s));
  check1("abs", [](auto& x) { return x.abs(); }, in(s));
  check1("exp", [](auto& x) { return x.exp(); }, in_t(s));
  check1("log", [](auto& x) { return x.log(); }, in(s, 0.5, 2));
  check1("log1p", [](auto& x) { return x.log1p(); }, in(s, -0.5, 2));
  check1("sqrt", [](auto& x) { return x.sqrt(); }, in(s, 0.5, 2));
  check1("rsqrt", [](auto& x) { return x.rsqrt(); }, in_t(s, 0.5, 2));
  check1("square", [](auto& x) { return x.square(); }, in(s));
  check1("reciprocal", [](auto& x) { return x.reciprocal(); }, in(s, 0.5, 2));
  check1("sign", [](auto& x) { return x.sign(); }, in(s));
  check1("tanh", [](auto& x) { return x.tanh(); }, in(s));
  check1("sigmoid", [](auto& x) { return x.sigmoid(); }, in_t(s));
  check1("relu", [](auto& x) { return x.relu(); }, in(s));
  check1("gelu", [](auto& x) { return x.gelu(); }, in(s, -2, 2));
  check1("gelu tanh", [](auto& x) { return x.gelu("tanh"); }, in(s, -2, 2));
  check1("silu", [](auto& x) { return x.silu(); }, in_t(s, -2, 2));
  check1("sin", [](auto& x) { return x.sin(); }, in(s));
  check1("cos", [](auto& x) { return x.cos(); }, in(s));
  check1("clamp", [](auto& x) { return x.clamp(-0.5, 0.5); }, in(s));
  check1("clamp_min", [](auto& x) { return x.clamp_min(0.1); }, in(s));
  check1("clamp_max", [](auto& x) { return x.clamp_max(0.1); }, in_t(s));
  check1("masked_fill", [](auto& x) { return x.masked_fill(x > 0.2, 3.0); }, in(s));
}

TEST(Gradcheck, InPlaceOnNonLeaves) {
  Shape s = {3, 4};
  auto c = [](const Tensor& x) { return x * 1.0; };  // a non-leaf copy to modify
  check2("add_", [&](auto& a, auto& b) { Tensor t = c(a); t.add_(b, 2); return t; }, in(s), in({4}));
  check2("sub_", [&](auto& a, auto& b) { Tensor t = c(a); t.sub_(b); return t; }, in(s), in({1, 4}));
  check2("mul_", [&](auto& a, auto& b) { Tensor t = c(a); t.mul_(b); return t; }, in(s), in({4}));
  check2("div_", [&](auto& a, auto& b) { Tensor t = c(a); t.div_(b); return t; }, in(s), in({4}, 0.5, 2));
  check2("+= *=", [&](auto& a, auto& b) { Tensor t = c(a); t += b; t *= b; t -= 1.0; t /= 2.0; return t; }, in(s), in(s));
  check1("mul_ scalar", [&](auto& x) { Tensor t = c(x); t.mul_(3); t.add_(1, 2); return t; }, in(s));
  check1("pow_", [&](auto& x) { Tensor t = c(x); t.pow_(3); return t; }, in(s));
  check1("neg_", [&](auto& x) { Tensor t = c(x); t.neg_(); return t; }, in(s));
  check1("exp_", [&](auto& x) { Tensor t = c(x); t.exp_(); return t * x; }, in(s));
  check1("relu_", [&](auto& x) { Tensor t = c(x); t.relu_(); return t; }, in(s));
  check1("clamp_", [&](auto& x) { Tensor t = c(x); t.clamp_(-0.3, 0.4); return t; }, in(s));
  check1("masked_fill_", [&](auto& x) { Tensor t = c(x); t.masked_fill_(x < 0.0, 1.0); return t; }, in(s));
  check2("copy_", [&](auto& a, auto& b) { Tensor t = c(a); t.copy_(b); return t * a; }, in(s), in({4}));
  check1("fill_", [&](auto& x) { Tensor t = c(x); t.fill_(2.0); return t + x; }, in(s));
  // through views of a non-leaf
  check2("view mul_", [&](auto& a, auto& b) { Tensor t = c(a); t.select(0, 1).mul_(b); return t; }, in(s), in({4}));
  check2("view copy_", [&](auto& a, auto& b) { Tensor t = c(a); t.t().narrow(0, 1, 2).copy_(b); return t; }, in(s),
         in({2, 3}));
  check1("view exp_ twice", [&](auto& x) {
    Tensor t = c(x);
    Tensor v = t.narrow(1, 0, 2);
    t.select(1, 3).mul_(2.0);
    t.select(1, 1).mul_(3.0);
    v.exp_();  // saves v: no later in-place op on t
    return t * v.sum();
  }, in(s));
  check2("scatter_add_", [&](auto& a, auto& b) {
    Tensor t = c(a);
    t.scatter_add_(1, idx({0, 3, 3, 1, 2, 0}, {3, 2}), b);
    return t;
  }, in(s), in({3, 2}));
}

TEST(Gradcheck, Reductions) {
  Shape s = {3, 4, 2};
  check1("sum", [](auto& x) { return x.sum(); }, in_t(s));
  check1("sum dims", [](auto& x) { return x.sum({0, 2}); }, in(s));
  check1("sum keepdim", [](auto& x) { return x.sum({-1}, true); }, in_t(s));
  check1("sum dtype", [](auto& x) { return x.sum({1}, false, kFloat64); }, in(s));
  check1("mean", [](auto& x) { return x.mean(); }, in(s));
  check1("mean dims", [](auto& x) { return x.mean({1}, true); }, in_t(s));
  check1("prod", [](auto& x) { return x.prod(); }, in({2, 3}, 0.5, 1.5));
  check1("prod one zero", [](auto& x) { return x.prod(); }, [] {
    Tensor t = in({2, 3}, 0.5, 1.5);
    NoGradGuard g;
    t.select(0, 1).select(0, 2).fill_(0);
    return t;
  }());
  check1("prod two zeros", [](auto& x) { return x.prod(); }, [] {
    Tensor t = in({5}, 0.5, 1.5);
    NoGradGuard g;
    t.narrow(0, 1, 2).fill_(0);
    return t;
  }());
  check1("max", [](auto& x) { return x.max(); }, in(s));
  check1("min", [](auto& x) { return x.min(); }, in_t(s));
  check1("max ties", [](auto& x) { return x.max(); }, make({1, 3, 3, 2}, {4}, kFloat64, true));
  check1("max dim", [](auto& x) { return std::get<0>(x.max(1)); }, in(s));
  check1("min dim keepdim", [](auto& x) { return std::get<0>(x.min(-1, true)); }, in_t(s));
  check1("amax", [](auto& x) { return x.amax({0, 2}); }, in(s));
  check1("amin keepdim", [](auto& x) { return x.amin({1}, true); }, in(s));
  check1("var", [](auto& x) { return x.var(); }, in(s));
  check1("var dims", [](auto& x) { return x.var({1}, 0, true); }, in_t(s));
  check1("std", [](auto& x) { return x.std({0, 2}); }, in(s));
  check1("std all", [](auto& x) { return x.std(0); }, in(s));
  check1("logsumexp", [](auto& x) { return x.logsumexp({1}); }, in(s));
  check1("logsumexp keepdim", [](auto& x) { return x.logsumexp({0, 2}, true); }, in_t(s));
}

TEST(Gradcheck, SoftmaxAndNorms) {
  Shape s = {2, 3, 5};
  for (int64_t d : {0, 1, -1}) {
    check1("softmax", [d](auto& x) { return x.softmax(d) * x; }, in(s));
    check1("log_softmax", [d](auto& x) { return x.log_softmax(d); }, in_t(s));
  }
  check1("softmax dtype", [](auto& x) { return softmax(x, -1, kFloat64); }, in(s));
  check2("layer_norm", [](auto& x, auto& w) { return layer_norm(x, {5}, w, w * 0.5 + 0.1); }, in(s), in({5}));
  check1("layer_norm no affine", [](auto& x) { return layer_norm(x, {3, 5}); }, in_t(s));
  {
    Tensor x = in(s), w = in({5}), b = in({5});
    EXPECT_TRUE(ag::gradcheck([](const variable_list& v) { return variable_list{layer_norm(v[0], {5}, v[1], v[2])}; },
                              {x, w, b}));
  }
  check2("rms_norm", [](auto& x, auto& w) { return rms_norm(x, {5}, w); }, in(s), in({5}));
  check1("rms_norm no weight", [](auto& x) { return rms_norm(x, {3, 5}); }, in_t(s));
}

TEST(Gradcheck, MatrixProducts) {
  check2("mm", [](auto& a, auto& b) { return a.mm(b); }, in({3, 4}), in_t({4, 2}));
  check2("bmm", [](auto& a, auto& b) { return a.bmm(b); }, in({2, 3, 4}), in({2, 4, 5}));
  check2("matmul 1d 1d", [](auto& a, auto& b) { return matmul(a, b); }, in({4}), in({4}));
  check2("matmul 2d 1d", [](auto& a, auto& b) { return matmul(a, b); }, in_t({3, 4}), in({4}));
  check2("matmul 1d 2d", [](auto& a, auto& b) { return matmul(a, b); }, in({4}), in({4, 3}));
  check2("matmul 2d 2d", [](auto& a, auto& b) { return a.matmul(b); }, in({3, 4}), in({4, 2}));
  check2("matmul 3d 2d", [](auto& a, auto& b) { return matmul(a, b); }, in({2, 3, 4}), in_t({4, 2}));
  check2("matmul 1d 3d", [](auto& a, auto& b) { return matmul(a, b); }, in({4}), in({2, 4, 3}));
  check2("matmul broadcast batch", [](auto& a, auto& b) { return matmul(a, b); }, in({2, 1, 3, 4}), in({3, 4, 2}));
}

TEST(Gradcheck, IndexingAndLosses) {
  Tensor i1 = idx({2, 0, 2, 1}, {4});
  check1("index_select", [&](auto& x) { return x.index_select(1, i1); }, in({2, 3}));
  check1("index_select dim0", [&](auto& x) { return index_select(x, 0, i1); }, in_t({3, 2}));
  Tensor gi = idx({0, 2, 1, 1, 0, 0}, {2, 3});
  check1("gather", [&](auto& x) { return x.gather(1, gi); }, in({2, 4}));
  check2("scatter_add", [&](auto& x, auto& src) { return x.scatter_add(1, gi, src); }, in({2, 4}), in({2, 3}));
  check2("index_add", [&](auto& x, auto& src) { return x.index_add(0, idx({1, 0, 1}, {3}), src); }, in({2, 3}),
         in({3, 3}));
  check1("embedding", [](auto& w) { return embedding(w, idx({1, 3, 1, 0, 2, 1}, {2, 3})); }, in({4, 5}));
  check1("tril", [](auto& x) { return x.tril(); }, in({3, 4}));
  check1("triu", [](auto& x) { return triu(x, 1); }, in_t({4, 3}));
  Tensor target = idx({2, 0, 4}, {3});
  check1("cross_entropy mean", [&](auto& l) { return cross_entropy(l, target); }, in({3, 5}));
  check1("cross_entropy sum", [&](auto& l) { return cross_entropy(l, target, -100, 0.0, Reduction::Sum); },
         in_t({3, 5}));
  check1("cross_entropy none", [&](auto& l) { return cross_entropy(l, target, -100, 0.0, Reduction::None); },
         in({3, 5}));
  Tensor t_ignore = idx({2, -100, 4}, {3});
  check1("cross_entropy ignore + smoothing", [&](auto& l) { return cross_entropy(l, t_ignore, -100, 0.1); },
         in({3, 5}));
  check1("cross_entropy 1d", [&](auto& l) { return cross_entropy(l, from_vector<int64_t>({3}, {})); }, in({5}));
}

TEST(Gradcheck, ViewsJoinsCasts) {
  Shape s = {3, 4};
  check1("view", [](auto& x) { return x.view({2, 6}) * x.view({2, 6}); }, in(s));
  check1("reshape copy", [](auto& x) { return x.t().reshape({12}).exp(); }, in(s));
  check1("transpose/permute", [](auto& x) { return x.unsqueeze(0).permute({2, 0, 1}).transpose(0, 2) * 2.0; }, in(s));
  check1("expand", [](auto& x) { return x.unsqueeze(1).expand({3, 2, 4}).exp(); }, in(s));
  check1("slice step", [](auto& x) { return x.slice(1, 0, 4, 2).square(); }, in_t(s));
  check1("select/narrow", [](auto& x) { return x.narrow(1, 1, 2).select(0, -1).exp(); }, in(s));
  check1("squeeze", [](auto& x) { return x.unsqueeze(0).unsqueeze(2).squeeze().squeeze(0).sin(); }, in(s));
  check1("flatten/unflatten", [](auto& x) { return x.flatten().unflatten(0, {2, 6}).cos(); }, in_t(s));
  check1("split/chunk", [](auto& x) {
    auto p = x.split(1, 0);
    auto q = x.chunk(2, 1);
    return p[2] * q[1].select(1, 0).unsqueeze(1).t().t();
  }, in(s));
  check1("split unused pieces", [](auto& x) { return x.split_with_sizes({1, 3}, 1)[1].exp(); }, in(s));
  check2("cat", [](auto& a, auto& b) { return cat({a, b.t(), a}, 0).square(); }, in(s), in({4, 2}));
  check2("stack", [](auto& a, auto& b) { return stack({a, b}, 1).sin(); }, in(s), in_t(s));
  check1("clone/contiguous", [](auto& x) { return x.t().contiguous().clone() * x.t(); }, in(s));
  ag::GradcheckOptions coarse;
  coarse.eps = 1e-3;
  coarse.atol = 1e-3;
  check1("to float32", [](auto& x) { return x.to(kFloat32).exp().to(kFloat64); }, in(s), coarse);
}

TEST(Gradcheck, Attention) {
  for (bool causal : {false, true}) {
    SCOPED_TRACE(causal ? "causal" : "full");
    // Sq != Sk, a non-default scale, q laid out non-contiguously
    Tensor q = in_t({2, 1, 3, 4}), k = in({2, 1, 5, 4}), v = in({2, 1, 5, 4});
    EXPECT_TRUE(ag::gradcheck([causal](const variable_list& t) {
      return variable_list{scaled_dot_product_attention(t[0], t[1], t[2], causal, 0.7)};
    }, {q, k, v}));
    EXPECT_TRUE(ag::gradgradcheck([causal](const variable_list& t) {
      return variable_list{scaled_dot_product_attention(t[0], t[1], t[2], causal)};
    }, {in({1, 2, 3, 2}), in({1, 2, 3, 2}), in({1, 2, 3, 2})}));
  }
}
