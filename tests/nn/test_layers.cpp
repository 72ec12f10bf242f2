// nn layers and functional ops: containers, Linear, Embedding, LayerNorm/RMSNorm, Dropout, MLP,
// rotary embeddings and masked attention; float64 gradchecks, host-loop references, non-contiguous
// inputs, dtypes and error messages.
#include "nn_test_util.h"

using namespace tessera;
using namespace nnt;
namespace F = tessera::nn::functional;
namespace ag = tessera::autograd;
using ag::variable_list;

namespace {

// Host reference: y[r, o] = sum_i x[r, i] w[o, i] + b[o] (x viewed as [rows, in]).
std::vector<double> ref_linear(const Tensor& x, const Tensor& w, const Tensor& b) {
  auto xv = values(x), wv = values(w);
  std::vector<double> bv = b.defined() ? values(b) : std::vector<double>();
  const int64_t in = w.size(1), out = w.size(0), rows = x.numel() / in;
  std::vector<double> y(size_t(rows * out));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = bv.empty() ? 0.0 : bv[size_t(o)];
      for (int64_t i = 0; i < in; ++i) s += xv[size_t(r * in + i)] * wv[size_t(o * in + i)];
      y[size_t(r * out + o)] = s;
    }
  return y;
}

ag::GradcheckOptions gc_opts() {
  ag::GradcheckOptions o;
  o.atol = 1e-6;
  o.rtol = 1e-4;
  return o;
}

}  // namespace

// ---- containers ----

TEST(Containers, ModuleListNamesAndAt) {
  auto list = std::make_shared<nn::ModuleList>();
  list->push_back(std::make_shared<nn::Linear>(2, 3));
  list->push_back(std::make_shared<nn::LayerNorm>(3));
  EXPECT_EQ(list->size(), 2);
  auto names = list->named_parameters();
  ASSERT_EQ(names.size(), 4u);
  EXPECT_EQ(names[0].first, "0.weight");
  EXPECT_EQ(names[3].first, "1.bias");
  EXPECT_EQ(list->at<nn::Linear>(0)->out_features, 3);
  EXPECT_EQ(list->at<nn::LayerNorm>(-1)->dim, 3);
  EXPECT_THROW_WITH(list->at<nn::Linear>(1), ValueError, "LayerNorm");
  EXPECT_THROW_WITH((*list)[2], IndexError, "index 2 is out of range");
  EXPECT_THROW_WITH(list->push_back(nullptr), ValueError, "null");
}

TEST(Containers, SequentialRunsInOrder) {
  manual_seed(1);
  auto l1 = std::make_shared<nn::Linear>(4, 6), l2 = std::make_shared<nn::Linear>(6, 2);
  auto seq = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{l1, l2});
  Tensor x = randn({3, 4});
  expect_close(seq->forward(x), l2->forward(l1->forward(x)), 0.0);
  EXPECT_EQ(seq->named_parameters()[2].first, "1.weight");
  // A child that is not a UnaryModule is reported by name.
  seq->push_back(std::make_shared<nn::MultiheadSelfAttention>(nn::AttentionOptions{.d_model = 2, .n_heads = 1}));
  EXPECT_THROW_WITH(seq->forward(x), ValueError, "child '2' is a MultiheadSelfAttention");
}

// ---- Linear ----

TEST(Linear, MatchesHostReferenceForEveryLayout) {
  manual_seed(2);
  Tensor w = randn({5, 7}, kFloat64), b = randn({5}, kFloat64);
  Tensor base = randn({3, 7, 4}, kFloat64);
  // Contiguous, transposed (non-contiguous rows), sliced with a step, expanded batch dim.
  std::vector<Tensor> xs = {randn({2, 3, 7}, kFloat64), base.transpose(1, 2), randn({4, 14}, kFloat64).slice(1, 0, 14, 2),
                            randn({1, 2, 7}, kFloat64).expand({3, 2, 7}), randn({7}, kFloat64)};
  for (const auto& x : xs) {
    SCOPED_TRACE(shape_str(x.sizes()));
    Tensor y = F::linear(x, w, b);
    Shape want_shape = x.sizes().vec();
    want_shape.back() = 5;
    EXPECT_EQ(y.sizes().vec(), want_shape);
    expect_close(y, make(ref_linear(x, w, b), y.sizes()), 1e-12);
    expect_close(F::linear(x, w), make(ref_linear(x, w, {}), y.sizes()), 1e-12);
  }
}

