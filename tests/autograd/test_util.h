// Shared helpers for the autograd tests: reading values back as float64, building tensors from
// values, and small custom Functions with host-loop arithmetic (independent of the library's
// elementwise kernels) used as reference ops.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tessera/tessera.h"
#include "tessera/tensor/raw.h"

namespace tt {

using tessera::Tensor;
using tessera::autograd::AutogradContext;
using tessera::autograd::variable_list;

inline std::vector<double> values(const Tensor& t) {
  Tensor c = tessera::raw::contiguous(tessera::raw::to(t.detach(), tessera::Device::cpu(), tessera::kFloat64));
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

inline Tensor make(const std::vector<double>& v, tessera::IntArrayRef shape, tessera::DType dtype = tessera::kFloat64,
                   bool requires_grad = false) {
  Tensor t = tessera::from_vector<double>(v, shape, tessera::TensorOptions(dtype));
  if (requires_grad) t.requires_grad_(true);
  return t;
}

inline void expect_values(const Tensor& t, const std::vector<double>& want, double tol = 1e-12) {
  ASSERT_TRUE(t.defined());
  std::vector<double> got = values(t);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// A new tensor with f applied elementwise (host loop, float64, result in a's dtype).
template <class F>
Tensor map(const Tensor& a, F f) {
  std::vector<double> v = values(a);
  for (double& x : v) x = f(x);
  return make(v, a.sizes(), a.dtype());
}
template <class F>
Tensor zip(const Tensor& a, const Tensor& b, F f) {
  std::vector<double> va = values(a), vb = values(b);
  EXPECT_EQ(va.size(), vb.size());
  for (size_t i = 0; i < va.size(); ++i) va[i] = f(va[i], vb[i]);
  return make(va, a.sizes(), a.dtype());
}

// y = a * b (same shapes).
struct Mul : tessera::autograd::Function<Mul> {
  static Tensor forward(AutogradContext* ctx, Tensor a, Tensor b) {
    ctx->save_for_backward({a, b});
    return zip(a, b, [](double x, double y) { return x * y; });
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    auto s = ctx->get_saved_variables();
    return {zip(g[0], s[1], [](double x, double y) { return x * y; }),
            zip(g[0], s[0], [](double x, double y) { return x * y; })};
  }
};

// y = exp(x); saves its output.
struct Exp : tessera::autograd::Function<Exp> {
  static Tensor forward(AutogradContext* ctx, Tensor x) {
    Tensor y = map(x, [](double v) { return std::exp(v); });
    ctx->save_for_backward({y});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    return {zip(g[0], ctx->get_saved_variables()[0], [](double x, double y) { return x * y; })};
  }
};

// y = sum(x) (0-dim).
struct SumAll : tessera::autograd::Function<SumAll> {
  static Tensor forward(AutogradContext* ctx, Tensor x) {
    ctx->saved_data["shape"] = x.sizes().vec();
    double s = 0;
    for (double v : values(x)) s += v;
    return make({s}, {}, x.dtype());
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    auto shape = ctx->saved_data["shape"].toIntVector();
    double gv = values(g[0])[0];
    return {tessera::full(shape, gv, g[0].options())};
  }
};

// y = x * c for a double c.
struct Scale : tessera::autograd::Function<Scale> {
  static Tensor forward(AutogradContext* ctx, Tensor x, double c) {
    ctx->saved_data["c"] = c;
    return map(x, [c](double v) { return v * c; });
  }
  static variable_list backward(AutogradContext* ctx, variable_list g) {
    double c = ctx->saved_data["c"].toDouble();
    return {map(g[0], [c](double v) { return v * c; }), Tensor()};
  }
};

// Asserts that `stmt` throws tessera::Error whose message contains `substr`.
#define EXPECT_THROW_MSG(stmt, substr)                                                        \
  do {                                                                                        \
    try {                                                                                     \
      stmt;                                                                                   \
      ADD_FAILURE() << "expected an exception containing: " << (substr);                     \
    } catch (const tessera::Error& e) {                                                       \
      EXPECT_NE(std::string(e.what()).find(substr), std::string::npos) << "message: " << e.what(); \
    }                                                                                         \
  } while (0)

}  // namespace tt
