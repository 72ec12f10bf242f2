// Softmax / log_softmax / layer_norm / rms_norm tests: values against float64 references written
// with plain loops (any dim, non-contiguous inputs, every float dtype, odd and large sizes, both
// the AVX-512 and baseline row kernels), stability for large and infinite inputs, backward
// formulas against central finite differences in float64, and error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "reduction_test_util.h"
#include "tessera/tensor/cpu/vec_math.h"
#include "tessera/tensor/raw.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

// Flat indices of every line along `dim` of a row-major array of `shape`.
std::vector<std::vector<size_t>> lines(const Shape& shape, int64_t dim) {
  const int64_t nd = int64_t(shape.size());
  if (dim < 0) dim += nd;
  int64_t inner = 1, outer = 1;
  for (int64_t d = dim + 1; d < nd; ++d) inner *= shape[size_t(d)];
  for (int64_t d = 0; d < dim; ++d) outer *= shape[size_t(d)];
  std::vector<std::vector<size_t>> out;
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      std::vector<size_t> l;
      for (int64_t k = 0; k < shape[size_t(dim)]; ++k) l.push_back(size_t((o * shape[size_t(dim)] + k) * inner + i));
      out.push_back(l);
    }
  return out;
}

std::vector<double> ref_softmax(const std::vector<double>& v, const Shape& shape, int64_t dim, bool log) {
  std::vector<double> out(v.size());
  for (const auto& l : lines(shape, dim)) {
    double m = -kInf;
    for (size_t i : l) m = std::max(m, v[i]);
    double s = 0;
    for (size_t i : l) s += std::exp(v[i] - m);
    for (size_t i : l) out[i] = log ? v[i] - m - std::log(s) : std::exp(v[i] - m) / s;
  }
  return out;
}

// Layer norm (or rms norm when `rms`) over the last `k` elements of each row.
std::vector<double> ref_norm(const std::vector<double>& v, int64_t n, const std::vector<double>& w,
                             const std::vector<double>& b, double eps, bool rms, std::vector<double>* mean = nullptr,
                             std::vector<double>* rstd = nullptr) {
  std::vector<double> out(v.size());
  for (size_t r = 0; r * size_t(n) < v.size(); ++r) {
    const double* x = v.data() + r * size_t(n);
    double mu = 0, ss = 0;
    if (!rms) {
      for (int64_t i = 0; i < n; ++i) mu += x[i];
      mu /= double(n);
    }
    for (int64_t i = 0; i < n; ++i) ss += (x[i] - mu) * (x[i] - mu);
    double rs = 1.0 / std::sqrt(ss / double(n) + eps);
    for (int64_t i = 0; i < n; ++i)
      out[r * size_t(n) + size_t(i)] = (x[i] - mu) * rs * (w.empty() ? 1.0 : w[size_t(i)]) + (b.empty() ? 0.0 : b[size_t(i)]);
    if (mean) mean->push_back(mu);
    if (rstd) rstd->push_back(rs);
  }
  return out;
}

// Runs the body with the AVX-512 float32 row kernels on and off (Note [avx-512 rows]).
template <typename F>
void for_each_isa(const F& f) {
  const bool saved = cpu::vec::avx512_rows_enabled();
  for (bool on : {false, true}) {
    if (on && !cpu::vec::cpu_has_avx512()) continue;
    cpu::vec::set_avx512_rows_enabled(on);
    SCOPED_TRACE(on ? "avx512 rows" : "baseline rows");
    f();
  }
  cpu::vec::set_avx512_rows_enabled(saved);
}

// Central finite difference of scalar L(v) at each coordinate.
std::vector<double> numeric_grad(std::vector<double> v, const std::function<double(const std::vector<double>&)>& L,
                                 double h = 1e-6) {
  std::vector<double> g(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    double keep = v[i];
    v[i] = keep + h;
    double up = L(v);
    v[i] = keep - h;
    double down = L(v);
    v[i] = keep;
    g[i] = (up - down) / (2 * h);
  }
  return g;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

std::vector<std::pair<std::string, Tensor>> softmax_inputs(DType dt, uint32_t seed) {
  return {{"contiguous", random_tensor({3, 5, 7}, dt, seed, -4, 4)},
          {"transposed", random_tensor({7, 5, 3}, dt, seed + 1, -4, 4).transpose(0, 2)},
          {"sliced", random_tensor({6, 5, 15}, dt, seed + 2, -4, 4).slice(0, 0, 6, 2).slice(2, 1, 15, 2)},
          {"expanded", random_tensor({3, 1, 7}, dt, seed + 3, -4, 4).expand({3, 5, 7})}};
}

}  // namespace

