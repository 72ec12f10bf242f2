// Matrix product tests: matmul for every rank combination and broadcast batch dims, mm, bmm,
// transposed/sliced/expanded operands, every dtype, odd sizes, the gemm primitive's alpha/beta,
// the built-in kernel, the OpenBLAS core type, and error messages. The reference is a naive
// float64 triple loop over the operands' values, written here independently of the library.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>

#include "tessera/tensor/cpu/blas.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/raw.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

std::vector<double> values_f64(const Tensor& t) {
  Tensor c = t.to(kFloat64).contiguous();
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

// Uniform values in [-1, 1) (integers in [-4, 4] for integer dtypes), reproducible per seed.
Tensor random_tensor(const Shape& shape, DType dtype, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<double> v(size_t(numel_of(shape)));
  if (is_integral(dtype)) {
    std::uniform_int_distribution<int> d(-4, 4);
    for (double& x : v) x = d(gen);
  } else {
    std::uniform_real_distribution<double> d(-1.0, 1.0);
    for (double& x : v) x = d(gen);
  }
  return from_vector<double>(v, shape).to(dtype);
}

struct Ref {
  Shape shape;
  std::vector<double> value;    // the product
  std::vector<double> abs_sum;  // sum_k |a_ik * b_kj|: the scale of the rounding error
};

// torch.matmul's documented semantics, evaluated with plain loops in float64.
Ref reference_matmul(const Tensor& a, const Tensor& b) {
  std::vector<double> av = values_f64(a), bv = values_f64(b);
  Shape sa = a.sizes().vec(), sb = b.sizes().vec();
  const bool a1 = sa.size() == 1, b1 = sb.size() == 1;
  if (a1) sa.insert(sa.begin(), 1);
  if (b1) sb.push_back(1);
  const int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  const size_t nb = std::max(ba.size(), bb.size());
  while (ba.size() < nb) ba.insert(ba.begin(), 1);
  while (bb.size() < nb) bb.insert(bb.begin(), 1);
  Shape batch(nb);
  for (size_t i = 0; i < nb; ++i) batch[i] = std::max(ba[i], bb[i]);
  int64_t nbatch = 1;
  for (int64_t s : batch) nbatch *= s;
  Ref r;
  r.shape = batch;
  if (!a1) r.shape.push_back(M);
  if (!b1) r.shape.push_back(N);
  r.value.assign(size_t(nbatch * M * N), 0.0);
  r.abs_sum.assign(r.value.size(), 0.0);
  for (int64_t bi = 0; bi < nbatch; ++bi) {
    // batch multi-index -> linear batch index of a and of b (size-1 dims broadcast)
    int64_t rem = bi, ia = 0, ib = 0, sa_mul = 1, sb_mul = 1;
    for (size_t d = nb; d-- > 0;) {
      int64_t c = rem % batch[d];
      rem /= batch[d];
      ia += (ba[d] == 1 ? 0 : c) * sa_mul;
      ib += (bb[d] == 1 ? 0 : c) * sb_mul;
      sa_mul *= ba[d];
      sb_mul *= bb[d];
    }
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) {
        double s = 0, s_abs = 0;
        for (int64_t k = 0; k < K; ++k) {
          double p = av[size_t((ia * M + m) * K + k)] * bv[size_t((ib * K + k) * N + n)];
          s += p;
          s_abs += std::fabs(p);
        }
        r.value[size_t((bi * M + m) * N + n)] = s;
        r.abs_sum[size_t((bi * M + m) * N + n)] = s_abs;
      }
    }
  }
  return r;
}

// Allowed error: one rounding of the result to the dtype plus fp32/fp64 accumulation error.
double tolerance(DType dtype, double ref, double abs_sum) {
  switch (dtype) {
    case DType::Float64: return 1e-12 * abs_sum + 1e-300;
    case DType::Float32: return 2e-6 * abs_sum + 1e-30;
    case DType::BFloat16: return std::ldexp(1.0, -8) * std::fabs(ref) + 2e-6 * abs_sum + 1e-30;
    case DType::Float16: return std::ldexp(1.0, -11) * std::fabs(ref) + 2e-6 * abs_sum + 1e-30;
    default: return 0.0;  // integers: exact
  }
}

