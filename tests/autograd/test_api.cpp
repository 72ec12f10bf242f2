// The backward API: requires_grad/is_leaf/grad_fn, Tensor::backward seeds and checks,
// autograd::backward with several outputs, autograd::grad (allow_unused, no .grad side effects),
// accumulation, retain_graph, hooks, retain_grad, detach, grad modes.
#include <thread>

#include "test_util.h"

using namespace tessera;
using namespace tt;
namespace ag = tessera::autograd;

TEST(AutogradApi, LeafFlagsAndGradFnNames) {
  Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64, true);
  EXPECT_TRUE(x.requires_grad());
  EXPECT_TRUE(x.is_leaf());
  EXPECT_EQ(x.grad_fn(), nullptr);
  Tensor t = x.transpose(0, 1);
  EXPECT_FALSE(t.is_leaf());
  ASSERT_NE(t.grad_fn(), nullptr);
  EXPECT_EQ(t.grad_fn()->name(), "TransposeBackward0");
  EXPECT_EQ(x.view({6}).grad_fn()->name(), "ViewBackward0");
  EXPECT_EQ(x.select(0, 1).grad_fn()->name(), "SelectBackward0");
  EXPECT_EQ(Exp::apply(x).grad_fn()->name(), "tt::Exp");
  Tensor plain = make({1, 2}, {2});
  EXPECT_FALSE(plain.requires_grad());
  EXPECT_TRUE(plain.is_leaf());
  EXPECT_FALSE(plain.view({2, 1}).requires_grad());
  EXPECT_THROW_MSG(make({1}, {1}, kInt64).requires_grad_(), "floating point");
  EXPECT_THROW_MSG(t.requires_grad_(false), "you can only change requires_grad flags of leaf variables");
}

TEST(AutogradApi, ScalarBackwardSeedsOne) {
  Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64, true);
  SumAll::apply(x.transpose(0, 1)).backward();
  expect_values(x.grad(), {1, 1, 1, 1, 1, 1});
  EXPECT_EQ(x.grad().sizes(), IntArrayRef({2, 3}));
}

TEST(AutogradApi, NonScalarBackwardNeedsGradient) {
  Tensor x = make({1, 2, 3, 4, 5, 6}, {2, 3}, kFloat64, true);
  Tensor y = Exp::apply(x);
  EXPECT_THROW_MSG(y.backward(), "grad can be implicitly created only for scalar outputs");
  EXPECT_THROW_MSG(y.backward(make({1, 2, 3}, {3})), "Mismatch in shape: grad_output[0] has a shape of [3]");
  EXPECT_THROW_MSG(y.backward(make({1, 2, 3, 4, 5, 6}, {2, 3}, kInt64)), "Mismatch in dtype");
  // A float32 gradient for a float64 output is cast (as in PyTorch).
  Tensor g = make({1, 0, 2, 0, 1, 0}, {2, 3}, kFloat32);
  y.backward(g);
  std::vector<double> xs = values(x), gs = values(g), got = values(x.grad());
  for (size_t i = 0; i < xs.size(); ++i) EXPECT_NEAR(got[i], gs[i] * std::exp(xs[i]), 1e-9);
  EXPECT_EQ(x.grad().dtype(), kFloat64);
}

TEST(AutogradApi, BackwardOfOutputWithoutGraphThrows) {
  Tensor x = make({1, 2}, {2});
  EXPECT_THROW_MSG(SumAll::apply(x).backward(),
                   "element 0 of tensors does not require grad and does not have a grad_fn");
}

TEST(AutogradApi, MultiTensorBackwardSumsVjps) {
  Tensor x = make({1, 2, 3}, {3}, kFloat64, true);
  Tensor y1 = Exp::apply(x);
  Tensor y2 = Scale::apply(x, 3.0);
  ag::backward({y1, y2}, {make({1, 1, 1}, {3}), make({1, 2, 3}, {3})});
  expect_values(x.grad(), {std::exp(1.0) + 3, std::exp(2.0) + 6, std::exp(3.0) + 9}, 1e-9);
  EXPECT_THROW_MSG(ag::backward({Exp::apply(x), Exp::apply(x)}, {make({1, 1, 1}, {3})}), "got 2 tensors and 1 gradients");
}

