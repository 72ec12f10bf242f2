// Mixed precision: autocast (output dtypes inside/outside the guard, nesting, per-thread state,
// gradients reaching float32 master weights in float32, bfloat16 matmul close to float32,
// checkpoint recompute under the forward's autocast state) and amp::GradScaler (unscale, the
// skip/grow/backoff sequence with injected inf/NaN gradients, misuse errors, state dict, and a
// float16 autocast training run).
#include <gtest/gtest.h>

#include <tessera/nn/nn.h>
#include <tessera/tessera.h>

#include <cmath>
#include <thread>

using namespace tessera;

namespace {
double max_rel_err(const Tensor& got, const Tensor& want) {
  Tensor g = got.to(kFloat64), w = want.to(kFloat64);
  return ((g - w).abs().max() / w.abs().max()).item<double>();
}
}  // namespace

TEST(Autocast, OutputDtypesInsideAndOutside) {
  manual_seed(1);
  Tensor a = randn({4, 8}), b = randn({8, 3}), x3 = randn({2, 4, 8}), y3 = randn({2, 8, 5});
  Tensor q = randn({1, 2, 4, 8}), k = randn({1, 2, 4, 8}), v = randn({1, 2, 4, 8});
  Tensor w = ones({8}), bias = zeros({8});
  Tensor tgt = tensor<int64_t>({0, 1, 2, 1});
  EXPECT_EQ(matmul(a, b).dtype(), kFloat32);
  EXPECT_FALSE(autocast::is_enabled(kCPU));
  {
    AutocastGuard guard(kCPU);  // bfloat16 by default
    EXPECT_TRUE(autocast::is_enabled(kCPU));
    EXPECT_FALSE(autocast::is_enabled(kCUDA));
    Tensor lowp = matmul(a, b);
    EXPECT_EQ(lowp.dtype(), kBFloat16);
    EXPECT_EQ(a.mm(b).dtype(), kBFloat16);
    EXPECT_EQ(x3.bmm(y3).dtype(), kBFloat16);
    EXPECT_EQ(x3.matmul(y3).dtype(), kBFloat16);
    EXPECT_EQ(scaled_dot_product_attention(q, k, v, true).dtype(), kBFloat16);
    // float32 ops, whatever the input dtype
    EXPECT_EQ(lowp.softmax(-1).dtype(), kFloat32);
    EXPECT_EQ(lowp.log_softmax(-1).dtype(), kFloat32);
    EXPECT_EQ(layer_norm(a.to(kBFloat16), {8}, w, bias).dtype(), kFloat32);
    EXPECT_EQ(layer_norm(a.to(kBFloat16), {8}, w.to(kBFloat16), bias.to(kBFloat16)).dtype(), kFloat32);
    EXPECT_EQ(rms_norm(a.to(kBFloat16), {8}, w).dtype(), kFloat32);
    EXPECT_EQ(cross_entropy(lowp.matmul(b.t()).slice(1, 0, 8), tgt).dtype(), kFloat32);
    EXPECT_EQ(lowp.sum().dtype(), kFloat32);
    EXPECT_EQ(lowp.sum({0}).dtype(), kFloat32);
    EXPECT_EQ(lowp.exp().dtype(), kFloat32);
    EXPECT_EQ(lowp.pow(2).dtype(), kFloat32);
    EXPECT_EQ(lowp.logsumexp({1}).dtype(), kFloat32);
    // an explicit dtype wins; ops outside the lists keep their input dtype
    EXPECT_EQ(lowp.softmax(-1, kBFloat16).dtype(), kBFloat16);
    EXPECT_EQ(lowp.sum(kBFloat16).dtype(), kBFloat16);
    EXPECT_EQ(lowp.mean().dtype(), kBFloat16);
    EXPECT_EQ((lowp * 2).dtype(), kBFloat16);
    EXPECT_EQ(lowp.gelu().dtype(), kBFloat16);
    EXPECT_EQ((lowp.to(kFloat32) + lowp).dtype(), kFloat32);  // promotion as usual
    // not eligible: float64 and integer inputs pass through
    EXPECT_EQ(matmul(a.to(kFloat64), b.to(kFloat64)).dtype(), kFloat64);
    EXPECT_EQ(matmul(a.to(kInt64), b.to(kInt64)).dtype(), kInt64);
    EXPECT_EQ(a.to(kFloat64).softmax(-1).dtype(), kFloat64);
  }
  EXPECT_FALSE(autocast::is_enabled(kCPU));
  EXPECT_EQ(matmul(a, b).dtype(), kFloat32);
  EXPECT_EQ(matmul(a, b).to(kBFloat16).softmax(-1).dtype(), kBFloat16);
}

