// nn layers against PyTorch (tests/data/nn_layers.json, written by tools/golden/nn_layers.py): the
// golden parameters are loaded with a strict load_state_dict (so tessera's parameter names must be
// exactly the documented ones), then the output and every gradient of sum(y * gy) are compared in
// float64.
#include <fstream>
#include <nlohmann/json.hpp>

#include "nn_test_util.h"

using namespace tessera;
using namespace nnt;
using json = nlohmann::json;

namespace {

const json& golden() {
  static json j = [] {
    std::ifstream f(std::string(TESSERA_TEST_DATA_DIR) + "/nn_layers.json");
    EXPECT_TRUE(f.good()) << "missing " << TESSERA_TEST_DATA_DIR << "/nn_layers.json";
    return f.good() ? json::parse(f) : json::object();
  }();
  return j;
}

Tensor decode(const json& v, DType dtype = kFloat64) {
  Shape shape = v["shape"].get<Shape>();
  return make(v["data"].get<std::vector<double>>(), shape, dtype);
}

Tensor decode_bool(const json& v) {
  Shape shape = v["shape"].get<Shape>();
  std::vector<double> d;
  for (const auto& e : v["data"]) d.push_back(e.get<bool>() ? 1.0 : 0.0);
  return make(d, shape, kBool);
}

// Loads the case's parameters into m (float64, strict), runs fn, backpropagates gy and compares.
template <class Fn>
void check_case(const char* name, nn::Module& m, Fn fn, double tol = 1e-10) {
  SCOPED_TRACE(name);
  const json& c = golden()[name];
  ASSERT_FALSE(c.is_null()) << "no golden case " << name;
  m.to(kFloat64);
  nn::StateDict sd;
  for (auto& [k, v] : c["params"].items()) sd.emplace_back(k, decode(v));
  m.load_state_dict(sd, /*strict=*/true);
  Tensor x = decode(c["inputs"]["x"]).requires_grad_();
  Tensor y = fn(x, c);
  if (c["inputs"].contains("padding_mask")) {
    // Outputs at padding positions are unspecified: compare real positions only.
    Tensor real = decode_bool(c["inputs"]["padding_mask"]).to(kFloat64).unsqueeze(-1);
    expect_close(y.detach() * real, decode(c["y"]) * real, tol, "y (real tokens)");
  } else {
    expect_close(y, decode(c["y"]), tol, "y");
  }
  (y * decode(c["gy"])).sum().backward();
  expect_close(x.grad(), decode(c["grads"]["input:x"]), tol, "grad x");
  for (auto& [k, v] : c["params"].items()) expect_close(m.get(k).grad(), decode(c["grads"]["param:" + k]), tol, k);
}

nn::Activation act_of(const std::string& s) {
  if (s == "gelu") return nn::Activation::GELU;
  if (s == "gelu_tanh") return nn::Activation::GELUTanh;
  if (s == "silu") return nn::Activation::SiLU;
  return nn::Activation::ReLU;
}

}  // namespace

TEST(LayersGolden, Linear) {
  auto m = std::make_shared<nn::Linear>(5, 4);
  check_case("linear", *m, [&](const Tensor& x, const json&) { return m->forward(x); });
}

TEST(LayersGolden, Norms) {
  auto ln = std::make_shared<nn::LayerNorm>(6, 1e-5);
  check_case("layer_norm", *ln, [&](const Tensor& x, const json&) { return ln->forward(x); });
  auto rms = std::make_shared<nn::RMSNorm>(6, 1e-6);
  check_case("rms_norm", *rms, [&](const Tensor& x, const json&) { return rms->forward(x); });
}

TEST(LayersGolden, MLPs) {
  for (const char* name : {"mlp_gelu", "mlp_gelu_tanh", "mlp_relu", "mlp_swiglu"}) {
    const json& c = golden()[name];
    ASSERT_FALSE(c.is_null()) << name;
    auto m = std::make_shared<nn::MLP>(
        nn::MLPOptions{.d_model = 4, .hidden = 7, .act = act_of(c["act"]), .gated = c["gated"].get<bool>()});
    check_case(name, *m, [&](const Tensor& x, const json&) { return m->forward(x); });
  }
}

