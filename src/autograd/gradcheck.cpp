// gradcheck / gradgradcheck: numerical Jacobians by central differences on the inputs' memory,
// analytical ones by autograd::grad with one-hot output gradients.
#include "tessera/autograd/gradcheck.h"

#include <cmath>

#include "tessera/autograd/autograd.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/autograd/variable.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::autograd {

namespace {

// Storage offsets (in elements) of t's elements in row-major logical order.
std::vector<int64_t> element_offsets(const Tensor& t) {
  std::vector<int64_t> out;
  out.reserve(size_t(t.numel()));
  if (t.numel() == 0) return out;
  int64_t nd = t.dim();
  std::vector<int64_t> idx(nd, 0);
  for (int64_t k = 0; k < t.numel(); ++k) {
    int64_t off = t.storage_offset();
    for (int64_t d = 0; d < nd; ++d) off += idx[d] * t.stride(d);
    out.push_back(off);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < t.size(d)) break;
      idx[d] = 0;
    }
  }
  return out;
}

std::vector<double> flat_values(const Tensor& t) {
  Tensor c = raw::contiguous(raw::to(t.detach(), Device::cpu(), DType::Float64));
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

bool is_float_output(const Tensor& t) { return t.defined() && t.is_floating_point(); }

std::string matrix_str(const std::vector<std::vector<double>>& m) {
  std::string s;
  for (const auto& row : m) {
    s += "  [";
    for (size_t j = 0; j < row.size(); ++j) s += fmt::format("{}{:.6g}", j ? ", " : "", row[j]);
    s += "]\n";
  }
  return s;
}

}  // namespace

Tensor gradcheck_input(IntArrayRef shape, uint64_t seed, double low, double high, bool requires_grad) {
  Tensor t = raw::empty(shape, TensorOptions(DType::Float64));
  double* p = t.data_ptr<double>();
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  for (int64_t i = 0; i < t.numel(); ++i) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    p[i] = low + (high - low) * double(s >> 11) * 0x1.0p-53;
  }
  if (requires_grad) t.requires_grad_(true);
  return t;
}