TEST(Autocast, GuardsNestAndRestore) {
  Tensor a = randn({4, 4});
  {
    AutocastGuard outer(kCPU, kBFloat16);
    EXPECT_EQ(matmul(a, a).dtype(), kBFloat16);
    {
      AutocastGuard inner(kCPU, kFloat16);
      EXPECT_EQ(matmul(a, a).dtype(), kFloat16);
      EXPECT_EQ(autocast::get_dtype(kCPU), kFloat16);
      {
        AutocastGuard off(kCPU, kBFloat16, /*enabled=*/false);
        EXPECT_EQ(matmul(a, a).dtype(), kFloat32);
      }
      EXPECT_EQ(matmul(a, a).dtype(), kFloat16);
    }
    EXPECT_EQ(matmul(a, a).dtype(), kBFloat16);
    {
      AutocastGuard cuda_only(kCUDA, kFloat16);  // another device type: CPU ops unaffected
      EXPECT_EQ(matmul(a, a).dtype(), kBFloat16);
      EXPECT_TRUE(autocast::is_enabled(kCUDA));
    }
    EXPECT_FALSE(autocast::is_enabled(kCUDA));
  }
  EXPECT_FALSE(autocast::is_enabled(kCPU));
  EXPECT_FALSE(autocast::any_enabled());
  EXPECT_EQ(matmul(a, a).dtype(), kFloat32);
  EXPECT_THROW(AutocastGuard(kCPU, kFloat32), DTypeError);
  EXPECT_FALSE(autocast::is_enabled(kCPU));
}

TEST(Autocast, StateIsThreadLocal) {
  AutocastGuard guard(kCPU);
  Tensor a = randn({3, 3});
  DType other = kBFloat16;
  std::thread t([&] { other = matmul(a, a).dtype(); });
  t.join();
  EXPECT_EQ(other, kFloat32);
  EXPECT_EQ(matmul(a, a).dtype(), kBFloat16);
}

TEST(Autocast, GradientsReachFloat32MasterWeightsInFloat32) {
  manual_seed(2);
  Tensor x = randn({16, 32});
  Tensor w = (randn({32, 24}) * 0.2).requires_grad_();
  Tensor g = ones({24}).requires_grad_();
  Tensor tgt = randint(0, 24, {16});
  auto loss_fn = [&] {
    Tensor h = matmul(x, w);                      // bfloat16 under autocast
    Tensor n = layer_norm(h, {24}, g, Tensor());  // float32
    return cross_entropy(n, tgt);
  };
  Tensor loss_ref = loss_fn();
  loss_ref.backward();
  Tensor gw_ref = w.grad().clone(), gg_ref = g.grad().clone();
  w.set_grad(Tensor());
  g.set_grad(Tensor());
  Tensor loss;
  {
    AutocastGuard guard(kCPU);
    loss = loss_fn();
    EXPECT_EQ(loss.dtype(), kFloat32);
  }
  loss.backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().dtype(), kFloat32);
  EXPECT_EQ(g.grad().dtype(), kFloat32);
  EXPECT_LT(std::abs(loss.item<double>() - loss_ref.item<double>()), 2e-2 * std::abs(loss_ref.item<double>()));
  EXPECT_LT(max_rel_err(w.grad(), gw_ref), 5e-2);
  EXPECT_LT(max_rel_err(g.grad(), gg_ref), 5e-2);

  // backward called inside the guard gives the same gradients (the engine runs with autocast off)
  Tensor w_grad_outside = w.grad().clone();
  w.set_grad(Tensor());
  g.set_grad(Tensor());
  {
    AutocastGuard guard(kCPU);
    loss_fn().backward();
  }
  EXPECT_TRUE(w.grad().equal(w_grad_outside));
}

