// Benchmark (not a test): one pre-norm TransformerBlock, forward + backward on the CPU in float32,
// against the same block written in PyTorch (tools/bench/layers_torch.py) in the same run.
//   bench_layers [--threads N] [--no-torch] [--case gpt2|llama|padded|decode]
// Cases: GPT-2 style (LayerNorm, GELU-tanh MLP, bias), Llama style (RMSNorm, SwiGLU, rope, GQA),
// and the Llama block with right padding (fused kernel) and left padding (explicit masked path). B=4, S=128, d=256.
// Also a KV-cache decode step (1 token attending to 127 cached ones, no grad). Medians.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/bench_process.h"
#include "common/timing.h"
#include "tessera/nn/nn.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

constexpr int64_t kB = 4, kS = 128, kD = 256, kH = 4;

std::shared_ptr<nn::TransformerBlock> make_block(bool llama) {
  manual_seed(0);
  if (llama)
    return std::make_shared<nn::TransformerBlock>(nn::TransformerBlockOptions{
        .attn = {.d_model = kD, .n_heads = kH, .n_kv_heads = 2, .bias = false, .rope = true},
        .mlp = {.d_model = kD, .hidden = 688, .act = nn::Activation::SiLU, .gated = true, .bias = false},
        .norm = nn::NormKind::RMSNorm,
        .norm_eps = 1e-6});
  return std::make_shared<nn::TransformerBlock>(nn::TransformerBlockOptions{
      .attn = {.d_model = kD, .n_heads = kH}, .mlp = {.d_model = kD, .hidden = 4 * kD, .act = nn::Activation::GELUTanh}});
}

std::vector<std::pair<std::string, double>> torch_numbers(int threads) {
  return tools::read_key_values("python3 " + std::string(TESSERA_LAYERS_TORCH_REF) + " " + std::to_string(threads));
}

}  // namespace

int main(int argc, char** argv) {
  int threads = cpu::num_threads();
  bool torch = true;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--no-torch") torch = false;
    else if (a == "--case" && i + 1 < argc) only = argv[++i];
  }
  auto want = [&](const char* c) { return only.empty() || only == c; };
  cpu::set_num_threads(threads);
  tools::TimingOptions opt;
  opt.budget_s = 2.0;

  manual_seed(1);
  Tensor x = randn({kB, kS, kD});
  // Sequence b keeps its first S - 16 b tokens.
  std::vector<bool> keep;
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t s = 0; s < kS; ++s) keep.push_back(s < kS - 16 * b);
  Tensor pad = tensor<bool>(keep).view({kB, kS});
  // The same amounts of padding on the left: the exact masked path.
  std::vector<bool> keep_left;
  for (int64_t b = 0; b < kB; ++b)
    for (int64_t s = 0; s < kS; ++s) keep_left.push_back(s >= 16 * b);
  Tensor left_pad = tensor<bool>(keep_left).view({kB, kS});

  std::vector<std::pair<std::string, double>> ours;
  for (bool llama : {false, true}) {
    auto blk = make_block(llama);
    const std::string name = llama ? "llama" : "gpt2";
    if (want(name.c_str())) {
      ours.emplace_back(name + "_fwd_ms", tools::median_ms([&] { NoGradGuard g; blk->forward(x); }, Device::cpu(), opt));
      ours.emplace_back(name + "_fwdbwd_ms",
                        tools::median_ms([&] { blk->forward(x).sum().backward(); }, Device::cpu(), opt));
    }
    if (llama && want("padded")) {
      ours.emplace_back("llama_padded_fwdbwd_ms",
                        tools::median_ms([&] { blk->forward(x, pad).sum().backward(); }, Device::cpu(), opt));
      ours.emplace_back("llama_leftpad_fwdbwd_ms",
                        tools::median_ms([&] { blk->forward(x, left_pad).sum().backward(); }, Device::cpu(), opt));
    }
    if (llama && want("decode")) {
      NoGradGuard g;
      nn::KVCache cache;
      blk->forward(x.narrow(1, 0, kS - 1), {}, &cache);
      Tensor tok = x.narrow(1, kS - 1, 1);
      ours.emplace_back("llama_decode_ms", tools::median_ms([&] {
                          cache.length = kS - 1;
                          blk->forward(tok, {}, &cache);
                        }, Device::cpu(), opt));
    }
  }

  std::vector<std::pair<std::string, double>> ref;
  if (torch) ref = torch_numbers(threads);
  auto get = [&](const std::string& k) {
    for (auto& [key, v] : ref)
      if (key == k) return v;
    return -1.0;
  };
  std::printf("TransformerBlock bench (B=%lld S=%lld d=%lld, float32), %d thread(s); PyTorch %s\n", (long long)kB,
              (long long)kS, (long long)kD, threads,
              ref.empty() ? "(not available)" : "(tools/bench/layers_torch.py, same run)");
  std::printf("%-26s %12s %12s %8s\n", "case", "tessera ms", "pytorch ms", "ratio");
  for (auto& [k, v] : ours) {
    double t = get(k);
    if (t > 0) std::printf("%-26s %12.3f %12.3f %8.2f\n", k.c_str(), v, t, v / t);
    else std::printf("%-26s %12.3f %12s %8s\n", k.c_str(), v, "-", "-");
  }
  return 0;
}