TEST(AutogradApi, SameTensorTwiceAsRootAndDependentRoots) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  Tensor y = Scale::apply(x, 2.0);
  Tensor z = Scale::apply(y, 5.0);
  // z depends on y: y's node must wait for z's contribution.
  ag::backward({y, z, y}, {make({1, 1}, {2}), make({1, 1}, {2}), make({1, 1}, {2})});
  expect_values(x.grad(), {2 * (1 + 5 + 1), 2 * (1 + 5 + 1)});
}

TEST(AutogradApi, GradDoesNotTouchDotGrad) {
  Tensor x = make({1, 2, 3}, {3}, kFloat64, true);
  Tensor w = make({4, 5, 6}, {3}, kFloat64, true);
  Tensor y = SumAll::apply(Mul::apply(x, w));
  auto g = ag::grad({y}, {x, w});
  expect_values(g[0], {4, 5, 6});
  expect_values(g[1], {1, 2, 3});
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(w.grad().defined());
}

TEST(AutogradApi, GradAllowUnused) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  Tensor unused = make({3}, {1}, kFloat64, true);
  Tensor y = SumAll::apply(Scale::apply(x, 2.0));
  EXPECT_THROW_MSG(ag::grad({y}, {x, unused}, {}, true),
                   "The differentiated Tensor at index 1 appears to not have been used in the graph. Set "
                   "allow_unused=True if this is the desired behavior.");
  auto g = ag::grad({y}, {x, unused}, {}, true, false, /*allow_unused=*/true);
  expect_values(g[0], {2, 2});
  EXPECT_FALSE(g[1].defined());
  Tensor nograd = make({1}, {1});
  EXPECT_THROW_MSG(ag::grad({y}, {nograd}), "One of the differentiated Tensors does not require grad");
}

TEST(AutogradApi, GradOfNonLeafInputAndPartialGraph) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  Tensor h = Scale::apply(x, 3.0);
  Tensor y = SumAll::apply(Exp::apply(h));
  auto g = ag::grad({y}, {h});
  expect_values(g[0], {std::exp(3.0), std::exp(6.0)}, 1e-9);
  EXPECT_FALSE(x.grad().defined());
}

TEST(AutogradApi, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  SumAll::apply(Scale::apply(x, 2.0)).backward();
  SumAll::apply(Scale::apply(x, 3.0)).backward();
  expect_values(x.grad(), {5, 5});
  Tensor y = SumAll::apply(Scale::apply(x, 1.0));
  y.backward({}, /*retain_graph=*/true);
  y.backward();
  expect_values(x.grad(), {7, 7});
}

TEST(AutogradApi, RetainGraphSecondBackwardError) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  Tensor y = SumAll::apply(Exp::apply(x));
  y.backward();
  EXPECT_THROW_MSG(y.backward(), "Trying to backward through the graph a second time (or directly access saved "
                                 "tensors after they have already been freed).");
  Tensor z = SumAll::apply(Exp::apply(x));
  z.backward({}, true);
  z.backward({}, true);  // retained: fine
  z.backward();
  EXPECT_THROW_MSG(z.backward(), "Specify retain_graph=True");
}

TEST(AutogradApi, BackwardInputsRestrictsAccumulation) {
  Tensor a = make({1, 2}, {2}, kFloat64, true);
  Tensor b = make({3, 4}, {2}, kFloat64, true);
  Tensor y = SumAll::apply(Mul::apply(a, b));
  y.backward({}, std::nullopt, false, {a});
  expect_values(a.grad(), {3, 4});
  EXPECT_FALSE(b.grad().defined());
}

TEST(AutogradApi, HooksReplaceGradients) {
  Tensor x = make({1, 2, 3}, {3}, kFloat64, true);
  Tensor h = Scale::apply(x, 2.0);
  std::vector<double> seen;
  h.register_hook([&](const Tensor& g) { seen = values(g); });
  auto handle = h.register_hook([](const Tensor& g) { return map(g, [](double v) { return v * 10; }); });
  SumAll::apply(h).backward();
  expect_values(x.grad(), {20, 20, 20});
  EXPECT_EQ(seen, (std::vector<double>{1, 1, 1}));  // registered first: sees the original gradient
  handle.remove();
  x.set_grad(Tensor());
  Tensor h2 = Scale::apply(x, 2.0);
  auto h2handle = h2.register_hook([](const Tensor& g) { return map(g, [](double v) { return v + 1; }); });
  SumAll::apply(h2).backward();
  expect_values(x.grad(), {4, 4, 4});
}