void expect_matches(const Tensor& out, const Ref& ref, const std::string& what) {
  ASSERT_EQ(out.sizes().vec(), ref.shape) << what;
  std::vector<double> got = values_f64(out);
  ASSERT_EQ(got.size(), ref.value.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_LE(std::fabs(got[i] - ref.value[i]), tolerance(out.dtype(), ref.value[i], ref.abs_sum[i]))
        << what << " element " << i << ": got " << got[i] << " expected " << ref.value[i];
  }
}

void check_matmul(const Tensor& a, const Tensor& b, const std::string& what) {
  Tensor out = matmul(a, b);
  EXPECT_EQ(out.dtype(), a.dtype()) << what;
  expect_matches(out, reference_matmul(a, b), what);
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

const std::vector<DType> kAllMatmulTypes = {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64};

}  // namespace

TEST(Matmul, EveryRankCombination) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{3}, {3}},                    // dot -> 0-dim
      {{2, 3}, {3}},                 // matrix-vector
      {{3}, {3, 4}},                 // vector-matrix
      {{2, 3}, {3, 4}},              // mm
      {{5, 2, 3}, {3, 4}},           // batched @ matrix (folded)
      {{5, 2, 3}, {3}},              // batched @ vector
      {{3}, {5, 3, 4}},              // vector @ batched
      {{2, 3}, {5, 3, 4}},           // matrix @ batched
      {{5, 2, 3}, {5, 3, 4}},        // bmm
      {{2, 1, 2, 3}, {3, 3, 4}},     // broadcast batch dims on both sides
      {{1, 2, 3}, {4, 1, 3, 5}},     // different batch ranks
      {{2, 1, 2, 3}, {1, 3, 3, 4}},  // broadcast inside the batch, both sides
      {{3}, {2, 2, 3, 4}},           // vector @ 4-D
      {{2, 2, 2, 3}, {3}},           // 4-D @ vector
  };
  for (DType dt : kAllMatmulTypes) {
    uint32_t seed = 1;
    for (const auto& [sa, sb] : cases) {
      Tensor a = random_tensor(sa, dt, seed++), b = random_tensor(sb, dt, seed++);
      check_matmul(a, b, fmt::format("{} {} @ {}", dtype_name(dt), shape_str(sa), shape_str(sb)));
    }
  }
  EXPECT_EQ(matmul(random_tensor({3}, kFloat32, 1), random_tensor({3}, kFloat32, 2)).dim(), 0);
}

TEST(Matmul, OddSizes) {
  const std::vector<int64_t> sizes = {1, 7, 129};
  uint32_t seed = 100;
  for (DType dt : {kFloat32, kFloat64, kBFloat16, kInt64}) {
    for (int64_t m : sizes) {
      for (int64_t k : sizes) {
        for (int64_t n : sizes) {
          Tensor a = random_tensor({m, k}, dt, seed++), b = random_tensor({k, n}, dt, seed++);
          check_matmul(a, b, fmt::format("{} {}x{}x{}", dtype_name(dt), m, k, n));
        }
      }
    }
  }
  // batched odd sizes
  Tensor a = random_tensor({3, 7, 129}, kFloat32, 7), b = random_tensor({3, 129, 1}, kFloat32, 8);
  check_matmul(a, b, "batched 7x129x1");
}

