// Benchmark (not a test): one training step (forward + backward) of pre-norm transformer block
// stacks built directly from tessera ops, against the identical PyTorch eager computation
// (tools/bench/block_torch.py), at the shapes of issue 4's tiny-vlm:
//   vit: patches [16, 64, 48] -> Linear 48->128 + pos -> 4 blocks (d 128, 4 heads, MLP 4x) -> LN -> mean(h * probe)
//   llm: ids [16, 128] -> embedding 512x192 + pos -> 4 causal blocks (d 192, 6 heads) -> LN -> head 192->512 -> CE
//   vlm: the vit stack -> projector (Linear 128->192, gelu, Linear 192->192) as 64 image tokens, cat 64 text
//        tokens -> the llm stack; CE on the text positions only (-100 elsewhere)
// A block: x += o(sdpa(qkv(ln1(x)))); x += fc2(gelu(fc1(ln2(x)))); a Linear is x @ W[out,in]^T + b.
//
//   bench_block [--case vit|llm|vlm|all] [--threads N] [--repeats R] [--steps N] [--no-torch]
//   bench_block --worker --case C [--threads N] [--steps N]     (one measurement, "key value" lines)
//
// Protocol: every measurement runs in its own process (a worker: this binary re-executed, or the
// PyTorch script), so peak memory is per case. A worker builds the model and inputs, records
// VmRSS, runs 2 warm-up steps and `steps` timed steps, and prints the median step time (wall, and
// CPU time of all threads, which other processes on the machine disturb less), the peak
// resident memory above the pre-step baseline (VmHWM - VmRSS at baseline) and the last loss. The
// driver interleaves tessera and PyTorch workers for `repeats` rounds (alternating who goes first)
// and reports the medians over rounds. Parameters are a deterministic sin() pattern in both, so
// the two losses must agree (printed as a check that the computations are the same).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <time.h>
#include <unistd.h>

#include "common/bench_process.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::tools;

namespace {

// ---- deterministic parameters (block_torch.py builds the same values) ----

int g_param_seed = 0;

// scale * sin(0.7 i + 1.3 seed), i = flat index; a new seed per tensor.
Tensor det_param(IntArrayRef shape, double scale) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  std::vector<float> v(static_cast<size_t>(n));
  const double seed = g_param_seed++;
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = float(scale * std::sin(0.7 * double(i) + 1.3 * seed));
  return from_vector(v, shape).requires_grad_();
}

struct Linear {
  Tensor w, b;
  Linear(int64_t in, int64_t out, bool bias = true) {
    w = det_param({out, in}, 1.0 / std::sqrt(double(in)));
    if (bias) b = det_param({out}, 0.02);
  }
  Tensor operator()(const Tensor& x) const {
    Tensor y = matmul(x, w.t());
    return b.defined() ? y + b : y;
  }
  void params(std::vector<Tensor>& out) const {
    out.push_back(w);
    if (b.defined()) out.push_back(b);
  }
};

struct LayerNorm {
  Tensor w, b;
  int64_t d;
  explicit LayerNorm(int64_t dim) : d(dim) {
    w = (det_param({dim}, 0.1) + 1.0).detach().requires_grad_();
    b = det_param({dim}, 0.02);
  }
  Tensor operator()(const Tensor& x) const { return layer_norm(x, {d}, w, b); }
  void params(std::vector<Tensor>& out) const {
    out.push_back(w);
    out.push_back(b);
  }
};

struct Block {
  int64_t d, heads;
  bool causal;
  // Declaration order = construction order = the order block_torch.py draws the parameters.
  LayerNorm ln1;
  Linear qkv, o;
  LayerNorm ln2;
  Linear fc1, fc2;
  Block(int64_t dim, int64_t h, bool is_causal)
      : d(dim), heads(h), causal(is_causal), ln1(dim), qkv(dim, 3 * dim), o(dim, dim), ln2(dim), fc1(dim, 4 * dim),
        fc2(4 * dim, dim) {}
  Tensor operator()(Tensor x) const {
    const int64_t B = x.size(0), S = x.size(1), hd = d / heads;
    Tensor t = qkv(ln1(x)).view({B, S, 3, heads, hd}).permute({2, 0, 3, 1, 4});  // [3, B, H, S, hd]
    Tensor a = scaled_dot_product_attention(t.select(0, 0), t.select(0, 1), t.select(0, 2), causal);
    x = x + o(a.transpose(1, 2).reshape({B, S, d}));
    return x + fc2(gelu(fc1(ln2(x))));
  }
  void params(std::vector<Tensor>& out) const {
    ln1.params(out);
    qkv.params(out);
    o.params(out);
    ln2.params(out);
    fc1.params(out);
    fc2.params(out);
  }
};

