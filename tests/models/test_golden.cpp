// Golden checks against an independent PyTorch reference (tools/golden/models.py ->
// tests/data/models_{gpt2,llama,vit}.safetensors): the tessera model built from the file's config
// loads the reference weights under its own parameter names and reproduces the logits/features,
// the loss, every parameter gradient and the input gradient within float32 tolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include <tessera/models/llm.h>
#include <tessera/models/vit.h>
#include <tessera/tensor/safetensors.h>
#include <tessera/tessera.h>

using namespace tessera;
using namespace tessera::models;

namespace {

struct Golden {
  std::map<std::string, Tensor> t;
  safetensors::Metadata meta;
  nn::StateDict params;
  const Tensor& at(const std::string& k) const {
    auto it = t.find(k);
    if (it == t.end()) throw ValueError("golden file has no tensor " + k);
    return it->second;
  }
};

Golden load_golden(const std::string& name) {
  Golden g;
  auto file = safetensors::load(std::string(TESSERA_TEST_DATA_DIR) + "/models_" + name + ".safetensors");
  g.meta = file.metadata;
  for (auto& [k, v] : file.tensors) {
    g.t[k] = v;
    if (k.rfind("param.", 0) == 0) g.params.emplace_back(k.substr(6), v);
  }
  return g;
}

// max |a - b| over max(|b|): a relative error of the whole tensor (robust to entries near 0).
double rel_err(const Tensor& a, const Tensor& b) {
  Tensor a64 = a.to(kFloat64), b64 = b.to(kFloat64);
  double scale = std::max(b64.abs().max().item<double>(), 1e-12);
  return (a64 - b64).abs().max().item<double>() / scale;
}

// Every parameter has a reference gradient, and they agree.
void expect_param_grads(nn::Module& m, const Golden& g, double tol) {
  size_t n = 0;
  double worst = 0;
  std::string worst_name;
  for (const auto& [name, p] : m.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    double e = rel_err(p.grad(), g.at("grad." + name));
    EXPECT_LT(e, tol) << "gradient of " << name;
    if (e > worst) worst = e, worst_name = name;
    ++n;
  }
  size_t expected = std::count_if(g.t.begin(), g.t.end(), [](const auto& kv) { return kv.first.rfind("grad.", 0) == 0; });
  EXPECT_EQ(n, expected);
  std::printf("  worst parameter gradient error %.2e (%s) over %zu parameters\n", worst, worst_name.c_str(), n);
}

void check_llm(const std::string& name) {
  Golden g = load_golden(name);
  LLMConfig cfg = LLMConfig::from_json(g.meta.at("config"), "models_" + name + ".safetensors");
  LLM m(cfg);
  m.load_state_dict(g.params);  // strict: the names match both ways
  Tensor prefix = g.at("input.prefix").clone().requires_grad_();
  Tensor logits = m.forward(g.at("input.ids"), g.at("input.padding_mask"), prefix);
  Tensor loss = LLM::loss(logits, g.at("input.labels"));
  loss.backward();
  double e_logits = rel_err(logits, g.at("output.logits"));
  double e_loss = rel_err(loss, g.at("output.loss"));
  double e_prefix = rel_err(prefix.grad(), g.at("grad_input.prefix"));
  std::printf("  %s: logits %.2e, loss %.2e, prefix grad %.2e (relative errors)\n", name.c_str(), e_logits, e_loss,
              e_prefix);
  EXPECT_LT(e_logits, 1e-5);
  EXPECT_LT(e_loss, 1e-5);
  EXPECT_LT(e_prefix, 1e-4);
  expect_param_grads(m, g, 1e-4);
}

}  // namespace

TEST(Golden, GPT2StyleLLM) { check_llm("gpt2"); }

TEST(Golden, LlamaStyleLLM) { check_llm("llama"); }

TEST(Golden, ViT) {
  Golden g = load_golden("vit");
  ViT m(ViTConfig::from_json(g.meta.at("config"), "models_vit.safetensors"));
  m.load_state_dict(g.params);
  Tensor images = g.at("input.images").clone().requires_grad_();
  Tensor feats = m.forward(images);
  Tensor loss = (feats * g.at("input.loss_weights")).sum();
  loss.backward();
  double e_feats = rel_err(feats, g.at("output.features"));
  double e_loss = rel_err(loss, g.at("output.loss"));
  double e_img = rel_err(images.grad(), g.at("grad_input.images"));
  std::printf("  vit: features %.2e, loss %.2e, image grad %.2e (relative errors)\n", e_feats, e_loss, e_img);
  EXPECT_LT(e_feats, 1e-5);
  EXPECT_LT(e_loss, 1e-4);
  EXPECT_LT(e_img, 1e-4);
  expect_param_grads(m, g, 1e-4);
}
