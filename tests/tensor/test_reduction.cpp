// Reduction tests: sum/mean/prod/amax/amin/max(dim)/argmax/var/std/logsumexp/sum_to/allclose/
// equal against float64 references computed with plain loops, over dims lists, negative dims,
// keepdim, every dtype, non-contiguous inputs (transposed, sliced, expanded), sizes across the
// parallel threshold, float32 accuracy on 1e7 elements, empty inputs and error messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "reduction_test_util.h"
#include "tessera/tensor/raw.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// dims lists exercised on a 3-D tensor, with the dims they mean once wrapped.
struct DimsCase {
  std::vector<int64_t> dims;
  std::vector<int64_t> wrapped;
};
const std::vector<DimsCase> kDims3 = {{{}, {0, 1, 2}}, {{0}, {0}},       {{1}, {1}},      {{2}, {2}},
                                      {{-1}, {2}},     {{0, 2}, {0, 2}}, {{-3, -1}, {0, 2}}, {{2, 0}, {0, 2}},
                                      {{1, 2}, {1, 2}}, {{0, 1, 2}, {0, 1, 2}}};

Shape expected_shape(IntArrayRef shape, const std::vector<int64_t>& wrapped, bool keepdim) {
  Shape s;
  for (int64_t d = 0; d < int64_t(shape.size()); ++d) {
    bool r = std::find(wrapped.begin(), wrapped.end(), d) != wrapped.end();
    if (!r) s.push_back(shape[d]);
    else if (keepdim) s.push_back(1);
  }
  return s;
}

// The same values as `base` in three non-contiguous layouts: transposed, sliced with a step, and
// expanded from a broadcast dim.
std::vector<std::pair<std::string, Tensor>> layouts(DType dtype, uint32_t seed) {
  std::vector<std::pair<std::string, Tensor>> out;
  out.push_back({"contiguous", random_tensor({4, 5, 6}, dtype, seed)});
  out.push_back({"transposed", random_tensor({6, 5, 4}, dtype, seed + 1).transpose(0, 2)});
  out.push_back({"permuted", random_tensor({5, 6, 4}, dtype, seed + 2).permute({2, 0, 1})});
  out.push_back({"sliced", random_tensor({8, 5, 13}, dtype, seed + 3).slice(0, 1, 8, 2).slice(2, 0, 12, 2)});
  out.push_back({"expanded", random_tensor({4, 1, 6}, dtype, seed + 4).expand({4, 5, 6})});
  return out;
}

}  // namespace

TEST(Reduction, SumEveryDtypeDimsAndKeepdim) {
  for (DType dt : all_dtypes()) {
    for (auto& [name, x] : layouts(dt, 10)) {
      std::vector<double> v = values(x);
      for (const DimsCase& c : kDims3) {
        for (bool keepdim : {false, true}) {
          Tensor s = x.sum(c.dims, keepdim);
          std::string what = fmt::format("sum {} {} dims {} keepdim {}", dtype_name(dt), name, shape_str(c.dims), keepdim);
          EXPECT_EQ(s.dtype(), is_integral(dt, true) ? kInt64 : dt) << what;
          EXPECT_EQ(s.sizes().vec(), expected_shape(x.sizes(), c.wrapped, keepdim)) << what;
          expect_near_all(values(s), ref_reduce(v, x.sizes().vec(), c.wrapped, ref_sum), tol_of(dt), 1e-2 * tol_of(dt),
                          what);
        }
      }
    }
  }
}

