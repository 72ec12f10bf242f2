// tessera-bench: times a fixed set of ops (cases.cpp) in tessera and, in one run on the same
// machine, the same ops in PyTorch (torch_ref.py as a subprocess, with the same thread count),
// and prints a table: op, shapes, tessera median ms, torch median ms, ratio (tessera / torch,
// below 1 means tessera is faster). --markdown prints the table as markdown (README's
// "Performance" section). This is a benchmark, not a test: nothing here asserts a time.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>

#include "cases.h"
#include "common/timing.h"
#include "tessera/build_info.h"
#include "tessera/tensor/backend.h"
#include "tessera/tensor/cpu/blas.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/error.h"
#include "torch_ref.h"

#ifndef TESSERA_TORCH_REF
#define TESSERA_TORCH_REF "tools/bench/torch_ref.py"
#endif

namespace tessera::bench {
namespace {

struct Options {
  std::string device = "cpu";
  int threads = 0;  // 0: tessera's default (all cores)
  bool markdown = false;
  bool no_torch = false;
  std::string python = "python3";
  std::string torch_ref = TESSERA_TORCH_REF;
  std::vector<std::string> ops;  // empty: all
  double budget_s = 0.5;
};

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find_first_not_of(" \t", line.find(':') + 1));
  return "unknown CPU";
}

// The 1-minute load average (the machine may be shared: a loaded machine gives noisy medians).
std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  return in >> one ? one : std::string("unknown");
}

struct Row {
  BenchCase c;
  double tessera_ms = 0;
  std::optional<double> torch_ms;
};

void print_table(const std::vector<Row>& rows, bool markdown) {
  auto ms = [](std::optional<double> v) { return v ? fmt::format("{:.3f}", *v) : std::string("-"); };
  auto ratio = [](const Row& r) { return r.torch_ms ? fmt::format("{:.2f}", r.tessera_ms / *r.torch_ms) : std::string("-"); };
  if (markdown) {
    fmt::print("| op | shapes (float32) | tessera ms | torch ms | ratio |\n|---|---|---:|---:|---:|\n");
    for (const Row& r : rows)
      fmt::print("| {} | {} | {} | {} | {} |\n", r.c.op, r.c.shape_label(), ms(r.tessera_ms), ms(r.torch_ms), ratio(r));
  } else {
    fmt::print("{:<15} {:<28} {:>11} {:>11} {:>7}\n", "op", "shapes (float32)", "tessera ms", "torch ms", "ratio");
    for (const Row& r : rows)
      fmt::print("{:<15} {:<28} {:>11} {:>11} {:>7}\n", r.c.op, r.c.shape_label(), ms(r.tessera_ms), ms(r.torch_ms),
                 ratio(r));
  }
  fmt::print("\nratio = tessera / torch (median times; below 1 tessera is faster)\n");
}

int run(const Options& opt) {
  Device device(opt.device);
  const BuildInfo& info = build_info();
  if (device.is_cuda()) {
    TESSERA_CHECK(info.cuda, DeviceError,
                  "tessera-bench: --device {} needs tessera built with its CUDA backend, and this build has none "
                  "(cuda=no: nvcc was not found or -Dcuda=disabled); reconfigure with -Dcuda=enabled",
                  opt.device);
    TESSERA_CHECK(has_backend(DeviceType::CUDA), DeviceError,
                  "tessera-bench: --device {}: the CUDA backend is built but no usable GPU was found", opt.device);
  }
  if (opt.threads > 0) cpu::set_num_threads(opt.threads);
  int threads = cpu::num_threads();

  std::string load = load_average();
  std::vector<Row> rows;
  for (const BenchCase& c : default_cases())
    if (opt.ops.empty() || std::find(opt.ops.begin(), opt.ops.end(), c.op) != opt.ops.end()) rows.push_back(Row{c, 0, std::nullopt});
  TESSERA_CHECK(!rows.empty(), ValueError, "tessera-bench: --ops selected no case");
  tools::TimingOptions timing;
  timing.budget_s = opt.budget_s;

  for (Row& r : rows) {
    auto fn = make_tessera_runner(r.c, device);
    r.tessera_ms = tools::median_ms(fn, device, timing);
    std::fprintf(stderr, "tessera %-15s %s: %.3f ms\n", r.c.op.c_str(), r.c.shape_label().c_str(), r.tessera_ms);
  }
  std::string torch_desc = "none (--no-torch)";
  if (!opt.no_torch) {
    std::vector<BenchCase> cases;
    for (const Row& r : rows) cases.push_back(r.c);
    TorchResult t = run_torch_reference(opt.python, opt.torch_ref, cases, device.str(), threads, timing);
    for (size_t i = 0; i < rows.size(); ++i) rows[i].torch_ms = t.ms[i];
    torch_desc = fmt::format("torch {} ({} thread(s))", t.version, t.threads);
  }

  std::string where = device.is_cpu() ? fmt::format("{}, {} thread(s)", cpu_model(), threads) : device.str();
  fmt::print("{}tessera {} (blas {}, core {}) on {}; load average {} at start\nreference: {}\n\n",
             opt.markdown ? "" : "tessera-bench: ", info.version, info.blas, cpu::blas_core_name(), where, load,
             torch_desc);
  print_table(rows, opt.markdown);
  return 0;
}

}  // namespace
}  // namespace tessera::bench

int main(int argc, char** argv) {
  tessera::bench::Options opt;
  CLI::App app{"tessera-bench: tessera's op timings against PyTorch's on this machine", "tessera-bench"};
  app.add_option("--device", opt.device, "cpu or cuda (CUDA needs a build with the CUDA backend and a GPU)")
      ->capture_default_str();
  app.add_option("-t,--threads", opt.threads, "CPU threads for tessera and PyTorch (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  app.add_flag("--markdown", opt.markdown, "Print the table as markdown");
  app.add_flag("--no-torch", opt.no_torch, "Do not run the PyTorch reference");
  app.add_option("--python", opt.python, "Python interpreter with torch")->capture_default_str();
  app.add_option("--torch-ref", opt.torch_ref, "Path of torch_ref.py")->capture_default_str();
  app.add_option("--ops", opt.ops, "Only these ops (matmul, softmax, layer_norm, gelu, transpose_copy, add, sum)")
      ->delimiter(',');
  app.add_option("--budget", opt.budget_s, "Seconds of measured runs per case, roughly")
      ->capture_default_str()->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  try {
    return tessera::bench::run(opt);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
