// The engine: execution order by sequence number, dependency counting on diamonds, deep chains
// (backward and destruction without recursion), gradient validation naming the node, anomaly
// mode, checkpointing, and gradcheck of the view/join/copy ops.
#include "test_util.h"

using namespace tessera;
using namespace tt;
namespace ag = tessera::autograd;

namespace {
// Records the order in which backward runs it.
struct Tag : ag::Function<Tag> {
  static std::vector<std::string>* log;
  static Tensor forward(AutogradContext* ctx, Tensor x, std::string name) {
    ctx->saved_data["name"] = name;
    return x.clone();
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    log->push_back(ctx->saved_data["name"].toStringRef());
    return {g[0], Tensor()};
  }
};
std::vector<std::string>* Tag::log = nullptr;

// Returns a gradient of the wrong shape.
struct BadShape : ag::Function<BadShape> {
  static Tensor forward(AutogradContext*, Tensor x) { return x.clone(); }
  static variable_list backward(AutogradContext*, variable_list) { return {make({1, 2, 3}, {3})}; }
};
struct NanGrad : ag::Function<NanGrad> {
  static Tensor forward(AutogradContext*, Tensor x) { return x.clone(); }
  static variable_list backward(AutogradContext*, variable_list g) {
    return {map(g[0], [](double) { return std::nan(""); })};
  }
};
}  // namespace

TEST(Engine, RunsLaterNodesFirstAndWaitsForAllContributions) {
  std::vector<std::string> log;
  Tag::log = &log;
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  Tensor a = Tag::apply(x, std::string("a"));
  Tensor b = Tag::apply(a, std::string("b"));
  Tensor c = Tag::apply(a, std::string("c"));  // created after b
  Tensor d = Tag::apply(Mul::apply(b, c), std::string("d"));
  SumAll::apply(d).backward();
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0], "d");
  EXPECT_EQ(log[1], "c");  // higher sequence number than b
  EXPECT_EQ(log[2], "b");
  EXPECT_EQ(log[3], "a");  // only after both b and c contributed
  // d(sum(x*x)) = 2x through the diamond
  expect_values(x.grad(), {2, 4});
}

TEST(Engine, DeepChainBackwardAndDestruction) {
  constexpr int kDepth = 100000;
  Tensor x = make({1, 2, 3, 4}, {4}, kFloat64, true);
  {
    Tensor h = x;
    for (int i = 0; i < kDepth; ++i) h = (i % 2 == 0) ? h.view({2, 2}) : h.view({4});
    SumAll::apply(h).backward();
    expect_values(x.grad(), {1, 1, 1, 1});
  }
  {
    // destroyed without running backward
    Tensor h = x;
    for (int i = 0; i < kDepth; ++i) h = h.unsqueeze(0).squeeze(0);
    EXPECT_TRUE(h.requires_grad());
  }
  {
    // a deep graph of non-view nodes, kept alive only by its last output
    Tensor h = x;
    for (int i = 0; i < kDepth; ++i) h = h.clone();
    auto g = ag::grad({SumAll::apply(h)}, {x});
    expect_values(g[0], {1, 1, 1, 1});
  }
}

TEST(Engine, ValidatesReturnedGradientsNamingTheNode) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  EXPECT_THROW_MSG(SumAll::apply(BadShape::apply(x)).backward(),
                   "Function (anonymous namespace)::BadShape returned an invalid gradient at index 0 - got [3] but expected shape "
                   "compatible with [2]");
}

TEST(Engine, BroadcastGradientIsSummedDownAndDtypeCast) {
  // A custom function returning a gradient of an expanded shape is reduced to the input shape.
  struct Widen : ag::Function<Widen> {
    static Tensor forward(AutogradContext*, Tensor x) { return x.clone(); }
    static variable_list backward(AutogradContext*, variable_list g) {
      return {g[0].expand({3, 2}).to(kFloat32)};
    }
  };
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  SumAll::apply(Widen::apply(x)).backward();
  expect_values(x.grad(), {3, 3});
  EXPECT_EQ(x.grad().dtype(), kFloat64);
}

TEST(Engine, AnomalyModeNamesNodeAndForwardTrace) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  {
    Tensor y = SumAll::apply(NanGrad::apply(x));
    y.backward();  // not in anomaly mode: NaNs pass silently
  }
  ag::DetectAnomalyGuard guard;
  Tensor y = SumAll::apply(NanGrad::apply(x));
  try {
    y.backward();
    ADD_FAILURE() << "expected a NaN error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("NanGrad' returned nan values in its 0th output."), std::string::npos) << msg;
    EXPECT_NE(msg.find("Forward call that created (anonymous namespace)::NanGrad (anomaly mode)"), std::string::npos) << msg;
  }
  // errors raised inside a node name it in anomaly mode
  Tensor z = SumAll::apply(BadShape::apply(x));
  EXPECT_THROW_MSG(z.backward(), "while running (anonymous namespace)::BadShape");
}

