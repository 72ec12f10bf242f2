// Benchmark (not a test): the CUDA issue's GPT-2-124M-shaped training step — models::LLM from the
// "gpt2-124m" preset with vocab 50304 (d=768, 12 layers, 12 heads, seq 1024, tied lm_head) — against
// the same model and step in PyTorch (tools/bench/gpt2_torch.py, eager and torch.compile) on the same
// machine in the same run. Reports the median step time, tokens/s, MFU, peak memory and the first/last
// step loss of each, and tokens/s as a ratio against tessera's.
//
//   bench_gpt2_step [--device cpu|cuda] [--batch B] [--seq T] [--layers L] [--d-model D] [--heads H]
//                   [--vocab V] [--dtype bf16|fp32] [--steps N] [--warmup W] [--threads N]
//                   [--peak-tflops P] [--torch] [--no-compile] [--torch-script PATH] [--torch-timeout S]
//                   [--check]
//
// One step = forward + shifted cross entropy (under bf16 autocast with --dtype bf16: float32 master
// parameters, matmuls and attention in bfloat16, like torch.autocast) + backward + AdamW step (lr 6e-4,
// betas 0.9/0.95, eps 1e-8, weight decay 0.1 on every parameter) + zero_grad, then a device synchronize
// before the clock is read (tools/common/timing.h; `warmup` untimed steps, then exactly `steps` timed
// ones, median). The tokens are one random batch repeated every step, so the loss falls as the model
// memorises it: the first/last losses show the step really trains.
//
// FLOPs per token (Note [gpt2 step flops]): 6N + 12*L*d*T, N = ALL parameters (num_parameters(): the
// tied token embedding once — it is also the lm_head matmul —, the position embedding included), T the
// sequence length: PaLM's appendix-B count as nanoGPT uses it; llm.c counts the attention term as
// 6*L*d*T (half, for the causal mask), printed alongside. MFU = FLOPs per token * tokens/s / peak;
// --peak-tflops defaults to 989 (H100 SXM bf16 dense) and MFU is shown only on CUDA unless a peak is given.
//
// Exit status 1 (after printing) when a tessera loss is not finite or num_parameters() differs from
// the closed-form count; with --check also when the last loss is not below the first (the CPU smoke
// test, tools/bench/meson.build). A PyTorch mode that cannot run (no torch, no CUDA in torch, a
// timeout) is reported loudly as not measured and does not change the exit status; a PyTorch
// parameter count different from tessera's is a WARNING.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "common/bench_process.h"
#include "common/timing.h"
#include "tessera/autograd/autocast.h"
#include "tessera/models/llm.h"
#include "tessera/nn/optim/adamw.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tessera.h"
#ifdef TESSERA_HAVE_CUDA
#include "tessera/cuda/cuda.h"
#endif

using namespace tessera;
using namespace tessera::tools;

namespace {

struct Options {
  std::string device;
  int64_t batch = 8, seq = 1024, layers = 12, d_model = 768, heads = 12, vocab = 50304;
  std::string dtype = "bf16";
  int steps = 10, warmup = 2, threads = 0;
  double peak_tflops = 989;
  bool peak_given = false, torch = false, compile = true, check = false;
  std::string torch_script;
  int torch_timeout = 300;
};

// One measured row of the table; `ms` < 0 when the run did not happen.
struct Result {
  std::string name;
  double ms = -1, first_step_ms = -1, peak_mb = -1, loss_first = NAN, loss_last = NAN;
  int64_t params = -1;
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "bench_gpt2_step: %s\nusage: bench_gpt2_step [--device cpu|cuda] [--batch B] [--seq T] [--layers L] "
               "[--d-model D] [--heads H] [--vocab V] [--dtype bf16|fp32] [--steps N] [--warmup W] [--threads N] "
               "[--peak-tflops P] [--torch] [--no-compile] [--torch-script PATH] [--torch-timeout S] [--check]\n",
               why.c_str());
  std::exit(2);
}

