// Wall-clock timing for the CLI and benchmarks (never for tests: DESIGN.md, testing conventions).
// median_ms runs `fn` a few times to warm up, then repeats it until a time budget is spent (within
// [min_iters, max_iters] runs) and returns the median; the device is synchronised after every
// run so queued GPU work is counted. tools/bench/torch_ref.py follows the same protocol.
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "tessera/tensor/backend.h"
#include "tessera/tensor/device.h"

namespace tessera::tools {

struct TimingOptions {
  int warmup = 2;
  int min_iters = 5;
  int max_iters = 50;
  double budget_s = 0.5;  // time the measured runs may take, roughly
};

template <typename F>
double median_ms(F&& fn, Device device, const TimingOptions& opt = {}) {
  Backend& backend = backend_for(device);
  auto run_once = [&] {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    backend.synchronize(device);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  double first = 0;
  for (int i = 0; i < std::max(1, opt.warmup); ++i) first = run_once();
  int iters = int(std::ceil(opt.budget_s * 1e3 / std::max(first, 1e-3)));
  iters = std::clamp(iters, opt.min_iters, opt.max_iters);
  std::vector<double> ms(iters);
  for (double& m : ms) m = run_once();
  std::sort(ms.begin(), ms.end());
  return iters % 2 ? ms[iters / 2] : 0.5 * (ms[iters / 2 - 1] + ms[iters / 2]);
}

}  // namespace tessera::tools
