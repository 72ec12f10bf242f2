// optim: SGD and AdamW against torch.optim golden values (tests/data/optim.json from
// tools/golden/optim.py), fused vs composite AdamW, low-precision parameters, the state dict round
// trip (bitwise identical continuation) and its load errors, WarmupCosineLR against LambdaLR,
// ConstantLR, gradient accumulation over micro-batches, and AdamW's float32 master weights.
#include <gtest/gtest.h>

#include <tessera/tessera.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

using namespace tessera;
using json = nlohmann::json;

namespace {

const json& golden() {
  static const json j = [] {
    std::ifstream f(std::string(TESSERA_TEST_DATA_DIR) + "/optim.json");
    EXPECT_TRUE(f.good()) << "missing " << TESSERA_TEST_DATA_DIR << "/optim.json";
    return json::parse(f);
  }();
  return j;
}

Tensor f32(const json& values, IntArrayRef shape) {
  return from_vector(values.get<std::vector<float>>(), shape);
}

Shape shape_of(const json& s) { return s.get<std::vector<int64_t>>(); }

double max_abs_diff(const Tensor& a, const Tensor& b) {
  return (a.to(kFloat64) - b.to(kFloat64)).abs().max().item<double>();
}

std::vector<std::string> what_messages(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return {e.what()};
  }
  return {};
}

// Runs one golden case; fused selects the AdamW path. Returns the largest deviation seen.
double run_golden_case(const json& c, bool fused) {
  std::vector<Tensor> params;
  for (size_t i = 0; i < c["shapes"].size(); ++i) {
    params.push_back(f32(c["init"][i], shape_of(c["shapes"][i])).requires_grad_());
  }
  std::vector<optim::ParamGroup> groups;
  for (const auto& g : c["groups"]) {
    optim::ParamGroup pg;
    for (int64_t i : g["params"]) pg.params.push_back(params[size_t(i)]);
    pg.lr = g["lr"];
    pg.weight_decay = g["weight_decay"];
    groups.push_back(pg);
  }
  const json& o = c["options"];
  std::unique_ptr<optim::Optimizer> opt;
  if (c["kind"] == "sgd") {
    opt = std::make_unique<optim::SGD>(groups, optim::SGDOptions{o["lr"], o["momentum"], o["dampening"],
                                                                 o["weight_decay"], o["nesterov"]});
  } else {
    opt = std::make_unique<optim::AdamW>(groups, optim::AdamWOptions{o["lr"], o["beta1"], o["beta2"], o["eps"],
                                                                     o["weight_decay"], fused});
  }
  double worst = 0;
  for (size_t s = 0; s < c["grads"].size(); ++s) {
    for (size_t i = 0; i < params.size(); ++i) {
      const json& g = c["grads"][s][i];
      params[i].set_grad(g.is_null() ? Tensor() : f32(g, params[i].sizes()));
    }
    opt->step();
    for (size_t i = 0; i < params.size(); ++i) {
      Tensor want = f32(c["after"][s][i], params[i].sizes());
      double d = max_abs_diff(params[i], want);
      worst = std::max(worst, d);
      // float32 rounding only: a few ulps of values of size ~1 after 20 steps (measured: 1 ulp).
      EXPECT_LE(d, 3e-7) << c["name"] << " fused=" << fused << " step " << s << " param " << i;
    }
  }
  EXPECT_EQ(opt->step_count(), int64_t(c["grads"].size()));
  return worst;
}

}  // namespace

TEST(OptimGolden, SGDMatchesTorch) {
  int n = 0;
  for (const auto& c : golden()["optimizers"]) {
    if (c["kind"] != "sgd") continue;
    double worst = run_golden_case(c, true);
    RecordProperty(c["name"].get<std::string>(), std::to_string(worst));
    ++n;
  }
  EXPECT_EQ(n, 3);
}