bool gradcheck(const GradcheckFn& fn, const variable_list& inputs, const GradcheckOptions& o) {
  std::vector<size_t> diff;  // indices of inputs we differentiate
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.defined() || !autograd::requires_grad(x)) continue;
    TESSERA_CHECK(x.dtype() == DType::Float64, DTypeError,
                  "gradcheck: input {} requires grad but has dtype {}; gradcheck needs float64 inputs", i,
                  dtype_name(x.dtype()));
    TESSERA_CHECK(x.is_cpu(), DeviceError, "gradcheck: input {} is on {}; gradcheck runs on CPU tensors", i,
                  x.device().str());
    for (int64_t d = 0; d < x.dim(); ++d) {
      TESSERA_CHECK(x.stride(d) != 0 || x.size(d) <= 1, ValueError,
                    "gradcheck: the {}th input has a dimension with stride 0. gradcheck only supports inputs that are "
                    "non-overlapping to be able to compute the numerical gradients correctly. You should call "
                    ".contiguous on the input before passing it to gradcheck.",
                    i);
    }
    diff.push_back(i);
  }
  TESSERA_CHECK(!diff.empty(), ValueError, "gradcheck: expected at least one input tensor to require gradient");

  variable_list outputs = fn(inputs);
  std::vector<size_t> outs;
  for (size_t k = 0; k < outputs.size(); ++k)
    if (is_float_output(outputs[k])) outs.push_back(k);
  TESSERA_CHECK(!outs.empty(), ValueError, "gradcheck: the function returned no floating point output");

  // numerical[out][in][j][k]: d out_k / d in_j
  std::vector<std::vector<std::vector<std::vector<double>>>> numerical(outs.size());
  for (size_t a = 0; a < outs.size(); ++a) numerical[a].resize(diff.size());
  for (size_t b = 0; b < diff.size(); ++b) {
    const Tensor& x = inputs[diff[b]];
    double* base = static_cast<double*>(x.storage()->data());
    std::vector<int64_t> offs = element_offsets(x);
    for (size_t a = 0; a < outs.size(); ++a) numerical[a][b].assign(offs.size(), {});
    for (size_t j = 0; j < offs.size(); ++j) {
      double orig = base[offs[j]];
      base[offs[j]] = orig - o.eps;
      variable_list minus = fn(inputs);
      base[offs[j]] = orig + o.eps;
      variable_list plus = fn(inputs);
      base[offs[j]] = orig;
      for (size_t a = 0; a < outs.size(); ++a) {
        std::vector<double> vp = flat_values(plus[outs[a]]), vm = flat_values(minus[outs[a]]);
        auto& row = numerical[a][b][j];
        row.resize(vp.size());
        for (size_t k = 0; k < vp.size(); ++k) row[k] = (vp[k] - vm[k]) / (2 * o.eps);
      }
    }
  }

  // analytical, one vector-Jacobian product per output element
  outputs = fn(inputs);
  variable_list diff_inputs;
  for (size_t b : diff) diff_inputs.push_back(inputs[b]);
  for (size_t a = 0; a < outs.size(); ++a) {
    const Tensor& y = outputs[outs[a]];
    int64_t n = y.numel();
    std::vector<std::vector<std::vector<double>>> analytical(diff.size());
    for (size_t b = 0; b < diff.size(); ++b)
      analytical[b].assign(size_t(inputs[diff[b]].numel()), std::vector<double>(size_t(n), 0.0));
    if (autograd::requires_grad(y)) {
      for (int64_t k = 0; k < n; ++k) {
        Tensor onehot = raw::full(y.sizes(), 0, y.options());
        raw::copy_(raw::reshape(onehot, {-1}).narrow(0, k, 1), raw::full({1}, 1, y.options()));
        variable_list g = autograd::grad({y}, diff_inputs, {onehot}, /*retain_graph=*/true, false,
                                         /*allow_unused=*/true);
        for (size_t b = 0; b < diff.size(); ++b) {
          if (!g[b].defined()) continue;
          TESSERA_CHECK(g[b].sizes().equals(diff_inputs[b].sizes()), ShapeError,
                        "gradcheck: gradient for input {} has shape {} but the input has shape {}", diff[b],
                        shape_str(g[b].sizes()), shape_str(diff_inputs[b].sizes()));
          std::vector<double> v = flat_values(g[b]);
          for (size_t j = 0; j < v.size(); ++j) analytical[b][j][size_t(k)] = v[j];
        }
      }
    }
    for (size_t b = 0; b < diff.size(); ++b) {
      const auto& num = numerical[a][b];
      const auto& ana = analytical[b];
      double max_diff = 0;
      int64_t bad_j = -1, bad_k = -1;
      for (size_t j = 0; j < num.size(); ++j) {
        for (size_t k = 0; k < num[j].size(); ++k) {
          double d = std::abs(ana[j][k] - num[j][k]);
          bool ok = d <= o.atol + o.rtol * std::abs(num[j][k]) && std::isfinite(ana[j][k]) == std::isfinite(num[j][k]);
          if (!ok && bad_j < 0) {
            bad_j = int64_t(j);
            bad_k = int64_t(k);
          }
          if (!ok) max_diff = std::max(max_diff, std::isnan(d) ? INFINITY : d);
        }
      }
      if (bad_j < 0) continue;
      if (!o.raise_exception) return false;
      std::string msg = fmt::format(
          "gradcheck: Jacobian mismatch for output {} with respect to input {}: first mismatch at input element {}, "
          "output element {}: numerical {:.10g} vs analytical {:.10g} (max abs difference {:.3g}, atol {}, rtol {})",
          outs[a], diff[b], bad_j, bad_k, num[bad_j][bad_k], ana[bad_j][bad_k], max_diff, o.atol, o.rtol);
      if (num.size() * (num.empty() ? 0 : num[0].size()) <= 64)
        msg += fmt::format(",\nnumerical (rows: input elements):\n{}analytical:\n{}", matrix_str(num), matrix_str(ana));
      throw ValueError(msg);
    }
  }
  return true;
}

bool gradgradcheck(const GradcheckFn& fn, const variable_list& inputs, const variable_list& grad_outputs,
                   const GradcheckOptions& o) {
  variable_list outputs = fn(inputs);
  std::vector<size_t> outs;
  for (size_t k = 0; k < outputs.size(); ++k)
    if (is_float_output(outputs[k]) && autograd::requires_grad(outputs[k])) outs.push_back(k);
  TESSERA_CHECK(!outs.empty(), ValueError, "gradgradcheck: no output of the function requires grad");
  variable_list vs = grad_outputs;
  if (vs.empty()) {
    for (size_t a = 0; a < outs.size(); ++a)
      vs.push_back(gradcheck_input(outputs[outs[a]].sizes(), 1000 + a, -1.0, 1.0, true));
  }
  TESSERA_CHECK(vs.size() == outs.size(), ValueError,
                "gradgradcheck: got {} grad_outputs for {} differentiable outputs", vs.size(), outs.size());
  size_t n_in = inputs.size();
  GradcheckFn vjp = [&fn, n_in, outs](const variable_list& all) {
    variable_list ins(all.begin(), all.begin() + int64_t(n_in));
    variable_list gos(all.begin() + int64_t(n_in), all.end());
    variable_list y = fn(ins);
    variable_list ys, diff_ins;
    for (size_t a : outs) ys.push_back(y[a]);
    for (const Tensor& t : ins)
      if (t.defined() && autograd::requires_grad(t)) diff_ins.push_back(t);
    return autograd::grad(ys, diff_ins, gos, /*retain_graph=*/true, /*create_graph=*/true, /*allow_unused=*/true);
  };
  variable_list all = inputs;
  all.insert(all.end(), vs.begin(), vs.end());
  return gradcheck(vjp, all, o);
}

}  // namespace tessera::autograd
