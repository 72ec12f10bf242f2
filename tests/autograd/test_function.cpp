// Custom autograd Functions (LibTorch's torch::autograd::Function): saved tensors and saved_data,
// non-tensor arguments, variable_list arguments and outputs, mark_non_differentiable,
// set_materialize_grads, needs_input_grad, mark_dirty, and the checks on backward's result.
#include "test_util.h"

using namespace tessera;
using namespace tt;
namespace ag = tessera::autograd;

namespace {

// Returns (x * c, argmax-like int64 index) with the index marked non-differentiable.
struct WithIndex : ag::Function<WithIndex> {
  static variable_list forward(AutogradContext* ctx, Tensor x, int64_t c) {
    ctx->saved_data["c"] = c;
    Tensor idx = make({1}, {1}, kInt64);
    Tensor y = map(x, [c](double v) { return v * double(c); });
    Tensor y2 = y.clone();
    ctx->mark_non_differentiable({idx, y2});
    return {y, idx, y2};
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    double c = double(ctx->saved_data["c"].toInt());
    EXPECT_EQ(g.size(), 3u);
    return {map(g[0], [c](double v) { return v * c; }), Tensor()};
  }
};

// out0 = a, out1 = b; records whether backward saw undefined gradients.
struct TwoOut : ag::Function<TwoOut> {
  static bool saw_undefined;
  static variable_list forward(AutogradContext* ctx, Tensor a, Tensor b, bool materialize) {
    ctx->set_materialize_grads(materialize);
    return {a.clone(), b.clone()};
  }
  static variable_list backward(AutogradContext*, variable_list g) {
    saw_undefined = !g[1].defined();
    return {g[0], g[1].defined() ? g[1] : Tensor(), Tensor()};
  }
};
bool TwoOut::saw_undefined = false;

// Sums a list of tensors (a std::vector<Tensor> argument counts one input per element).
struct SumList : ag::Function<SumList> {
  static Tensor forward(AutogradContext* ctx, std::vector<Tensor> xs, double scale) {
    ctx->saved_data["n"] = int64_t(xs.size());
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["needs"] = std::vector<int64_t>{ctx->needs_input_grad(0), ctx->needs_input_grad(1)};
    Tensor acc = xs[0].clone();
    for (size_t i = 1; i < xs.size(); ++i) acc = zip(acc, xs[i], [](double a, double b) { return a + b; });
    return map(acc, [scale](double v) { return v * scale; });
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    int64_t n = ctx->saved_data["n"].toInt();
    double s = ctx->saved_data["scale"].toDouble();
    variable_list out;
    for (int64_t i = 0; i < n; ++i)
      out.push_back(ctx->needs_input_grad(size_t(i)) ? map(g[0], [s](double v) { return v * s; }) : Tensor());
    out.push_back(Tensor());
    return out;
  }
};

struct TooFew : ag::Function<TooFew> {
  static Tensor forward(AutogradContext*, Tensor a, Tensor b) { return zip(a, b, [](double x, double y) { return x + y; }); }
  static variable_list backward(AutogradContext*, variable_list g) { return {g[0]}; }
};
struct GradForNonTensor : ag::Function<GradForNonTensor> {
  static Tensor forward(AutogradContext*, Tensor a, double) { return a.clone(); }
  static variable_list backward(AutogradContext*, variable_list g) { return {g[0], g[0]}; }
};

// In-place: x *= 2 on the input, marked dirty.
struct DoubleInPlace : ag::Function<DoubleInPlace> {
  static Tensor forward(AutogradContext* ctx, Tensor x) {
    raw::copy_(x, map(x, [](double v) { return 2 * v; }));
    ctx->mark_dirty({x});
    return x;
  }
  static variable_list backward(AutogradContext*, variable_list g) {
    return {map(g[0], [](double v) { return 2 * v; })};
  }
};

}  // namespace

TEST(CustomFunction, SavedDataAndNonTensorArguments) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  Tensor y = Scale::apply(x, 2.5);
  EXPECT_EQ(y.grad_fn()->name(), "tt::Scale");
  EXPECT_EQ(y.grad_fn()->next_edges().size(), 1u);  // one edge per tensor argument
  SumAll::apply(y).backward();
  expect_values(x.grad(), {2.5, 2.5});
}