TEST(Softmax, ValuesAlongEveryDim) {
  for_each_isa([] {
    for (DType dt : float_dtypes()) {
      for (auto& [name, x] : softmax_inputs(dt, 1)) {
        std::vector<double> v = values(x);
        for (int64_t dim : {0, 1, 2, -1, -2}) {
          for (bool log : {false, true}) {
            Tensor y = log ? x.log_softmax(dim) : x.softmax(dim);
            std::string what = fmt::format("{} {} {} dim {}", log ? "log_softmax" : "softmax", dtype_name(dt), name, dim);
            EXPECT_EQ(y.dtype(), dt) << what;
            EXPECT_EQ(y.sizes().vec(), x.sizes().vec()) << what;
            EXPECT_TRUE(y.is_contiguous()) << what;
            expect_near_all(values(y), ref_softmax(v, x.sizes().vec(), dim, log), tol_of(dt), tol_of(dt) * 0.1, what);
          }
        }
      }
    }
  });
}

TEST(Softmax, RowsSumToOneOddAndLargeSizes) {
  for_each_isa([] {
    for (Shape shape : {Shape{1, 1}, Shape{5, 3}, Shape{4, 17}, Shape{33, 257}, Shape{513, 1000}, Shape{64, 4099}}) {
      Tensor x = random_tensor(shape, kFloat32, 2, -10, 10);
      Tensor y = tessera::softmax(x, -1);
      expect_near_all(values(y), ref_softmax(values(x), shape, -1, false), 2e-6, 1e-7, "softmax " + shape_str(shape));
      auto sums = values(y.sum({1}));
      for (double s : sums) EXPECT_NEAR(s, 1.0, 1e-5) << shape_str(shape);
      Tensor ly = tessera::log_softmax(x, 1);
      expect_near_all(values(ly), ref_softmax(values(x), shape, -1, true), 2e-6, 2e-6, "log_softmax " + shape_str(shape));
    }
  });
}

TEST(Softmax, StableForLargeAndInfiniteInputs) {
  for_each_isa([] {
    for (DType dt : float_dtypes()) {
      double big = dt == kFloat16 ? 30000 : 1000;  // -2 * big stays finite in float16
      Tensor x = from_vector<double>({big, 0, -big, big, big, big, -big, -big, -big, 0, -kInf, 0}, {4, 3}).to(dt);
      auto y = values(x.softmax(1));
      std::string what(dtype_name(dt));
      EXPECT_NEAR(y[0], 1.0, 1e-6) << what;
      EXPECT_EQ(y[1], 0.0) << what;
      EXPECT_EQ(y[2], 0.0) << what;
      for (int i = 3; i < 9; ++i) EXPECT_NEAR(y[size_t(i)], 1.0 / 3, tol_of(dt)) << what;
      EXPECT_NEAR(y[9], 0.5, tol_of(dt)) << what;
      EXPECT_EQ(y[10], 0.0) << what;  // a -inf mask gives exactly 0
      EXPECT_NEAR(y[11], 0.5, tol_of(dt)) << what;
      auto ly = values(x.log_softmax(1));
      EXPECT_NEAR(ly[0], 0.0, 1e-6) << what;
      EXPECT_NEAR(ly[1], -big, big * tol_of(dt)) << what;
      EXPECT_NEAR(ly[2], -2 * big, 2 * big * tol_of(dt)) << what;
      EXPECT_EQ(ly[10], -kInf) << what;
      for (double e : y) EXPECT_FALSE(std::isnan(e)) << what;
    }
    // PyTorch semantics for degenerate rows: all -inf -> nan; a NaN poisons its row only.
    Tensor d = from_vector<float>({-INFINITY, -INFINITY, 1, NAN, 1, 2}, {3, 2});
    auto y = values(d.softmax(1));
    EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[1]));
    EXPECT_TRUE(std::isnan(y[2]) && std::isnan(y[3]));
    EXPECT_NEAR(y[4], 1 / (1 + std::exp(1.0)), 1e-6);
  });
}