TEST(OptimGolden, AdamWMatchesTorchFusedAndComposite) {
  int n = 0;
  for (const auto& c : golden()["optimizers"]) {
    if (c["kind"] != "adamw") continue;
    for (bool fused : {true, false}) {
      double worst = run_golden_case(c, fused);
      std::cout << "[ info ] " << c["name"].get<std::string>() << (fused ? " fused" : " composite")
                << ": max |tessera - torch| = " << worst << "\n";
    }
    ++n;
  }
  EXPECT_EQ(n, 2);
}

TEST(OptimGolden, WarmupCosineMatchesLambdaLR) {
  for (const auto& c : golden()["schedules"]) {
    std::vector<optim::ParamGroup> groups;
    for (double lr : c["base_lrs"]) groups.push_back({{zeros({1}).requires_grad_()}, {}, lr, -1});
    optim::SGD opt(groups, optim::SGDOptions{1.0});
    optim::WarmupCosineLR sched(opt, c["warmup"], c["total"], c["min_ratio"]);
    for (size_t s = 0; s < c["lrs"].size(); ++s) {
      if (s > 0) {
        opt.step();
        sched.step();
      }
      auto got = sched.get_last_lr();
      auto want = c["lrs"][s].get<std::vector<double>>();
      ASSERT_EQ(got.size(), want.size());
      for (size_t g = 0; g < got.size(); ++g) {
        EXPECT_NEAR(got[g], want[g], 1e-15 + 1e-12 * std::abs(want[g])) << c["name"] << " step " << s;
        EXPECT_EQ(opt.param_groups()[g].lr, got[g]);
      }
    }
  }
}

TEST(Optim, ParameterWithoutGradIsSkipped) {
  Tensor a = randn({4}).requires_grad_(), b = randn({3}).requires_grad_();
  Tensor b0 = b.clone();
  optim::AdamW opt({a, b}, {.lr = 0.1});
  a.set_grad(ones({4}));
  opt.step();
  EXPECT_TRUE(b.equal(b0));
  EXPECT_TRUE(opt.state(1).empty());
  EXPECT_EQ(opt.state(0).at("step").item<int64_t>(), 1);
  EXPECT_EQ(opt.state(0).at("exp_avg").dtype(), kFloat32);
  // the state dict only lists parameters with state
  for (const auto& [k, t] : opt.state_dict()) EXPECT_EQ(k.rfind("state.1.", 0), std::string::npos) << k;
}

TEST(Optim, ZeroGrad) {
  Tensor a = randn({4}).requires_grad_();
  optim::SGD opt({a}, {.lr = 0.1});
  a.set_grad(ones({4}));
  opt.zero_grad(/*set_to_none=*/false);
  ASSERT_TRUE(a.grad().defined());
  EXPECT_TRUE(a.grad().equal(zeros({4})));
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optim, ConstructionErrors) {
  Tensor a = randn({2}).requires_grad_();
  auto msg = what_messages([&] { optim::AdamW({a, a}); });
  ASSERT_EQ(msg.size(), 1u);
  EXPECT_NE(msg[0].find("more than one parameter group"), std::string::npos) << msg[0];
  msg = what_messages([&] { optim::SGD({a * 2}, {.lr = 0.1}); });
  ASSERT_EQ(msg.size(), 1u);
  EXPECT_NE(msg[0].find("not a leaf"), std::string::npos) << msg[0];
  msg = what_messages([&] { optim::SGD({zeros({2}, kInt64)}, {.lr = 0.1}); });
  ASSERT_EQ(msg.size(), 1u);
  EXPECT_NE(msg[0].find("int64"), std::string::npos) << msg[0];
  EXPECT_THROW(optim::AdamW({a}, {.lr = -1.0}), ValueError);
  EXPECT_THROW(optim::AdamW({a}, {.beta1 = 1.0}), ValueError);
  EXPECT_THROW(optim::SGD({a}, {.lr = 0.1, .momentum = 0.0, .nesterov = true}), ValueError);
  EXPECT_THROW(optim::SGD({a}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}), ValueError);
  EXPECT_THROW(optim::AdamW(std::vector<Tensor>{}), ValueError);
  optim::ParamGroup bad{{a}, {"x", "y"}};
  EXPECT_THROW(optim::AdamW(std::vector<optim::ParamGroup>{bad}), ValueError);
}

