// The benchmark cases and the tessera side of each one (see cases.h).
#include "cases.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "tessera/tessera.h"

namespace tessera::bench {

std::string BenchCase::shape_label() const {
  std::vector<std::string> parts;
  for (const auto& s : shapes) parts.push_back(fmt::format("[{}]", fmt::join(s, "x")));
  std::string label = fmt::format("{}", fmt::join(parts, op == "matmul" ? " @ " : " , "));
  if (op == "transpose_copy") label += ".t()";
  return label;
}

double BenchCase::flops() const {
  if (op != "matmul") return 0;
  return 2.0 * double(shapes[0][0]) * double(shapes[0][1]) * double(shapes[1][1]);
}

nlohmann::json BenchCase::to_json() const { return {{"op", op}, {"shapes", shapes}}; }

std::vector<BenchCase> default_cases() {
  return {
      {"matmul", {{1024, 1024}, {1024, 1024}}},
      {"matmul", {{4096, 768}, {768, 3072}}},
      {"softmax", {{4096, 768}}},
      {"layer_norm", {{4096, 768}}},
      {"gelu", {{8 * 1024 * 1024}}},
      {"transpose_copy", {{2048, 2048}}},
      {"add", {{4096, 768}, {768}}},
      {"sum", {{4096, 768}}},
  };
}

std::function<void()> make_tessera_runner(const BenchCase& c, Device device) {
  manual_seed(0);
  std::vector<Tensor> in;
  for (const auto& s : c.shapes) in.push_back(randn(s, device));
  // The result is kept in `out` until the next call, as a PyTorch loop assigning it would.
  auto out = std::make_shared<Tensor>();
  if (c.op == "matmul") return [in, out] { *out = in[0].matmul(in[1]); };
  if (c.op == "softmax") return [in, out] { *out = in[0].softmax(-1); };
  if (c.op == "layer_norm") {
    int64_t n = in[0].size(-1);
    Tensor w = ones({n}, device), b = zeros({n}, device);
    return [in, out, w, b, n] { *out = std::get<0>(raw::layer_norm(in[0], {n}, w, b, 1e-5)); };
  }
  if (c.op == "gelu") return [in, out] { *out = in[0].gelu(); };
  if (c.op == "transpose_copy") return [in, out] { *out = in[0].t().contiguous(); };
  if (c.op == "add") return [in, out] { *out = in[0] + in[1]; };
  if (c.op == "sum") return [in, out] { *out = in[0].sum({-1}); };
  throw ValueError(fmt::format("tessera-bench: unknown op '{}'", c.op));
}

}  // namespace tessera::bench
