// Helpers for the reduction and normalisation tests: seeded random tensors of any dtype, the
// logical values of any view as doubles, a float64 reference reduction written with plain loops
// (independent of the kernels), and an error-message matcher.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "tessera/tessera.h"

namespace tessera::testing {

// Uniform values in [lo, hi) (integers for integer dtypes, coin flips for bool), row-major.
inline Tensor random_tensor(IntArrayRef shape, DType dtype, uint32_t seed, double lo = -2.0, double hi = 2.0) {
  std::mt19937 gen(seed);
  std::vector<double> v(static_cast<size_t>(numel_of(shape)));
  if (dtype == kBool) {
    for (double& x : v) x = double(gen() & 1u);
  } else if (is_integral(dtype)) {
    std::uniform_int_distribution<int64_t> d{static_cast<int64_t>(lo), static_cast<int64_t>(hi)};
    for (double& x : v) x = double(d(gen));
  } else {
    std::uniform_real_distribution<double> d(lo, hi);
    for (double& x : v) x = d(gen);
  }
  return from_vector<double>(v, shape).to(dtype);
}

// The logical (row-major) values of any view, via a copy to contiguous float64.
inline std::vector<double> values(const Tensor& t) {
  Tensor c = t.to(kFloat64, /*non_blocking=*/false, /*copy=*/true);
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}
inline std::vector<int64_t> int_values(const Tensor& t) {
  Tensor c = t.to(kInt64, /*non_blocking=*/false, /*copy=*/true);
  const int64_t* p = c.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

// Groups the values of a row-major array of `shape` by output position (reduced dims removed,
// output row-major), then applies f to each group in input order.
inline std::vector<double> ref_reduce(const std::vector<double>& v, const std::vector<int64_t>& shape,
                                      std::vector<int64_t> dims,
                                      const std::function<double(const std::vector<double>&)>& f) {
  const int64_t nd = int64_t(shape.size());
  if (dims.empty())
    for (int64_t d = 0; d < nd; ++d) dims.push_back(d);
  std::vector<bool> red(size_t(nd), false);
  for (int64_t d : dims) red[size_t(d < 0 ? d + nd : d)] = true;
  int64_t n_out = 1;
  for (int64_t d = 0; d < nd; ++d)
    if (!red[size_t(d)]) n_out *= shape[size_t(d)];
  std::vector<std::vector<double>> groups(static_cast<size_t>(n_out));
  std::vector<int64_t> idx(size_t(nd), 0);
  for (size_t i = 0; i < v.size(); ++i) {
    int64_t o = 0;
    for (int64_t d = 0; d < nd; ++d)
      if (!red[size_t(d)]) o = o * shape[size_t(d)] + idx[size_t(d)];
    groups[size_t(o)].push_back(v[i]);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < shape[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
  std::vector<double> out;
  for (auto& g : groups) out.push_back(f(g));
  return out;
}

inline double ref_sum(const std::vector<double>& g) {
  long double s = 0;
  for (double x : g) s += x;
  return double(s);
}
inline double ref_mean(const std::vector<double>& g) { return ref_sum(g) / double(g.size()); }
inline double ref_var(const std::vector<double>& g, int64_t correction) {
  double m = ref_mean(g);
  long double s = 0;
  for (double x : g) s += (x - m) * (x - m);
  return double(s) / double(std::max<int64_t>(int64_t(g.size()) - correction, 0));
}

// Relative tolerance of results stored in `dtype`.
inline double tol_of(DType dtype) {
  switch (dtype) {
    case kBFloat16: return 1e-2;
    case kFloat16: return 2e-3;
    case kFloat32: return 2e-5;
    default: return 1e-12;
  }
}

inline void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                            double atol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      EXPECT_TRUE(std::isnan(got[i])) << what << " at " << i;
      continue;
    }
    if (std::isinf(want[i])) {
      EXPECT_EQ(got[i], want[i]) << what << " at " << i;
      continue;
    }
    EXPECT_NEAR(got[i], want[i], atol + rtol * std::fabs(want[i])) << what << " at " << i;
  }
}

// Runs f, expects it to throw E, and checks the message contains every substring.
template <typename E, typename F>
void expect_error(const F& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an exception";
  } catch (const E& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
  }
}

inline const std::vector<DType>& float_dtypes() {
  static const std::vector<DType> d{kFloat32, kFloat64, kBFloat16, kFloat16};
  return d;
}
inline const std::vector<DType>& all_dtypes() {
  static const std::vector<DType> d{kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64, kBool};
  return d;
}

}  // namespace tessera::testing