TEST(Optim, FusedMatchesCompositeOnLargeTensor) {
  // Large enough for the multi-threaded path; float32 and float64.
  for (DType dt : {kFloat32, kFloat64}) {
    manual_seed(7);
    Tensor p1 = randn({300, 1001}, dt).requires_grad_();
    Tensor p2 = p1.detach().clone().requires_grad_();
    optim::AdamW fused({p1}, {.lr = 1e-2, .weight_decay = 0.05, .fused = true});
    optim::AdamW comp({p2}, {.lr = 1e-2, .weight_decay = 0.05, .fused = false});
    for (int s = 0; s < 5; ++s) {
      Tensor g = randn({300, 1001}, dt);
      p1.set_grad(g);
      p2.set_grad(g.clone());
      fused.step();
      comp.step();
    }
    // The composite path rounds lerp's multiply and add separately (the fused one uses ATen's fma).
    EXPECT_LE(max_abs_diff(p1, p2), dt == kFloat32 ? 1e-5 : 1e-13) << dtype_name(dt);
    EXPECT_LE(max_abs_diff(fused.state(0).at("exp_avg"), comp.state(0).at("exp_avg")), dt == kFloat32 ? 1e-6 : 1e-14);
  }
}

TEST(Optim, FusedHandlesNonContiguousGradients) {
  Tensor p1 = randn({6, 5}).requires_grad_();
  Tensor p2 = p1.detach().clone().requires_grad_();
  optim::AdamW fused({p1}, {.lr = 0.1, .fused = true});
  optim::AdamW comp({p2}, {.lr = 0.1, .fused = false});
  Tensor g = randn({5, 6}).t();  // a transposed (non-contiguous) gradient
  ASSERT_FALSE(g.is_contiguous());
  p1.set_grad(g);
  p2.set_grad(g);
  fused.step();
  comp.step();
  EXPECT_LE(max_abs_diff(p1, p2), 1e-6);
}

TEST(Optim, LowPrecisionParamsKeepFloat32State) {
  for (DType dt : {kBFloat16, kFloat16}) {
    for (bool fused : {true, false}) {
      manual_seed(3);
      Tensor ref = randn({64}).requires_grad_();
      Tensor low = ref.detach().to(dt).requires_grad_();
      Tensor ref_start = low.detach().to(kFloat32);
      ref = ref_start.clone().requires_grad_();
      optim::AdamW opt_ref({ref}, {.lr = 1e-2});
      optim::AdamW opt_low({low}, {.lr = 1e-2, .fused = fused});
      optim::SGD sgd_low({low.detach().clone().requires_grad_()}, {.lr = 0.1, .momentum = 0.9});
      for (int s = 0; s < 3; ++s) {
        Tensor g = randn({64});
        ref.set_grad(g);
        low.set_grad(g.to(dt));
        opt_ref.step();
        opt_low.step();
        Tensor sp = sgd_low.param_groups()[0].params[0];
        sp.set_grad(g.to(dt));
        sgd_low.step();
      }
      EXPECT_EQ(low.dtype(), dt);
      EXPECT_EQ(opt_low.state(0).at("exp_avg").dtype(), kFloat32);
      EXPECT_EQ(opt_low.state(0).at("exp_avg_sq").dtype(), kFloat32);
      EXPECT_EQ(sgd_low.state(0).at("momentum_buffer").dtype(), kFloat32);
      // one rounding of the parameter per step
      EXPECT_LE(max_abs_diff(low, ref), dt == kBFloat16 ? 0.05 : 0.01) << dtype_name(dt) << " fused=" << fused;
    }
  }
}