TEST(Linear, DtypesFloat32AndBFloat16) {
  manual_seed(3);
  auto m = std::make_shared<nn::Linear>(16, 8);
  Tensor x = randn({4, 16});
  Tensor want = make(ref_linear(x, m->weight, m->bias), {4, 8});
  expect_close(m->forward(x), want, 1e-5);
  m->to(kBFloat16);
  Tensor y = m->forward(x.to(kBFloat16));
  EXPECT_EQ(y.dtype(), kBFloat16);
  expect_close(y, want, 0.1);  // bf16 inputs and weights: ~3 significant digits
}

TEST(Linear, Gradcheck) {
  Tensor x = ag::gradcheck_input({2, 3, 4}, 1), w = ag::gradcheck_input({5, 4}, 2), b = ag::gradcheck_input({5}, 3);
  EXPECT_TRUE(ag::gradcheck([](const variable_list& v) { return variable_list{F::linear(v[0], v[1], v[2])}; },
                            {x, w, b}, gc_opts()));
  EXPECT_TRUE(ag::gradcheck([](const variable_list& v) { return variable_list{F::linear(v[0].transpose(0, 1), v[1])}; },
                            {ag::gradcheck_input({4, 3}, 4), w}, gc_opts()));
}

TEST(Linear, DefaultInitBoundsAndNames) {
  manual_seed(4);
  auto m = std::make_shared<nn::Linear>(25, 40);
  const double bound = 1.0 / 5.0;  // kaiming_uniform_(a = sqrt(5)) on fan_in 25 = 1/sqrt(25)
  double wmax = 0, bmax = 0;
  for (double v : values(m->weight)) wmax = std::max(wmax, std::abs(v));
  for (double v : values(m->bias)) bmax = std::max(bmax, std::abs(v));
  EXPECT_LE(wmax, bound);
  EXPECT_GT(wmax, 0.9 * bound);  // 1000 draws: the extremes come close to the bound
  EXPECT_LE(bmax, bound);
  EXPECT_EQ(m->named_parameters().size(), 2u);
  EXPECT_EQ(std::make_shared<nn::Linear>(3, 2, false)->named_parameters().size(), 1u);
  EXPECT_NE(nn::to_string(*m).find("in_features=25, out_features=40, bias=true"), std::string::npos);
}

TEST(Linear, Errors) {
  auto m = std::make_shared<nn::Linear>(4, 3);
  EXPECT_THROW_WITH(m->forward(zeros({2, 5})), ShapeError, "linear: input [2, 5] has 5 features");
  EXPECT_THROW_WITH(m->forward(zeros({2, 4}, kFloat64)), DTypeError, "linear: input dtype float64 differs");
  EXPECT_THROW_WITH(F::linear(zeros({2, 4}), zeros({4})), ShapeError, "2-D weight");
  EXPECT_THROW_WITH(F::linear(zeros({2, 4}), zeros({3, 4}), zeros({4})), ShapeError, "bias of shape [3]");
  EXPECT_THROW_WITH(nn::Linear(-1, 2), ValueError, "Linear: in_features (-1)");
}

// ---- Embedding ----

