// In-place ops and autograd: leaf checks, saved-tensor version checks with PyTorch's message,
// history rebase of non-leaves, in-place writes through views (CopySlices) and views whose base
// changed later (regenerated grad_fn).
#include "test_util.h"

using namespace tessera;
using namespace tt;
namespace ag = tessera::autograd;

TEST(Inplace, LeafRequiringGradIsRejected) {
  Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64, true);
  EXPECT_THROW_MSG(x.fill_(0), "a leaf Variable that requires grad is being used in an in-place operation.");
  EXPECT_THROW_MSG(x.copy_(make({1, 2, 3}, {3})), "a leaf Variable that requires grad is being used in an in-place");
  EXPECT_THROW_MSG(x.select(0, 1).zero_(),
                   "a view of a leaf Variable that requires grad is being used in an in-place operation.");
  {
    NoGradGuard ng;  // allowed without grad mode (optimizer updates)
    x.select(0, 0).fill_(7);
  }
  expect_values(x, {7, 7, 7, 4, 5, 6});
}

TEST(Inplace, ModifiedSavedTensorFailsAtBackward) {
  Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64, true);
  Tensor y = Exp::apply(x);  // saves its output
  uint32_t v = y._version();
  y.fill_(1);
  EXPECT_EQ(y._version(), v + 1);
  std::string want = fmt::format(
      "one of the variables needed for gradient computation has been modified by an inplace operation: "
      "[tessera float64 [2, 3]], which is output 0 of tt::Exp, is at version {}; expected version {} instead. Hint:",
      v + 1, v);
  EXPECT_THROW_MSG(SumAll::apply(y).backward(), want);
}

TEST(Inplace, ModifiedSavedInputNamesItsCurrentGradFn) {
  Tensor a = make({1, 2, 3}, {3}, kFloat64, true);
  Tensor b = make({4, 5, 6}, {3}, kFloat64, true);
  Tensor h = Scale::apply(a, 1.0);
  Tensor y = Mul::apply(h, b);  // saves h (an input)
  h.copy_(make({0, 0, 0}, {3}));
  EXPECT_THROW_MSG(SumAll::apply(y).backward(), "which is output 0 of Copy, is at version");
  // a leaf saved and then changed under no_grad
  Tensor y2 = Mul::apply(a, b);
  {
    NoGradGuard ng;
    b.fill_(1);
  }
  EXPECT_THROW_MSG(SumAll::apply(y2).backward(), "[tessera float64 [3]] is at version 1; expected version 0 instead.");
}

TEST(Inplace, NonLeafRebase) {
  // h = 3a; h.copy_(2b) ; y = sum(h * c) -> da = 0, db = 2c
  Tensor a = make({1, 2}, {2}, kFloat64, true);
  Tensor b = make({3, 4}, {2}, kFloat64, true);
  Tensor c = make({5, 6}, {2});
  Tensor h = Scale::apply(a, 3.0);
  h.copy_(Scale::apply(b, 2.0));
  EXPECT_EQ(h.grad_fn()->name(), "CopyBackward0");
  SumAll::apply(Mul::apply(h, c)).backward();
  expect_values(a.grad(), {0, 0});
  expect_values(b.grad(), {10, 12});
}

TEST(Inplace, CopyIntoPlainTensorMakesItRequireGrad) {
  Tensor b = make({3, 4}, {2}, kFloat64, true);
  Tensor buf = make({0, 0, 0, 0}, {4});
  buf.narrow(0, 1, 2).copy_(b);  // written through a view: buf's history is rebased
  EXPECT_TRUE(buf.requires_grad());
  EXPECT_EQ(buf.grad_fn()->name(), "CopySlices");
  expect_values(buf, {0, 3, 4, 0});
  SumAll::apply(Mul::apply(buf, make({1, 2, 3, 4}, {4}))).backward();
  expect_values(b.grad(), {2, 3});
}