bool cuda_usable() {
#ifdef TESSERA_HAVE_CUDA
  return cuda::is_available();
#else
  return false;
#endif
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(a + " needs a value");
      return argv[++i];
    };
    auto integer = [&]() -> int64_t {
      const std::string v = value();
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 0) usage(a + " expects a non-negative integer, got \"" + v + "\"");
      return n;
    };
    if (a == "--device") o.device = value();
    else if (a == "--batch") o.batch = integer();
    else if (a == "--seq") o.seq = integer();
    else if (a == "--layers") o.layers = integer();
    else if (a == "--d-model") o.d_model = integer();
    else if (a == "--heads") o.heads = integer();
    else if (a == "--vocab") o.vocab = integer();
    else if (a == "--dtype") o.dtype = value();
    else if (a == "--steps") o.steps = int(integer());
    else if (a == "--warmup") o.warmup = int(integer());
    else if (a == "--threads") o.threads = int(integer());
    else if (a == "--peak-tflops") o.peak_tflops = std::atof(value().c_str()), o.peak_given = true;
    else if (a == "--torch") o.torch = true;
    else if (a == "--no-compile") o.compile = false;
    else if (a == "--torch-script") o.torch_script = value();
    else if (a == "--torch-timeout") o.torch_timeout = int(integer());
    else if (a == "--check") o.check = true;
    else usage("unknown option " + a);
  }
  if (o.device.empty()) o.device = cuda_usable() ? "cuda" : "cpu";
  if (o.device != "cpu" && o.device != "cuda") usage("--device must be cpu or cuda, got " + o.device);
  if (o.device == "cuda" && !cuda_usable()) {
#ifdef TESSERA_HAVE_CUDA
    usage("--device cuda: no usable CUDA device: " + cuda::unavailable_reason());
#else
    usage("--device cuda: this tessera was built without the CUDA backend (meson -Dcuda=enabled)");
#endif
  }
  if (o.dtype != "bf16" && o.dtype != "fp32") usage("--dtype must be bf16 or fp32, got " + o.dtype);
  if (o.steps < 1 || o.warmup < 1) usage("--steps and --warmup must be at least 1");
  if (o.batch < 1 || o.seq < 2) usage("--batch must be >= 1 and --seq >= 2 (the shifted loss)");
  if (!(o.peak_tflops > 0)) usage("--peak-tflops must be positive");
  return o;
}

// The preset with the bench's shape: vocab 50304 (GPT-2's 50257 padded to a multiple of 128, as
// llm.c and nanoGPT train it), learned positions for exactly `seq` tokens, MLP 4d.
models::LLMConfig make_config(const Options& o) {
  models::LLMConfig c = models::LLMConfig::preset("gpt2-124m");
  c.vocab_size = o.vocab, c.n_layers = o.layers, c.d_model = o.d_model;
  c.n_heads = c.n_kv_heads = o.heads, c.mlp_hidden = 4 * o.d_model, c.max_seq_len = o.seq;
  c.validate("bench_gpt2_step options");
  return c;
}

// num_parameters() of a gpt2-style LLM in closed form (gpt2_torch.py builds the same tensors).
int64_t param_formula(const models::LLMConfig& c) {
  const int64_t d = c.d_model, m = c.mlp_hidden;
  const int64_t layer = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (d * m + m) + (m * d + d);
  return c.vocab_size * d * (c.tie_embeddings ? 1 : 2) + c.max_seq_len * d + c.n_layers * layer + 2 * d;
}

// Note [gpt2 step flops]: training FLOPs per token, 6N + attn_factor * L * d * T (12: PaLM; 6: llm.c).
double flops_per_token(int64_t params, const models::LLMConfig& c, int64_t seq, int attn_factor) {
  return 6.0 * double(params) + double(attn_factor) * double(c.n_layers) * double(c.d_model) * double(seq);
}

Result run_tessera(const Options& o, const models::LLMConfig& cfg, Device device) {
  manual_seed(0);
  auto model = std::make_shared<models::LLM>(cfg);
  model->to(device);
  optim::AdamWOptions ao;
  ao.lr = 6e-4, ao.beta1 = 0.9, ao.beta2 = 0.95, ao.eps = 1e-8, ao.weight_decay = 0.1;
  optim::AdamW opt(model->parameters(), ao);
  const Tensor ids = randint(0, o.vocab, {o.batch, o.seq}).to(device);
  std::vector<Tensor> losses;  // detached scalars, read after the clock
  std::vector<double> times;
  auto step = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    Tensor loss;
    {
      std::optional<AutocastGuard> ac;
      if (o.dtype == "bf16") ac.emplace(device.type, kBFloat16);
      loss = models::LLM::loss(model->forward(ids), ids);
    }
    loss.backward();
    opt.step();
    opt.zero_grad();
    losses.push_back(loss.detach());
    backend_for(device).synchronize(device);
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  };
  TimingOptions t;
  t.warmup = o.warmup, t.min_iters = o.steps, t.max_iters = o.steps;
  Result r;
  r.name = "tessera";
  r.ms = median_ms(step, device, t);
  r.first_step_ms = times.front();
  r.loss_first = losses.front().item<double>();
  r.loss_last = losses.back().item<double>();
  r.params = model->num_parameters();