TEST(LayersGolden, Rope) {
  for (const char* name : {"rope", "rope_big_offset"}) {
    auto none = std::make_shared<nn::Module>();
    check_case(name, *none, [](const Tensor& x, const json& c) {
      return nn::functional::apply_rope(x, c["offset"].get<int64_t>(), c["theta"].get<double>());
    });
  }
}

TEST(LayersGolden, AttentionGqaRopePadded) {
  // Right padding (the fused path, Note [right padding takes the fused path]) and left padding
  // (the exact masked path).
  for (const char* name : {"attention_gqa_rope_padded", "attention_gqa_rope_left_padded"}) {
    const json& c = golden()[name];
    auto m = std::make_shared<nn::MultiheadSelfAttention>(
        nn::AttentionOptions{.d_model = 16, .n_heads = 4, .n_kv_heads = 2, .causal = true, .rope = true});
    check_case(name, *m,
               [&](const Tensor& x, const json&) { return m->forward(x, decode_bool(c["inputs"]["padding_mask"])); });
  }
}

TEST(LayersGolden, AttentionBidirectional) {
  auto m = std::make_shared<nn::MultiheadSelfAttention>(nn::AttentionOptions{.d_model = 16, .n_heads = 4, .causal = false});
  check_case("attention_bidirectional", *m, [&](const Tensor& x, const json&) { return m->forward(x); });
}

TEST(LayersGolden, TransformerBlocks) {
  {
    auto b = std::make_shared<nn::TransformerBlock>(nn::TransformerBlockOptions{.attn = {.d_model = 16, .n_heads = 4, .n_kv_heads = 2, .bias = false, .rope = true},
                            .mlp = {.d_model = 16, .hidden = 24, .act = nn::Activation::SiLU, .gated = true, .bias = false},
                            .norm = nn::NormKind::RMSNorm,
                            .norm_eps = 1e-6});
    check_case("block_llama", *b, [&](const Tensor& x, const json&) { return b->forward(x); });
  }
  {
    const json& c = golden()["block_gpt2_padded"];
    auto b = std::make_shared<nn::TransformerBlock>(nn::TransformerBlockOptions{.attn = {.d_model = 8, .n_heads = 2},
                            .mlp = {.d_model = 8, .hidden = 32, .act = nn::Activation::GELUTanh},
                            .norm = nn::NormKind::LayerNorm,
                            .norm_eps = 1e-5});
    check_case("block_gpt2_padded", *b,
               [&](const Tensor& x, const json&) { return b->forward(x, decode_bool(c["inputs"]["padding_mask"])); });
  }
}

TEST(LayersGolden, ClipGradNorm) {
  for (const json& c : golden()["clip_grad_norm"]) {
    const double norm_type = c["norm_type"].is_string() ? INFINITY : c["norm_type"].get<double>();
    SCOPED_TRACE(norm_type);
    std::vector<Tensor> params;
    for (const json& g : c["grads"]) {
      Tensor p = zeros(g["shape"].get<Shape>(), kFloat64).requires_grad_();
      p.set_grad(decode(g));
      params.push_back(p);
    }
    // A parameter without a gradient is skipped.
    params.push_back(zeros({3}, kFloat64).requires_grad_());
    Tensor total = nn::clip_grad_norm_(params, c["max_norm"].get<double>(), norm_type);
    EXPECT_EQ(total.dim(), 0);
    EXPECT_EQ(total.dtype(), kFloat64);
    EXPECT_NEAR(total.item<double>(), c["total"].get<double>(), 1e-12);
    for (size_t i = 0; i < c["clipped"].size(); ++i) expect_close(params[i].grad(), decode(c["clipped"][i]), 1e-12);
    EXPECT_FALSE(params.back().grad().defined());
  }
}