TEST(Embedding, LooksUpRowsAndAccumulatesGradients) {
  manual_seed(5);
  auto e = std::make_shared<nn::Embedding>(10, 4);
  Tensor ids = tensor<int64_t>({3, 7, 3, 0}).view({2, 2});
  Tensor y = e->forward(ids);
  EXPECT_EQ(y.sizes().vec(), (Shape{2, 2, 4}));
  expect_close(y[0][1], e->weight[7], 0.0);
  y.sum().backward();
  auto g = values(e->weight.grad());
  EXPECT_EQ(g[3 * 4], 2.0);  // id 3 used twice
  EXPECT_EQ(g[7 * 4], 1.0);
  EXPECT_EQ(g[1 * 4], 0.0);
  EXPECT_THROW_WITH(e->forward(tensor<float>({1.f})), DTypeError, "Embedding.forward: expected int64");
  EXPECT_THROW(e->forward(tensor<int64_t>({10})), IndexError);
}

// ---- norms ----

TEST(Norms, LayerNormAndRMSNormMatchHostReference) {
  manual_seed(6);
  auto ln = std::make_shared<nn::LayerNorm>(6);
  auto rms = std::make_shared<nn::RMSNorm>(6);
  ln->to(kFloat64);
  rms->to(kFloat64);
  {
    NoGradGuard g;
    ln->weight.copy_(randn({6}, kFloat64));
    ln->bias.copy_(randn({6}, kFloat64));
    rms->weight.copy_(randn({6}, kFloat64));
  }
  Tensor x = randn({6, 4}, kFloat64).t();  // [4, 6], non-contiguous
  auto xv = values(x), w = values(ln->weight), b = values(ln->bias), rw = values(rms->weight);
  std::vector<double> want_ln, want_rms;
  for (int r = 0; r < 4; ++r) {
    double mean = 0, var = 0, ms = 0;
    for (int i = 0; i < 6; ++i) mean += xv[r * 6 + i] / 6;
    for (int i = 0; i < 6; ++i) var += (xv[r * 6 + i] - mean) * (xv[r * 6 + i] - mean) / 6;
    for (int i = 0; i < 6; ++i) ms += xv[r * 6 + i] * xv[r * 6 + i] / 6;
    for (int i = 0; i < 6; ++i) want_ln.push_back((xv[r * 6 + i] - mean) / std::sqrt(var + 1e-5) * w[i] + b[i]);
    for (int i = 0; i < 6; ++i) want_rms.push_back(xv[r * 6 + i] / std::sqrt(ms + 1e-6) * rw[i]);
  }
  expect_close(ln->forward(x), make(want_ln, {4, 6}), 1e-12);
  expect_close(rms->forward(x), make(want_rms, {4, 6}), 1e-12);
  EXPECT_EQ(std::make_shared<nn::LayerNorm>(6, 1e-5, false)->named_parameters().size(), 1u);
  EXPECT_THROW_WITH(ln->forward(zeros({2, 5}, kFloat64)), ShapeError, "LayerNorm.forward: expected input [..., 6]");
  EXPECT_THROW_WITH(rms->forward(zeros({5}, kFloat64)), ShapeError, "RMSNorm.forward");
}

// ---- dropout ----

TEST(Dropout, UsesThePhiloxMaskAndScales) {
  Tensor x = randn({64, 33});
  manual_seed(7);
  Tensor keep = raw::dropout_mask({64, 33}, 0.25, Device::cpu());
  manual_seed(7);
  Tensor y = F::dropout(x, 0.25, true);
  auto xv = values(x), yv = values(y), kv = values(keep);
  int kept = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    EXPECT_NEAR(yv[i], kv[i] != 0 ? xv[i] / 0.75 : 0.0, 1e-6) << i;
    kept += kv[i] != 0;
  }
  // 2112 Bernoulli(0.75) draws: the kept fraction is within 5 sigma of 0.75.
  EXPECT_NEAR(kept / 2112.0, 0.75, 5 * std::sqrt(0.75 * 0.25 / 2112));
}

