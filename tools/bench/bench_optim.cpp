// Benchmark (not a test): one AdamW step over ~3.2M float32 parameters (three 1024x1024 matrices and
// three 1024 biases, gradients set), tessera's fused CPU step (Note [fused adamw]) and its composite
// path, against torch.optim.AdamW in the same run (tools/bench/optim_torch.py: the CPU default, which
// is the single-tensor loop, plus foreach=True and fused=True). Same thread count, medians.
//   bench_optim [--threads N] [--no-torch]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tessera/tensor/cpu/loops.h"
#include "tessera/tessera.h"
#include "common/bench_process.h"
#include "common/timing.h"

using namespace tessera;

namespace {

std::vector<Tensor> make_params() {
  manual_seed(0);
  std::vector<Tensor> ps;
  for (int i = 0; i < 3; ++i) {
    ps.push_back(randn({1024, 1024}).requires_grad_());
    ps.push_back(randn({1024}).requires_grad_());
  }
  for (auto& p : ps) p.set_grad(randn(p.sizes()) * 0.01);
  return ps;
}

std::vector<std::pair<std::string, double>> torch_numbers(int threads) {
  return tools::read_key_values("python3 " + std::string(TESSERA_OPTIM_TORCH_REF) + " " + std::to_string(threads));
}

}  // namespace

int main(int argc, char** argv) {
  int threads = cpu::num_threads();
  bool torch = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (a == "--no-torch") torch = false;
  }
  cpu::set_num_threads(threads);
  tools::TimingOptions opt;
  opt.budget_s = 2.0;

  auto time_step = [&](bool fused) {
    auto ps = make_params();
    optim::AdamW adamw(ps, {.lr = 1e-3, .weight_decay = 0.01, .fused = fused});
    return tools::median_ms([&] { adamw.step(); }, Device::cpu(), opt);
  };
  int64_t numel = 0;
  for (auto& p : make_params()) numel += p.numel();
  const double fused_ms = time_step(true);
  const double composite_ms = time_step(false);

  std::vector<std::pair<std::string, double>> ref;
  if (torch) ref = torch_numbers(threads);
  auto get = [&](const char* k) {
    for (auto& [key, v] : ref)
      if (key == k) return v;
    return -1.0;
  };
  // bytes moved by one fused step: read p, g, m, v; write p, m, v (float32)
  const double gbs = double(numel) * 7 * 4 / (fused_ms * 1e-3) / 1e9;
  std::printf("AdamW step, %.2fM float32 parameters, %d thread(s); tessera vs PyTorch %s\n", numel / 1e6, threads,
              ref.empty() ? "(not available)" : "(tools/bench/optim_torch.py, same run)");
  std::printf("tessera fused: %.3f ms (%.1f GB/s effective), tessera composite: %.3f ms\n", fused_ms, gbs,
              composite_ms);
  std::printf("%-42s %10s %12s\n", "torch.optim.AdamW variant", "torch ms", "fused ratio");
  for (const char* k : {"torch_default_ms", "torch_foreach_ms", "torch_fused_ms"}) {
    double t = get(k);
    if (t > 0) std::printf("%-42s %10.3f %12.2f\n", k, t, fused_ms / t);
  }
  std::printf("(ratio = tessera fused / torch; below 1 is faster)\n");
  return 0;
}