TEST(Softmax, DtypeOptionZeroDimEmptyAndErrors) {
  Tensor i = from_vector<int64_t>({1, 2, 3}, {3});
  Tensor y = i.softmax(0, kFloat32);
  EXPECT_EQ(y.dtype(), kFloat32);
  expect_near_all(values(y), ref_softmax({1, 2, 3}, {3}, 0, false), 1e-6, 0, "int softmax");
  Tensor h = random_tensor({4, 6}, kBFloat16, 3);
  Tensor hf = h.softmax(1, kFloat32);
  EXPECT_EQ(hf.dtype(), kFloat32);
  expect_near_all(values(hf), ref_softmax(values(h), {4, 6}, 1, false), 2e-6, 0, "bf16 -> float32 softmax");
  EXPECT_EQ(scalar_tensor(3.0).softmax(0).item<double>(), 1.0);
  EXPECT_EQ(scalar_tensor(3.0).log_softmax(-1).item<double>(), 0.0);
  EXPECT_EQ(zeros({0, 4}).softmax(1).sizes().vec(), (Shape{0, 4}));
  EXPECT_EQ(zeros({3, 0}).log_softmax(1).sizes().vec(), (Shape{3, 0}));
  expect_error<DTypeError>([&] { i.softmax(0); }, {"softmax", "int64"});
  expect_error<DTypeError>([&] { i.log_softmax(0); }, {"log_softmax", "int64"});
  expect_error<IndexError>([] { zeros({2, 3}).softmax(2); }, {"softmax", "Dimension out of range"});
  expect_error<ShapeError>([] { raw::softmax_backward(zeros({2, 3}), zeros({3, 2}), 1, false); },
                           {"softmax_backward", "[2, 3]", "[3, 2]"});
}

TEST(Softmax, BackwardMatchesFiniteDifferences) {
  for_each_isa([] {
    for (Shape shape : {Shape{3, 4, 5}, Shape{2, 9}}) {
      Tensor xt = random_tensor(shape, kFloat64, 4, -3, 3);
      Tensor G = random_tensor(shape, kFloat64, 5);
      std::vector<double> x = values(xt), g = values(G);
      for (int64_t dim : {0, -1}) {
        for (bool log : {false, true}) {
          auto L = [&](const std::vector<double>& v) {
            Tensor t = from_vector<double>(v, shape);
            return dot(values(log ? t.log_softmax(dim) : t.softmax(dim)), g);
          };
          Tensor y = log ? xt.log_softmax(dim) : xt.softmax(dim);
          Tensor gi = raw::softmax_backward(G, y, dim, log);
          expect_near_all(values(gi), numeric_grad(x, L), 1e-6, 1e-7,
                          fmt::format("{} backward dim {} shape {}", log ? "log_softmax" : "softmax", dim, shape_str(shape)));
        }
      }
    }
    // float32 / bfloat16 backward agree with the float64 one on the same inputs.
    Tensor x = random_tensor({6, 300}, kFloat64, 6);
    Tensor G = random_tensor({6, 300}, kFloat64, 7);
    for (bool log : {false, true}) {
      Tensor ref = raw::softmax_backward(G, log ? x.log_softmax(1) : x.softmax(1), 1, log);
      for (DType dt : {kFloat32, kBFloat16}) {
        Tensor xd = x.to(dt), Gd = G.to(dt);
        Tensor gi = raw::softmax_backward(Gd, log ? xd.log_softmax(1) : xd.softmax(1), 1, log);
        EXPECT_EQ(gi.dtype(), dt);
        expect_near_all(values(gi), values(ref), dt == kFloat32 ? 1e-4 : 6e-2, dt == kFloat32 ? 1e-6 : 2e-2,
                        fmt::format("softmax backward {} log {}", dtype_name(dt), log));
      }
    }
  });
}