constexpr int64_t kBatch = 16, kImgTokens = 64, kPatchDim = 48, kVitD = 128, kVitH = 4, kLlmD = 192, kLlmH = 6,
                  kVocab = 512, kLayers = 4;

struct Stack {
  std::vector<Block> blocks;
  std::unique_ptr<LayerNorm> ln_f;  // made after the blocks (parameter order)
  Stack(int64_t d, int64_t h, bool causal) {
    for (int i = 0; i < kLayers; ++i) blocks.emplace_back(d, h, causal);
    ln_f = std::make_unique<LayerNorm>(d);
  }
  Tensor operator()(Tensor x) const {
    for (const Block& b : blocks) x = b(x);
    return (*ln_f)(x);
  }
  void params(std::vector<Tensor>& out) const {
    for (const Block& b : blocks) b.params(out);
    ln_f->params(out);
  }
};

// One case: its parameters, inputs, and the step's loss.
struct Case {
  std::vector<Tensor> params;
  std::function<Tensor()> loss;
};

// Inputs (same formulas in block_torch.py).
Tensor patches_input() {
  std::vector<float> v(size_t(kBatch * kImgTokens * kPatchDim));
  for (size_t i = 0; i < v.size(); ++i) v[i] = float(std::sin(0.37 * double(i)));
  return from_vector(v, {kBatch, kImgTokens, kPatchDim});
}
Tensor token_ids(int64_t seq, int64_t salt) {
  std::vector<int64_t> v(size_t(kBatch * seq));
  for (size_t i = 0; i < v.size(); ++i) v[i] = int64_t((i * 7919 + size_t(salt) * 104729 + 13) % kVocab);
  return from_vector(v, {kBatch, seq});
}

Case make_case(const std::string& name) {
  Case c;
  g_param_seed = 0;
  if (name == "vit") {
    auto embed = std::make_shared<Linear>(kPatchDim, kVitD);
    auto pos = std::make_shared<Tensor>(det_param({kImgTokens, kVitD}, 0.02));
    auto stack = std::make_shared<Stack>(kVitD, kVitH, false);
    Tensor probe = det_param({kImgTokens, kVitD}, 1.0).detach();
    Tensor x = patches_input();
    embed->params(c.params);
    c.params.push_back(*pos);
    stack->params(c.params);
    c.loss = [=] { return ((*stack)((*embed)(x) + *pos) * probe).mean(); };
  } else if (name == "llm") {
    const int64_t S = 2 * kImgTokens;
    auto wte = std::make_shared<Tensor>(det_param({kVocab, kLlmD}, 0.02));
    auto wpe = std::make_shared<Tensor>(det_param({S, kLlmD}, 0.02));
    auto stack = std::make_shared<Stack>(kLlmD, kLlmH, true);
    auto head = std::make_shared<Linear>(kLlmD, kVocab, false);
    Tensor ids = token_ids(S, 1), targets = token_ids(S, 2);
    c.params = {*wte, *wpe};
    stack->params(c.params);
    head->params(c.params);
    c.loss = [=] {
      Tensor h = (*stack)(embedding(*wte, ids) + *wpe);
      return cross_entropy((*head)(h).view({-1, kVocab}), targets.view({-1}));
    };
  } else if (name == "vlm") {
    const int64_t T = kImgTokens, S = kImgTokens + T;
    auto embed = std::make_shared<Linear>(kPatchDim, kVitD);
    auto vpos = std::make_shared<Tensor>(det_param({kImgTokens, kVitD}, 0.02));
    auto vit = std::make_shared<Stack>(kVitD, kVitH, false);
    auto proj1 = std::make_shared<Linear>(kVitD, kLlmD), proj2 = std::make_shared<Linear>(kLlmD, kLlmD);
    auto wte = std::make_shared<Tensor>(det_param({kVocab, kLlmD}, 0.02));
    auto wpe = std::make_shared<Tensor>(det_param({S, kLlmD}, 0.02));
    auto llm = std::make_shared<Stack>(kLlmD, kLlmH, true);
    auto head = std::make_shared<Linear>(kLlmD, kVocab, false);
    Tensor x = patches_input(), ids = token_ids(T, 1);
    // Targets: -100 on the image positions, token ids on the text ones.
    Tensor text_targets = token_ids(T, 2);
    Tensor targets = cat({full({kBatch, kImgTokens}, -100, kInt64), text_targets}, 1);
    embed->params(c.params);
    c.params.push_back(*vpos);
    vit->params(c.params);
    proj1->params(c.params);
    proj2->params(c.params);
    c.params.push_back(*wte);
    c.params.push_back(*wpe);
    llm->params(c.params);
    head->params(c.params);
    c.loss = [=] {
      Tensor img = (*proj2)(gelu((*proj1)((*vit)((*embed)(x) + *vpos))));
      Tensor h = cat({img, embedding(*wte, ids)}, 1) + *wpe;
      return cross_entropy((*head)((*llm)(h)).view({-1, kVocab}), targets.view({-1}));
    };
  } else {
    std::fprintf(stderr, "bench_block: unknown case '%s' (vit, llm, vlm)\n", name.c_str());
    std::exit(2);
  }
  return c;
}