TEST(Matmul, NonContiguousOperands) {
  for (DType dt : {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32}) {
    std::string d(dtype_name(dt));
    Tensor x = random_tensor({6, 5}, dt, 1), y = random_tensor({4, 6}, dt, 2);
    // transposed (column-major) operands on either side
    check_matmul(x.t(), y.t(), d + " x.t() @ y.t()");
    check_matmul(y, random_tensor({5, 6}, dt, 3).t(), d + " y @ z.t()");
    // sliced with a step: no unit stride in either dim -> copied
    Tensor big = random_tensor({8, 12}, dt, 4);
    Tensor s = big.slice(0, 0, 8, 2).slice(1, 1, 12, 2);  // [4, 6] strides [24, 2]
    check_matmul(s, x, d + " strided slice @ x");
    // row slice keeps a unit stride with a larger leading dimension
    check_matmul(big.narrow(1, 2, 6), x, d + " narrow(cols) @ x");
    // batch of column-major matrices
    Tensor bt = random_tensor({3, 5, 4}, dt, 5).transpose(1, 2);  // [3, 4, 5]
    check_matmul(bt, random_tensor({3, 5, 2}, dt, 6), d + " batched transposed @ batched");
    check_matmul(bt, random_tensor({5, 2}, dt, 7), d + " batched transposed @ matrix (not foldable)");
    // batch + rows column-major overall ([K, B, M] memory): foldable into one transposed GEMM
    Tensor cm = random_tensor({5, 3, 4}, dt, 17).permute({1, 2, 0});  // [3, 4, 5] strides [4, 1, 12]
    check_matmul(cm, random_tensor({5, 2}, dt, 18), d + " folded column-major @ matrix");
    // expanded batch (stride 0) on either side
    Tensor e = random_tensor({1, 4, 5}, dt, 8).expand({3, 4, 5});
    check_matmul(e, random_tensor({3, 5, 2}, dt, 9), d + " expanded @ batched");
    check_matmul(random_tensor({3, 2, 4}, dt, 10), e, d + " batched @ expanded");
    // permuted batch dims that cannot be merged into one stride
    Tensor p = random_tensor({4, 2, 3, 5}, dt, 11).permute({1, 0, 2, 3});  // [2, 4, 3, 5]
    check_matmul(p, random_tensor({2, 4, 5, 3}, dt, 12), d + " permuted batch");
    check_matmul(p, random_tensor({5, 3}, dt, 13), d + " permuted batch @ matrix");
    // batch slice with a step
    Tensor bs = random_tensor({6, 3, 4}, dt, 14).slice(0, 0, 6, 2);
    check_matmul(bs, random_tensor({4, 5}, dt, 15), d + " stepped batch @ matrix");
    // vector with a stride
    check_matmul(x, random_tensor({10}, dt, 16).slice(0, 0, 10, 2), d + " x @ strided vector");
  }
}

TEST(Matmul, MmAndBmm) {
  for (DType dt : kAllMatmulTypes) {
    Tensor a = random_tensor({3, 4}, dt, 1), b = random_tensor({4, 5}, dt, 2);
    expect_matches(mm(a, b), reference_matmul(a, b), "mm");
    expect_matches(a.mm(b), reference_matmul(a, b), "Tensor::mm");
    Tensor ba = random_tensor({2, 3, 4}, dt, 3), bb = random_tensor({2, 4, 5}, dt, 4);
    expect_matches(bmm(ba, bb), reference_matmul(ba, bb), "bmm");
    expect_matches(ba.bmm(bb.transpose(1, 2).contiguous().transpose(1, 2)), reference_matmul(ba, bb), "bmm colmajor");
    expect_matches(ba.matmul(bb), reference_matmul(ba, bb), "Tensor::matmul");
  }
}

TEST(Matmul, EmptyDims) {
  Tensor z = matmul(zeros({3, 0}), zeros({0, 4}));
  EXPECT_EQ(z.sizes().vec(), (Shape{3, 4}));
  for (double v : values_f64(z)) EXPECT_EQ(v, 0.0);
  EXPECT_EQ(matmul(zeros({0, 3}), zeros({3, 4})).sizes().vec(), (Shape{0, 4}));
  EXPECT_EQ(matmul(zeros({2, 0, 3}), zeros({3, 4})).sizes().vec(), (Shape{2, 0, 4}));
  Tensor d = matmul(zeros({0}, kInt64), zeros({0}, kInt64));
  EXPECT_EQ(d.dim(), 0);
  EXPECT_EQ(d.item<int64_t>(), 0);
}

TEST(Matmul, GemmPrimitiveAlphaBeta) {
  Backend& be = backend_for(Device::cpu());
  for (DType dt : {kFloat32, kFloat64, kBFloat16, kFloat16, kInt64}) {
    Tensor a = random_tensor({2, 3, 4}, dt, 1), b = random_tensor({2, 4, 5}, dt, 2);
    Tensor c0 = random_tensor({2, 3, 5}, dt, 3);
    Tensor c = c0.clone();
    be.gemm(c, a, b, 2.0, 3.0);  // c = 2 a@b + 3 c
    Ref ab = reference_matmul(a, b);
    std::vector<double> cv = values_f64(c0), got = values_f64(c);
    for (size_t i = 0; i < got.size(); ++i) {
      double want = 2 * ab.value[i] + 3 * cv[i];
      double tol = tolerance(dt, want, 2 * ab.abs_sum[i] + 3 * std::fabs(cv[i]));
      ASSERT_LE(std::fabs(got[i] - want), tol) << dtype_name(dt) << " " << i;
    }
  }
}