namespace {

// A deterministic "gradient" for step s of parameter p (a function of p, like a real loss).
Tensor fake_grad(const Tensor& p, int s) {
  NoGradGuard ng;
  return (p.detach() * 0.3 + (double(s) * 0.1)).sin() + p.detach().square() * 0.01;
}

void train(optim::Optimizer& opt, optim::LRScheduler* sched, const std::vector<Tensor>& params, int from, int to) {
  for (int s = from; s < to; ++s) {
    for (size_t i = 0; i < params.size(); ++i) {
      if (i == 1 && s % 3 == 0) continue;  // parameter 1 has no gradient every third step
      Tensor p = params[i];
      p.set_grad(fake_grad(p, s));
    }
    opt.step();
    opt.zero_grad();
    if (sched) sched->step();
  }
}

nn::StateDict snapshot(const nn::StateDict& sd) {
  nn::StateDict out;
  for (const auto& [k, t] : sd) out.emplace_back(k, t.clone());
  return out;
}

std::vector<Tensor> make_params() {
  manual_seed(11);
  return {randn({8, 5}).requires_grad_(), randn({5}).requires_grad_(), randn({3, 2}).requires_grad_()};
}

std::vector<optim::ParamGroup> two_groups(const std::vector<Tensor>& p) {
  return {{{p[0], p[1]}, {"w", "b"}, 3e-2, 0.1}, {{p[2]}, {"head"}, 1e-2, 0.0}};
}

std::vector<Tensor> clone_params(const std::vector<Tensor>& ps) {
  std::vector<Tensor> out;
  for (const auto& p : ps) out.push_back(p.detach().clone().requires_grad_());
  return out;
}

}  // namespace

TEST(OptimState, RoundTripGivesBitwiseIdenticalContinuation) {
  for (int kind = 0; kind < 2; ++kind) {
    auto make_opt = [&](const std::vector<Tensor>& p) -> std::unique_ptr<optim::Optimizer> {
      if (kind == 0) return std::make_unique<optim::AdamW>(two_groups(p), optim::AdamWOptions{.lr = 3e-2});
      return std::make_unique<optim::SGD>(two_groups(p), optim::SGDOptions{.lr = 3e-2, .momentum = 0.9,
                                                                           .dampening = 0.1});
    };
    // uninterrupted: 10 steps
    auto pa = make_params();
    auto opt_a = make_opt(pa);
    optim::WarmupCosineLR sched_a(*opt_a, 3, 10, 0.1);
    train(*opt_a, &sched_a, pa, 0, 10);
    // interrupted after 5: save, rebuild everything fresh, load, continue
    auto pb = make_params();
    auto opt_b = make_opt(pb);
    optim::WarmupCosineLR sched_b(*opt_b, 3, 10, 0.1);
    train(*opt_b, &sched_b, pb, 0, 5);
    nn::StateDict saved_opt = snapshot(opt_b->state_dict());
    nn::StateDict saved_sched = snapshot(sched_b.state_dict());
    std::vector<Tensor> saved_params = clone_params(pb);

    std::vector<Tensor> pc = clone_params(saved_params);
    auto opt_c = make_opt(pc);
    optim::WarmupCosineLR sched_c(*opt_c, 3, 10, 0.1);
    opt_c->load_state_dict(saved_opt);
    sched_c.load_state_dict(saved_sched);
    EXPECT_EQ(opt_c->step_count(), 5);
    EXPECT_EQ(sched_c.last_step(), 5);
    EXPECT_EQ(opt_c->param_groups()[0].lr, opt_b->param_groups()[0].lr);
    train(*opt_c, &sched_c, pc, 5, 10);
    for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(pa[i].equal(pc[i])) << "kind " << kind << " param " << i;
    // and the state dicts agree key by key
    auto sa = opt_a->state_dict(), sc = opt_c->state_dict();
    ASSERT_EQ(sa.size(), sc.size());
    for (size_t i = 0; i < sa.size(); ++i) {
      EXPECT_EQ(sa[i].first, sc[i].first);
      EXPECT_TRUE(sa[i].second.equal(sc[i].second)) << sa[i].first;
    }
  }
}