TEST(CustomFunction, NonDifferentiableOutputs) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  auto outs = WithIndex::apply(x, int64_t(3));
  EXPECT_TRUE(outs[0].requires_grad());
  EXPECT_FALSE(outs[1].requires_grad());
  EXPECT_FALSE(outs[2].requires_grad());
  SumAll::apply(outs[0]).backward();
  expect_values(x.grad(), {3, 3});
}

TEST(CustomFunction, MaterializeGrads) {
  Tensor a = make({1, 2}, {2}, kFloat64, true);
  Tensor b = make({3, 4}, {2}, kFloat64, true);
  auto outs = TwoOut::apply(a, b, true);
  SumAll::apply(outs[0]).backward();
  EXPECT_FALSE(TwoOut::saw_undefined);  // zeros were materialized for the unused output
  expect_values(a.grad(), {1, 1});
  ASSERT_TRUE(b.grad().defined());
  expect_values(b.grad(), {0, 0});
  auto outs2 = TwoOut::apply(a, b, false);
  SumAll::apply(outs2[0]).backward();
  EXPECT_TRUE(TwoOut::saw_undefined);
}

TEST(CustomFunction, VectorArgumentsAndNeedsInputGrad) {
  Tensor a = make({1, 2}, {2}, kFloat64, true);
  Tensor b = make({3, 4}, {2}, kFloat64, false);
  Tensor y = SumList::apply(std::vector<Tensor>{a, b}, 2.0);
  EXPECT_EQ(y.grad_fn()->next_edges().size(), 2u);
  SumAll::apply(y).backward();
  expect_values(a.grad(), {2, 2});
  EXPECT_FALSE(b.grad().defined());
}

TEST(CustomFunction, BackwardResultChecks) {
  Tensor a = make({1, 2}, {2}, kFloat64, true);
  EXPECT_THROW_MSG(SumAll::apply(TooFew::apply(a, a)).backward(),
                   "function (anonymous namespace)::TooFew returned an incorrect number of gradients (expected 2, got 1)");
  EXPECT_THROW_MSG(SumAll::apply(GradForNonTensor::apply(a, 1.0)).backward(),
                   "returned a gradient different than None at position 2");
}

TEST(CustomFunction, NoGraphWhenNothingRequiresGrad) {
  Tensor a = make({1, 2}, {2});
  Tensor y = Scale::apply(a, 2.0);
  EXPECT_FALSE(y.requires_grad());
  expect_values(y, {2, 4});
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  NoGradGuard ng;
  EXPECT_FALSE(Scale::apply(x, 2.0).requires_grad());
}

TEST(CustomFunction, ReturnedInputIsANewHandle) {
  struct Identity : ag::Function<Identity> {
    static Tensor forward(AutogradContext*, Tensor x) { return x; }
    static variable_list backward(AutogradContext*, variable_list g) { return {g[0]}; }
  };
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  Tensor y = Identity::apply(x);
  EXPECT_FALSE(y.is_same(x));
  EXPECT_TRUE(x.is_leaf());  // the input keeps its own history
  EXPECT_FALSE(y.is_leaf());
  SumAll::apply(y).backward();
  expect_values(x.grad(), {1, 1});
}

TEST(CustomFunction, MarkDirtyRebasesHistory) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  Tensor h = Scale::apply(x, 3.0);
  uint32_t v0 = h._version();
  Tensor out = DoubleInPlace::apply(h);
  EXPECT_TRUE(out.is_same(h));
  EXPECT_GT(h._version(), v0);
  EXPECT_EQ(h.grad_fn()->name(), "(anonymous namespace)::DoubleInPlace");
  expect_values(h, {6, 12});
  SumAll::apply(h).backward();
  expect_values(x.grad(), {6, 6});
  Tensor leaf = make({1}, {1}, kFloat64, true);
  EXPECT_THROW_MSG(DoubleInPlace::apply(leaf), "a leaf Variable that requires grad is being used in an in-place operation.");
}

TEST(CustomFunction, IValueAccessors) {
  ag::IValue i(int64_t(3)), d(2.5), s("name"), l(std::vector<int64_t>{1, 2});
  EXPECT_TRUE(i.isInt());
  EXPECT_EQ(i.toInt(), 3);
  EXPECT_EQ(i.toDouble(), 3.0);
  EXPECT_EQ(d.toDouble(), 2.5);
  EXPECT_EQ(s.toStringRef(), "name");
  EXPECT_EQ(l.toIntVector(), (std::vector<int64_t>{1, 2}));
  EXPECT_THROW_MSG(s.toInt(), "IValue: expected int but the value holds string");
  EXPECT_TRUE(ag::IValue().isNone());
}