TEST(Autocast, Float64IsNeverCastSoGradcheckHolds) {
  // float64 inputs are not eligible: the same composite passes a float64 gradcheck inside the guard.
  auto fn = [](const autograd::variable_list& in) -> autograd::variable_list {
    AutocastGuard guard(kCPU);
    Tensor h = matmul(in[0], in[1]);
    EXPECT_EQ(h.dtype(), kFloat64);
    return {layer_norm(h, {3}, in[2]).log_softmax(-1).sum({0})};
  };
  EXPECT_TRUE(autograd::gradcheck(fn, {autograd::gradcheck_input({4, 5}, 1), autograd::gradcheck_input({5, 3}, 2),
                                       autograd::gradcheck_input({3}, 3)}));
}

TEST(Autocast, AttentionGradientsArriveInFloat32) {
  manual_seed(8);
  Tensor q = randn({1, 2, 8, 16}).requires_grad_(), k = randn({1, 2, 8, 16}).requires_grad_();
  Tensor v = randn({1, 2, 8, 16}).requires_grad_();
  Tensor ref = scaled_dot_product_attention(q, k, v, true);
  auto grads_of = [&](const Tensor& out) { return autograd::grad({out.to(kFloat32).square().sum()}, {q, k, v}); };
  auto g_ref = grads_of(ref);
  Tensor low;
  {
    AutocastGuard guard(kCPU);
    low = scaled_dot_product_attention(q, k, v, true);
  }
  EXPECT_EQ(low.dtype(), kBFloat16);
  EXPECT_LT(max_rel_err(low, ref), 3e-2);
  auto g_low = grads_of(low);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(g_low[i].dtype(), kFloat32);
    EXPECT_LT(max_rel_err(g_low[i], g_ref[i]), 8e-2) << i;
  }
}

TEST(Autocast, TransformerBlocksTrainInLowPrecision) {
  // GPT-2 style (LayerNorm, GELU, biases, padding mask) and Llama style (RMSNorm, SwiGLU, GQA, RoPE)
  // blocks: forward and backward under autocast give float32 gradients close to the float32 run.
  const int64_t d = 32;
  std::vector<std::shared_ptr<nn::TransformerBlock>> blocks = {
      std::make_shared<nn::TransformerBlock>(nn::TransformerBlockOptions{
          .attn = {.d_model = d, .n_heads = 4}, .mlp = {.d_model = d, .hidden = 4 * d}}),
      std::make_shared<nn::TransformerBlock>(nn::TransformerBlockOptions{
          .attn = {.d_model = d, .n_heads = 4, .n_kv_heads = 2, .bias = false, .rope = true},
          .mlp = {.d_model = d, .hidden = 2 * d, .act = nn::Activation::SiLU, .gated = true, .bias = false},
          .norm = nn::NormKind::RMSNorm,
          .norm_eps = 1e-6})};
  manual_seed(9);
  Tensor x = randn({2, 8, d});
  Tensor mask = ones({2, 8}, kBool);
  mask.slice(1, 6, 8).select(0, 1).fill_(false);  // right padding in the second sequence
  for (size_t bi = 0; bi < blocks.size(); ++bi) {
    auto& block = blocks[bi];
    auto run = [&](std::optional<DType> low) {
      block->zero_grad();
      Tensor y;
      {
        std::optional<AutocastGuard> guard;
        if (low) guard.emplace(kCPU, *low);
        y = block->forward(x, bi == 0 ? mask : Tensor());
        (y.to(kFloat32).square().mean()).backward();
      }
      std::vector<Tensor> grads;
      for (auto& p : block->parameters()) grads.push_back(p.grad().clone());
      return std::make_pair(y, grads);
    };
    auto [y32, g32] = run(std::nullopt);
    for (DType low : {kBFloat16, kFloat16}) {
      auto [y, g] = run(low);
      EXPECT_LT(max_rel_err(y, y32), 5e-2) << "block " << bi << " " << dtype_name(low);
      for (size_t i = 0; i < g.size(); ++i) {
        ASSERT_TRUE(g[i].defined());
        EXPECT_EQ(g[i].dtype(), kFloat32);
        EXPECT_LT(max_rel_err(g[i], g32[i]), 0.1) << "block " << bi << " param " << i << " " << dtype_name(low);
      }
    }
  }
}