TEST(OptimState, LayoutIsTensorsOnly) {
  auto p = make_params();
  optim::AdamW opt(two_groups(p));
  train(opt, nullptr, p, 0, 1);
  std::map<std::string, Tensor> sd;
  for (const auto& [k, t] : opt.state_dict()) sd[k] = t;
  ASSERT_TRUE(sd.count("step"));
  EXPECT_EQ(sd["step"].dtype(), kInt64);
  EXPECT_EQ(sd["step"].dim(), 0);
  EXPECT_EQ(sd["param_groups.1.lr"].dtype(), kFloat64);
  EXPECT_DOUBLE_EQ(sd["param_groups.1.lr"].item<double>(), 1e-2);
  EXPECT_EQ(sd["param_groups.0.num_params"].item<int64_t>(), 2);
  EXPECT_TRUE(sd.count("state.0.exp_avg"));
  EXPECT_TRUE(sd.count("state.2.exp_avg_sq"));
  EXPECT_EQ(sd["state.2.step"].item<int64_t>(), 1);
  EXPECT_FALSE(sd.count("state.1.exp_avg"));  // no gradient at step 0 (s % 3 == 0)
}

TEST(OptimState, LoadErrorsNameTheProblemAndChangeNothing) {
  auto p = make_params();
  optim::AdamW opt(two_groups(p));
  train(opt, nullptr, p, 0, 2);
  nn::StateDict good = snapshot(opt.state_dict());

  auto expect_error = [&](optim::Optimizer& target, const nn::StateDict& sd, const std::string& needle) {
    nn::StateDict before = snapshot(target.state_dict());
    auto msg = what_messages([&] { target.load_state_dict(sd); });
    ASSERT_EQ(msg.size(), 1u) << "expected an error containing: " << needle;
    EXPECT_NE(msg[0].find(needle), std::string::npos) << msg[0];
    auto after = target.state_dict();
    ASSERT_EQ(after.size(), before.size());
    for (size_t i = 0; i < after.size(); ++i) EXPECT_TRUE(after[i].second.equal(before[i].second));
  };

  // different number of parameters in a group
  auto q = make_params();
  optim::AdamW fewer(std::vector<optim::ParamGroup>{{{q[0]}, {}, 3e-2, 0.1}, {{q[2]}, {}, 1e-2, 0.0}});
  expect_error(fewer, good, "param group 0 has 2 parameters in the state dict but 1 in this optimizer");
  // different number of groups
  optim::AdamW one_group(clone_params(p));
  expect_error(one_group, good, "2 parameter group(s) but this optimizer has 1");
  // shape mismatch
  auto r = make_params();
  r[2] = randn({2, 3}).requires_grad_();
  optim::AdamW shaped(two_groups(r));
  expect_error(shaped, good, "\"state.2.exp_avg\" has shape [3, 2] but parameter 2 (\"head\") has shape [2, 3]");
  // unknown key, incomplete state, out-of-range index
  nn::StateDict extra = good;
  extra.emplace_back("state.0.momentum_buffer", zeros({8, 5}));
  expect_error(opt, extra, "unexpected key(s) \"state.0.momentum_buffer\"");
  nn::StateDict partial;
  for (const auto& kv : good)
    if (kv.first != "state.0.exp_avg_sq") partial.push_back(kv);
  expect_error(opt, partial, "missing \"state.0.exp_avg_sq\"");
  nn::StateDict beyond = good;
  beyond.emplace_back("state.7.exp_avg", zeros({1}));
  expect_error(opt, beyond, "refers to parameter 7 but this optimizer has 3 parameters");
  // an SGD state dict into AdamW
  auto s = make_params();
  optim::SGD sgd(two_groups(s), {.lr = 0.1, .momentum = 0.9});
  train(sgd, nullptr, s, 0, 1);
  expect_error(opt, sgd.state_dict(), "unexpected key(s) \"state.0.momentum_buffer\"");
}

