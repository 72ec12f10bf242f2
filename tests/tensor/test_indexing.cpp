// Indexing and loss tests: index_select, index_add, gather, scatter_add, embedding (+ backward),
// one_hot, tril/triu against hand-written references, and cross_entropy (+ backward) against an
// independent float64 computation, finite differences and PyTorch golden values
// (tests/data/cross_entropy.json, written by tools/golden/cross_entropy.py).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "tessera/tensor/raw.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

std::vector<double> values_f64(const Tensor& t) {
  Tensor c = t.to(kFloat64).contiguous();
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

Tensor random_tensor(const Shape& shape, DType dtype, uint32_t seed, double scale = 1.0) {
  std::mt19937 gen(seed);
  std::vector<double> v(size_t(numel_of(shape)));
  if (is_integral(dtype, /*include_bool=*/true)) {
    std::uniform_int_distribution<int> d(dtype == kBool ? 0 : -9, dtype == kBool ? 1 : 9);
    for (double& x : v) x = d(gen);
  } else {
    std::uniform_real_distribution<double> d(-scale, scale);
    for (double& x : v) x = d(gen);
  }
  return from_vector<double>(v, shape).to(dtype);
}

Tensor index_tensor(const std::vector<int64_t>& v, const Shape& shape, DType dtype = kInt64) {
  return from_vector<int64_t>(v, shape).to(dtype);
}

// Row-major multi-index helpers for the references.
int64_t flat(const Shape& shape, const Shape& idx) {
  int64_t f = 0;
  for (size_t d = 0; d < shape.size(); ++d) f = f * shape[d] + idx[d];
  return f;
}
Shape unflat(const Shape& shape, int64_t f) {
  Shape idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = f % shape[d];
    f /= shape[d];
  }
  return idx;
}

template <typename F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

#define EXPECT_MESSAGE(expr, ErrorClass, fragment)                                    \
  do {                                                                                \
    EXPECT_THROW(expr, ErrorClass);                                                   \
    std::string msg_ = error_message([&] { expr; });                                  \
    EXPECT_NE(msg_.find(fragment), std::string::npos) << "message was: " << msg_;     \
  } while (0)

const std::vector<DType> kAllTypes = {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64, kBool};
const std::vector<DType> kNumericTypes = {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64};

}  // namespace

// ---------------------------------------------------------------- index_select / embedding

TEST(IndexSelect, EveryDimDtypeAndLayout) {
  const Shape shape = {4, 5, 6};
  const std::vector<int64_t> idx = {3, 0, 3, 1};  // repeats allowed
  for (DType dt : kAllTypes) {
    for (DType it : {kInt64, kInt32}) {
      Tensor x = random_tensor(shape, dt, 1);
      std::vector<double> xv = values_f64(x);
      for (int64_t dim : {0, 1, 2, -1}) {
        int64_t d = dim < 0 ? dim + 3 : dim;
        for (bool transposed : {false, true}) {
          // a non-contiguous view with the same logical values
          Tensor xin = transposed ? x.transpose(0, 2).contiguous().transpose(0, 2) : x;
          Tensor out = index_select(xin, dim, index_tensor(idx, {4}, it));
          Shape os = shape;
          os[size_t(d)] = 4;
          ASSERT_EQ(out.sizes().vec(), os);
          EXPECT_EQ(out.dtype(), dt);
          std::vector<double> ov = values_f64(out);
          for (int64_t f = 0; f < numel_of(os); ++f) {
            Shape i = unflat(os, f);
            i[size_t(d)] = idx[size_t(i[size_t(d)])];
            ASSERT_EQ(ov[size_t(f)], xv[size_t(flat(shape, i))]) << dtype_name(dt) << " dim " << dim;
          }
        }
      }
    }
  }
  // 0-dim index keeps the dim with size 1; Tensor method
  Tensor x = random_tensor({3, 2}, kFloat32, 2);
  Tensor r = x.index_select(0, scalar_tensor(2, kInt64));
  EXPECT_EQ(r.sizes().vec(), (Shape{1, 2}));
  std::vector<double> xv = values_f64(x);
  EXPECT_EQ(values_f64(r), std::vector<double>(xv.begin() + 4, xv.end()));
}