TEST(Reduction, MeanFloatDtypes) {
  for (DType dt : float_dtypes()) {
    for (auto& [name, x] : layouts(dt, 20)) {
      std::vector<double> v = values(x);
      for (const DimsCase& c : kDims3) {
        Tensor m = x.mean(c.dims, /*keepdim=*/true);
        std::string what = fmt::format("mean {} {} dims {}", dtype_name(dt), name, shape_str(c.dims));
        EXPECT_EQ(m.dtype(), dt);
        EXPECT_EQ(m.sizes().vec(), expected_shape(x.sizes(), c.wrapped, true)) << what;
        expect_near_all(values(m), ref_reduce(v, x.sizes().vec(), c.wrapped, ref_mean), tol_of(dt), tol_of(dt), what);
      }
    }
  }
  // The whole-tensor overload and the free function.
  Tensor x = random_tensor({7, 3}, kFloat64, 21);
  EXPECT_NEAR(x.mean().item<double>(), ref_mean(values(x)), 1e-14);
  expect_near_all(values(tessera::mean(x, {1}, false)), ref_reduce(values(x), {7, 3}, {1}, ref_mean), 1e-14, 1e-14,
                  "free mean");
}

TEST(Reduction, MeanDtypeOptionAndIntegerError) {
  Tensor i = from_vector<int64_t>({1, 2, 3, 4}, {4});
  Tensor m = i.mean(kFloat32);
  EXPECT_EQ(m.dtype(), kFloat32);
  EXPECT_FLOAT_EQ(m.item<float>(), 2.5f);
  expect_error<DTypeError>([&] { i.mean(); },
                           {"mean(): could not infer output dtype", "floating point", "Got: int64"});
  expect_error<DTypeError>([&] { from_vector<bool>({true}, {1}).mean({0}); }, {"mean()", "bool"});
}

TEST(Reduction, SumDtypeOption) {
  Tensor x = random_tensor({5, 9}, kFloat32, 30);
  Tensor s = x.sum({1}, false, kFloat64);
  EXPECT_EQ(s.dtype(), kFloat64);
  expect_near_all(values(s), ref_reduce(values(x), {5, 9}, {1}, ref_sum), 1e-14, 1e-14, "sum float64");
  Tensor i = random_tensor({6}, kInt32, 31, -50, 50);
  Tensor si = i.sum(kInt32);
  EXPECT_EQ(si.dtype(), kInt32);
  EXPECT_EQ(si.item<int64_t>(), int64_t(ref_sum(values(i))));
  Tensor sf = i.sum(kFloat32);
  EXPECT_EQ(sf.dtype(), kFloat32);
  EXPECT_EQ(sf.item<double>(), ref_sum(values(i)));
  // bool counts as int64, and int32 sums do not overflow (accumulated in int64).
  EXPECT_EQ(from_vector<bool>({true, true, false, true}, {4}).sum().item<int64_t>(), 3);
  Tensor big = full({4}, int64_t(2000000000), kInt32);
  EXPECT_EQ(big.sum().item<int64_t>(), 8000000000LL);
  EXPECT_EQ(tessera::sum(big).dtype(), kInt64);
}

TEST(Reduction, ProdEveryDtype) {
  for (DType dt : all_dtypes()) {
    Tensor x = random_tensor({3, 4, 2}, dt, 40, is_integral(dt) ? -3 : 0.5, is_integral(dt) ? 3 : 1.5);
    std::vector<double> v = values(x);
    for (const DimsCase& c : kDims3) {
      Tensor p = raw::prod(x, c.dims, false);
      std::string what = fmt::format("prod {} dims {}", dtype_name(dt), shape_str(c.dims));
      EXPECT_EQ(p.dtype(), is_integral(dt, true) ? kInt64 : dt) << what;
      auto ref = ref_reduce(v, {3, 4, 2}, c.wrapped, [](const std::vector<double>& g) {
        double r = 1;
        for (double e : g) r *= e;
        return r;
      });
      expect_near_all(values(p), ref, 4 * tol_of(dt), 1e-12, what);
    }
  }
  EXPECT_DOUBLE_EQ(from_vector<double>({2, 3, 4}, {3}).prod().item<double>(), 24.0);
}