TEST(LRSchedule, ShapesAndErrors) {
  Tensor a = zeros({1}).requires_grad_();
  optim::SGD opt({a}, {.lr = 2.0});
  optim::WarmupCosineLR sched(opt, 4, 10, 0.5);
  EXPECT_EQ(opt.param_groups()[0].lr, 0.0);  // step 0 of the warmup
  std::vector<double> lrs;
  for (int s = 0; s < 12; ++s) {
    sched.step();
    lrs.push_back(sched.get_last_lr()[0]);
  }
  EXPECT_DOUBLE_EQ(lrs[0], 0.5);   // step 1: 1/4 of 2.0
  EXPECT_DOUBLE_EQ(lrs[3], 2.0);   // step 4: peak
  for (int s = 4; s < 9; ++s) EXPECT_LT(lrs[s], lrs[s - 1]);
  EXPECT_DOUBLE_EQ(lrs[9], 1.0);   // step 10 = total: min_lr_ratio * base
  EXPECT_DOUBLE_EQ(lrs[11], 1.0);  // constant after
  EXPECT_THROW(optim::WarmupCosineLR(opt, 5, 4), ValueError);
  EXPECT_THROW(optim::WarmupCosineLR(opt, 0, 4, 1.5), ValueError);

  Tensor b = zeros({1}).requires_grad_();
  optim::SGD opt2({b}, {.lr = 0.3});
  optim::ConstantLR constant(opt2);
  for (int s = 0; s < 3; ++s) {
    EXPECT_DOUBLE_EQ(opt2.param_groups()[0].lr, 0.3);
    constant.step();
  }
  Tensor c = zeros({1}).requires_grad_();
  optim::SGD opt3({c}, {.lr = 0.3});
  optim::ConstantLR ramp(opt3, 0.5, 2);
  EXPECT_DOUBLE_EQ(opt3.param_groups()[0].lr, 0.15);
  ramp.step();
  EXPECT_DOUBLE_EQ(opt3.param_groups()[0].lr, 0.15);
  ramp.step();
  EXPECT_DOUBLE_EQ(opt3.param_groups()[0].lr, 0.3);
  EXPECT_THROW(ramp.load_state_dict({}), ValueError);
}

TEST(GradAccumulation, MicroBatchesGiveTheFullBatchGradientAndStep) {
  manual_seed(5);
  const int64_t B = 12, D = 6, O = 3, n = 4;
  Tensor x = randn({B, D}, kFloat64), y = randn({B, O}, kFloat64);
  Tensor w0 = randn({O, D}, kFloat64), b0 = randn({O}, kFloat64);
  auto loss_of = [](const Tensor& w, const Tensor& b, const Tensor& xs, const Tensor& ys) {
    Tensor pred = matmul(xs, w.t()) + b;
    return (pred - ys).square().mean();
  };
  // full batch
  Tensor w1 = w0.clone().requires_grad_(), b1 = b0.clone().requires_grad_();
  optim::AdamW opt1({w1, b1}, {.lr = 0.1});
  loss_of(w1, b1, x, y).backward();
  Tensor gw_full = w1.grad().clone(), gb_full = b1.grad().clone();
  opt1.step();
  // n micro-batches of B / n
  Tensor w2 = w0.clone().requires_grad_(), b2 = b0.clone().requires_grad_();
  optim::AdamW opt2({w2, b2}, {.lr = 0.1});
  optim::GradAccumulator acc(n);
  int steps = 0;
  for (int64_t i = 0; i < n; ++i) {
    Tensor xs = x.slice(0, i * (B / n), (i + 1) * (B / n)), ys = y.slice(0, i * (B / n), (i + 1) * (B / n));
    acc.scale(loss_of(w2, b2, xs, ys)).backward();
    if (acc.boundary()) {
      EXPECT_TRUE(w2.grad().allclose(gw_full, 1e-12, 1e-14));
      EXPECT_TRUE(b2.grad().allclose(gb_full, 1e-12, 1e-14));
      opt2.step();
      opt2.zero_grad();
      ++steps;
    }
  }
  EXPECT_EQ(steps, 1);
  EXPECT_EQ(acc.pending(), 0);
  EXPECT_TRUE(w2.allclose(w1, 1e-12, 1e-14));
  EXPECT_TRUE(b2.allclose(b1, 1e-12, 1e-14));
  EXPECT_THROW(optim::GradAccumulator(0), ValueError);
}