TEST(IndexSelect, Errors) {
  Tensor x = zeros({5, 3});
  EXPECT_MESSAGE(index_select(x, 0, index_tensor({1, 7}, {2})), IndexError, "index_select: index out of range in self");
  EXPECT_MESSAGE(index_select(x, 0, index_tensor({1, 7}, {2})), IndexError, "index 7 is not in [0, 5)");
  EXPECT_MESSAGE(index_select(x, 1, index_tensor({-1}, {1})), IndexError, "index -1 is not in [0, 3)");
  EXPECT_MESSAGE(index_select(x, 0, index_tensor({1, 2}, {1, 2})), IndexError,
                 "index_select: Index is supposed to be a vector");
  EXPECT_MESSAGE(index_select(x, 0, zeros({2})), DTypeError, "index_select: Expected dtype int32 or int64 for index");
  EXPECT_MESSAGE(index_select(x, 2, index_tensor({0}, {1})), IndexError, "Dimension out of range");
}

TEST(Embedding, LooksUpRowsForAnyIndexShape) {
  for (DType dt : {kFloat32, kBFloat16, kFloat64}) {
    Tensor w = random_tensor({7, 3}, dt, 3);
    std::vector<double> wv = values_f64(w);
    const std::vector<int64_t> ids = {6, 0, 2, 2, 5, 1};
    for (DType it : {kInt64, kInt32}) {
      Tensor e = embedding(w, index_tensor(ids, {2, 3}, it));
      ASSERT_EQ(e.sizes().vec(), (Shape{2, 3, 3}));
      std::vector<double> ev = values_f64(e);
      for (size_t t = 0; t < ids.size(); ++t) {
        for (int64_t j = 0; j < 3; ++j) ASSERT_EQ(ev[t * 3 + size_t(j)], wv[size_t(ids[t] * 3 + j)]);
      }
    }
  }
  // 0-dim indices -> [D]; non-contiguous weight
  Tensor w = random_tensor({3, 4}, kFloat32, 4).t().contiguous().t();  // [3, 4], column-major
  ASSERT_FALSE(w.is_contiguous());
  Tensor e0 = embedding(w, scalar_tensor(1, kInt64));
  ASSERT_EQ(e0.sizes().vec(), (Shape{4}));
  std::vector<double> wv = values_f64(w);
  EXPECT_EQ(values_f64(e0), std::vector<double>(wv.begin() + 4, wv.begin() + 8));
}

TEST(Embedding, Errors) {
  Tensor w = zeros({5, 2});
  EXPECT_MESSAGE(embedding(w, index_tensor({0, 7}, {2})), IndexError, "embedding: index out of range in self");
  EXPECT_MESSAGE(embedding(w, index_tensor({0, 7}, {2})), IndexError, "index 7 is not in [0, 5)");
  EXPECT_MESSAGE(embedding(w, index_tensor({-3}, {1})), IndexError, "index -3");
  EXPECT_MESSAGE(embedding(zeros({5}), index_tensor({0}, {1})), ShapeError, "embedding: weight must be 2-D");
  EXPECT_MESSAGE(embedding(w, zeros({2})), DTypeError, "embedding: Expected dtype int32 or int64 for index");
}

TEST(Embedding, BackwardSumsRowsOfRepeatedIndices) {
  for (DType dt : {kFloat32, kFloat64, kBFloat16}) {
    const std::vector<int64_t> ids = {4, 1, 4, 0, 4, 1};
    Tensor g = random_tensor({2, 3, 5}, dt, 5);
    Tensor gw = raw::embedding_backward(g, index_tensor(ids, {2, 3}), 6);
    ASSERT_EQ(gw.sizes().vec(), (Shape{6, 5}));
    EXPECT_EQ(gw.dtype(), dt);
    std::vector<double> gv = values_f64(g), want(30, 0.0);
    for (size_t t = 0; t < ids.size(); ++t) {
      for (size_t j = 0; j < 5; ++j) want[size_t(ids[t]) * 5 + j] += gv[t * 5 + j];
    }
    std::vector<double> got = values_f64(gw);
    double tol = dt == kBFloat16 ? 2e-2 : 1e-6;
    for (size_t i = 0; i < 30; ++i) ASSERT_NEAR(got[i], want[i], tol) << dtype_name(dt) << " " << i;
  }
  EXPECT_MESSAGE(raw::embedding_backward(zeros({2, 5}), index_tensor({9, 0}, {2}), 6), IndexError, "index 9");
  EXPECT_MESSAGE(raw::embedding_backward(zeros({3, 5}), index_tensor({1, 0}, {2}), 6), ShapeError,
                 "embedding_backward");
}