TEST(LayerNorm, ValuesStatsEveryDtype) {
  for_each_isa([] {
    for (DType dt : float_dtypes()) {
      struct Case {
        Shape shape, ns;
      };
      for (const Case& c : std::vector<Case>{{{4, 7}, {7}}, {{2, 3, 4, 5}, {4, 5}}, {{3, 768}, {768}}, {{1, 1}, {1}}}) {
        int64_t n = numel_of(c.ns);
        Tensor x = random_tensor(c.shape, dt, 8, -3, 5);
        Tensor w = random_tensor(c.ns, dt, 9), b = random_tensor(c.ns, dt, 10);
        for (int variant = 0; variant < 3; ++variant) {
          Tensor wv = variant == 2 ? Tensor() : w, bv = variant >= 1 ? Tensor() : b;
          auto [y, mean, rstd] = raw::layer_norm(x, c.ns, wv, bv, 1e-5);
          std::vector<double> rm, rr;
          auto ref = ref_norm(values(x), n, wv.defined() ? values(w) : std::vector<double>{},
                              bv.defined() ? values(b) : std::vector<double>{}, 1e-5, false, &rm, &rr);
          std::string what = fmt::format("layer_norm {} {} variant {}", dtype_name(dt), shape_str(c.shape), variant);
          EXPECT_EQ(y.dtype(), dt);
          EXPECT_EQ(y.sizes().vec(), c.shape);
          EXPECT_EQ(mean.dtype(), dt == kFloat64 ? kFloat64 : kFloat32);
          EXPECT_EQ(rstd.dtype(), mean.dtype());
          EXPECT_EQ(mean.sizes().vec(), (Shape{numel_of(c.shape) / n}));
          expect_near_all(values(y), ref, 2 * tol_of(dt), 4 * tol_of(dt), what);
          expect_near_all(values(mean), rm, 1e-5, 1e-5, what + " mean");
          expect_near_all(values(rstd), rr, 1e-4, 0, what + " rstd");
          if (variant == 0) {
            expect_near_all(values(tessera::layer_norm(x, c.ns, w, b)), ref, 2 * tol_of(dt), 4 * tol_of(dt),
                            what + " free function");
          }
        }
      }
    }
  });
}

TEST(LayerNorm, LargeNonContiguousAndEps) {
  for_each_isa([] {
    // [rows, 768] across the parallel threshold, from a transposed (non-contiguous) view.
    Tensor x = random_tensor({768, 1030}, kFloat32, 11, -2, 6).t();
    Tensor w = random_tensor({768}, kFloat32, 12), b = random_tensor({768}, kFloat32, 13);
    Tensor y = tessera::layer_norm(x, {768}, w, b);
    expect_near_all(values(y), ref_norm(values(x), 768, values(w), values(b), 1e-5, false), 1e-4, 1e-4, "large");
    // A large eps dominates a tiny variance.
    Tensor c = full({2, 8}, 3.0);
    auto yc = values(tessera::layer_norm(c, {8}, {}, {}, 0.25));
    for (double e : yc) EXPECT_EQ(e, 0.0);
    Tensor z = from_vector<double>({1, 3}, {1, 2});
    auto yz = values(tessera::layer_norm(z, {2}, {}, {}, 1.0));
    EXPECT_NEAR(yz[0], -1 / std::sqrt(2.0), 1e-12);
  });
}

TEST(LayerNorm, BackwardMatchesFiniteDifferences) {
  for_each_isa([] {
    const Shape shape{3, 2, 5};
    const Shape ns{2, 5};
    Tensor xt = random_tensor(shape, kFloat64, 14, -2, 2);
    Tensor wt = random_tensor(ns, kFloat64, 15), bt = random_tensor(ns, kFloat64, 16);
    Tensor G = random_tensor(shape, kFloat64, 17);
    std::vector<double> x = values(xt), w = values(wt), b = values(bt), g = values(G);
    auto f = [&](const std::vector<double>& xv, const std::vector<double>& wv, const std::vector<double>& bv) {
      return dot(values(tessera::layer_norm(from_vector<double>(xv, shape), ns, from_vector<double>(wv, ns),
                                            from_vector<double>(bv, ns), 1e-5)),
                 g);
    };
    auto [y, mean, rstd] = raw::layer_norm(xt, ns, wt, bt, 1e-5);
    auto [gx, gw, gb] = raw::layer_norm_backward(G, xt, ns, mean, rstd, wt, true, true);
    expect_near_all(values(gx), numeric_grad(x, [&](const std::vector<double>& v) { return f(v, w, b); }), 1e-6, 1e-7,
                    "layer_norm dx");
    expect_near_all(values(gw), numeric_grad(w, [&](const std::vector<double>& v) { return f(x, v, b); }), 1e-6, 1e-7,
                    "layer_norm dweight");
    expect_near_all(values(gb), numeric_grad(b, [&](const std::vector<double>& v) { return f(x, w, v); }), 1e-6, 1e-7,
                    "layer_norm dbias");
    // Without weight: dx as with weight = 1; the gradients not asked for are undefined.
    auto [y1, m1, r1] = raw::layer_norm(xt, ns, {}, {}, 1e-5);
    auto [gx1, gw1, gb1] = raw::layer_norm_backward(G, xt, ns, m1, r1, {}, false, false);
    EXPECT_FALSE(gw1.defined());
    EXPECT_FALSE(gb1.defined());
    auto f1 = [&](const std::vector<double>& xv) {
      return dot(values(tessera::layer_norm(from_vector<double>(xv, shape), ns)), g);
    };
    expect_near_all(values(gx1), numeric_grad(x, f1), 1e-6, 1e-7, "layer_norm dx without weight");
  });
}

