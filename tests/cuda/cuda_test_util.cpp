// Helpers for the CUDA tests (see cuda_test_util.h).
#include "cuda_test_util.h"

#include <cuda_runtime_api.h>

namespace cuda_test {

namespace {
std::mt19937_64 g_rng;
}
void set_seed(uint64_t seed) { g_rng.seed(seed); }
std::mt19937_64& rng() { return g_rng; }

Tensor random_cpu(IntArrayRef shape, DType dt, double lo, double hi) {
  int64_t n = numel_of(shape);
  std::vector<double> v(static_cast<size_t>(n));
  std::uniform_real_distribution<double> u(lo, hi);
  std::uniform_int_distribution<int> ui(-50, 50);
  for (int64_t i = 0; i < n; ++i) {
    if (dt == kBool) v[size_t(i)] = (rng()() & 1) ? 1 : 0;
    else if (is_integral(dt)) {
      int x = ui(rng());
      v[size_t(i)] = x == 0 ? 1 : x;
    } else {
      double x = u(rng());
      if (std::abs(x) < 0.05) x = x < 0 ? x - 0.05 : x + 0.05;
      v[size_t(i)] = x;
    }
  }
  if (dt == kBool && n >= 2) {
    v[0] = 1;
    v[size_t(n - 1)] = 0;
  }
  return raw::to(from_vector<double>(v, shape), Device::cpu(), dt);
}

Tensor to_cuda(const Tensor& cpu, bool noncontig) {
  if (!noncontig || cpu.dim() == 0) return raw::to(cpu, kDev, cpu.dtype());
  if (cpu.dim() == 1) {  // every other element of a twice-as-long device buffer
    Tensor big = poisoned({cpu.size(0) * 2}, cpu.dtype());
    Tensor view = raw::slice(big, 0, 0, std::nullopt, 2);
    raw::copy_(view, cpu);
    return view;
  }
  int64_t d = cpu.dim();
  Tensor t = raw::transpose(cpu, d - 2, d - 1).contiguous();  // CPU copy, transposed layout
  return raw::transpose(raw::to(t, kDev, t.dtype()), d - 2, d - 1);
}

Tensor poisoned(IntArrayRef shape, DType dt, Device dev) {
  Tensor t = raw::empty(shape, TensorOptions(dt).device(dev));
  if (t.nbytes() > 0) {
    if (dev.is_cuda()) {
      EXPECT_EQ(cudaMemset(t.data_ptr(), 0xFF, t.nbytes()), cudaSuccess);
      EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    } else {
      std::memset(t.data_ptr(), 0xFF, t.nbytes());
    }
  }
  if (dt == kBool) raw::fill_(t, true);  // 0xFF is not a valid bool
  return t;
}

std::vector<double> values(const Tensor& t) {
  Tensor c = raw::contiguous(raw::to(t, Device::cpu(), kFloat64));
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

Tol tol_for(DType dt) {
  switch (dt) {
    case DType::Float32: return {2e-5, 2e-6};
    case DType::Float64: return {1e-12, 1e-13};
    case DType::BFloat16: return {1.6e-2, 1e-3};
    case DType::Float16: return {2e-3, 1e-4};
    default: return {0, 0};
  }
}

double round_to(double v, DType dt) {
  switch (dt) {
    case DType::Float32: return double(float(v));
    case DType::BFloat16: return double(float(BFloat16(float(v))));
    case DType::Float16: return double(float(Half(float(v))));
    case DType::Int32: return double(int32_t(v));
    case DType::Int64: return double(int64_t(v));
    case DType::Bool: return v != 0 ? 1 : 0;
    default: return v;
  }
}

void expect_close(const Tensor& got, const std::vector<double>& want, Tol tol, const std::string& what) {
  std::vector<double> g = values(got);
  ASSERT_EQ(g.size(), want.size()) << what;
  int64_t bad = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    double a = g[i], b = want[i];
    bool ok = (std::isnan(a) && std::isnan(b)) || a == b || std::abs(a - b) <= tol.atol + tol.rtol * std::abs(b);
    if (!ok) {
      if (bad < 5) ADD_FAILURE() << what << ": element " << i << " got " << a << " want " << b;
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << g.size() << " elements differ";
}

void expect_close(const Tensor& got, const Tensor& want, Tol tol, const std::string& what) {
  ASSERT_TRUE(got.sizes().equals(want.sizes())) << what << ": shape " << shape_str(got.sizes()) << " vs "
                                                << shape_str(want.sizes());
  expect_close(got, values(want), tol, what);
}

}  // namespace cuda_test
