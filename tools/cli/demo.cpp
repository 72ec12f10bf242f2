// `tessera demo`: a short tour of the tensor library (views, broadcasting, reductions, dtypes,
// autograd, matmul) that prints what it computes, then times an n x n float32 matmul and checks
// one row of the product against a float64 dot product computed here.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "cli/commands.h"
#include "common/timing.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tessera.h"

namespace tessera::cli {

namespace {

struct DemoOptions {
  int64_t n = 1024;  // matmul size
  int threads = 0;   // 0: all cores
};

void time_matmul(int64_t n) {
  manual_seed(0);
  Tensor a = randn({n, n});
  Tensor b = randn({n, n});
  Tensor c;
  double ms = tools::median_ms([&] { c = a.matmul(b); }, Device::cpu());
  // Row 0 of the product in float64, straight from the inputs' memory.
  const float* pa = a.data_ptr<float>();
  const float* pb = b.data_ptr<float>();
  const float* pc = c.data_ptr<float>();
  double max_err = 0, max_ref = 0;
  for (int64_t j = 0; j < n; ++j) {
    double ref = 0;
    for (int64_t k = 0; k < n; ++k) ref += double(pa[k]) * double(pb[k * n + j]);
    max_err = std::max(max_err, std::abs(ref - double(pc[j])));
    max_ref = std::max(max_ref, std::abs(ref));
  }
  fmt::print("matmul [{0}x{0}] x [{0}x{0}] float32 on {1} thread(s): median {2:.2f} ms, {3:.1f} GFLOP/s\n", n,
             cpu::num_threads(), ms, 2.0 * double(n) * double(n) * double(n) / (ms * 1e6));
  fmt::print("row 0 vs a float64 reference: max |error| {:.2e} (max |value| {:.1f})\n", max_err, max_ref);
}

void run_demo(const DemoOptions& opt) {
  if (opt.threads > 0) cpu::set_num_threads(opt.threads);

  fmt::print("-- a tensor and a view of it (no copy)\n");
  Tensor x = arange(6, kFloat32).view({2, 3});
  fmt::print("x = arange(6).view({{2, 3}}):\n{}\n", x);
  Tensor xt = x.t();
  fmt::print("x.t(): strides [{}, {}], shares x's storage: {}\n{}\n", xt.stride(0), xt.stride(1),
             xt.is_alias_of(x), xt);

  fmt::print("\n-- elementwise ops broadcast like PyTorch\n");
  Tensor bias = tensor({10.f, 20.f, 30.f});
  fmt::print("x + tensor({{10, 20, 30}}):\n{}\n", x + bias);
  fmt::print("(x * 0.5).exp():\n{}\n", (x * 0.5).exp());

  fmt::print("\n-- reductions and softmax\n");
  fmt::print("x.sum(1): {}\n", x.sum({1}));
  fmt::print("x.mean(): {}\n", x.mean());
  fmt::print("x.softmax(-1):\n{}\n", x.softmax(-1));

  fmt::print("\n-- dtypes\n");
  Tensor third = x / 3.0;
  fmt::print("x / 3 in bfloat16 (8 significant bits):\n{}\n", third.to(kBFloat16));

  fmt::print("\n-- autograd\n");
  Tensor w = x.clone().requires_grad_();
  Tensor loss = (w * w).sum();
  loss.backward();
  fmt::print("w = x (requires grad), loss = (w * w).sum() = {}; loss.backward() gives w.grad() = 2 w:\n{}\n",
             loss.item<float>(), w.grad());

  fmt::print("\n-- matmul\n");
  fmt::print("x.matmul(x.t()):\n{}\n", x.matmul(xt));
  time_matmul(opt.n);
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto opt = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand("demo", "A short tour of the tensor library, with a matmul timing");
  cmd->add_option("-n,--size", opt->n, "Size n of the timed n x n float32 matmul")
      ->capture_default_str()->check(CLI::Range(int64_t(1), int64_t(8192)));
  cmd->add_option("-t,--threads", opt->threads, "CPU threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->callback([opt] { run_demo(*opt); });
}

}  // namespace tessera::cli