TEST(LayerNorm, BackwardLowPrecisionAndLarge) {
  for_each_isa([] {
    // Many rows (weight-gradient partials across threads) in float32 vs float64.
    Tensor x = random_tensor({700, 96}, kFloat64, 18), w = random_tensor({96}, kFloat64, 19);
    Tensor G = random_tensor({700, 96}, kFloat64, 20);
    auto [y, m, r] = raw::layer_norm(x, {96}, w, {}, 1e-5);
    auto [gx, gw, gb] = raw::layer_norm_backward(G, x, {96}, m, r, w, true, true);
    for (DType dt : {kFloat32, kBFloat16, kFloat16}) {
      Tensor xd = x.to(dt), wd = w.to(dt), Gd = G.to(dt);
      auto [yd, md, rd] = raw::layer_norm(xd, {96}, wd, {}, 1e-5);
      auto [gxd, gwd, gbd] = raw::layer_norm_backward(Gd, xd, {96}, md, rd, wd, true, true);
      double tol = dt == kFloat32 ? 1e-4 : 5e-2;
      std::string what(dtype_name(dt));
      EXPECT_EQ(gxd.dtype(), dt);
      expect_near_all(values(gxd), values(gx), tol, tol, "dx " + what);
      expect_near_all(values(gwd), values(gw), tol, tol * 10, "dweight " + what);
      expect_near_all(values(gbd), values(gb), tol, tol * 10, "dbias " + what);
    }
  });
}

TEST(LayerNorm, Errors) {
  expect_error<ShapeError>([] { tessera::layer_norm(zeros({2, 3}), {4}); },
                           {"layer_norm", "Given normalized_shape=[4], expected input with shape [*, 4], but got input "
                                          "of size[2, 3]"});
  expect_error<ShapeError>([] { tessera::layer_norm(zeros({2, 3, 4}), {2, 4}); }, {"layer_norm", "[2, 4]"});
  expect_error<ShapeError>([] { tessera::layer_norm(zeros({4}), {2, 4}); }, {"layer_norm", "size[4]"});
  expect_error<ShapeError>([] { tessera::layer_norm(zeros({2, 4}), {4}, zeros({5})); },
                           {"layer_norm", "Expected weight to be of same shape as normalized_shape, but got weight of "
                                          "shape [5] and normalized_shape = [4]"});
  expect_error<ShapeError>([] { tessera::layer_norm(zeros({2, 4}), {4}, zeros({4}), zeros({2, 2})); },
                           {"layer_norm", "bias of shape [2, 2]"});
  expect_error<ShapeError>([] { tessera::layer_norm(zeros({2, 4}), IntArrayRef()); },
                           {"layer_norm", "normalized_shape"});
  expect_error<DTypeError>([] { tessera::layer_norm(zeros({2, 4}, kInt64), {4}); }, {"layer_norm", "int64"});
  expect_error<ShapeError>(
      [] {
        raw::layer_norm_backward(zeros({2, 4}), zeros({2, 4}), {4}, zeros({3}), zeros({2}), {}, false, false);
      },
      {"layer_norm_backward", "mean", "2"});
}

