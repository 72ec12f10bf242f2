// Printing tensors the way PyTorch does: "tensor([[1., 2.], [3., 4.]], dtype=torch.float64)",
// summarising with "..." past 1000 elements.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <ostream>

#include "tessera/tensor/raw.h"

namespace tessera {

namespace {
constexpr int64_t kSummaryThreshold = 1000;
constexpr int64_t kEdgeItems = 3;

struct Formatter {
  bool is_float = false;
  bool is_bool = false;
  bool all_int_valued = true;  // floats that are all integers print as "1."
  bool sci = false;
  int width = 1;

  std::string fmt_value(double v) const {
    if (is_bool) return v != 0 ? "True" : "False";
    if (!is_float) return fmt::format("{}", int64_t(v));
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if (sci) return fmt::format("{:.4e}", v);
    if (all_int_valued) return fmt::format("{:.0f}.", v);
    return fmt::format("{:.4f}", v);
  }
};

void print_rec(std::string& s, const Tensor& t, const Formatter& f, int64_t indent, bool summarize) {
  if (t.dim() == 0) {
    std::string v = f.fmt_value(t.item().to_double());
    s += fmt::format("{:>{}}", v, f.width);
    return;
  }
  int64_t n = t.size(0);
  s += "[";
  auto emit = [&](int64_t i, bool last) {
    print_rec(s, raw::select(t, 0, i), f, indent + 1, summarize);
    if (!last) {
      if (t.dim() == 1) s += ", ";
      else s += "," + std::string(size_t(t.dim() - 1), '\n') + std::string(size_t(indent + 1), ' ');
    }
  };
  if (summarize && n > 2 * kEdgeItems) {
    for (int64_t i = 0; i < kEdgeItems; ++i) emit(i, false);
    s += t.dim() == 1 ? "..., " : "...,\n" + std::string(size_t(indent + 1), ' ');
    for (int64_t i = n - kEdgeItems; i < n; ++i) emit(i, i == n - 1);
  } else {
    for (int64_t i = 0; i < n; ++i) emit(i, i == n - 1);
  }
  s += "]";
}
}  // namespace

std::string to_string(const Tensor& t) {
  if (!t.defined()) return "[ Tensor (undefined) ]";
  Tensor host = raw::to(t, Device::cpu(), t.dtype());
  Formatter f;
  f.is_float = is_floating_point(t.dtype());
  f.is_bool = t.dtype() == kBool;
  bool summarize = t.numel() > kSummaryThreshold;
  if (t.numel() > 0) {
    Tensor d = raw::to(host, Device::cpu(), kFloat64).contiguous();
    const double* p = d.data_ptr<double>();
    double max_abs = 0, min_abs = INFINITY;
    for (int64_t i = 0; i < d.numel(); ++i) {
      double v = p[i];
      if (!std::isfinite(v)) continue;
      if (v != std::floor(v)) f.all_int_valued = false;
      max_abs = std::max(max_abs, std::fabs(v));
      if (v != 0) min_abs = std::min(min_abs, std::fabs(v));
    }
    if (f.is_float && !f.all_int_valued && (max_abs >= 1e8 || (min_abs < 1e-4 && min_abs > 0))) f.sci = true;
    if (f.is_float && f.all_int_valued && max_abs >= 1e8) f.sci = true;
    for (int64_t i = 0; i < d.numel(); ++i) f.width = std::max<int>(f.width, int(f.fmt_value(p[i]).size()));
  }
  std::string s = "tensor(";
  if (t.numel() == 0 && t.dim() > 0) s += "[]";
  else print_rec(s, host, f, 7, summarize);
  std::vector<std::string> extras;
  if (t.numel() == 0 && t.dim() != 1) extras.push_back(fmt::format("size=({})", fmt::join(t.sizes().vec(), ", ")));
  if (t.dtype() != kFloat32 && t.dtype() != kInt64 && t.dtype() != kBool)
    extras.push_back(fmt::format("dtype=torch.{}", dtype_name(t.dtype())));
  if (!t.is_cpu()) extras.push_back(fmt::format("device='{}'", t.device().str()));
  for (const auto& e : extras) s += ", " + e;
  s += ")";
  return s;
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << to_string(t); }

}  // namespace tessera