TEST(Autocast, BFloat16MatmulIsCloseToFloat32) {
  manual_seed(3);
  Tensor a = randn({64, 128}), b = randn({128, 32});
  Tensor ref = matmul(a, b);
  Tensor low;
  {
    AutocastGuard guard(kCPU);
    low = matmul(a, b);
  }
  ASSERT_EQ(low.dtype(), kBFloat16);
  // inputs and output rounded to bfloat16 (8 bits of mantissa): ~2^-8 relative per rounding
  EXPECT_LT(max_rel_err(low, ref), 2e-2);
  EXPECT_GT(max_rel_err(low, ref), 0.0);  // it did run in low precision
}

TEST(Autocast, CheckpointRecomputesUnderTheForwardAutocastState) {
  manual_seed(4);
  Tensor x = randn({8, 16});
  Tensor w = randn({16, 16}).requires_grad_();
  auto segment = [&](const Tensor& in) { return matmul(in, w).softmax(-1); };
  Tensor plain, ckpt;
  {
    AutocastGuard guard(kCPU);
    plain = segment(x).sum();
    ckpt = autograd::checkpoint([&](const Tensor& in) { return segment(in); }, x.requires_grad_()).sum();
  }
  plain.backward();
  Tensor g_plain = w.grad().clone();
  w.set_grad(Tensor());
  ckpt.backward();  // outside the guard: the recompute must still run matmul in bfloat16
  EXPECT_TRUE(w.grad().equal(g_plain));
}

// ---- GradScaler ----

namespace {
struct Toy {
  Tensor w = ones({4}).requires_grad_();
  optim::SGD opt{std::vector<Tensor>{w}, optim::SGDOptions{.lr = 0.1}};
};
}  // namespace