TEST(Matmul, LargeAcrossKernelBlocks) {
  // Crosses the built-in kernel's K (256) and N (512) blocks and the 16-bit path's 1024 panels.
  Tensor a = random_tensor({33, 300}, kFloat32, 1), b = random_tensor({300, 530}, kFloat32, 2);
  check_matmul(a, b, "float32 33x300x530");
  Tensor ha = random_tensor({1030, 40}, kBFloat16, 3), hb = random_tensor({40, 1027}, kBFloat16, 4);
  check_matmul(ha, hb, "bfloat16 1030x40x1027");
  Tensor ia = random_tensor({9, 270}, kInt32, 5), ib = random_tensor({270, 515}, kInt32, 6);
  check_matmul(ia, ib, "int32 9x270x515");
}

TEST(Matmul, WorkSplitAcrossThreads) {
  // Note [gemm work split]: batch x row/column parts over 1-3 threads, odd sizes, transposed and
  // sliced operands, odd and even batch counts, row splits (M >= N) and column splits (N > M).
  const int saved = cpu::num_threads();
  for (int threads : {1, 2, 3}) {
    cpu::set_num_threads(threads);
    for (DType dt : {kFloat32, kFloat64, kBFloat16}) {
      std::string tag = fmt::format("{} threads {}", dtype_name(dt), threads);
      check_matmul(random_tensor({131, 67}, dt, 1), random_tensor({67, 45}, dt, 2), "rows " + tag);
      check_matmul(random_tensor({37, 67}, dt, 3), random_tensor({67, 203}, dt, 4), "columns " + tag);
      check_matmul(random_tensor({3, 97, 50}, dt, 5), random_tensor({3, 50, 61}, dt, 6), "batch 3 " + tag);
      check_matmul(random_tensor({4, 61, 50}, dt, 7), random_tensor({4, 50, 97}, dt, 8), "batch 4 " + tag);
      check_matmul(random_tensor({67, 131}, dt, 9).t(), random_tensor({45, 67}, dt, 10).t(), "transposed " + tag);
      Tensor wide = random_tensor({99, 160}, dt, 11);
      check_matmul(wide.slice(1, 3, 70), random_tensor({67, 129}, dt, 12), "sliced " + tag);
      // x [B, S, in] @ W[out, in]^T, the linear layer's layout (rows folded over the batch)
      check_matmul(random_tensor({5, 33, 48}, dt, 13), random_tensor({70, 48}, dt, 14).t(), "linear " + tag);
    }
  }
  cpu::set_num_threads(saved);
}

TEST(Matmul, IntegersAreExactAndWrapLikeTheirType) {
  // int64 products beyond float64's 53-bit mantissa stay exact
  Tensor a = from_vector<int64_t>({int64_t(1) << 40, 3}, {1, 2});
  Tensor b = from_vector<int64_t>({(int64_t(1) << 20) + 1, 5}, {2, 1});
  EXPECT_EQ(matmul(a, b).item<int64_t>(), (int64_t(1) << 60) + (int64_t(1) << 40) + 15);
  // int32 wraps modulo 2^32: 2^16 * 2^16 + 2^16 * 1 -> 2^16
  Tensor c = from_vector<int32_t>({65536, 65536}, {1, 2});
  Tensor d = from_vector<int32_t>({65536, 1}, {2, 1});
  EXPECT_EQ(matmul(c, d).item<int32_t>(), 65536);
}

TEST(Matmul, BuiltinKernelWithoutBlas) {
  cpu::set_blas_enabled(false);
  for (DType dt : {kFloat32, kFloat64, kBFloat16}) {
    Tensor a = random_tensor({37, 300}, dt, 1), b = random_tensor({300, 515}, dt, 2);
    check_matmul(a, b, fmt::format("builtin {}", dtype_name(dt)));
    check_matmul(a.t().contiguous().t(), b, fmt::format("builtin colmajor {}", dtype_name(dt)));
  }
  EXPECT_EQ(cpu::blas_core_name(), "none");
  cpu::set_blas_enabled(true);
}