TEST(Inplace, WriteThroughViewOfNonLeaf) {
  // base = 2a (4 elements); base[1:3] = b (via copy_ on a view); y = sum(base * w)
  Tensor a = make({1, 2, 3, 4}, {4}, kFloat64, true);
  Tensor b = make({7, 8}, {2}, kFloat64, true);
  Tensor w = make({1, 10, 100, 1000}, {4});
  Tensor base = Scale::apply(a, 2.0);
  Tensor v = base.narrow(0, 1, 2);
  v.copy_(b);
  EXPECT_EQ(base.grad_fn()->name(), "CopySlices");
  EXPECT_EQ(v.grad_fn()->name(), "AsStridedBackward0");
  expect_values(base, {2, 7, 8, 8});
  SumAll::apply(Mul::apply(base, w)).backward();
  expect_values(a.grad(), {2, 0, 0, 2000});
  expect_values(b.grad(), {10, 100});
}

TEST(Inplace, ViewUsedAfterBaseChangedSeesNewHistory) {
  // v = base[0]; base.copy_(3b); y = sum(v) -> gradient goes to b, not a
  Tensor a = make({1, 2}, {1, 2}, kFloat64, true);
  Tensor b = make({5, 6}, {1, 2}, kFloat64, true);
  Tensor base = Scale::apply(a, 1.0);
  Tensor v = base.select(0, 0);
  EXPECT_EQ(v.grad_fn()->name(), "SelectBackward0");
  base.copy_(Scale::apply(b, 3.0));
  EXPECT_EQ(v.grad_fn()->name(), "AsStridedBackward0");
  SumAll::apply(v).backward();
  expect_values(b.grad(), {3, 3});
  expect_values(a.grad(), {0, 0});
}

TEST(Inplace, TwoViewsOneWrite) {
  // v1 = base[0:2], v2 = base[1:3]; v1 written; y = sum(v2 * w)
  Tensor a = make({1, 2, 3}, {3}, kFloat64, true);
  Tensor b = make({4, 5}, {2}, kFloat64, true);
  Tensor base = Scale::apply(a, 1.0);
  Tensor v1 = base.narrow(0, 0, 2), v2 = base.narrow(0, 1, 2);
  v1.copy_(b);
  SumAll::apply(Mul::apply(v2, make({10, 100}, {2}))).backward();
  expect_values(b.grad(), {0, 10});   // base[1] = b[1] feeds v2[0]
  expect_values(a.grad(), {0, 0, 100});
}

TEST(Inplace, ExpandedViewCannotBeWrittenWithGrad) {
  Tensor a = make({1, 2}, {2}, kFloat64, true);
  Tensor h = Scale::apply(a, 1.0);
  Tensor e = h.expand({3, 2});
  EXPECT_THROW_MSG(e.fill_(0), "more than one element of the written-to tensor refers to a single memory location");
}

TEST(Inplace, HooksBeforeInplaceSeeOldValueGradient) {
  Tensor a = make({1, 2}, {2}, kFloat64, true);
  Tensor h = Scale::apply(a, 2.0);
  std::vector<double> seen_old, seen_new;
  h.register_hook([&](const Tensor& g) { seen_old = values(g); });
  h.retain_grad();
  Tensor h_in = h;
  struct Triple : ag::Function<Triple> {
    static Tensor forward(AutogradContext* ctx, Tensor x) {
      raw::copy_(x, map(x, [](double v) { return 3 * v; }));
      ctx->mark_dirty({x});
      return x;
    }
    static variable_list backward(AutogradContext*, variable_list g) { return {map(g[0], [](double v) { return 3 * v; })}; }
  };
  Triple::apply(h_in);
  h.register_hook([&](const Tensor& g) { seen_new = values(g); });
  SumAll::apply(Scale::apply(h, 5.0)).backward();
  EXPECT_EQ(seen_new, (std::vector<double>{5, 5}));
  EXPECT_EQ(seen_old, (std::vector<double>{15, 15}));
  expect_values(h.grad(), {5, 5});  // retain_grad follows the tensor to its new grad_fn
  expect_values(a.grad(), {30, 30});
}