TEST(Dropout, GradientIsTheScaledMaskAndModesWork) {
  manual_seed(8);
  Tensor x = randn({10, 10}, kFloat64).requires_grad_();
  Tensor y = F::dropout(x, 0.5, true);
  y.sum().backward();
  auto g = values(x.grad()), yv = values(y), xv = values(x);
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i] * xv[i], yv[i], 1e-12);  // y = g * x elementwise
  auto d = std::make_shared<nn::Dropout>(0.5);
  d->eval();
  EXPECT_TRUE(d->forward(x).is_same(x));
  EXPECT_TRUE(F::dropout(x, 0.0, true).is_same(x));
  EXPECT_EQ(max_diff(F::dropout(x, 1.0, true), zeros({10, 10}, kFloat64)), 0.0);
  EXPECT_THROW_WITH(F::dropout(x, 1.5, true), ValueError, "dropout: dropout probability has to be between 0 and 1");
  EXPECT_THROW_WITH(nn::Dropout(-0.1), ValueError, "Dropout: dropout probability");
  // Same seed, same mask: dropout is reproducible.
  manual_seed(9);
  Tensor a = F::dropout(x.detach(), 0.3, true);
  manual_seed(9);
  EXPECT_EQ(max_diff(a, F::dropout(x.detach(), 0.3, true)), 0.0);
}

// ---- MLP ----