// ---- master weights (Note [adamw master weights]) ----

namespace {

// Values in [1, 2): a bfloat16 ulp there is 2^-7 and a float16 ulp 2^-10, both far above an lr of 1e-4.
Tensor values_in_one_two(int64_t n, DType dt) { return (rand({n}) + 1.0).to(dt).requires_grad_(); }

}  // namespace

TEST(OptimMaster, LowPrecisionWithMasterTracksFloat32WherePlainStalls) {
  for (DType dt : {kBFloat16, kFloat16}) {
    for (bool fused : {true, false}) {
      manual_seed(21);
      const int64_t n = 257;
      Tensor plain = values_in_one_two(n, dt);
      Tensor start = plain.detach().clone();
      Tensor mastered = start.clone().requires_grad_();
      Tensor ref = start.to(kFloat32).requires_grad_();
      const optim::AdamWOptions o{.lr = 1e-4, .weight_decay = 0.01, .fused = fused};
      optim::AdamWOptions om = o;
      om.master_weights = true;
      optim::AdamW opt_plain({plain}, o), opt_master({mastered}, om), opt_ref({ref}, o);
      for (int s = 0; s < 300; ++s) {
        // positive gradients, exactly representable in dt, so the float32 run sees the same values
        Tensor g = (rand({n}) * 0.5 + 0.5).to(dt);
        plain.set_grad(g);
        mastered.set_grad(g.clone());
        ref.set_grad(g.to(kFloat32));
        opt_plain.step();
        opt_master.step();
        opt_ref.step();
      }
      const std::string what = std::string(dtype_name(dt)) + (fused ? " fused" : " composite");
      // the float32 run moved by about 300 * lr = 0.03, many low-precision ulps ...
      EXPECT_GE(max_abs_diff(ref, start), 0.02) << what;
      // ... the plain low-precision parameter did not move at all (every update rounds away) ...
      EXPECT_TRUE(plain.equal(start)) << what;
      EXPECT_GE(max_abs_diff(plain, ref), 0.02) << what;
      // ... while the master is the float32 run exactly (same arithmetic on the same values) and the
      // parameter is its rounding.
      const Tensor& master = opt_master.state(0).at("master_param");
      EXPECT_EQ(master.dtype(), kFloat32);
      EXPECT_TRUE(master.equal(ref.detach())) << what << ": " << max_abs_diff(master, ref);
      EXPECT_TRUE(mastered.equal(ref.detach().to(dt))) << what;
      EXPECT_EQ(mastered.dtype(), dt);
      EXPECT_LE(max_abs_diff(mastered, ref), dt == kBFloat16 ? 0.0079 : 0.001) << what;
    }
  }
}

TEST(OptimMaster, NoEffectOnFloat32AndNoKeyWhenOff) {
  manual_seed(5);
  Tensor a = randn({40}).requires_grad_();
  Tensor b = a.detach().clone().requires_grad_();
  Tensor low = randn({40}).to(kBFloat16).requires_grad_();
  optim::AdamW with({a}, {.lr = 1e-2, .master_weights = true});
  optim::AdamW without({b, low}, {.lr = 1e-2});
  for (int s = 0; s < 3; ++s) {
    Tensor g = randn({40});
    a.set_grad(g);
    b.set_grad(g.clone());
    low.set_grad(g.to(kBFloat16));
    with.step();
    without.step();
  }
  EXPECT_TRUE(a.equal(b));
  EXPECT_FALSE(with.state(0).count("master_param"));
  EXPECT_FALSE(without.state(1).count("master_param"));
  for (const auto& [k, t] : without.state_dict()) EXPECT_EQ(k.find("master"), std::string::npos) << k;
}

