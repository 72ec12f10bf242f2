// Runs tools/bench/torch_ref.py (PyTorch on this machine) as a subprocess on the same cases and
// reads back its medians. PyTorch is a reference for benchmarks only, never a dependency.
#pragma once

#include <string>
#include <vector>

#include "cases.h"
#include "common/timing.h"

namespace tessera::bench {

struct TorchResult {
  std::string version;     // torch.__version__
  int threads = 0;         // torch.get_num_threads() after set_num_threads
  std::vector<double> ms;  // median per case, in order
};

// Throws tessera::RuntimeError with the command and its exit status when the script fails.
TorchResult run_torch_reference(const std::string& python, const std::string& script,
                                const std::vector<BenchCase>& cases, const std::string& device, int threads,
                                const tools::TimingOptions& timing);

}  // namespace tessera::bench