TEST(MLP, ParameterNamesAndGradcheck) {
  auto plain = std::make_shared<nn::MLP>(nn::MLPOptions{.d_model = 3, .hidden = 5});
  auto gated = std::make_shared<nn::MLP>(
      nn::MLPOptions{.d_model = 3, .hidden = 5, .act = nn::Activation::SiLU, .gated = true, .bias = false});
  std::vector<std::string> pn, gn;
  for (auto& [n, t] : plain->named_parameters()) pn.push_back(n);
  for (auto& [n, t] : gated->named_parameters()) gn.push_back(n);
  EXPECT_EQ(pn, (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
  EXPECT_EQ(gn, (std::vector<std::string>{"gate_proj.weight", "up_proj.weight", "down_proj.weight"}));
  for (auto act : {nn::Activation::GELU, nn::Activation::GELUTanh, nn::Activation::SiLU}) {
    for (bool g : {false, true}) {
      auto m = std::make_shared<nn::MLP>(nn::MLPOptions{.d_model = 3, .hidden = 4, .act = act, .gated = g});
      m->to(kFloat64);
      auto params = m->parameters();
      variable_list inputs = {ag::gradcheck_input({2, 3}, 11)};
      inputs.insert(inputs.end(), params.begin(), params.end());
      EXPECT_TRUE(ag::gradcheck([&](const variable_list& v) { return variable_list{m->forward(v[0])}; }, inputs,
                                gc_opts()))
          << nn::activation_name(act) << " gated=" << g;
    }
  }
  EXPECT_THROW_WITH(nn::MLP(nn::MLPOptions{.d_model = 3}), ValueError, "MLP: d_model (3) and hidden (0)");
}

// ---- rotary embeddings ----

TEST(Rope, HostReferenceOffsetsAndGradcheck) {
  manual_seed(10);
  Tensor x = randn({2, 3, 5, 8}, kFloat64);
  Tensor y = F::apply_rope(x, 4, 100.0);
  // Host reference of the rotate-half formula.
  auto xv = values(x), yv = values(y);
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t s = 0; s < 5; ++s)
      for (int64_t i = 0; i < 8; ++i) {
        const int64_t j = i % 4;
        const double ang = double(4 + s) * std::pow(100.0, -2.0 * double(j) / 8.0);
        const size_t base = size_t((r * 5 + s) * 8);
        const double rot = i < 4 ? -xv[base + i + 4] : xv[base + i - 4];
        EXPECT_NEAR(yv[base + i], xv[base + i] * std::cos(ang) + rot * std::sin(ang), 1e-12);
      }
  // Positions add up: rope over a longer sequence, sliced, equals rope with an offset.
  Tensor longer = randn({1, 2, 9, 8}, kFloat64);
  expect_close(F::apply_rope(longer, 0, 10000.0).narrow(2, 6, 3), F::apply_rope(longer.narrow(2, 6, 3), 6, 10000.0),
               1e-12);
  // q.k after rope depends only on the distance between positions.
  Tensor q = randn({1, 1, 1, 8}, kFloat64), k = randn({1, 1, 1, 8}, kFloat64);
  auto dot = [&](int64_t pq, int64_t pk) {
    return (F::apply_rope(q, pq, 10000.0) * F::apply_rope(k, pk, 10000.0)).sum().item<double>();
  };
  EXPECT_NEAR(dot(3, 1), dot(10, 8), 1e-10);
  // Non-contiguous input, float32.
  Tensor xt = randn({2, 5, 3, 8}).transpose(1, 2);
  expect_close(F::apply_rope(xt, 1, 10000.0), F::apply_rope(xt.contiguous().to(kFloat64), 1, 10000.0), 1e-5);
  EXPECT_TRUE(ag::gradcheck([](const variable_list& v) { return variable_list{F::apply_rope(v[0], 2, 10000.0)}; },
                            {ag::gradcheck_input({1, 2, 3, 4}, 12)}, gc_opts()));
  EXPECT_THROW_WITH(F::apply_rope(zeros({1, 1, 2, 5}), 0), ShapeError, "apply_rope: head_dim must be even");
  EXPECT_THROW_WITH(F::apply_rope(zeros({2, 5}), 0), ShapeError, "apply_rope: expected x of shape [B, H, S, head_dim]");
}

// ---- attention ----

TEST(Attention, MaskedPathMatchesFusedKernel) {
  manual_seed(11);
  Tensor q = randn({2, 4, 5, 8}, kFloat64), k = randn({2, 4, 6, 8}, kFloat64), v = randn({2, 4, 6, 8}, kFloat64);
  // An all-true mask goes through the explicit path and must agree with the fused kernel.
  Tensor all = full({1, 1, 1, 6}, true, kBool);
  expect_close(F::scaled_dot_product_attention(q, k, v, all), scaled_dot_product_attention(q, k, v), 1e-12);
  expect_close(F::scaled_dot_product_attention(q, k, v, all, true), scaled_dot_product_attention(q, k, v, true),
               1e-12);
  // An additive mask of zeros, and a causal bool tril mask, likewise.
  expect_close(F::scaled_dot_product_attention(q, k, v, zeros({5, 6}, kFloat64)), scaled_dot_product_attention(q, k, v),
               1e-12);
  Tensor tril_mask = tril(ones({5, 6})).gt(0.5);
  expect_close(F::scaled_dot_product_attention(q, k, v, tril_mask), scaled_dot_product_attention(q, k, v, true),
               1e-12);
}

TEST(Attention, BoolMaskEqualsLargeNegativeAdditiveMask) {
  manual_seed(12);
  Tensor q = randn({1, 2, 4, 4}, kFloat64), k = randn({1, 2, 4, 4}, kFloat64), v = randn({1, 2, 4, 4}, kFloat64);
  Tensor allowed = tensor<bool>({true, false, true, true}).view({1, 1, 1, 4});
  Tensor additive = tensor<double>({0.0, -1e9, 0.0, 0.0}).view({1, 1, 1, 4});
  expect_close(F::scaled_dot_product_attention(q, k, v, allowed), F::scaled_dot_product_attention(q, k, v, additive),
               1e-12);
  // The masked key's value never matters.
  Tensor v2 = v.clone();
  {
    NoGradGuard g;
    v2.narrow(2, 1, 1).fill_(100.0);
  }
  expect_close(F::scaled_dot_product_attention(q, k, v2, allowed), F::scaled_dot_product_attention(q, k, v, allowed),
               1e-12);
}

TEST(Attention, FullyMaskedRowsGiveZerosNotNaN) {
  manual_seed(13);
  Tensor q = randn({1, 1, 3, 4}, kFloat64).requires_grad_(), k = randn({1, 1, 3, 4}, kFloat64).requires_grad_();
  Tensor v = randn({1, 1, 3, 4}, kFloat64).requires_grad_();
  // Left padding (key 0 is padding) with causality: query 0 sees no key at all.
  Tensor allowed = tensor<bool>({false, true, true}).view({1, 1, 1, 3});
  Tensor out = F::scaled_dot_product_attention(q, k, v, allowed, /*is_causal=*/true);
  auto o = values(out);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(o[size_t(i)], 0.0);
  EXPECT_TRUE(all_finite(out));
  out.sum().backward();
  EXPECT_TRUE(all_finite(q.grad()) && all_finite(k.grad()) && all_finite(v.grad()));
  EXPECT_EQ(values(q.grad())[0], 0.0);
}

TEST(Attention, GroupedQueryHeadsReadTheirGroup) {
  manual_seed(14);
  Tensor q = randn({2, 6, 3, 4}, kFloat64), k = randn({2, 2, 3, 4}, kFloat64), v = randn({2, 2, 3, 4}, kFloat64);
  // Query heads 0-2 use kv head 0, heads 3-5 kv head 1 (Hugging Face repeat_kv).
  Tensor kr = cat({k.narrow(1, 0, 1).expand({2, 3, 3, 4}), k.narrow(1, 1, 1).expand({2, 3, 3, 4})}, 1);
  Tensor vr = cat({v.narrow(1, 0, 1).expand({2, 3, 3, 4}), v.narrow(1, 1, 1).expand({2, 3, 3, 4})}, 1);
  expect_close(F::scaled_dot_product_attention(q, k, v, {}, true), scaled_dot_product_attention(q, kr, vr, true), 1e-12);
  EXPECT_THROW_WITH(F::scaled_dot_product_attention(q, randn({2, 4, 3, 4}, kFloat64), randn({2, 4, 3, 4}, kFloat64)),
                    ShapeError, "query heads (6) must be a multiple of the key/value heads (4)");
}

TEST(Attention, MaskedGradcheckAndErrors) {
  Tensor allowed = tensor<bool>({true, true, false, true, false, true}).view({2, 1, 1, 3});
  auto fn = [&](const variable_list& v) {
    return variable_list{F::scaled_dot_product_attention(v[0], v[1], v[2], allowed, true)};
  };
  EXPECT_TRUE(ag::gradcheck(fn, {ag::gradcheck_input({2, 2, 3, 4}, 21), ag::gradcheck_input({2, 1, 3, 4}, 22),
                                 ag::gradcheck_input({2, 1, 3, 4}, 23)},
                            gc_opts()));
  Tensor q = zeros({1, 1, 2, 4});
  EXPECT_THROW_WITH(F::scaled_dot_product_attention(q, q, q, zeros({3, 2}, kBool)), ShapeError,
                    "attn_mask [3, 2] does not broadcast");
  EXPECT_THROW_WITH(F::scaled_dot_product_attention(q, q, q, zeros({2, 2}, kInt64)), DTypeError,
                    "attn_mask must be bool");
  EXPECT_THROW_WITH(F::scaled_dot_product_attention(q, q, q, {}, false, 2.0), ValueError, "dropout probability");
}

TEST(Attention, DropoutOnProbabilitiesIsDeterministicPerSeed) {
  manual_seed(15);
  Tensor q = randn({1, 2, 4, 4}), k = randn({1, 2, 4, 4}), v = randn({1, 2, 4, 4});
  manual_seed(99);
  Tensor a = F::scaled_dot_product_attention(q, k, v, {}, true, 0.5);
  manual_seed(99);
  Tensor b = F::scaled_dot_product_attention(q, k, v, {}, true, 0.5);
  EXPECT_EQ(max_diff(a, b), 0.0);
  EXPECT_GT(max_diff(a, F::scaled_dot_product_attention(q, k, v, {}, true)), 1e-3);
}
