// models::LLM (both styles): shapes, HF-style names and state-dict round trip, tied embeddings,
// the shifted loss, padding masks, prefix embeddings, KV-cache equivalence (logits and generated
// tokens), sampling, a float64 gradcheck, SGD reducing the loss, and error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include <tessera/models/llm.h>
#include <tessera/tessera.h>

using namespace tessera;
using namespace tessera::models;

namespace {

LLMConfig small_config(const std::string& style, bool tie = true) {
  LLMConfig c;
  c.style = style;
  c.vocab_size = 37;
  c.d_model = 16;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = style == "llama" ? 2 : 4;
  c.mlp_hidden = 24;
  c.max_seq_len = 32;
  c.tie_embeddings = tie;
  c.norm_eps = 1e-5;
  return c;
}

Tensor random_ids(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  manual_seed(seed);
  return randint(0, V, {B, T});
}

std::set<std::string> names_of(const nn::NamedTensors& v) {
  std::set<std::string> out;
  for (const auto& [n, t] : v) out.insert(n);
  return out;
}

double max_abs_diff(const Tensor& a, const Tensor& b) { return (a - b).abs().max().item<double>(); }

class LLMStyles : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST_P(LLMStyles, ShapesAndPrefix) {
  manual_seed(1);
  LLM m(small_config(GetParam()));
  Tensor ids = random_ids(2, 5, 37, 2);
  EXPECT_EQ(m.forward(ids).sizes(), (Shape{2, 5, 37}));
  Tensor prefix = randn({2, 3, 16});
  EXPECT_EQ(m.forward(ids, {}, prefix).sizes(), (Shape{2, 8, 37}));
  // Prefix only (no text yet).
  EXPECT_EQ(m.forward(tessera::zeros({2, 0}, kInt64), {}, prefix).sizes(), (Shape{2, 3, 37}));
  // A prefix equal to the first tokens' embeddings gives the logits of the whole sequence.
  NoGradGuard g;
  Tensor pre = m.embed_tokens->forward(ids.slice(1, 0, 2));
  Tensor full = m.forward(ids);
  Tensor split = m.forward(ids.slice(1, 2, 5), {}, pre);
  EXPECT_LT(max_abs_diff(full, split), 1e-5);
}

TEST_P(LLMStyles, KVCacheMatchesFullForward) {
  manual_seed(3);
  LLM m(small_config(GetParam()));
  m.eval();
  NoGradGuard g;
  Tensor ids = random_ids(2, 9, 37, 4);
  Tensor prefix = randn({2, 2, 16});
  Tensor full = m.forward(ids, {}, prefix);  // [2, 11, V]
  std::vector<nn::KVCache> caches;
  Tensor a = m.forward(ids.slice(1, 0, 4), {}, prefix, &caches);  // prefix + 4 tokens
  EXPECT_EQ(caches.size(), 2u);
  EXPECT_EQ(caches[0].length, 6);
  Tensor b = m.forward(ids.slice(1, 4, 5), {}, {}, &caches);  // one token
  Tensor c = m.forward(ids.slice(1, 5, 9), {}, {}, &caches);  // a chunk of 4
  EXPECT_EQ(caches[1].length, 11);
  Tensor inc = cat({a, b, c}, 1);
  EXPECT_LT(max_abs_diff(full, inc), 2e-5);
}

TEST_P(LLMStyles, CachedGenerationEqualsUncachedGreedy) {
  manual_seed(5);
  LLM m(small_config(GetParam()));
  std::vector<int64_t> prompt = {3, 1, 4, 1, 5};
  GenerationOptions opt;
  opt.max_new_tokens = 12;
  auto cached = m.generate(prompt, opt);
  opt.use_cache = false;
  auto uncached = m.generate(prompt, opt);
  EXPECT_EQ(cached.size(), 12u);
  EXPECT_EQ(cached, uncached);
  // Greedy by hand: argmax of a full forward at each step.
  {
    NoGradGuard g;
    std::vector<int64_t> seq = prompt, manual;
    for (int i = 0; i < 12; ++i) {
      Tensor logits = m.forward(from_vector<int64_t>(seq, {1, int64_t(seq.size())}));
      int64_t t = logits.select(1, logits.size(1) - 1).argmax(-1).item<int64_t>();
      manual.push_back(t);
      seq.push_back(t);
    }
    EXPECT_EQ(cached, manual);
  }
  // Sampling: same seed, same tokens, with and without the cache; the training flag is restored.
  m.train();
  opt.temperature = 1.0;
  opt.top_k = 5;
  opt.seed = 42;
  opt.use_cache = true;
  auto s1 = m.generate(prompt, opt);
  opt.use_cache = false;
  auto s2 = m.generate(prompt, opt);
  EXPECT_EQ(s1, s2);
  EXPECT_TRUE(m.is_training());
  // eos stops generation (and is returned).
  opt.eos_id = s1[2];
  opt.use_cache = true;
  auto s3 = m.generate(prompt, opt);
  ASSERT_LE(s3.size(), 3u);
  EXPECT_EQ(s3.back(), s1[2]);
  // Generation stops at max_seq_len (32): 5 prompt tokens + at most 27 new.
  opt.eos_id = -1;
  opt.max_new_tokens = 100;
  EXPECT_EQ(m.generate(prompt, opt).size(), 27u + 1u);
}

TEST_P(LLMStyles, RightPaddingDoesNotChangeRealPositions) {
  manual_seed(6);
  LLM m(small_config(GetParam()));
  NoGradGuard g;
  Tensor ids = random_ids(1, 7, 37, 7);
  Tensor alone = m.forward(ids.slice(1, 0, 4));  // 4 real tokens
  Tensor padded_ids = ids.clone();
  Tensor mask = from_vector<bool>({true, true, true, true, false, false, false}, {1, 7});
  Tensor padded = m.forward(padded_ids, mask);
  EXPECT_LT(max_abs_diff(padded.slice(1, 0, 4), alone), 1e-5);
  // With a prefix, a [B, T] mask counts the prefix as real.
  Tensor prefix = randn({1, 2, 16});
  Tensor p_alone = m.forward(ids.slice(1, 0, 4), {}, prefix);
  Tensor p_padded = m.forward(ids, mask, prefix);
  EXPECT_LT(max_abs_diff(p_padded.slice(1, 0, 6), p_alone), 1e-5);
}

TEST_P(LLMStyles, GradcheckFloat64) {
  manual_seed(8);
  LLMConfig c = small_config(GetParam());
  c.d_model = 8, c.n_heads = 2, c.n_kv_heads = GetParam() == "llama" ? 1 : 2, c.mlp_hidden = 8, c.vocab_size = 11;
  c.n_layers = 1;
  LLM m(c);
  m.to(kFloat64);
  Tensor ids = random_ids(1, 3, 11, 9);
  Tensor prefix = autograd::gradcheck_input({1, 2, 8}, 10);
  auto fn = [&](const autograd::variable_list& in) -> autograd::variable_list {
    return {m.forward(ids, {}, in[0]).slice(2, 0, 4)};
  };
  EXPECT_TRUE(autograd::gradcheck(fn, {prefix}));
  // Through the shifted loss too (labels cover prefix + text; the prefix positions are ignored).
  Tensor labels = cat({tessera::full({1, 2}, -100, kInt64), ids}, 1);
  auto fn_loss = [&](const autograd::variable_list& in) -> autograd::variable_list {
    return {LLM::loss(m.forward(ids, {}, in[0]), labels)};
  };
  EXPECT_TRUE(autograd::gradcheck(fn_loss, {prefix}));
}

TEST_P(LLMStyles, SGDReducesTheLoss) {
  manual_seed(11);
  LLM m(small_config(GetParam()));
  Tensor ids = random_ids(2, 12, 37, 12);
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    m.zero_grad();
    Tensor loss = LLM::loss(m.forward(ids), ids);
    loss.backward();
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
    NoGradGuard g;
    for (auto& p : m.parameters()) {
      Tensor t = p;
      t.sub_(p.grad(), 0.5);
    }
  }
  EXPECT_LT(last, 0.7 * first) << "first " << first << " last " << last;
}