// ---------------------------------------------------------------- index_add

TEST(IndexAdd, AddsSourceSlicesAtIndices) {
  const std::vector<int64_t> idx = {2, 0, 2};
  for (DType dt : kNumericTypes) {
    for (int64_t dim : {0, 1, 2}) {
      Shape shape = {3, 4, 5};
      Shape sshape = shape;
      sshape[size_t(dim)] = 3;
      Tensor x = random_tensor(shape, dt, 6), src = random_tensor(sshape, dt, 7);
      for (bool noncontig : {false, true}) {
        Tensor xin = noncontig ? x.transpose(0, 1).contiguous().transpose(0, 1) : x;
        Tensor sin = noncontig ? src.transpose(1, 2).contiguous().transpose(1, 2) : src;
        Tensor out = xin.index_add(dim, index_tensor(idx, {3}), sin);
        std::vector<double> want = values_f64(x), sv = values_f64(src);
        for (int64_t f = 0; f < numel_of(sshape); ++f) {
          Shape i = unflat(sshape, f);
          i[size_t(dim)] = idx[size_t(i[size_t(dim)])];
          want[size_t(flat(shape, i))] += sv[size_t(f)];
        }
        std::vector<double> got = values_f64(out);
        double tol = dt == kBFloat16 ? 3e-2 : dt == kFloat16 ? 4e-3 : 1e-6;
        for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tol) << dtype_name(dt) << " dim " << dim;
        // out of place: x unchanged
        EXPECT_EQ(values_f64(xin), values_f64(x));
      }
    }
  }
  Tensor x = zeros({3, 3});
  EXPECT_MESSAGE(x.index_add(0, index_tensor({1}, {1}), zeros({1, 3}, kFloat64)), DTypeError,
                 "index_add: self (float32) and source (float64) must have the same scalar type");
  EXPECT_MESSAGE(x.index_add(0, index_tensor({1, 2}, {2}), zeros({1, 3})), ShapeError,
                 "index_add: Number of indices (2) should be equal to source.size(dim): (1), for dim: 0");
  EXPECT_MESSAGE(x.index_add(0, index_tensor({3}, {1}), zeros({1, 3})), IndexError, "index_add: index out of range");
}

// ---------------------------------------------------------------- gather / scatter_add

TEST(Gather, PicksAlongDim) {
  for (DType dt : kAllTypes) {
    Tensor x = random_tensor({3, 4, 5}, dt, 8);
    std::vector<double> xv = values_f64(x);
    for (int64_t dim : {0, 1, 2}) {
      const Shape xs = {3, 4, 5};
      // index smaller than self in the other dims, values in range for `dim`
      Shape is = {2, 3, 4};
      std::mt19937 gen(uint32_t(dim + 1));
      std::uniform_int_distribution<int64_t> d(0, xs[size_t(dim)] - 1);
      std::vector<int64_t> iv(size_t(numel_of(is)));
      for (auto& v : iv) v = d(gen);
      for (bool transposed : {false, true}) {
        Tensor xin = transposed ? x.permute({2, 1, 0}).contiguous().permute({2, 1, 0}) : x;
        Tensor index = index_tensor(iv, is);
        if (transposed) index = index.permute({1, 0, 2}).contiguous().permute({1, 0, 2});
        Tensor out = xin.gather(dim, index);
        ASSERT_EQ(out.sizes().vec(), is);
        std::vector<double> ov = values_f64(out);
        for (int64_t f = 0; f < numel_of(is); ++f) {
          Shape i = unflat(is, f);
          i[size_t(dim)] = iv[size_t(f)];
          ASSERT_EQ(ov[size_t(f)], xv[size_t(flat(xs, i))]) << dtype_name(dt) << " dim " << dim;
        }
      }
    }
  }
  // the classic use: pick each row's target logit
  Tensor logits = from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor picked = gather(logits, 1, index_tensor({2, 0}, {2, 1}));
  EXPECT_EQ(values_f64(picked), (std::vector<double>{3, 4}));
}