TEST(Reduction, AmaxAminEveryDtypeAndLayout) {
  auto vmax = [](const std::vector<double>& g) { return *std::max_element(g.begin(), g.end()); };
  auto vmin = [](const std::vector<double>& g) { return *std::min_element(g.begin(), g.end()); };
  for (DType dt : all_dtypes()) {
    for (auto& [name, x] : layouts(dt, 50)) {
      std::vector<double> v = values(x);
      for (const DimsCase& c : kDims3) {
        if (c.dims.empty()) continue;
        std::string what = fmt::format("amax {} {} dims {}", dtype_name(dt), name, shape_str(c.dims));
        Tensor mx = x.amax(c.dims), mn = x.amin(c.dims, true);
        EXPECT_EQ(mx.dtype(), dt);
        EXPECT_EQ(mx.sizes().vec(), expected_shape(x.sizes(), c.wrapped, false)) << what;
        EXPECT_EQ(values(mx), ref_reduce(v, x.sizes().vec(), c.wrapped, vmax)) << what;
        EXPECT_EQ(values(mn), ref_reduce(v, x.sizes().vec(), c.wrapped, vmin)) << what;
      }
      EXPECT_EQ(x.max().item<double>(), vmax(v));
      EXPECT_EQ(x.min().item<double>(), vmin(v));
    }
  }
}

TEST(Reduction, MaxMinPropagateNaN) {
  Tensor x = from_vector<float>({1, NAN, 3, 4, 5, 6, -1, 2, NAN}, {3, 3});
  EXPECT_TRUE(std::isnan(x.max().item<float>()));
  EXPECT_TRUE(std::isnan(x.min().item<float>()));
  auto r = values(x.amax({1}));
  EXPECT_TRUE(std::isnan(r[0]));
  EXPECT_EQ(r[1], 6.0);
  EXPECT_TRUE(std::isnan(r[2]));
  auto c = values(x.amin({0}));  // the outer (column) path
  EXPECT_EQ(c[0], -1.0);
  EXPECT_TRUE(std::isnan(c[1]));
  EXPECT_TRUE(std::isnan(c[2]));
  // A long contiguous row with one NaN near the end (the vectorised path).
  std::vector<float> big(1000, 1.0f);
  big[997] = NAN;
  EXPECT_TRUE(std::isnan(from_vector<float>(big, {1000}).amax({0}).item<float>()));
}

TEST(Reduction, MaxDimValuesAndIndices) {
  for (DType dt : all_dtypes()) {
    for (auto& [name, x] : layouts(dt, 60)) {
      std::vector<double> v = values(x);
      for (int64_t dim : {0, 1, 2, -1, -2}) {
        for (bool keepdim : {false, true}) {
          auto [mv, mi] = x.max(dim, keepdim);
          auto [nv, ni] = x.min(dim, keepdim);
          int64_t d = dim < 0 ? dim + 3 : dim;
          std::string what = fmt::format("max_dim {} {} dim {}", dtype_name(dt), name, dim);
          EXPECT_EQ(mv.dtype(), dt);
          EXPECT_EQ(mi.dtype(), kInt64);
          EXPECT_EQ(mi.sizes().vec(), expected_shape(x.sizes(), {d}, keepdim)) << what;
          // Reference: value and first index of the extreme along d.
          auto argext = [&](bool is_max) {
            std::vector<double> idx_of;
            Shape sh = x.sizes().vec();
            int64_t stride = 1;
            for (int64_t k = d + 1; k < 3; ++k) stride *= sh[k];
            int64_t outer = int64_t(v.size()) / (sh[d] * stride);
            for (int64_t o = 0; o < outer; ++o)
              for (int64_t in = 0; in < stride; ++in) {
                int64_t best = 0;
                for (int64_t r = 1; r < sh[d]; ++r) {
                  double a = v[(o * sh[d] + r) * stride + in], b = v[(o * sh[d] + best) * stride + in];
                  if (is_max ? a > b : a < b) best = r;
                }
                idx_of.push_back(double(best));
              }
            return idx_of;
          };
          auto vmax = [](const std::vector<double>& g) { return *std::max_element(g.begin(), g.end()); };
          auto vmin = [](const std::vector<double>& g) { return *std::min_element(g.begin(), g.end()); };
          EXPECT_EQ(values(mv), ref_reduce(v, x.sizes().vec(), {d}, vmax)) << what;
          EXPECT_EQ(values(nv), ref_reduce(v, x.sizes().vec(), {d}, vmin)) << what;
          EXPECT_EQ(values(mi), argext(true)) << what;
          EXPECT_EQ(values(ni), argext(false)) << what;
        }
      }
    }
  }
}

