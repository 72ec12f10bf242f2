// `tessera version` (the version string) and `tessera info` (what this build contains and what
// this machine offers it: features, threads, CPU model, the OpenBLAS core type (Note [openblas
// core type]), CUDA devices).
#include <fmt/format.h>

#include <fstream>
#include <string>

#include "cli/commands.h"
#include "tessera/build_info.h"
#include "tessera/tensor/cpu/blas.h"
#include "tessera/tensor/cpu/loops.h"
#ifdef TESSERA_HAVE_CUDA
#include "tessera/cuda/cuda.h"
#endif

namespace tessera::cli {

namespace {

std::string yes_no(bool b) { return b ? "yes" : "no"; }

// "model name" from /proc/cpuinfo, or "unknown".
std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(" \t", colon + 1));
    }
  }
  return "unknown";
}

void print_info() {
  const BuildInfo& b = build_info();
  fmt::print("tessera {} ({} build, {})\n", b.version, b.build_type, b.compiler);
  fmt::print("build features:\n");
  fmt::print("  cuda   {}{}\n", yes_no(b.cuda),
             b.cuda ? fmt::format(" (nvcc {}, sm {})", b.cuda_version, b.gpu_archs) : std::string());
  fmt::print("  cudnn  {}\n", yes_no(b.cudnn));
  fmt::print("  nccl   {}\n", yes_no(b.nccl));
  fmt::print("  mpi    {}\n", yes_no(b.mpi));
  fmt::print("  blas   {}\n", b.blas);
  fmt::print("this machine:\n");
  fmt::print("  cpu          {}\n", cpu_model());
  fmt::print("  cpu threads  {}\n", cpu::num_threads());
  // Loads OpenBLAS (as the first matmul would) to ask which kernels it runs.
  fmt::print("  blas core    {}\n", cpu::blas_core_name());
#ifdef TESSERA_HAVE_CUDA
  if (cuda::is_available())
    fmt::print("  cuda         {} device(s)\n", cuda::device_count());
  else
    fmt::print("  cuda         no usable device: {}\n", cuda::unavailable_reason());
#else
  fmt::print("  cuda         not built\n");
#endif
}

}  // namespace

void add_version_command(CLI::App& app) {
  app.add_subcommand("version", "Print tessera's version")->callback([] {
    fmt::print("tessera {}\n", build_info().version);
  });
}

void add_info_command(CLI::App& app) {
  app.add_subcommand("info", "Print build features (cuda, cudnn, nccl, mpi, blas) and what this machine offers")
      ->callback(print_info);
}

}  // namespace tessera::cli