TEST(Engine, CheckpointRecomputesAndMatches) {
  int calls = 0;
  auto segment = [&calls](const variable_list& in) {
    ++calls;
    return variable_list{Exp::apply(Mul::apply(in[0], in[1]))};
  };
  Tensor a = make({0.1, 0.2, 0.3}, {3}, kFloat64, true);
  Tensor b = make({1.0, -1.0, 2.0}, {3}, kFloat64, true);
  SumAll::apply(segment({a, b})[0]).backward();
  std::vector<double> ga = values(a.grad()), gb = values(b.grad());
  a.set_grad(Tensor());
  b.set_grad(Tensor());
  calls = 0;
  Tensor out = ag::checkpoint(segment, {a, b})[0];
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(out.grad_fn()->name(), "CheckpointFunctionBackward");
  SumAll::apply(out).backward();
  EXPECT_EQ(calls, 2);  // re-run in backward
  expect_values(a.grad(), ga);
  expect_values(b.grad(), gb);
  // a parameter captured by the segment (not an input) gets its gradient from the inner backward
  Tensor w = make({2, 3, 4}, {3}, kFloat64, true);
  Tensor o2 = ag::checkpoint([&w](const Tensor& t) { return Mul::apply(t, w); }, a);
  SumAll::apply(o2).backward();
  expect_values(w.grad(), values(a));
}

TEST(Engine, GradcheckViewsAndJoins) {
  Tensor x = ag::gradcheck_input({3, 4}, 1);
  Tensor y = ag::gradcheck_input({2, 4}, 2);
  // w gives the sum a non-uniform weighting so that permutation mistakes show up
  auto weighted = [](const Tensor& t) {
    std::vector<double> wv(size_t(t.numel()));
    for (size_t i = 0; i < wv.size(); ++i) wv[i] = double(i) + 1;
    return Mul::apply(t.contiguous(), make(wv, t.sizes()));
  };
  auto check = [&](const char* what, ag::GradcheckFn fn, variable_list in) {
    SCOPED_TRACE(what);
    EXPECT_TRUE(ag::gradcheck(fn, in));
  };
  check("transpose", [&](const variable_list& v) { return variable_list{weighted(v[0].transpose(0, 1))}; }, {x});
  check("permute", [&](const variable_list& v) { return variable_list{weighted(v[0].unsqueeze(1).permute({2, 0, 1}))}; }, {x});
  check("view/reshape", [&](const variable_list& v) { return variable_list{weighted(v[0].t().reshape({2, 6}))}; }, {x});
  check("slice", [&](const variable_list& v) { return variable_list{weighted(v[0].slice(1, 1, 4, 2))}; }, {x});
  check("narrow/select", [&](const variable_list& v) { return variable_list{weighted(v[0].narrow(0, 1, 2).select(1, -1))}; }, {x});
  check("expand", [&](const variable_list& v) { return variable_list{weighted(v[0].slice(0, 0, 1).expand({5, 4}))}; }, {x});
  check("squeeze/flatten", [&](const variable_list& v) { return variable_list{weighted(v[0].unsqueeze(0).flatten().unflatten(0, {4, 3}).squeeze())}; }, {x});
  check("split/chunk", [&](const variable_list& v) {
    auto parts = v[0].split(3, 1);
    auto chunks = v[0].chunk(3, 0);
    return variable_list{weighted(parts[1]), weighted(chunks[2]), weighted(parts[0])};
  }, {x});
  check("cat/stack", [&](const variable_list& v) {
    return variable_list{weighted(cat({v[0], v[1]}, 0)), weighted(stack({v[0].narrow(0, 0, 2), v[1]}, 1))};
  }, {x, y});
  check("clone/contiguous", [&](const variable_list& v) {
    return variable_list{weighted(v[0].t().contiguous().clone())};
  }, {x});
  {
    // through float32: a coarser step and tolerance
    ag::GradcheckOptions o;
    o.eps = 1e-3;
    o.atol = 1e-3;
    EXPECT_TRUE(ag::gradcheck([&](const variable_list& v) {
      return variable_list{weighted(v[0].to(kFloat32).to(kFloat64))};
    }, {x}, o));
  }
  // non-contiguous inputs
  Tensor xt = ag::gradcheck_input({4, 3}, 3, -1, 1, false).t();
  xt.requires_grad_(true);
  check("non-contiguous input", [&](const variable_list& v) { return variable_list{weighted(v[0].reshape({12}))}; }, {xt});
}

TEST(Engine, GradcheckCatchesAWrongFormula) {
  struct WrongExp : ag::Function<WrongExp> {
    static Tensor forward(AutogradContext*, Tensor x) { return map(x, [](double v) { return std::exp(v); }); }
    static variable_list backward(AutogradContext*, variable_list g) { return {g[0]}; }
  };
  Tensor x = ag::gradcheck_input({3}, 4);
  ag::GradcheckOptions o;
  o.raise_exception = false;
  EXPECT_FALSE(ag::gradcheck([](const variable_list& v) { return variable_list{WrongExp::apply(v[0])}; }, {x}, o));
  EXPECT_THROW_MSG(ag::gradcheck([](const variable_list& v) { return variable_list{WrongExp::apply(v[0])}; }, {x}),
                   "Jacobian mismatch for output 0 with respect to input 0");
  EXPECT_TRUE(ag::gradcheck([](const variable_list& v) { return variable_list{Exp::apply(v[0])}; }, {x}));
  Tensor f32 = make({1}, {1}, kFloat32, true);
  EXPECT_THROW_MSG(ag::gradcheck([](const variable_list& v) { return v; }, {f32}), "needs float64");
  Tensor e = make({1, 2}, {1, 2}, kFloat64).expand({3, 2});
  e.requires_grad_(true);
  EXPECT_THROW_MSG(ag::gradcheck([](const variable_list& v) { return v; }, {e}), "stride 0");
}
