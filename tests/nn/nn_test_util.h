// Helpers shared by the nn layer tests: float64 read-back, building tensors from host values, a
// host-loop reference matmul, and EXPECT_THROW_WITH (the error type and a substring of its text).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "tessera/nn/nn.h"
#include "tessera/tensor/raw.h"
#include "tessera/tessera.h"

namespace nnt {

using tessera::Tensor;

inline std::vector<double> values(const Tensor& t) {
  Tensor c = tessera::raw::contiguous(tessera::raw::to(t.detach(), tessera::Device::cpu(), tessera::kFloat64));
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

inline Tensor make(const std::vector<double>& v, tessera::IntArrayRef shape, tessera::DType dtype = tessera::kFloat64) {
  return tessera::raw::to(tessera::from_vector<double>(v, shape), tessera::Device::cpu(), dtype);
}

// max |a - b| over all elements (shapes must match).
inline double max_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.sizes().vec(), b.sizes().vec());
  auto va = values(a), vb = values(b);
  double m = 0;
  for (size_t i = 0; i < va.size() && i < vb.size(); ++i) {
    double d = std::abs(va[i] - vb[i]);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

inline void expect_close(const Tensor& got, const Tensor& want, double tol, const std::string& what = "") {
  ASSERT_TRUE(got.defined()) << what;
  ASSERT_EQ(got.sizes().vec(), want.sizes().vec()) << what;
  EXPECT_LE(max_diff(got, want), tol) << what;
}

inline bool all_finite(const Tensor& t) {
  for (double v : values(t))
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace nnt

#define EXPECT_THROW_WITH(stmt, ErrorType, substr)                                                        \
  do {                                                                                                    \
    try {                                                                                                 \
      stmt;                                                                                               \
      ADD_FAILURE() << "expected " #ErrorType " containing: " << (substr);                               \
    } catch (const ErrorType& e) {                                                                        \
      EXPECT_NE(std::string(e.what()).find(substr), std::string::npos) << "message: " << e.what();        \
    }                                                                                                     \
  } while (0)