TEST(Gather, Errors) {
  Tensor x = zeros({5, 3});
  EXPECT_MESSAGE(gather(x, 1, index_tensor({7}, {1, 1})), IndexError,
                 "gather: index 7 is out of bounds for dimension 1 with size 3");
  EXPECT_MESSAGE(gather(x, 1, index_tensor({1}, {1})), ShapeError,
                 "gather: Index tensor must have the same number of dimensions as input tensor");
  EXPECT_MESSAGE(gather(x, 1, index_tensor(std::vector<int64_t>(12, 0), {6, 2})), ShapeError,
                 "gather: Size does not match at dimension 0");
  EXPECT_MESSAGE(gather(x, 1, zeros({1, 1})), DTypeError, "gather: Expected dtype int32 or int64 for index");
}

TEST(ScatterAdd, AccumulatesCollisions) {
  for (DType dt : kNumericTypes) {
    for (int64_t dim : {0, 1}) {
      const Shape xs = {4, 5}, is = {3, 4}, ss = {3, 5};  // src larger than index
      Tensor x = random_tensor(xs, dt, 9), src = random_tensor(ss, dt, 10);
      std::mt19937 gen(uint32_t(dim + 7));
      std::uniform_int_distribution<int64_t> d(0, xs[size_t(dim)] - 1);
      std::vector<int64_t> iv(12);
      for (auto& v : iv) v = d(gen);
      std::vector<double> want = values_f64(x), sv = values_f64(src);
      for (int64_t f = 0; f < 12; ++f) {
        Shape i = unflat(is, f);
        Shape target = i;
        target[size_t(dim)] = iv[size_t(f)];
        want[size_t(flat(xs, target))] += sv[size_t(flat(ss, i))];
      }
      double tol = dt == kBFloat16 ? 3e-2 : dt == kFloat16 ? 4e-3 : 1e-6;
      Tensor out = x.scatter_add(dim, index_tensor(iv, is), src);
      std::vector<double> got = values_f64(out);
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tol) << dtype_name(dt) << " dim " << dim;
      // in place on a non-contiguous self
      Tensor y = x.t().contiguous().t();
      uint32_t v0 = y._version();
      y.scatter_add_(dim, index_tensor(iv, is), src);
      EXPECT_GT(y._version(), v0);
      got = values_f64(y);
      for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], tol) << dtype_name(dt) << " in place";
    }
  }
  Tensor x = zeros({3, 3});
  EXPECT_MESSAGE(x.scatter_add(1, index_tensor({5}, {1, 1}), zeros({1, 1})), IndexError,
                 "scatter_add: index 5 is out of bounds for dimension 1 with size 3");
  EXPECT_MESSAGE(x.scatter_add(1, index_tensor({1}, {1, 1}), zeros({1, 1}, kFloat64)), DTypeError,
                 "scatter_add: Expected self.dtype to be equal to src.dtype");
  EXPECT_MESSAGE(x.scatter_add(1, index_tensor({1, 1}, {1, 2}), zeros({1, 1})), ShapeError, "scatter_add");
}

// ---------------------------------------------------------------- one_hot / tril / triu

