// Helpers for the CUDA tests: fresh random inputs (never all zeros), CPU/CUDA twins (the CUDA
// one optionally non-contiguous), poisoned outputs, float64 views, and tolerance comparison.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "tessera/cuda/cuda.h"
#include "tessera/tessera.h"
#include "tessera/tensor/raw.h"

namespace cuda_test {

using namespace tessera;

void set_seed(uint64_t seed);
std::mt19937_64& rng();

#define REQUIRE_CUDA()                                                                                   \
  do {                                                                                                   \
    if (!::tessera::cuda::is_available())                                                                \
      GTEST_SKIP() << "no CUDA device: " << ::tessera::cuda::unavailable_reason();                       \
  } while (0)

// Runs a CPU-backend reference; skips (loudly) when the CPU backend lacks the primitive.
#define CPU_REF(stmt)                                                                                    \
  do {                                                                                                   \
    try {                                                                                                \
      stmt;                                                                                              \
    } catch (const ::tessera::DeviceError& e) {                                                          \
      GTEST_SKIP() << "CPU reference not available in this build: " << e.what();                         \
    }                                                                                                    \
  } while (0)

inline const Device kDev = Device::cuda(0);
inline const std::vector<DType> kFloatTypes = {kFloat32, kFloat64, kBFloat16, kFloat16};
inline const std::vector<DType> kAllTypes = {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64, kBool};

// Random values: floats uniform in [lo, hi] with |v| >= 0.05 (never all zero), ints in
// [-50, 50] \ {0}, bools with at least one true and one false (when n >= 2).
Tensor random_cpu(IntArrayRef shape, DType dt, double lo = -2.0, double hi = 2.0);
// A CUDA tensor equal to `cpu`; non-contiguous (a transposed view of its last two dims, or a
// strided slice for 1-D) when `noncontig` is set.
Tensor to_cuda(const Tensor& cpu, bool noncontig = false);
// An uninitialised tensor filled with 0xFF bytes (NaN for floats, -1 for ints).
Tensor poisoned(IntArrayRef shape, DType dt, Device dev = kDev);
// Values as float64, row-major.
std::vector<double> values(const Tensor& t);

struct Tol {
  double rtol, atol;
};
Tol tol_for(DType dt);
// Expects got == want within tol (NaN matches NaN, inf matches inf); reports at most a few
// mismatches with their index, and the count.
void expect_close(const Tensor& got, const std::vector<double>& want, Tol tol, const std::string& what);
void expect_close(const Tensor& got, const Tensor& want, Tol tol, const std::string& what);
inline std::string dn(DType t) { return std::string(dtype_name(t)); }
// Rounds a double to dt the way storing it would.
double round_to(double v, DType dt);

}  // namespace cuda_test