TEST(AutogradApi, LeafHookAndPostAccumulateHook) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  x.register_hook([](const Tensor& g) { return map(g, [](double v) { return -v; }); });
  int calls = 0;
  std::vector<double> grad_seen;
  auto hh = x.register_post_accumulate_grad_hook([&](const Tensor& t) {
    ++calls;
    grad_seen = values(t.grad());
  });
  SumAll::apply(Scale::apply(x, 3.0)).backward();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(grad_seen, (std::vector<double>{-3, -3}));
  expect_values(x.grad(), {-3, -3});
  hh.remove();
  SumAll::apply(Scale::apply(x, 3.0)).backward();
  EXPECT_EQ(calls, 1);
  expect_values(x.grad(), {-6, -6});
  // grad() also sees leaf hooks.
  auto g = ag::grad({SumAll::apply(Scale::apply(x, 1.0))}, {x});
  expect_values(g[0], {-1, -1});
  Tensor nonleaf = Scale::apply(x, 1.0);
  EXPECT_THROW_MSG(nonleaf.register_post_accumulate_grad_hook([](const Tensor&) {}),
                   "post accumulate grad hooks cannot be registered on non-leaf tensors");
  EXPECT_THROW_MSG(make({1}, {1}).register_hook([](const Tensor&) {}),
                   "cannot register a hook on a tensor that doesn't require gradient");
}

TEST(AutogradApi, RetainGrad) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  Tensor h = Scale::apply(x, 2.0);
  h.retain_grad();
  EXPECT_TRUE(h.retains_grad());
  Tensor y = Scale::apply(h, 3.0);
  SumAll::apply(y).backward();
  expect_values(h.grad(), {3, 3});
  EXPECT_FALSE(y.grad().defined());
  SumAll::apply(Scale::apply(h, 1.0)).backward();  // retained grads accumulate too
  expect_values(h.grad(), {4, 4});
  EXPECT_THROW_MSG(make({1}, {1}).retain_grad(), "can't retain_grad on Tensor that has requires_grad=False");
}

TEST(AutogradApi, DetachSharesDataButNotHistory) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  Tensor h = Scale::apply(x, 2.0);
  Tensor d = h.detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_alias_of(h));
  EXPECT_EQ(d._version(), h._version());
  Tensor h2 = Scale::apply(x, 2.0);
  h2.detach_();
  EXPECT_FALSE(h2.requires_grad());
  EXPECT_TRUE(h2.is_leaf());
  EXPECT_THROW_MSG(x.view({2, 1}).detach_(), "Can't detach views in-place");
}

TEST(AutogradApi, GradModes) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  EXPECT_TRUE(GradMode::is_enabled());
  {
    NoGradGuard ng;
    EXPECT_FALSE(GradMode::is_enabled());
    Tensor v = x.view({2, 1});
    EXPECT_FALSE(v.requires_grad());
    EXPECT_FALSE(Exp::apply(x).requires_grad());
    {
      EnableGradGuard eg;
      EXPECT_TRUE(x.view({2, 1}).requires_grad());
    }
    EXPECT_FALSE(GradMode::is_enabled());
  }
  {
    InferenceMode im;
    EXPECT_TRUE(InferenceMode::is_enabled());
    EXPECT_FALSE(GradMode::is_enabled());
    EXPECT_FALSE(x.view({2}).requires_grad());
  }
  EXPECT_FALSE(InferenceMode::is_enabled());
  EXPECT_TRUE(GradMode::is_enabled());
  // thread-local: disabling here does not affect another thread
  NoGradGuard ng;
  bool other = false;
  std::thread th([&] { other = GradMode::is_enabled() && x.view({2, 1}).requires_grad(); });
  th.join();
  EXPECT_TRUE(other);
  EXPECT_FALSE(x.view({2, 1}).requires_grad());
}

TEST(AutogradApi, NodeIntrospection) {
  Tensor x = make({1, 2}, {2}, kFloat64, true);
  Tensor y = Exp::apply(x.view({2, 1}));
  auto fn = y.grad_fn();
  ASSERT_EQ(fn->next_edges().size(), 1u);
  EXPECT_EQ(fn->next_edge(0).function->name(), "ViewBackward0");
  auto acc = fn->next_edge(0).function->next_edge(0).function;
  EXPECT_EQ(acc->name(), "AccumulateGrad");
  EXPECT_GT(fn->sequence_nr(), fn->next_edge(0).function->sequence_nr());
}