TEST(OptimMaster, StateDictRoundTripContinuesBitwise) {
  auto make = [](uint64_t seed) {
    manual_seed(seed);
    return std::vector<Tensor>{randn({7, 5}).to(kBFloat16).requires_grad_(), randn({9}).to(kFloat16).requires_grad_(),
                               randn({4}).requires_grad_()};
  };
  const optim::AdamWOptions o{.lr = 1e-3, .weight_decay = 0.1, .master_weights = true};
  auto pa = make(3);
  optim::AdamW opt_a(pa, o);
  train(opt_a, nullptr, pa, 0, 8);

  auto pb = make(3);
  optim::AdamW opt_b(pb, o);
  train(opt_b, nullptr, pb, 0, 4);
  nn::StateDict saved = snapshot(opt_b.state_dict());
  std::map<std::string, Tensor> keys(saved.begin(), saved.end());
  ASSERT_TRUE(keys.count("state.0.master_param"));
  ASSERT_TRUE(keys.count("state.1.master_param"));
  EXPECT_FALSE(keys.count("state.2.master_param"));  // float32: no master
  EXPECT_EQ(keys["state.0.master_param"].dtype(), kFloat32);
  EXPECT_TRUE(keys["state.0.master_param"].sizes().equals(pb[0].sizes()));

  auto pc = clone_params(pb);
  optim::AdamW opt_c(pc, o);
  opt_c.load_state_dict(saved);
  EXPECT_TRUE(opt_c.state(0).at("master_param").equal(opt_b.state(0).at("master_param")));
  train(opt_c, nullptr, pc, 4, 8);
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(pa[i].equal(pc[i])) << "param " << i;
  EXPECT_TRUE(opt_a.state(0).at("master_param").equal(opt_c.state(0).at("master_param")));

  // A master-weights state dict into an AdamW without them: a clear error, nothing changed.
  auto pd = clone_params(pb);
  optim::AdamW no_master(pd, {.lr = 1e-3, .weight_decay = 0.1});
  auto msg = what_messages([&] { no_master.load_state_dict(saved); });
  ASSERT_EQ(msg.size(), 1u);
  EXPECT_NE(msg[0].find("\"state.0.master_param\""), std::string::npos) << msg[0];
  EXPECT_NE(msg[0].find("master_weights = true"), std::string::npos) << msg[0];
  EXPECT_EQ(no_master.step_count(), 0);
  // A state dict without masters into an AdamW with them: the masters come from the parameters at the
  // next update.
  auto pe = clone_params(pb);
  optim::AdamW plain_opt(clone_params(pb), {.lr = 1e-3, .weight_decay = 0.1});
  auto pf = plain_opt.parameters();
  train(plain_opt, nullptr, pf, 0, 2);
  optim::AdamW with_master(pe, o);
  with_master.load_state_dict(plain_opt.state_dict());
  EXPECT_FALSE(with_master.state(0).count("master_param"));
  Tensor before = pe[0].detach().to(kFloat32);
  pe[0].set_grad(zeros({7, 5}).to(kBFloat16));
  with_master.step();
  ASSERT_TRUE(with_master.state(0).count("master_param"));
  // it started from the parameter; one step of lr 1e-3 moves it by about 1e-3
  EXPECT_LE(max_abs_diff(with_master.state(0).at("master_param"), before), 1e-2);
  EXPECT_GT(max_abs_diff(with_master.state(0).at("master_param"), before), 0.0);
}