TEST(RmsNorm, ValuesEveryDtype) {
  for_each_isa([] {
    for (DType dt : float_dtypes()) {
      for (Shape shape : {Shape{5, 8}, Shape{2, 3, 13}, Shape{300, 512}}) {
        int64_t n = shape.back();
        Tensor x = random_tensor(shape, dt, 21, -3, 3);
        Tensor w = random_tensor({n}, dt, 22);
        for (bool with_w : {true, false}) {
          auto [y, rstd] = raw::rms_norm(x, {n}, with_w ? w : Tensor(), 1e-6);
          std::vector<double> rr;
          auto ref = ref_norm(values(x), n, with_w ? values(w) : std::vector<double>{}, {}, 1e-6, true, nullptr, &rr);
          std::string what = fmt::format("rms_norm {} {} weight {}", dtype_name(dt), shape_str(shape), with_w);
          EXPECT_EQ(y.dtype(), dt);
          EXPECT_EQ(rstd.dtype(), dt == kFloat64 ? kFloat64 : kFloat32);
          expect_near_all(values(y), ref, 2 * tol_of(dt), 2 * tol_of(dt), what);
          expect_near_all(values(rstd), rr, 1e-5, 0, what + " rstd");
        }
        expect_near_all(values(tessera::rms_norm(x.transpose(0, 1).contiguous().transpose(0, 1), {n}, w)),
                        ref_norm(values(x), n, values(w), {}, 1e-6, true), 2 * tol_of(dt), 2 * tol_of(dt),
                        "rms_norm non-contiguous");
      }
    }
  });
}

TEST(RmsNorm, BackwardMatchesFiniteDifferences) {
  for_each_isa([] {
    const Shape shape{4, 6};
    Tensor xt = random_tensor(shape, kFloat64, 23), wt = random_tensor({6}, kFloat64, 24);
    Tensor G = random_tensor(shape, kFloat64, 25);
    std::vector<double> x = values(xt), w = values(wt), g = values(G);
    auto f = [&](const std::vector<double>& xv, const std::vector<double>& wv) {
      return dot(values(tessera::rms_norm(from_vector<double>(xv, shape), {6}, from_vector<double>(wv, {6}), 1e-6)),
                 g);
    };
    auto [y, rstd] = raw::rms_norm(xt, {6}, wt, 1e-6);
    auto [gx, gw] = raw::rms_norm_backward(G, xt, {6}, rstd, wt, true);
    expect_near_all(values(gx), numeric_grad(x, [&](const std::vector<double>& v) { return f(v, w); }), 1e-6, 1e-7,
                    "rms_norm dx");
    expect_near_all(values(gw), numeric_grad(w, [&](const std::vector<double>& v) { return f(x, v); }), 1e-6, 1e-7,
                    "rms_norm dweight");
    auto [gx2, gw2] = raw::rms_norm_backward(G, xt, {6}, rstd, wt, false);
    EXPECT_FALSE(gw2.defined());
    EXPECT_EQ(values(gx2), values(gx));
    // float32 with many rows agrees with float64.
    Tensor xb = random_tensor({900, 64}, kFloat64, 26), wb = random_tensor({64}, kFloat64, 27);
    Tensor Gb = random_tensor({900, 64}, kFloat64, 28);
    auto [yb, rb] = raw::rms_norm(xb, {64}, wb, 1e-6);
    auto [gxb, gwb] = raw::rms_norm_backward(Gb, xb, {64}, rb, wb, true);
    auto [yf, rf] = raw::rms_norm(xb.to(kFloat32), {64}, wb.to(kFloat32), 1e-6);
    auto [gxf, gwf] = raw::rms_norm_backward(Gb.to(kFloat32), xb.to(kFloat32), {64}, rf, wb.to(kFloat32), true);
    expect_near_all(values(gxf), values(gxb), 1e-4, 1e-4, "rms dx float32");
    expect_near_all(values(gwf), values(gwb), 1e-4, 1e-3, "rms dweight float32");
  });
}

TEST(RmsNorm, Errors) {
  expect_error<ShapeError>([] { tessera::rms_norm(zeros({2, 3}), {4}); },
                           {"rms_norm", "Given normalized_shape=[4], expected input with shape [*, 4]"});
  expect_error<ShapeError>([] { tessera::rms_norm(zeros({2, 4}), {4}, zeros({3})); },
                           {"rms_norm", "weight of shape [3]", "normalized_shape = [4]"});
  expect_error<DTypeError>([] { tessera::rms_norm(zeros({2, 4}, kInt32), {4}); }, {"rms_norm", "int32"});
  expect_error<ShapeError>([] { raw::rms_norm_backward(zeros({2, 3}), zeros({2, 4}), {4}, zeros({2}), {}, false); },
                           {"rms_norm_backward", "[2, 3]", "[2, 4]"});
}
