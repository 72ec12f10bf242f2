// The fixed set of benchmark cases of tessera-bench (tools/bench/README in tessera_bench.cpp's
// header): each names an op and its input shapes; the same description is sent to torch_ref.py,
// which builds the same inputs in PyTorch, so both sides time the same computation.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tessera/tensor/device.h"

namespace tessera::bench {

struct BenchCase {
  // matmul (a @ b), softmax (last dim), layer_norm (last dim, weight and bias), gelu (erf),
  // transpose_copy (x.t().contiguous()), add (a + b, broadcast), sum (over the last dim).
  std::string op;
  std::vector<std::vector<int64_t>> shapes;  // one per input, all float32

  std::string shape_label() const;  // "[4096x768] x [768x3072]"
  double flops() const;             // for matmul (2*M*N*K), else 0
  nlohmann::json to_json() const;
};

std::vector<BenchCase> default_cases();

// Builds the case's inputs on `device` (randn, fixed seed) and returns the call to time.
std::function<void()> make_tessera_runner(const BenchCase& c, Device device);

}  // namespace tessera::bench