TEST(OneHot, EncodesAndInfersClasses) {
  Tensor idx = index_tensor({2, 0, 1, 2}, {2, 2});
  Tensor oh = one_hot(idx, 4);
  ASSERT_EQ(oh.sizes().vec(), (Shape{2, 2, 4}));
  EXPECT_EQ(oh.dtype(), kInt64);
  EXPECT_EQ(values_f64(oh), (std::vector<double>{0, 0, 1, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0}));
  Tensor inferred = one_hot(idx);
  EXPECT_EQ(inferred.sizes().vec(), (Shape{2, 2, 3}));
  EXPECT_EQ(values_f64(inferred), (std::vector<double>{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(one_hot(index_tensor({}, {0}), 3).sizes().vec(), (Shape{0, 3}));
  EXPECT_MESSAGE(one_hot(index_tensor({7}, {1}), 3), ValueError, "one_hot: Class values must be smaller than num_classes");
  EXPECT_MESSAGE(one_hot(index_tensor({-1}, {1}), 3), ValueError, "one_hot: Class values must be non-negative");
  EXPECT_MESSAGE(one_hot(index_tensor({1}, {1}, kInt32), 3), DTypeError,
                 "one_hot: one_hot is only applicable to index tensor of type LongTensor");
  EXPECT_MESSAGE(one_hot(index_tensor({}, {0})), ValueError,
                 "one_hot: Can not infer total number of classes from empty tensor.");
}

TEST(TrilTriu, KeepsTheRightTriangle) {
  for (DType dt : kAllTypes) {
    for (const Shape& shape : {Shape{4, 4}, Shape{3, 5}, Shape{5, 2}, Shape{2, 3, 4}}) {
      Tensor x = random_tensor(shape, dt, 11);
      std::vector<double> xv = values_f64(x);
      const int64_t R = shape[shape.size() - 2], C = shape.back();
      for (int64_t k : {-2, -1, 0, 1, 3}) {
        for (bool upper : {false, true}) {
          for (bool noncontig : {false, true}) {
            Tensor xin = noncontig ? x.transpose(-1, -2).contiguous().transpose(-1, -2) : x;
            Tensor out = upper ? xin.triu(k) : tril(xin, k);
            ASSERT_EQ(out.sizes().vec(), shape);
            std::vector<double> ov = values_f64(out);
            for (size_t f = 0; f < ov.size(); ++f) {
              int64_t j = int64_t(f) % C, i = (int64_t(f) / C) % R;
              bool keep = upper ? j - i >= k : j - i <= k;
              ASSERT_EQ(ov[f], keep ? xv[f] : 0.0) << dtype_name(dt) << " k=" << k << " upper=" << upper;
            }
          }
        }
      }
    }
  }
  EXPECT_MESSAGE(tril(zeros({3}), 0), ShapeError, "tril: input tensor must have at least 2 dimensions");
  EXPECT_MESSAGE(triu(zeros({3}), 0), ShapeError, "triu: input tensor must have at least 2 dimensions");
}

// ---------------------------------------------------------------- cross_entropy

namespace {

struct CeRef {
  std::vector<double> loss_rows;  // per row, 0 for ignored
  double total = 0;               // reduced as asked
  std::vector<double> grad;       // d total / d logits (None: d sum(loss) / d logits)
};

// Independent float64 cross-entropy with PyTorch's semantics.
CeRef reference_ce(const std::vector<double>& x, int64_t N, int64_t C, const std::vector<int64_t>& t,
                   int64_t ignore_index, double eps, Reduction red) {
  CeRef r;
  r.loss_rows.assign(size_t(N), 0.0);
  r.grad.assign(size_t(N * C), 0.0);
  int64_t count = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (t[size_t(i)] == ignore_index) continue;
    ++count;
    double mx = -INFINITY;
    for (int64_t c = 0; c < C; ++c) mx = std::max(mx, x[size_t(i * C + c)]);
    double s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(x[size_t(i * C + c)] - mx);
    double lse = mx + std::log(s);
    double nll = lse - x[size_t(i * C + t[size_t(i)])];
    double smooth = 0;
    for (int64_t c = 0; c < C; ++c) smooth += (lse - x[size_t(i * C + c)]) / double(C);
    r.loss_rows[size_t(i)] = (1 - eps) * nll + eps * smooth;
    for (int64_t c = 0; c < C; ++c) {
      double p = std::exp(x[size_t(i * C + c)] - lse);
      r.grad[size_t(i * C + c)] = p - eps / double(C) - (c == t[size_t(i)] ? 1 - eps : 0.0);
    }
  }
  double sum = 0;
  for (double v : r.loss_rows) sum += v;
  double scale = red == Reduction::Mean ? 1.0 / double(count) : 1.0;
  r.total = red == Reduction::Mean ? sum / double(count) : sum;
  if (red == Reduction::Mean) {
    for (double& g : r.grad) g *= count > 0 ? scale : 0.0;
  }
  return r;
}

std::vector<int64_t> random_targets(int64_t N, int64_t C, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int64_t> d(0, C - 1);
  std::vector<int64_t> t(static_cast<size_t>(N), 0);
  for (auto& v : t) v = d(gen);
  return t;
}

}  // namespace

TEST(CrossEntropy, MatchesFloat64Reference) {
  const int64_t N = 9, C = 13;
  for (DType dt : {kFloat64, kFloat32, kBFloat16, kFloat16}) {
    Tensor logits = random_tensor({N, C}, dt, 12, 4.0);
    std::vector<double> xv = values_f64(logits);  // the values actually stored (after rounding)
    for (double eps : {0.0, 0.1, 0.7}) {
      for (int64_t ignore : {int64_t(-100), int64_t(3)}) {
        std::vector<int64_t> t = random_targets(N, C, 13);
        t[1] = ignore;
        t[6] = ignore;
        Tensor target = index_tensor(t, {N});
        for (Reduction red : {Reduction::None, Reduction::Mean, Reduction::Sum}) {
          CeRef ref = reference_ce(xv, N, C, t, ignore, eps, red);
          auto [loss, lse] = raw::cross_entropy(logits, target, ignore, eps, red);
          EXPECT_EQ(loss.dtype(), dt == kFloat64 ? kFloat64 : kFloat32);
          const double tol = dt == kFloat64 ? 1e-12 : 2e-5 * 4 * C;
          std::string what = fmt::format("{} eps={} ignore={} red={}", dtype_name(dt), eps, ignore, int(red));
          if (red == Reduction::None) {
            ASSERT_EQ(loss.sizes().vec(), (Shape{N})) << what;
            std::vector<double> lv = values_f64(loss);
            for (int64_t i = 0; i < N; ++i) ASSERT_NEAR(lv[size_t(i)], ref.loss_rows[size_t(i)], tol) << what;
            EXPECT_EQ(lv[1], 0.0) << what;
          } else {
            ASSERT_EQ(loss.dim(), 0) << what;
            ASSERT_NEAR(loss.item<double>(), ref.total, tol) << what;
          }
          // backward with an incoming gradient of 1 (None: ones per row)
          Tensor g = red == Reduction::None ? ones({N}, loss.dtype()) : ones({}, loss.dtype());
          Tensor grad = raw::cross_entropy_backward(g, logits, lse, target, ignore, eps, red);
          ASSERT_EQ(grad.sizes().vec(), (Shape{N, C})) << what;
          EXPECT_EQ(grad.dtype(), dt) << what;
          std::vector<double> gv = values_f64(grad);
          const double gtol = dt == kFloat64 ? 1e-12 : dt == kFloat32 ? 1e-6 : dt == kBFloat16 ? 8e-3 : 1e-3;
          for (size_t i = 0; i < gv.size(); ++i) ASSERT_NEAR(gv[i], ref.grad[i], gtol) << what << " grad " << i;
        }
      }
    }
  }
}

TEST(CrossEntropy, GradientMatchesFiniteDifferences) {
  const int64_t N = 4, C = 5;
  Tensor logits = random_tensor({N, C}, kFloat64, 14, 2.0);
  std::vector<int64_t> t = {1, -100, 4, 0};
  Tensor target = index_tensor(t, {N});
  for (Reduction red : {Reduction::Mean, Reduction::Sum}) {
    for (double eps : {0.0, 0.2}) {
      auto [loss, lse] = raw::cross_entropy(logits, target, -100, eps, red);
      Tensor grad = raw::cross_entropy_backward(full({}, 1.0, kFloat64), logits, lse, target, -100, eps, red);
      std::vector<double> gv = values_f64(grad), xv = values_f64(logits);
      const double h = 1e-6;
      for (size_t i = 0; i < xv.size(); ++i) {
        std::vector<double> xp = xv, xm = xv;
        xp[i] += h;
        xm[i] -= h;
        double lp = std::get<0>(raw::cross_entropy(from_vector<double>(xp, {N, C}), target, -100, eps, red)).item<double>();
        double lm = std::get<0>(raw::cross_entropy(from_vector<double>(xm, {N, C}), target, -100, eps, red)).item<double>();
        ASSERT_NEAR(gv[i], (lp - lm) / (2 * h), 1e-7) << "element " << i;
      }
    }
  }
  // None with a per-row incoming gradient scales each row
  Tensor gin = from_vector<double>({2.0, 5.0, -1.0, 0.5}, {N});
  auto [loss, lse] = raw::cross_entropy(logits, target, -100, 0.0, Reduction::None);
  Tensor grad = raw::cross_entropy_backward(gin, logits, lse, target, -100, 0.0, Reduction::None);
  CeRef ref = reference_ce(values_f64(logits), N, C, t, -100, 0.0, Reduction::None);
  std::vector<double> gv = values_f64(grad), gi = values_f64(gin);
  for (size_t i = 0; i < gv.size(); ++i) ASSERT_NEAR(gv[i], gi[i / C] * ref.grad[i], 1e-12);
}

TEST(CrossEntropy, OneDimLogitsLargeValuesAndAllIgnored) {
  // [C] logits with a 0-dim target
  Tensor x = from_vector<float>({0.5f, -1.0f, 2.0f}, {3});
  Tensor l = cross_entropy(x, scalar_tensor(2, kInt64), -100, 0.0, Reduction::None);
  EXPECT_EQ(l.dim(), 0);
  double lse = std::log(std::exp(0.5) + std::exp(-1.0) + std::exp(2.0));
  EXPECT_NEAR(l.item<double>(), lse - 2.0, 1e-6);
  EXPECT_NEAR(cross_entropy(x, scalar_tensor(2, kInt64)).item<double>(), lse - 2.0, 1e-6);
  // stable for huge logits
  Tensor big = from_vector<float>({1000.f, 0.f, -1000.f, 1000.f}, {2, 2});
  Tensor lb = cross_entropy(big, index_tensor({1, 0}, {2}), -100, 0.0, Reduction::None);
  std::vector<double> lv = values_f64(lb);
  EXPECT_NEAR(lv[0], 1000.0, 1e-3);
  EXPECT_NEAR(lv[1], 2000.0, 1e-2);
  // every row ignored: mean is nan (0/0), sum is 0, gradients are 0
  Tensor y = random_tensor({2, 3}, kFloat32, 15);
  Tensor all_ignored = index_tensor({-100, -100}, {2});
  EXPECT_TRUE(std::isnan(cross_entropy(y, all_ignored).item<double>()));
  EXPECT_EQ(cross_entropy(y, all_ignored, -100, 0.0, Reduction::Sum).item<double>(), 0.0);
  auto [loss, lse2] = raw::cross_entropy(y, all_ignored, -100, 0.0, Reduction::Mean);
  Tensor g = raw::cross_entropy_backward(ones({}), y, lse2, all_ignored, -100, 0.0, Reduction::Mean);
  for (double v : values_f64(g)) EXPECT_EQ(v, 0.0);
}

TEST(CrossEntropy, Errors) {
  Tensor x = zeros({3, 5});
  EXPECT_MESSAGE(cross_entropy(x, index_tensor({1, 7, 2}, {3})), IndexError, "cross_entropy: Target 7 is out of bounds.");
  EXPECT_MESSAGE(cross_entropy(x, index_tensor({1, -1, 2}, {3})), IndexError, "Target -1 is out of bounds.");
  EXPECT_MESSAGE(cross_entropy(x, index_tensor({1, 2}, {2})), ValueError,
                 "cross_entropy: Expected input batch_size (3) to match target batch_size (2).");
  EXPECT_MESSAGE(cross_entropy(x, index_tensor({1, 2, 3}, {3}), -100, 1.5), ValueError,
                 "cross_entropy: label_smoothing must be between 0.0 and 1.0. Got: 1.5");
  EXPECT_MESSAGE(cross_entropy(x, index_tensor({1, 2, 3}, {3}, kInt32)), DTypeError,
                 "cross_entropy: expected target dtype to be int64");
  EXPECT_MESSAGE(cross_entropy(zeros({3, 5}, kInt64), index_tensor({1, 2, 3}, {3})), DTypeError,
                 "cross_entropy: expected floating point logits");
  EXPECT_MESSAGE(cross_entropy(zeros({2, 3, 5}), index_tensor({1, 2}, {2})), ShapeError,
                 "cross_entropy: expected logits of shape [N, C] or [C]");
}

TEST(CrossEntropy, MatchesPyTorchGolden) {
  std::ifstream f(std::string(TESSERA_TEST_DATA_DIR) + "/cross_entropy.json");
  ASSERT_TRUE(f.good()) << "missing " << TESSERA_TEST_DATA_DIR << "/cross_entropy.json";
  nlohmann::json doc = nlohmann::json::parse(f);
  ASSERT_GE(doc["cases"].size(), 10u);
  for (const auto& c : doc["cases"]) {
    const std::string name = c["name"];
    Shape ls = c["logits_shape"].get<Shape>(), ts = c["target_shape"].get<Shape>();
    Tensor logits = from_vector<double>(c["logits"].get<std::vector<double>>(), ls);
    Tensor target = from_vector<int64_t>(c["target"].get<std::vector<int64_t>>(), ts);
    const std::string r = c["reduction"];
    Reduction red = r == "mean" ? Reduction::Mean : r == "sum" ? Reduction::Sum : Reduction::None;
    const int64_t ignore = c["ignore_index"];
    const double eps = c["label_smoothing"];
    auto want = c["loss"].get<std::vector<double>>();
    auto want_grad = c["grad"].get<std::vector<double>>();
    for (DType dt : {kFloat64, kFloat32}) {
      Tensor x = logits.to(dt);
      auto [loss, lse] = raw::cross_entropy(x, target, ignore, eps, red);
      std::vector<double> got = values_f64(loss);
      ASSERT_EQ(got.size(), want.size()) << name;
      double tol = dt == kFloat64 ? 1e-10 : 1e-4 * std::max(1.0, std::fabs(want[0]));
      for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << name << " " << dtype_name(dt);
      Tensor g = red == Reduction::None ? ones(loss.sizes(), loss.dtype()) : ones({}, loss.dtype());
      std::vector<double> gv = values_f64(raw::cross_entropy_backward(g, x, lse, target, ignore, eps, red));
      ASSERT_EQ(gv.size(), want_grad.size()) << name;
      double gtol = dt == kFloat64 ? 1e-12 : 1e-6;
      for (size_t i = 0; i < gv.size(); ++i) EXPECT_NEAR(gv[i], want_grad[i], gtol) << name << " grad " << i;
    }
  }
}

// ---------------------------------------------------------------- sizes that run on several threads

TEST(Indexing, LargeInputsSplitAcrossThreads) {
  // Above the loops' parallel threshold (32768 elements), with repeated indices so that
  // index_add/scatter_add collide: a race between threads would lose additions.
  const int64_t V = 300, D = 256, N = 1000;
  std::vector<int64_t> ids(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) ids[size_t(i)] = (i * 7919) % V;
  Tensor w = random_tensor({V, D}, kFloat32, 20);
  std::vector<double> wv = values_f64(w);
  Tensor e = embedding(w, index_tensor(ids, {N}));
  std::vector<double> ev = values_f64(e);
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t j = 0; j < D; ++j) ASSERT_EQ(ev[size_t(i * D + j)], wv[size_t(ids[size_t(i)] * D + j)]);
  }
  Tensor g = random_tensor({N, D}, kFloat64, 21);
  std::vector<double> gv = values_f64(g), want(size_t(V * D), 0.0);
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t j = 0; j < D; ++j) want[size_t(ids[size_t(i)] * D + j)] += gv[size_t(i * D + j)];
  }
  std::vector<double> got = values_f64(raw::embedding_backward(g, index_tensor(ids, {N}), V));
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-12);
  // index_add along dim 1 of a [D, V] tensor (many outer blocks, few columns)
  Tensor x = zeros({D, V}, kFloat64);
  got = values_f64(x.index_add(1, index_tensor(ids, {N}), g.t()));
  for (int64_t r = 0; r < D; ++r) {
    for (int64_t c = 0; c < V; ++c) ASSERT_NEAR(got[size_t(r * V + c)], want[size_t(c * D + r)], 1e-12);
  }
  // scatter_add of ones into [B, V] counts, gather back
  const int64_t B = 40;
  std::vector<int64_t> sidx(static_cast<size_t>(B * N));
  for (size_t i = 0; i < sidx.size(); ++i) sidx[i] = int64_t((i * 131) % size_t(V));
  Tensor counts = zeros({B, V}, kInt64).scatter_add(1, index_tensor(sidx, {B, N}), ones({B, N}, kInt64));
  std::vector<double> cv = values_f64(counts), cwant(size_t(B * V), 0.0);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < N; ++i) cwant[size_t(b * V + sidx[size_t(b * N + i)])] += 1;
  }
  EXPECT_EQ(cv, cwant);
  Tensor gathered = gather(counts, 1, index_tensor(sidx, {B, N}));
  std::vector<double> gg = values_f64(gathered);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < N; ++i) ASSERT_EQ(gg[size_t(b * N + i)], cwant[size_t(b * V + sidx[size_t(b * N + i)])]);
  }
  // cross-entropy over many rows
  const int64_t R = 128, C = 333;
  Tensor logits = random_tensor({R, C}, kFloat64, 22, 3.0);
  std::vector<int64_t> t = random_targets(R, C, 23);
  CeRef ref = reference_ce(values_f64(logits), R, C, t, -100, 0.1, Reduction::Sum);
  auto [loss, lse] = raw::cross_entropy(logits, index_tensor(t, {R}), -100, 0.1, Reduction::Sum);
  EXPECT_NEAR(loss.item<double>(), ref.total, 1e-9);
  std::vector<double> gr =
      values_f64(raw::cross_entropy_backward(ones({}, kFloat64), logits, lse, index_tensor(t, {R}), -100, 0.1,
                                             Reduction::Sum));
  for (size_t i = 0; i < gr.size(); ++i) ASSERT_NEAR(gr[i], ref.grad[i], 1e-12);
}