TEST(Reduction, ArgmaxTiesNaNAndFlattened) {
  // Ties: the first occurrence wins, along rows (inner path) and columns (outer path).
  Tensor x = from_vector<float>({3, 1, 3, 2, 3, 0, 3, 3, 1, 2, 2, 2}, {3, 4});
  EXPECT_EQ(int_values(x.argmax(1)), (std::vector<int64_t>{0, 0, 1}));
  EXPECT_EQ(int_values(x.argmax(0)), (std::vector<int64_t>{0, 2, 0, 1}));
  EXPECT_EQ(int_values(x.argmin(1)), (std::vector<int64_t>{1, 1, 0}));
  EXPECT_EQ(int_values(x.argmin(0)), (std::vector<int64_t>{2, 1, 2, 0}));
  // dim = nullopt: over the flattened tensor; keepdim gives all-ones shape.
  EXPECT_EQ(x.argmax().item<int64_t>(), 0);
  EXPECT_EQ(x.argmin().item<int64_t>(), 5);
  EXPECT_EQ(x.argmax().dim(), 0);
  EXPECT_EQ(x.argmax(std::nullopt, true).sizes().vec(), (Shape{1, 1}));
  EXPECT_EQ(x.t().argmin().item<int64_t>(), 4);  // flattened in the transposed order
  // NaN wins and the first NaN is reported.
  Tensor n = from_vector<double>({1, NAN, 5, NAN, 7, 9}, {2, 3});
  EXPECT_EQ(int_values(n.argmax(1)), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(int_values(n.argmin(1)), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(int_values(n.argmax(0)), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(n.argmax().item<int64_t>(), 1);
  auto [v, i] = n.max(1);
  EXPECT_TRUE(std::isnan(values(v)[0]));
  EXPECT_TRUE(std::isnan(values(v)[1]));
  // A long row: the vectorised first pass then the index scan.
  std::vector<int64_t> big(5000);
  for (size_t k = 0; k < big.size(); ++k) big[k] = int64_t(k % 97);
  EXPECT_EQ(from_vector<int64_t>(big, {5000}).argmax().item<int64_t>(), 96);
  EXPECT_EQ(from_vector<int64_t>(big, {5000}).argmin(0).item<int64_t>(), 0);
  // 0-dim input: index 0.
  EXPECT_EQ(scalar_tensor(4.0).argmax(0).item<int64_t>(), 0);
  auto [sv, si] = scalar_tensor(4.0).max(0);
  EXPECT_EQ(sv.item<double>(), 4.0);
  EXPECT_EQ(si.dim(), 0);
}

TEST(Reduction, VarStd) {
  for (DType dt : float_dtypes()) {
    for (auto& [name, x] : layouts(dt, 70)) {
      std::vector<double> v = values(x);
      for (const DimsCase& c : kDims3) {
        for (int64_t corr : {0, 1}) {
          Tensor r = x.var(c.dims, corr, true);
          std::string what = fmt::format("var {} {} dims {} corr {}", dtype_name(dt), name, shape_str(c.dims), corr);
          EXPECT_EQ(r.dtype(), dt);
          EXPECT_EQ(r.sizes().vec(), expected_shape(x.sizes(), c.wrapped, true)) << what;
          auto ref = ref_reduce(v, x.sizes().vec(), c.wrapped,
                                [&](const std::vector<double>& g) { return ref_var(g, corr); });
          expect_near_all(values(r), ref, 2 * tol_of(dt), 1e-12, what);
        }
      }
    }
  }
  // Shifted data (large mean, small spread) keeps its accuracy: two-pass, not E[x^2] - E[x]^2.
  std::vector<float> sh(10000);
  for (size_t i = 0; i < sh.size(); ++i) sh[i] = 1e4f + float(i % 10) * 0.01f;
  std::vector<double> shd(sh.begin(), sh.end());
  EXPECT_NEAR(from_vector<float>(sh, {10000}).var().item<double>(), ref_var(shd, 1), 1e-4 * ref_var(shd, 1));
  // One element with correction 1 -> nan; correction larger than n -> inf (PyTorch).
  EXPECT_TRUE(std::isnan(tensor({3.0}).var().item<double>()));
  EXPECT_TRUE(std::isinf(tensor({1.0, 2.0}).var(5).item<double>()));
  expect_error<DTypeError>([] { from_vector<int64_t>({1, 2}, {2}).var(); },
                           {"var", "std and var only support floating point"});
  expect_error<DTypeError>([] { from_vector<int32_t>({1, 2}, {2}).std(); }, {"std", "floating point"});
}

// std = sqrt(var) uses the elementwise sqrt primitive (branch `elementwise`): skipped loudly
// until that kernel is present.
TEST(Reduction, StdIsSqrtOfVar) {
  Tensor x = random_tensor({6, 7}, kFloat64, 80);
  Tensor s;
  try {
    s = x.std({1}, 1, false);
  } catch (const DeviceError& e) {
    GTEST_SKIP() << "std needs the CPU sqrt kernel, not built in this branch: " << e.what();
  }
  auto ref = ref_reduce(values(x), {6, 7}, {1}, [](const std::vector<double>& g) { return std::sqrt(ref_var(g, 1)); });
  expect_near_all(values(s), ref, 1e-12, 1e-14, "std");
  EXPECT_NEAR(tessera::std(x, {0, 1}, 0).item<double>(), std::sqrt(ref_var(values(x), 0)), 1e-12);
}

TEST(Reduction, Logsumexp) {
  for (DType dt : float_dtypes()) {
    for (auto& [name, x] : layouts(dt, 90)) {
      std::vector<double> v = values(x);
      for (const DimsCase& c : kDims3) {
        Tensor r = x.logsumexp(c.dims);
        std::string what = fmt::format("logsumexp {} {} dims {}", dtype_name(dt), name, shape_str(c.dims));
        auto ref = ref_reduce(v, x.sizes().vec(), c.wrapped, [](const std::vector<double>& g) {
          double s = 0;
          for (double e : g) s += std::exp(e);
          return std::log(s);
        });
        expect_near_all(values(r), ref, tol_of(dt), tol_of(dt), what);
      }
    }
  }
  // Stable for large magnitudes; all -inf -> -inf; +inf -> +inf; nan -> nan.
  Tensor big = from_vector<double>({1000, 1000, -1000, -1000, -kInf, -kInf, 1, kInf, 1, kNaN}, {5, 2});
  auto r = values(big.logsumexp({1}));
  EXPECT_NEAR(r[0], 1000 + std::log(2.0), 1e-12);
  EXPECT_NEAR(r[1], -1000 + std::log(2.0), 1e-12);
  EXPECT_EQ(r[2], -kInf);
  EXPECT_EQ(r[3], kInf);
  EXPECT_TRUE(std::isnan(r[4]));
  Tensor bigf = from_vector<float>({1000, 1000, 999, -1000, -1000, -1001}, {2, 3});
  auto rf = values(tessera::logsumexp(bigf, {1}));
  EXPECT_NEAR(rf[0], 1000 + std::log(2 + std::exp(-1.0)), 1e-3);
  EXPECT_NEAR(rf[1], -1000 + std::log(2 + std::exp(-1.0)), 1e-3);
  // Integers are computed in float32.
  Tensor li = from_vector<int64_t>({0, 0}, {2}).logsumexp({0});
  EXPECT_EQ(li.dtype(), kFloat32);
  EXPECT_NEAR(li.item<double>(), std::log(2.0), 1e-6);
}

TEST(Reduction, LargeSizesCrossParallelThreshold) {
  // Inner path with many outputs, inner path split across threads, outer path (column sums)
  // with many and with few outputs (rows split across threads), against float64 references.
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
  };
  for (const Case& c : std::vector<Case>{{{300, 1000}, {1}},
                                         {{3, 200000}, {1}},
                                         {{1000, 300}, {0}},
                                         {{200000, 3}, {0}},
                                         {{50, 70, 40}, {0, 2}},
                                         {{600000}, {0}}}) {
    for (DType dt : {kFloat64, kFloat32, kInt64}) {
      Tensor x = random_tensor(c.shape, dt, 100, dt == kInt64 ? -1000 : -1, dt == kInt64 ? 1000 : 1);
      std::vector<double> v = values(x);
      std::string what = fmt::format("{} {} dims {}", dtype_name(dt), shape_str(c.shape), shape_str(c.dims));
      expect_near_all(values(x.sum(c.dims)), ref_reduce(v, c.shape, c.dims, ref_sum), dt == kFloat32 ? 1e-5 : 1e-12,
                      dt == kFloat32 ? 1e-3 : 1e-9, "sum " + what);
      auto vmax = [](const std::vector<double>& g) { return *std::max_element(g.begin(), g.end()); };
      EXPECT_EQ(values(x.amax(c.dims)), ref_reduce(v, c.shape, c.dims, vmax)) << what;
      if (dt != kInt64) {
        expect_near_all(values(x.var(c.dims)),
                        ref_reduce(v, c.shape, c.dims, [](const std::vector<double>& g) { return ref_var(g, 1); }),
                        dt == kFloat32 ? 1e-4 : 1e-10, 0, "var " + what);
      }
      if (c.dims.size() == 1) {
        auto [mv, mi] = x.max(c.dims[0]);
        EXPECT_EQ(values(mv), ref_reduce(v, c.shape, c.dims, vmax)) << what;
        // Each index points at the max value.
        std::vector<int64_t> idx = int_values(mi);
        std::vector<double> mvv = values(mv);
        int64_t d = c.dims[0];
        int64_t stride = 1;
        for (size_t k = size_t(d) + 1; k < c.shape.size(); ++k) stride *= c.shape[k];
        for (size_t o = 0; o < idx.size(); ++o) {
          int64_t outer = int64_t(o) / stride, inner = int64_t(o) % stride;
          ASSERT_EQ(v[size_t((outer * c.shape[size_t(d)] + idx[o]) * stride + inner)], mvv[o]) << what;
        }
      }
    }
  }
}

TEST(Reduction, Float32SumOf1e7IsAccurate) {
  const int64_t n = 10000000;
  std::vector<float> v(static_cast<size_t>(n));
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> d(0.0f, 1.0f);
  long double exact = 0;
  for (float& e : v) {
    e = d(gen);
    exact += e;
  }
  Tensor x = from_vector<float>(v, {n});
  EXPECT_LT(std::fabs(double(x.sum().item<float>()) - double(exact)) / double(exact), 1e-6);
  EXPECT_LT(std::fabs(double(x.mean().item<float>()) - double(exact / n)) / double(exact / n), 1e-6);
  // The same data as columns: the outer (row-accumulating) path, 5e6 rows.
  Tensor cols = x.view({n / 2, 2});
  std::vector<double> want(2, 0.0);
  long double c0 = 0, c1 = 0;
  for (int64_t i = 0; i < n; i += 2) {
    c0 += v[size_t(i)];
    c1 += v[size_t(i + 1)];
  }
  auto got = values(cols.sum({0}));
  EXPECT_LT(std::fabs(got[0] - double(c0)) / double(c0), 1e-6);
  EXPECT_LT(std::fabs(got[1] - double(c1)) / double(c1), 1e-6);
  // 16-bit inputs accumulate in float32: a bfloat16 sum of 1e5 ones is exact after rounding.
  EXPECT_EQ(ones({100000}, kBFloat16).sum(kFloat32).item<float>(), 100000.0f);
  EXPECT_EQ(ones({4096}, kBFloat16).sum().item<float>(), 4096.0f);
}

TEST(Reduction, EmptyInputs) {
  Tensor e = zeros({0, 3});
  EXPECT_EQ(e.sum().item<float>(), 0.0f);
  EXPECT_EQ(values(e.sum({0})), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(e.sum({1}).sizes().vec(), (Shape{0}));
  EXPECT_TRUE(std::isnan(e.mean().item<float>()));
  EXPECT_EQ(values(raw::prod(e, {0}, false)), (std::vector<double>{1, 1, 1}));
  EXPECT_EQ(e.amax({1}).sizes().vec(), (Shape{0}));
  EXPECT_EQ(values(e.logsumexp({0})), (std::vector<double>{-kInf, -kInf, -kInf}));
  EXPECT_TRUE(std::isnan(values(e.var({0}, 0))[0]));
  expect_error<ValueError>([&] { e.max(); }, {"max(): Expected reduction dim to be specified for input.numel() == 0"});
  expect_error<ValueError>([&] { e.amax({}); }, {"amax(): Expected reduction dim to be specified"});
  expect_error<ValueError>([&] { e.amin({0}); }, {"amin(): Expected reduction dim 0 to have non-zero size."});
  expect_error<ValueError>([&] { e.max(0); }, {"max(): Expected reduction dim 0 to have non-zero size."});
  expect_error<ValueError>([&] { e.argmax(); }, {"argmax(): Expected reduction dim to be specified"});
}

TEST(Reduction, ZeroDimInputs) {
  Tensor s = scalar_tensor(2.5);
  EXPECT_EQ(s.sum().item<double>(), 2.5);
  EXPECT_EQ(s.sum({0}).dim(), 0);
  EXPECT_EQ(s.sum({-1}, true).dim(), 0);
  EXPECT_EQ(s.amax({0}).item<double>(), 2.5);
  EXPECT_EQ(s.mean().item<double>(), 2.5);
  EXPECT_EQ(s.logsumexp({0}).item<double>(), 2.5);
}

TEST(Reduction, DimErrors) {
  Tensor x = zeros({2, 3});
  expect_error<ValueError>([&] { x.sum({0, 0}); }, {"sum", "dim 0 appears multiple times in the list of dims"});
  expect_error<ValueError>([&] { x.amax({1, -1}); }, {"amax", "dim 1 appears multiple times"});
  expect_error<IndexError>([&] { x.sum({2}); }, {"sum", "Dimension out of range (expected to be in range of [-2, 1], but got 2)"});
  expect_error<IndexError>([&] { x.argmax(-3); }, {"argmax", "Dimension out of range"});
  expect_error<IndexError>([&] { x.var({5}, 1, false); }, {"var", "Dimension out of range"});
}

TEST(Reduction, SumToUndoesBroadcasting) {
  Tensor x = random_tensor({2, 3, 4}, kFloat64, 110);
  std::vector<double> v = values(x);
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;  // reduced dims of x (keepdim), then viewed as shape
  };
  for (const Case& c : std::vector<Case>{{{3, 1}, {0, 2}}, {{1, 4}, {0, 1}}, {{4}, {0, 1}}, {{}, {0, 1, 2}},
                                         {{2, 1, 4}, {1}}, {{1, 3, 4}, {0}}, {{1, 1, 1}, {0, 1, 2}}}) {
    Tensor s = raw::sum_to(x, c.shape);
    EXPECT_EQ(s.sizes().vec(), c.shape);
    EXPECT_EQ(s.dtype(), kFloat64);
    expect_near_all(values(s), ref_reduce(v, {2, 3, 4}, c.dims, ref_sum), 1e-14, 1e-14, "sum_to " + shape_str(c.shape));
  }
  EXPECT_TRUE(raw::sum_to(x, {2, 3, 4}).is_same(x));
  // Integer gradients keep their dtype; size-1 dims that only need a view.
  Tensor xi = random_tensor({3, 1}, kInt32, 111, -5, 5);
  EXPECT_EQ(raw::sum_to(xi, {1, 1}).dtype(), kInt32);
  EXPECT_EQ(raw::sum_to(xi, {1}).item<int64_t>(), int64_t(ref_sum(values(xi))));
  EXPECT_EQ(values(raw::sum_to(xi.view({1, 3, 1}), {3, 1})), values(xi));
  expect_error<ShapeError>([&] { raw::sum_to(x, {5}); }, {"sum_to", "[2, 3, 4]", "[5]"});
  expect_error<ShapeError>([&] { raw::sum_to(x, {1, 2, 3, 4}); }, {"sum_to"});
}

TEST(Reduction, AllcloseAndEqual) {
  Tensor a = from_vector<double>({1.0, 2.0, 3.0}, {3});
  Tensor b = from_vector<double>({1.0, 2.0 + 1e-6, 3.0}, {3});
  EXPECT_TRUE(a.allclose(b, 1e-5, 0));
  EXPECT_FALSE(a.allclose(b, 1e-7, 0));
  EXPECT_TRUE(a.allclose(b, 0, 1.1e-6));
  EXPECT_FALSE(a.allclose(b, 0, 0.9e-6));
  // |a - b| <= atol + rtol * |b|: asymmetric in b.
  Tensor p = tensor({1.0}), q = tensor({1.1});
  EXPECT_TRUE(p.allclose(q, 0.1 / 1.1 + 1e-12, 0));
  EXPECT_FALSE(q.allclose(p, 0.1 / 1.1 + 1e-12, 0));
  // Broadcasting, and mixed dtypes compared in float64.
  EXPECT_TRUE(full({2, 3}, 2.0).allclose(tensor({2.0f})));
  EXPECT_FALSE(full({2, 3}, 2.0).allclose(tensor({2.0f, 2.0f, 2.1f})));
  expect_error<ShapeError>([] { allclose(zeros({2}), zeros({3})); }, {"allclose"});
  // NaN and inf.
  Tensor n1 = tensor({1.0, kNaN}), n2 = tensor({1.0, kNaN});
  EXPECT_FALSE(n1.allclose(n2));
  EXPECT_TRUE(n1.allclose(n2, 1e-5, 1e-8, true));
  EXPECT_TRUE(tensor({kInf}).allclose(tensor({kInf})));
  EXPECT_FALSE(tensor({kInf}).allclose(tensor({-kInf})));
  EXPECT_FALSE(tensor({1e300}).allclose(tensor({kInf})));
  // equal: shape and exact values; no broadcasting; NaN is never equal; non-contiguous views.
  Tensor m = random_tensor({3, 4}, kFloat32, 120);
  EXPECT_TRUE(m.equal(m.t().contiguous().t()));
  EXPECT_FALSE(m.equal(m.t()));
  EXPECT_FALSE(tensor({1.0f}).equal(tensor({1.0f, 1.0f})));
  EXPECT_FALSE(n1.equal(n2));
  EXPECT_TRUE(equal(from_vector<int64_t>({1, 2}, {2}), from_vector<int32_t>({1, 2}, {2})));
  EXPECT_TRUE(equal(from_vector<int64_t>({1, 2}, {2}), tensor({1.0, 2.0})));
  EXPECT_FALSE(equal(from_vector<int64_t>({(1LL << 60) + 1}, {1}), from_vector<int64_t>({1LL << 60}, {1})));
}