int run_worker(const std::string& name, int steps) {
  Case c = make_case(name);
  reset_peak_rss();
  const int64_t base_kb = status_kb("VmRSS");
  double loss = 0;
  auto step = [&] {
    for (Tensor& p : c.params) p.set_grad(Tensor());
    Tensor l = c.loss();
    l.backward();
    loss = l.item<double>();
  };
  step();
  step();
  std::vector<double> ms, cpu_ms;
  for (int i = 0; i < steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = process_cpu_ms();
    step();
    cpu_ms.push_back(process_cpu_ms() - c0);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const int64_t peak_kb = status_kb("VmHWM");
  std::printf("ms %.4f\ncpu_ms %.4f\npeak_mb %.2f\nloss %.6f\n", median(ms), median(cpu_ms),
              double(peak_kb - base_kb) / 1024.0, loss);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string which = "all";
  int threads = 2, repeats = 5, steps = 10;
  bool torch = true, worker = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--case" && i + 1 < argc) which = argv[++i];
    else if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--repeats" && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (a == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (a == "--no-torch") torch = false;
    else if (a == "--worker") worker = true;
    else {
      std::fprintf(stderr, "usage: bench_block [--case vit|llm|vlm|all] [--threads N] [--repeats R] [--steps N] "
                           "[--no-torch] [--worker]\n");
      return 2;
    }
  }
  if (worker) {
    cpu::set_num_threads(threads);
    return run_worker(which, steps);
  }
  std::vector<std::string> cases = which == "all" ? std::vector<std::string>{"vit", "llm", "vlm"}
                                                  : std::vector<std::string>{which};
  const std::string ours = self_exe("bench_block") + " --worker --threads " + std::to_string(threads) + " --steps " +
                           std::to_string(steps) + " --case ";
  const std::string theirs = "python3 " + std::string(TESSERA_BLOCK_TORCH_REF) + " --threads " +
                             std::to_string(threads) + " --steps " + std::to_string(steps) + " --case ";
  std::map<std::string, std::vector<KeyValues>> t_res, p_res;
  for (int r = 0; r < repeats; ++r) {
    for (const std::string& c : cases) {
      const bool torch_first = torch && (r % 2 == 1);
      if (torch_first) p_res[c].push_back(run_worker_process(theirs + c));
      t_res[c].push_back(run_worker_process(ours + c));
      if (torch && !torch_first) p_res[c].push_back(run_worker_process(theirs + c));
    }
  }
  auto med = [](const std::vector<KeyValues>& rs, const char* key) { return median_of(rs, key); };
  std::printf("transformer block stacks, forward+backward, %d thread(s); medians of %d rounds x %d steps, tessera "
              "and PyTorch (tools/bench/block_torch.py) interleaved in separate processes\n",
              threads, repeats, steps);
  std::printf("wall ms: step time; cpu ms: CPU time of all threads per step (robust to load); MiB: peak RSS "
              "above the pre-step baseline; ratio = tessera / PyTorch\n");
  std::printf("%-5s %10s %10s %6s %10s %10s %6s %9s %9s %6s %10s %10s\n", "case", "tessera", "pytorch", "ratio",
              "t cpu ms", "p cpu ms", "ratio", "t MiB", "p MiB", "ratio", "loss", "torch loss");
  for (const std::string& c : cases) {
    double tm = med(t_res[c], "ms"), pm = med(p_res[c], "ms");
    double tc = med(t_res[c], "cpu_ms"), pc = med(p_res[c], "cpu_ms");
    double tb = med(t_res[c], "peak_mb"), pb = med(p_res[c], "peak_mb");
    double tl = med(t_res[c], "loss"), pl = med(p_res[c], "loss");
    auto ratio = [](double a, double b) { return b > 0 ? a / b : -1.0; };
    std::printf("%-5s %10.2f %10.2f %6.2f %10.2f %10.2f %6.2f %9.1f %9.1f %6.2f %10.5f %10.5f\n", c.c_str(), tm, pm,
                ratio(tm, pm), tc, pc, ratio(tc, pc), tb, pb, ratio(tb, pb), tl, pl);
  }
  return 0;
}