INSTANTIATE_TEST_SUITE_P(Models, LLMStyles, ::testing::Values("gpt2", "llama"));

TEST(LLM, NamesAreHFStyle) {
  LLM gpt(small_config("gpt2"));
  auto names = names_of(gpt.state_dict());
  for (const char* n : {"embed_tokens.weight", "embed_positions.weight", "layers.0.input_layernorm.weight",
                        "layers.0.input_layernorm.bias", "layers.0.self_attn.qkv_proj.weight",
                        "layers.0.self_attn.qkv_proj.bias", "layers.0.self_attn.o_proj.weight",
                        "layers.1.post_attention_layernorm.weight", "layers.1.mlp.fc1.weight", "layers.1.mlp.fc2.bias",
                        "norm.weight", "norm.bias"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_FALSE(names.count("lm_head.weight"));  // tied
  LLM llama(small_config("llama", /*tie=*/false));
  names = names_of(llama.state_dict());
  for (const char* n : {"embed_tokens.weight", "layers.1.self_attn.qkv_proj.weight", "layers.1.mlp.gate_proj.weight",
                        "layers.1.mlp.up_proj.weight", "layers.1.mlp.down_proj.weight", "norm.weight",
                        "lm_head.weight"})
    EXPECT_TRUE(names.count(n)) << n;
  for (const auto& n : names) EXPECT_EQ(n.find("bias"), std::string::npos) << n;  // llama: no biases
  EXPECT_FALSE(names.count("embed_positions.weight"));                           // RoPE
  // GQA: q 4 heads + k, v 2 heads each, head dim 4.
  EXPECT_EQ(llama.get("layers.0.self_attn.qkv_proj.weight").sizes(), (Shape{(4 + 2 * 2) * 4, 16}));
}

TEST(LLM, TiedEmbeddings) {
  manual_seed(13);
  LLM m(small_config("gpt2", /*tie=*/true));
  EXPECT_EQ(m.lm_head, nullptr);
  int count = 0;
  for (auto& [n, p] : m.named_parameters())
    if (p.is_same(m.embed_tokens->weight)) ++count;
  EXPECT_EQ(count, 1);
  // The logits are the hidden states times the embedding matrix, and its gradient gets both uses.
  Tensor ids = random_ids(1, 6, 37, 14);
  Tensor h = m.forward_hidden(ids);
  EXPECT_LT(max_abs_diff(m.lm_logits(h), matmul(h, m.embed_tokens->weight.t())), 1e-6);
  LLM::loss(m.forward(ids), ids).backward();
  ASSERT_TRUE(m.embed_tokens->weight.grad().defined());
  // Untied: one more [V, d] matrix.
  LLM u(small_config("gpt2", /*tie=*/false));
  EXPECT_EQ(u.num_parameters() - m.num_parameters(), 37 * 16);
  // The state dict of a tied model loads into another tied model (strictly) and reproduces it.
  manual_seed(99);
  LLM other(small_config("gpt2", /*tie=*/true));
  NoGradGuard g;
  EXPECT_GT(max_abs_diff(other.forward(ids), m.forward(ids)), 1e-4);
  other.load_state_dict(m.state_dict());
  EXPECT_LT(max_abs_diff(other.forward(ids), m.forward(ids)), 1e-7);
  // A tied state dict does not load strictly into an untied model: lm_head.weight is missing.
  EXPECT_THROW(u.load_state_dict(m.state_dict()), ValueError);
}

TEST(LLM, LossIsTheShiftedCrossEntropy) {
  manual_seed(15);
  Tensor logits = randn({2, 5, 7});
  Tensor labels = from_vector<int64_t>({1, 2, 3, 4, 5, 6, 0, -100, -100, 2}, {2, 5});
  Tensor loss = LLM::loss(logits, labels);
  // By hand: positions t = 0..3 predict labels t+1, skipping -100.
  double total = 0;
  int n = 0;
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 4; ++t) {
      int64_t y = labels[b][t + 1].item<int64_t>();
      if (y == -100) continue;
      Tensor row = logits[b][t].to(kFloat64);
      total += (row.logsumexp({0}) - row[y]).item<double>();
      ++n;
    }
  EXPECT_EQ(n, 6);
  EXPECT_NEAR(loss.item<double>(), total / n, 1e-5);
}

TEST(LLM, InitFollowsGPT2) {
  manual_seed(16);
  LLMConfig c = small_config("gpt2");
  c.d_model = 64, c.n_heads = 4, c.n_kv_heads = 4, c.mlp_hidden = 256, c.n_layers = 8;
  LLM m(c);
  auto std_of = [&](const std::string& n) { return m.get(n).std().item<double>(); };
  EXPECT_NEAR(std_of("layers.0.mlp.fc1.weight"), 0.02, 0.002);
  EXPECT_NEAR(std_of("layers.0.mlp.fc2.weight"), 0.02 / std::sqrt(16.0), 0.0006);
  EXPECT_NEAR(std_of("layers.3.self_attn.o_proj.weight"), 0.02 / std::sqrt(16.0), 0.0006);
  EXPECT_NEAR(std_of("embed_tokens.weight"), 0.02, 0.003);
  EXPECT_EQ(m.get("layers.0.self_attn.qkv_proj.bias").abs().max().item<double>(), 0.0);
  EXPECT_EQ(m.get("norm.weight").min().item<double>(), 1.0);
}

TEST(LLM, SampleToken) {
  uint64_t state = 1;
  std::vector<float> logits = {0.1f, 2.0f, 1.9f, -1.0f};
  EXPECT_EQ(sample_token(logits, 0.0, 0, state), 1);
  EXPECT_EQ(sample_token(logits, 1.0, 1, state), 1);  // top-1 sampling is greedy
  // top-2 only ever picks 1 or 2; both appear; deterministic in the seed.
  std::set<int64_t> seen;
  uint64_t s1 = 7, s2 = 7;
  for (int i = 0; i < 200; ++i) {
    int64_t a = sample_token(logits, 1.0, 2, s1);
    EXPECT_EQ(a, sample_token(logits, 1.0, 2, s2));
    seen.insert(a);
  }
  EXPECT_EQ(seen, (std::set<int64_t>{1, 2}));
  EXPECT_THROW(sample_token(logits, -1.0, 0, state), ValueError);
  EXPECT_THROW(sample_token({}, 1.0, 0, state), ValueError);
}

TEST(LLM, Errors) {
  LLM m(small_config("gpt2"));
  EXPECT_THROW(m.forward(tessera::zeros({2, 3})), DTypeError);
  EXPECT_THROW(m.forward(tessera::zeros({6}, kInt64)), ShapeError);
  EXPECT_THROW(m.forward(tessera::zeros({1, 33}, kInt64)), ValueError);  // > max_seq_len positions
  EXPECT_THROW(m.forward(tessera::zeros({1, 3}, kInt64), tessera::ones({1, 2}, kBool)), ShapeError);
  EXPECT_THROW(m.forward(tessera::zeros({1, 3}, kInt64), {}, randn({2, 1, 16})), ShapeError);
  EXPECT_THROW(m.generate({40}), IndexError);
  EXPECT_THROW(m.generate({}), ValueError);
  EXPECT_THROW(LLM::loss(randn({1, 1, 37}), tessera::zeros({1, 1}, kInt64)), ShapeError);
  LLMConfig bad = small_config("gpt2");
  bad.n_heads = 5;
  try {
    LLM x(bad);
    ADD_FAILURE() << "expected a ValueError";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("d_model = 16 is not divisible by n_heads = 5"), std::string::npos);
  }
}