TEST(Matmul, OpenBlasUsesTheFastCoreType) {
#ifdef TESSERA_HAVE_OPENBLAS
  std::string core = cpu::blas_core_name();
  std::string want = cpu::preferred_openblas_coretype();
  const char* env = std::getenv("OPENBLAS_CORETYPE");
  std::printf("[ OpenBLAS ] core %s (tessera asked for '%s', OPENBLAS_CORETYPE=%s)\n", core.c_str(), want.c_str(),
              env ? env : "<unset>");
  ASSERT_NE(core, "none") << "libopenblas.so.0 could not be loaded";
  if (want == "SkylakeX" && env && want == env) {
    // The CPU has AVX-512: its kernels must be in use, not the Prescott/Haswell ones.
    EXPECT_TRUE(core == "SkylakeX" || core == "Cooperlake" || core == "SapphireRapids") << core;
  } else if (want.empty()) {
    GTEST_SKIP() << "CPU without AVX2/AVX-512: OpenBLAS chooses its own kernels (" << core << ")";
  }
#else
  GTEST_SKIP() << "built with -Dblas=none: no OpenBLAS to check";
#endif
}

TEST(Matmul, Errors) {
  std::string m = error_message([] { matmul(zeros({2, 3}), zeros({4, 5})); });
  EXPECT_NE(m.find("matmul: mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"), std::string::npos) << m;
  m = error_message([] { mm(zeros({2, 3}), zeros({4, 5})); });
  EXPECT_NE(m.find("mm: mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"), std::string::npos) << m;
  EXPECT_THROW(matmul(zeros({2, 3}), zeros({4, 5})), ShapeError);
  m = error_message([] { matmul(zeros({3}), zeros({4})); });
  EXPECT_NE(m.find("matmul: inconsistent tensor size"), std::string::npos) << m;
  m = error_message([] { matmul(zeros({2, 3}), zeros({4})); });
  EXPECT_NE(m.find("(2x3 and 4x1)"), std::string::npos) << m;
  m = error_message([] { matmul(zeros({2, 2, 3}), zeros({3, 3, 5})); });
  EXPECT_NE(m.find("matmul"), std::string::npos) << m;
  EXPECT_THROW(matmul(zeros({2, 2, 3}), zeros({3, 3, 5})), ShapeError);
  m = error_message([] { matmul(zeros({}), zeros({3})); });
  EXPECT_NE(m.find("matmul: both arguments to matmul need to be at least 1D, but they are 0D and 1D"),
            std::string::npos)
      << m;
  m = error_message([] { matmul(zeros({2, 3}), zeros({3, 4}, kFloat64)); });
  EXPECT_NE(m.find("matmul: expected m1 and m2 to have the same dtype, but got: float32 != float64"),
            std::string::npos)
      << m;
  EXPECT_THROW(matmul(zeros({2, 3}), zeros({3, 4}, kFloat64)), DTypeError);
  m = error_message([] { matmul(zeros({2, 3}, kBool), zeros({3, 4}, kBool)); });
  EXPECT_NE(m.find("matmul: not implemented for dtype bool"), std::string::npos) << m;
  m = error_message([] { mm(zeros({3}), zeros({3, 4})); });
  EXPECT_NE(m.find("mm: self must be a matrix, got 1-D tensor"), std::string::npos) << m;
  m = error_message([] { mm(zeros({2, 3}), zeros({3})); });
  EXPECT_NE(m.find("mm: mat2 must be a matrix"), std::string::npos) << m;
  m = error_message([] { bmm(zeros({2, 3}), zeros({3, 4})); });
  EXPECT_NE(m.find("bmm: batch1 must be a 3D tensor"), std::string::npos) << m;
  m = error_message([] { bmm(zeros({2, 2, 3}), zeros({3, 3, 4})); });
  EXPECT_NE(m.find("bmm: Expected size for first two dimensions of batch2 tensor to be: [2, 3] but got: [3, 3]."),
            std::string::npos)
      << m;
  m = error_message([] { bmm(zeros({2, 2, 3}, kFloat16), zeros({2, 3, 4}, kBFloat16)); });
  EXPECT_NE(m.find("bmm: expected m1 and m2 to have the same dtype, but got: float16 != bfloat16"),
            std::string::npos)
      << m;
}
