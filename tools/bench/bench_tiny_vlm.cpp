// Benchmark (not a test): issue 4's "tiny-vlm" training step — models::VLM preset tiny-vlm (ViT 32x32
// images, patch 4, d=128, 4 layers, 4 heads -> MLP projector -> causal GPT-2-style LLM, vocab 512, d=192,
// 4 layers, 6 heads), 64 image + 64 text tokens, batch 16, AdamW — against the same model and step in
// PyTorch eager (tools/bench/tiny_vlm_torch.py) on the same machine and thread count. Reports tokens/s
// (image + text tokens per step / step time) and the peak resident memory of each.
//
//   bench_tiny_vlm [--threads N] [--repeats R] [--steps N] [--no-torch]
//   bench_tiny_vlm --worker [--threads N] [--steps N]     (one measurement, "key value" lines)
//
// Protocol (as bench_block): each measurement is its own process; a worker builds the model, optimizer
// and batch, resets the peak RSS, runs 2 warm-up steps and `steps` timed steps (zero_grad, forward,
// loss, backward, AdamW step) and prints the median step time (wall and process CPU), the peak RSS
// above the pre-step baseline and above zero, and the last loss. The driver alternates tessera and
// PyTorch workers over `repeats` rounds and reports medians over rounds.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/bench_process.h"
#include "tessera/models/data/loader.h"
#include "tessera/models/vlm.h"
#include "tessera/nn/optim/adamw.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tessera.h"

using namespace tessera;
using namespace tessera::tools;

namespace {

constexpr int64_t kBatch = 16, kText = 64;

int run_worker(int steps) {
  manual_seed(0);
  models::VLMConfig cfg = models::VLMConfig::preset("tiny-vlm");
  auto model = std::make_shared<models::VLM>(cfg);
  optim::AdamWOptions ao;
  ao.lr = 1e-3;
  optim::AdamW opt(model->parameters(), ao);
  const int64_t S = cfg.vision.image_size;
  data::VLMBatch batch;
  batch.images = randn({kBatch, 3, S, S});
  batch.input_ids = randint(0, 256, {kBatch, kText});
  batch.labels = batch.input_ids.clone();
  batch.attention_mask = ones({kBatch, kText}, kBool);
  const int64_t tokens = kBatch * (cfg.vision.seq_len() + kText);
  reset_peak_rss();
  const long long base_kb = status_kb("VmRSS");
  double loss = 0;
  auto step = [&] {
    opt.zero_grad();
    Tensor l = model->loss(batch);
    l.backward();
    opt.step();
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
  const long long peak_kb = status_kb("VmHWM");
  std::printf("ms %.4f\ncpu_ms %.4f\ntokens %lld\npeak_mb %.2f\npeak_total_mb %.2f\nloss %.6f\nparams %lld\n",
              median(ms), median(cpu_ms), static_cast<long long>(tokens), double(peak_kb - base_kb) / 1024.0,
              double(peak_kb) / 1024.0, loss, static_cast<long long>(model->num_parameters()));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, repeats = 3, steps = 10;
  bool torch = true, worker = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--repeats" && i + 1 < argc) repeats = std::atoi(argv[++i]);
    else if (a == "--steps" && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (a == "--no-torch") torch = false;
    else if (a == "--worker") worker = true;
    else {
      std::fprintf(stderr, "usage: bench_tiny_vlm [--threads N] [--repeats R] [--steps N] [--no-torch] [--worker]\n");
      return 2;
    }
  }
  if (worker) {
    cpu::set_num_threads(threads);
    return run_worker(steps);
  }
  const std::string args = " --threads " + std::to_string(threads) + " --steps " + std::to_string(steps);
  const std::string ours = self_exe("bench_tiny_vlm") + " --worker" + args;
  const std::string theirs = "python3 " + std::string(TESSERA_TINY_VLM_TORCH_REF) + args;
  std::vector<KeyValues> t_res, p_res;
  for (int r = 0; r < repeats; ++r) {
    const bool torch_first = torch && (r % 2 == 1);
    if (torch_first) p_res.push_back(run_worker_process(theirs));
    t_res.push_back(run_worker_process(ours));
    if (torch && !torch_first) p_res.push_back(run_worker_process(theirs));
  }
  auto tok_s = [](const std::vector<KeyValues>& rs) {
    double ms = median_of(rs, "ms"), tokens = median_of(rs, "tokens");
    return ms > 0 ? tokens / (ms / 1e3) : -1.0;
  };
  std::printf("tiny-vlm training step (batch %lld, 64 image + %lld text tokens, AdamW), %d thread(s); medians of %d "
              "rounds x %d steps; tessera and PyTorch (tools/bench/tiny_vlm_torch.py) in separate processes\n",
              static_cast<long long>(kBatch), static_cast<long long>(kText), threads, repeats, steps);
  std::printf("%-8s %10s %10s %10s %12s %14s %10s %9s\n", "", "tokens/s", "step ms", "cpu ms", "peak MiB", "peak total MiB",
              "loss", "params");
  auto row = [&](const char* name, const std::vector<KeyValues>& rs) {
    std::printf("%-8s %10.0f %10.2f %10.2f %12.1f %14.1f %10.4f %9.0f\n", name, tok_s(rs), median_of(rs, "ms"),
                median_of(rs, "cpu_ms"), median_of(rs, "peak_mb"), median_of(rs, "peak_total_mb"),
                median_of(rs, "loss"), median_of(rs, "params"));
  };
  row("tessera", t_res);
  if (torch) {
    row("pytorch", p_res);
    double tt = tok_s(t_res), pt = tok_s(p_res);
    std::printf("tessera / PyTorch: tokens/s %.2fx, peak memory above baseline %.2fx, peak total %.2fx\n",
                pt > 0 ? tt / pt : -1.0, median_of(t_res, "peak_mb") / median_of(p_res, "peak_mb"),
                median_of(t_res, "peak_total_mb") / median_of(p_res, "peak_total_mb"));
  }
  return 0;
}
