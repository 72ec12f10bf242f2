// Benchmark (not a test): autograd engine cost against PyTorch on the same graphs, in one run.
//   bench_autograd [--threads N] [--no-torch]
// 1. backward of a 12-layer MLP (matmul + bias + gelu, batch 64, width 512, float32): kernel-bound;
// 2. a chain of 10,000 elementwise ops on a 16-element tensor: engine-bound, reported as
//    microseconds per node for the forward (graph recording) and the backward.
// tools/bench/autograd_torch.py runs the same graphs in PyTorch (same thread count); the table
// shows tessera / PyTorch (below 1 is faster). Medians of several runs.
#include <cmath>
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

constexpr int kLayers = 12, kBatch = 64, kWidth = 512, kChain = 10000;

struct Mlp {
  std::vector<Tensor> w, b;
  Mlp() {
    manual_seed(0);
    for (int i = 0; i < kLayers; ++i) {
      w.push_back((randn({kWidth, kWidth}) * (1.0 / std::sqrt(double(kWidth)))).requires_grad_());
      b.push_back(zeros({kWidth}).requires_grad_());
    }
  }
  Tensor forward(const Tensor& x) const {
    Tensor h = x;
    for (int i = 0; i < kLayers; ++i) h = gelu(matmul(h, w[i]) + b[i]);
    return h.sum();
  }
};

// Parses `python3 autograd_torch.py` output lines "key value".
std::vector<std::pair<std::string, double>> torch_numbers(int threads) {
  return tools::read_key_values("python3 " + std::string(TESSERA_AUTOGRAD_TORCH_REF) + " " + std::to_string(threads));
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

  Mlp mlp;
  Tensor x = randn({kBatch, kWidth});
  double mlp_fwd = tools::median_ms([&] { NoGradGuard g; mlp.forward(x); }, Device::cpu(), opt);
  double mlp_total = tools::median_ms([&] { mlp.forward(x).backward(); }, Device::cpu(), opt);
  double mlp_bwd = mlp_total - mlp_fwd;

  Tensor c = randn({16}).requires_grad_();
  auto chain = [&] {
    Tensor y = c;
    for (int i = 0; i < kChain; ++i) y = y * 1.0001;
    return y.sum();
  };
  double chain_fwd = tools::median_ms([&] { chain(); }, Device::cpu(), opt);
  double chain_total = tools::median_ms([&] { chain().backward(); }, Device::cpu(), opt);
  double chain_fwd_us = chain_fwd * 1e3 / kChain, chain_bwd_us = (chain_total - chain_fwd) * 1e3 / kChain;

  std::vector<std::pair<std::string, double>> ref;
  if (torch) ref = torch_numbers(threads);
  auto get = [&](const char* k) {
    for (auto& [key, v] : ref)
      if (key == k) return v;
    return -1.0;
  };
  std::printf("autograd bench, %d thread(s); tessera vs PyTorch %s\n", threads,
              ref.empty() ? "(not available)" : "(tools/bench/autograd_torch.py, same run)");
  std::printf("%-40s %12s %12s %8s\n", "case", "tessera", "pytorch", "ratio");
  auto row = [&](const char* name, double ours, const char* key, const char* unit) {
    double theirs = get(key);
    if (theirs > 0)
      std::printf("%-40s %9.3f %s %9.3f %s %8.2f\n", name, ours, unit, theirs, unit, ours / theirs);
    else
      std::printf("%-40s %9.3f %s %12s %8s\n", name, ours, unit, "-", "-");
  };
  row("mlp 12x512 batch 64: backward", mlp_bwd, "mlp_bwd_ms", "ms");
  row("mlp 12x512 batch 64: forward (no grad)", mlp_fwd, "mlp_fwd_ms", "ms");
  row("chain 10k mul: forward per op", chain_fwd_us, "chain_fwd_us", "us");
  row("chain 10k mul: backward per node", chain_bwd_us, "chain_bwd_us", "us");
  return 0;
}