TEST(GradScaler, ScaleAndUnscale) {
  Toy t;
  amp::GradScaler scaler(8.0);
  Tensor loss = (t.w * tensor<float>({1.f, 2.f, 3.f, 4.f})).sum();
  Tensor scaled = scaler.scale(loss);
  EXPECT_FLOAT_EQ(scaled.item<float>(), 8.f * loss.item<float>());
  scaled.backward();
  EXPECT_TRUE(t.w.grad().equal(tensor<float>({8.f, 16.f, 24.f, 32.f})));
  scaler.unscale_(t.opt);
  EXPECT_TRUE(t.w.grad().equal(tensor<float>({1.f, 2.f, 3.f, 4.f})));
  // unscale_ twice in one step is an error (the gradients would be divided twice)
  try {
    scaler.unscale_(t.opt);
    ADD_FAILURE() << "expected an error";
  } catch (const RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("unscale_() has already been called"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(scaler.step(t.opt));  // uses the recorded unscale
  EXPECT_TRUE(t.w.allclose(ones({4}) - tensor<float>({0.1f, 0.2f, 0.3f, 0.4f})));
  EXPECT_THROW(scaler.step(t.opt), RuntimeError);  // step twice before update
  scaler.update();
  EXPECT_THROW(scaler.update(), RuntimeError);     // no step since the last update
}

TEST(GradScaler, SkipGrowBackoffSequence) {
  Toy t;
  amp::GradScaler scaler(/*init_scale=*/1024.0, /*growth_factor=*/2.0, /*backoff_factor=*/0.25,
                         /*growth_interval=*/3);
  // per iteration: the injected gradient value (before scaling) and the expected (stepped, scale after update)
  struct It {
    float grad;
    bool stepped;
    double scale_after;
    int64_t tracker_after;
  };
  const float inf = INFINITY, nan = NAN;
  std::vector<It> seq = {
      {1.f, true, 1024, 1}, {1.f, true, 1024, 2}, {1.f, true, 2048, 0},  // grows after 3 clean steps
      {inf, false, 512, 0},                                             // overflow: skip, back off
      {1.f, true, 512, 1},  {nan, false, 128, 0},                       // NaN counts too, resets tracker
      {1.f, true, 128, 1},  {1.f, true, 128, 2},  {1.f, true, 256, 0},
  };
  for (size_t i = 0; i < seq.size(); ++i) {
    Tensor before = t.w.detach().clone();
    Tensor g = full({4}, 1.0f) * float(scaler.get_scale());
    if (!std::isfinite(seq[i].grad)) g = g.index_add(0, tensor<int64_t>({2}), full({1}, seq[i].grad));
    t.w.set_grad(g);
    bool stepped = scaler.step(t.opt);
    scaler.update();
    EXPECT_EQ(stepped, seq[i].stepped) << "iteration " << i;
    EXPECT_EQ(scaler.get_scale(), seq[i].scale_after) << "iteration " << i;
    EXPECT_EQ(scaler.growth_tracker(), seq[i].tracker_after) << "iteration " << i;
    if (stepped) {
      EXPECT_TRUE(t.w.allclose(before - 0.1)) << "iteration " << i;
    } else {
      EXPECT_TRUE(t.w.equal(before)) << "a skipped step must leave the parameters alone (iteration " << i << ")";
    }
    t.opt.zero_grad();
  }
}

TEST(GradScaler, StateDictAndDisabled) {
  amp::GradScaler a(256.0, 2.0, 0.5, 5);
  Toy t;
  t.w.set_grad(ones({4}));
  a.step(t.opt);
  a.update();
  amp::GradScaler b;
  b.load_state_dict(a.state_dict());
  EXPECT_EQ(b.get_scale(), 256.0);
  EXPECT_EQ(b.growth_tracker(), 1);
  EXPECT_EQ(b.options().growth_interval, 5);
  EXPECT_THROW(b.load_state_dict({}), ValueError);
  EXPECT_THROW(amp::GradScaler(0.0), ValueError);

  amp::GradScaler off(amp::GradScalerOptions{.enabled = false});
  Tensor loss = (t.w * 3).sum();
  EXPECT_TRUE(off.scale(loss).is_same(loss));
  EXPECT_EQ(off.get_scale(), 1.0);
}

TEST(GradScaler, Float16AutocastTrainingConverges) {
  // Linear regression with float32 master weights, float16 autocast and dynamic loss scaling. The
  // initial scale (2^24) overflows float16 gradients, so the first iterations are skipped and the
  // scale backs off until gradients are finite; then training proceeds and the scale grows again.
  manual_seed(6);
  const int64_t N = 64, D = 16;
  Tensor x = randn({N, D});
  Tensor w_true = randn({D, 1});
  Tensor y = matmul(x, w_true);
  Tensor w = zeros({D, 1}).requires_grad_();
  optim::AdamW opt({w}, {.lr = 0.05, .weight_decay = 0.0});
  amp::GradScaler scaler(16777216.0, 2.0, 0.5, /*growth_interval=*/10);
  int skipped = 0;
  double first_loss = 0, last_loss = 0;
  for (int it = 0; it < 150; ++it) {
    Tensor loss;
    {
      AutocastGuard guard(kCPU, kFloat16);
      Tensor pred = matmul(x, w);  // float16
      EXPECT_EQ(pred.dtype(), kFloat16);
      loss = (pred.to(kFloat32) - y).square().mean();
    }
    if (it == 0) first_loss = loss.item<double>();
    last_loss = loss.item<double>();
    scaler.scale(loss).backward();
    EXPECT_EQ(w.grad().dtype(), kFloat32);
    if (!scaler.step(opt)) ++skipped;
    scaler.update();
    opt.zero_grad();
  }
  EXPECT_GT(skipped, 0);
  EXPECT_LT(scaler.get_scale(), 16777216.0);
  EXPECT_LT(last_loss, 0.05 * first_loss) << "first " << first_loss << " last " << last_loss;
}