#ifdef TESSERA_HAVE_CUDA
  if (device.is_cuda()) r.peak_mb = double(cuda::max_memory_allocated(device.index)) / (1 << 20);
#endif
  if (device.is_cpu()) r.peak_mb = double(status_kb("VmHWM")) / 1024.0;
  return r;
}

// The PyTorch reference script: --torch-script, else the source tree's (compiled in), else the one
// under the working directory (the GPU bundle runs from a repo root elsewhere).
std::string torch_script(const Options& o) {
  if (!o.torch_script.empty()) return o.torch_script;
  if (std::filesystem::exists(TESSERA_GPT2_TORCH_REF)) return TESSERA_GPT2_TORCH_REF;
  return "tools/bench/gpt2_torch.py";
}

Result run_torch(const Options& o, const std::string& mode, int threads) {
  const std::string cmd = "timeout " + std::to_string(o.torch_timeout) + " python3 " + torch_script(o) +
                          " --device " + o.device + " --mode " + mode + " --batch " + std::to_string(o.batch) +
                          " --seq " + std::to_string(o.seq) + " --layers " + std::to_string(o.layers) +
                          " --d-model " + std::to_string(o.d_model) + " --heads " + std::to_string(o.heads) +
                          " --vocab " + std::to_string(o.vocab) + " --dtype " + o.dtype + " --steps " +
                          std::to_string(o.steps) + " --warmup " + std::to_string(o.warmup) + " --threads " +
                          std::to_string(threads);
  std::printf("running: %s\n", cmd.c_str());
  std::fflush(stdout);
  const KeyValues kv = run_worker_process(cmd, /*keep_stderr=*/true);
  Result r;
  r.name = "torch " + mode;
  auto get = [&](const char* k, double fallback) { return kv.count(k) ? kv.at(k) : fallback; };
  r.ms = get("ms", -1), r.first_step_ms = get("first_step_ms", -1), r.peak_mb = get("peak_mb", -1);
  r.loss_first = get("loss_first", NAN), r.loss_last = get("loss_last", NAN);
  r.params = int64_t(get("params", -1));
  if (r.ms < 0) {
    std::printf("%s: NOT MEASURED: the script printed no timing (its message is above; no torch, no CUDA in "
                "torch, or the %d s timeout)\n",
                r.name.c_str(), o.torch_timeout);
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  if (o.threads > 0) cpu::set_num_threads(o.threads);
  const int threads = cpu::num_threads();
  const Device device(o.device);
  models::LLMConfig cfg;
  try {
    cfg = make_config(o);
  } catch (const Error& e) {
    usage(e.what());
  }
  const int64_t tokens = o.batch * o.seq;
  const std::string where = device.is_cpu() ? "cpu, " + std::to_string(threads) + " thread(s)" : device.str();

  std::printf("GPT-2-style training step: d=%lld, %lld layers, %lld heads, vocab %lld, batch %lld x seq %lld "
              "(%lld tokens/step), device %s\n",
              (long long)o.d_model, (long long)o.layers, (long long)o.heads, (long long)o.vocab, (long long)o.batch,
              (long long)o.seq, (long long)tokens, where.c_str());
  std::printf("precision: %s; step = forward + loss + backward + AdamW + zero_grad, synchronized; median of %d "
              "steps after %d warm-up\n",
              o.dtype == "bf16" ? "bf16 autocast over float32 parameters (as torch.autocast)" : "float32",
              o.steps, o.warmup);
  Result ours;
  try {
    ours = run_tessera(o, cfg, device);
  } catch (const Error& e) {
    std::printf("ERROR: the tessera step failed: %s\n", e.what());
    return 1;
  }
  const int64_t formula = param_formula(cfg);
  const double fpt = flops_per_token(ours.params, cfg, o.seq, 12);
  std::printf("N = %lld parameters (all of them, tied embedding once; formula %lld); non-embedding %lld\n",
              (long long)ours.params, (long long)formula,
              (long long)(ours.params - (o.vocab + cfg.max_seq_len) * o.d_model));
  std::printf("FLOPs/token = 6N + 12*L*d*T = %.4g (PaLM / nanoGPT; llm.c's 6N + 6*L*d*T = %.4g); MFU against "
              "%.0f TFLOP/s%s\n",
              fpt, flops_per_token(ours.params, cfg, o.seq, 6), o.peak_tflops,
              device.is_cuda() || o.peak_given ? "" : " (not shown on CPU: pass --peak-tflops for this CPU's peak)");

  const bool show_mfu = device.is_cuda() || o.peak_given;
  const double ours_tok_s = tokens / (ours.ms / 1e3);
  auto mfu = [&](double tok_s) {
    char buf[16] = "-";
    if (show_mfu) std::snprintf(buf, sizeof buf, "%.1f%%", 100.0 * fpt * tok_s / (o.peak_tflops * 1e12));
    return std::string(buf);
  };
  // One line as soon as tessera is measured (tools/gpu_check.sh reads it; a PyTorch timeout cannot lose it).
  std::printf("tessera: %.2f ms/step, %.0f tokens/s, MFU %s, peak %.1f MiB, loss %.4f -> %.4f\n", ours.ms, ours_tok_s,
              mfu(ours_tok_s).c_str(), ours.peak_mb, ours.loss_first, ours.loss_last);
  std::fflush(stdout);

  std::vector<Result> rows{ours};
  if (o.torch) {
    rows.push_back(run_torch(o, "eager", threads));
    if (o.compile) rows.push_back(run_torch(o, "compile", threads));
    else std::printf("torch compile: skipped (--no-compile)\n");
  }

  std::printf("\n%-14s %10s %12s %7s %10s %11s %10s %10s %12s\n", "", "ms/step", "tokens/s", "MFU", "peak MiB",
              "tok/s vs", "loss first", "loss last", "N");
  for (const Result& r : rows) {
    if (r.ms < 0) {
      std::printf("%-14s %10s   (not measured: see above)\n", r.name.c_str(), "-");
      continue;
    }
    const double tok_s = tokens / (r.ms / 1e3);
    std::printf("%-14s %10.2f %12.0f %7s %10.1f %10.2fx %10.4f %10.4f %12lld\n", r.name.c_str(), r.ms, tok_s, mfu(tok_s).c_str(),
                r.peak_mb, tok_s / ours_tok_s, r.loss_first, r.loss_last, (long long)r.params);
  }
  std::printf("(peak MiB: %s; tok/s vs = tokens/s over tessera's; first step incl. warm-up/compile:",
              device.is_cuda() ? "max_memory_allocated of each framework's caching allocator"
                               : "the process's peak RSS, PyTorch's includes its runtime");
  for (const Result& r : rows)
    if (r.ms >= 0) std::printf(" %s %.0f ms", r.name.c_str(), r.first_step_ms);
  std::printf(")\n");

  int rc = 0;
  for (const Result& r : rows) {
    if (r.ms >= 0 && r.name != "tessera" && r.params != ours.params)
      std::printf("WARNING: %s has %lld parameters, tessera %lld: the models differ, the ratio compares unequal work\n",
                  r.name.c_str(), (long long)r.params, (long long)ours.params);
  }
  if (ours.params != formula) {
    std::printf("ERROR: tessera's num_parameters() %lld differs from the closed form %lld\n", (long long)ours.params,
                (long long)formula);
    rc = 1;
  }
  if (!std::isfinite(ours.loss_first) || !std::isfinite(ours.loss_last)) {
    std::printf("ERROR: tessera's loss is not finite (first %g, last %g)\n", ours.loss_first, ours.loss_last);
    rc = 1;
  } else if (o.check && !(ours.loss_last < ours.loss_first)) {
    std::printf("ERROR (--check): the loss did not fall on the repeated batch (first %.6f, last %.6f)\n",
                ours.loss_first, ours.loss_last);
    rc = 1;
  }
  if (!(ours.ms > 0) || !std::isfinite(ours.ms)) {
    std::printf("ERROR: tessera's step time is not a positive number (%g ms)\n", ours.ms);
    rc = 1;
  }
  return rc;
}
