// Elementwise op tests: every unary op (and its backward) and binary op against an independent
// long-double reference on the host, across dtypes (per-dtype tolerances), broadcasting,
// non-contiguous inputs/outputs, odd sizes crossing the parallel threshold, special values,
// torch.result_type promotion, in-place semantics and error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

using LD = long double;
constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::nan("");
const float kNaNf = std::nanf("");

std::vector<double> values(const Tensor& t) {
  Tensor c = t.contiguous().to(kFloat64);
  const double* p = c.data_ptr<double>();
  return std::vector<double>(p, p + c.numel());
}

// Host values uniformly drawn in [lo, hi] (std::mt19937: independent of tessera's RNG),
// converted to `dtype` (so the reference sees exactly the rounded inputs via values()).
Tensor uniform(IntArrayRef shape, double lo, double hi, DType dtype, uint32_t seed = 1) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(size_t(numel_of(shape)));
  for (double& x : v) x = dist(gen);
  if (is_integral(dtype, true)) {
    for (double& x : v) x = std::round(x);
  }
  if (dtype == kBool) {
    for (double& x : v) x = std::fmod(std::fabs(x), 2.0) >= 1.0 ? 1.0 : 0.0;
  }
  return from_vector(v, shape).to(dtype);
}

// Same shape, dtype and values (NaN equal to NaN). (Tensor::equal belongs to the reductions.)
bool same(const Tensor& a, const Tensor& b) {
  if (!a.sizes().equals(b.sizes()) || a.dtype() != b.dtype()) return false;
  std::vector<double> x = values(a), y = values(b);
  for (size_t i = 0; i < x.size(); ++i) {
    if (!(x[i] == y[i] || (std::isnan(x[i]) && std::isnan(y[i])))) return false;
  }
  return true;
}

struct Tol {
  double rtol, atol;
};
Tol tol_for(DType t) {
  switch (t) {
    case DType::Float64: return {1e-13, 1e-300};
    case DType::Float32: return {2e-6, 1e-37};
    case DType::BFloat16: return {1e-2, 1e-37};
    case DType::Float16: return {1e-3, 1e-7};  // float16 subnormals are 6e-8 apart
    default: return {0.0, 0.0};
  }
}

// Compares got against want elementwise: NaN matches NaN, infinities must match exactly.
void expect_close(const std::vector<double>& got, const std::vector<double>& want, Tol tol, const std::string& what,
                  const std::vector<double>* inputs = nullptr) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int failures = 0;
  for (size_t i = 0; i < got.size() && failures < 5; ++i) {
    double g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w)) ok = std::isnan(g);
    else if (std::isinf(w)) ok = g == w;
    else ok = std::fabs(g - w) <= tol.atol + tol.rtol * std::fabs(w);
    if (!ok) {
      ++failures;
      ADD_FAILURE() << what << " at " << i << ": got " << g << " want " << w
                    << (inputs ? " input " + std::to_string((*inputs)[i]) : std::string());
    }
  }
}

// ---- the unary op table ----
struct UnaryCase {
  std::string name;
  std::function<Tensor(const Tensor&)> op;
  UnaryOp raw_op;
  std::function<LD(LD)> ref;
  std::function<LD(LD)> dref;  // derivative
  double lo, hi;               // test domain
  bool float_only;
  double extra_rtol = 0;       // beyond the dtype tolerance (float32)
  double grad_atol = 0;        // for derivatives that cross zero
};

const LD kSqrt2 = std::sqrt(2.0L), kPi = 3.14159265358979323846264338327950288L;
LD phi_cdf(LD x) { return 0.5L * std::erfc(-x / kSqrt2); }
LD phi_pdf(LD x) { return std::exp(-0.5L * x * x) / std::sqrt(2.0L * kPi); }
LD tanh_gelu_arg(LD x) { return std::sqrt(2.0L / kPi) * (x + 0.044715L * x * x * x); }
LD sigmoid_ref(LD x) { return 1.0L / (1.0L + std::exp(-x)); }
// 1 - tanh(x)^2 = 4 e / (1 + e)^2, e = exp(-2|x|): no cancellation where tanh(x) is near +-1.
LD tanh_grad_ref(LD x) {
  LD e = std::exp(-2.0L * std::fabs(x));
  return 4.0L * e / ((1.0L + e) * (1.0L + e));
}

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](const Tensor& x) { return -x; }, UnaryOp::Neg, [](LD x) { return -x; }, [](LD) { return -1.0L; }, -50,
       50, false},
      {"abs", [](const Tensor& x) { return x.abs(); }, UnaryOp::Abs, [](LD x) { return std::fabs(x); },
       [](LD x) { return LD((x > 0) - (x < 0)); }, -50, 50, false},
      {"exp", [](const Tensor& x) { return tessera::exp(x); }, UnaryOp::Exp, [](LD x) { return std::exp(x); },
       [](LD x) { return std::exp(x); }, -80, 80, true},
      {"log", [](const Tensor& x) { return x.log(); }, UnaryOp::Log, [](LD x) { return std::log(x); },
       [](LD x) { return 1.0L / x; }, 1e-3, 1e3, true},
      {"log1p", [](const Tensor& x) { return x.log1p(); }, UnaryOp::Log1p, [](LD x) { return std::log1p(x); },
       [](LD x) { return 1.0L / (1.0L + x); }, -0.99, 100, true},
      {"sqrt", [](const Tensor& x) { return tessera::sqrt(x); }, UnaryOp::Sqrt, [](LD x) { return std::sqrt(x); },
       [](LD x) { return 0.5L / std::sqrt(x); }, 1e-3, 1e3, true},
      {"rsqrt", [](const Tensor& x) { return x.rsqrt(); }, UnaryOp::Rsqrt, [](LD x) { return 1.0L / std::sqrt(x); },
       [](LD x) { return -0.5L / (x * std::sqrt(x)); }, 1e-3, 1e3, true},
      {"square", [](const Tensor& x) { return x.square(); }, UnaryOp::Square, [](LD x) { return x * x; },
       [](LD x) { return 2.0L * x; }, -50, 50, false},
      {"reciprocal", [](const Tensor& x) { return x.reciprocal(); }, UnaryOp::Reciprocal,
       [](LD x) { return 1.0L / x; }, [](LD x) { return -1.0L / (x * x); }, 0.01, 50, true},
      {"sign", [](const Tensor& x) { return x.sign(); }, UnaryOp::Sign, [](LD x) { return LD((x > 0) - (x < 0)); },
       [](LD) { return 0.0L; }, -5, 5, false},
      {"tanh", [](const Tensor& x) { return tessera::tanh(x); }, UnaryOp::Tanh, [](LD x) { return std::tanh(x); },
       tanh_grad_ref, -12, 12, true},
      {"sigmoid", [](const Tensor& x) { return x.sigmoid(); }, UnaryOp::Sigmoid, sigmoid_ref,
       [](LD x) {
         LD e = std::exp(-std::fabs(x));  // s (1 - s) without cancellation
         return e / ((1.0L + e) * (1.0L + e));
       },
       -40, 40, true},
      {"relu", [](const Tensor& x) { return tessera::relu(x); }, UnaryOp::Relu, [](LD x) { return x < 0 ? 0.0L : x; },
       [](LD x) { return x > 0 ? 1.0L : 0.0L; }, -5, 5, false},
      {"gelu", [](const Tensor& x) { return x.gelu(); }, UnaryOp::GeluErf, [](LD x) { return x * phi_cdf(x); },
       [](LD x) { return phi_cdf(x) + x * phi_pdf(x); }, -12, 12, true, 4e-6, 1e-7},
      {"gelu_tanh", [](const Tensor& x) { return tessera::gelu(x, "tanh"); }, UnaryOp::GeluTanh,
       // 0.5 x (1 + tanh(u)) written as x / (1 + exp(-2u)) to avoid cancellation for x < 0
       [](LD x) { return x / (1.0L + std::exp(-2.0L * tanh_gelu_arg(x))); },
       [](LD x) {
         LD u = tanh_gelu_arg(x);
         return 1.0L / (1.0L + std::exp(-2.0L * u)) +
                0.5L * x * tanh_grad_ref(u) * std::sqrt(2.0L / kPi) * (1 + 3 * 0.044715L * x * x);
       },
       -6, 6, true, 3e-5, 1e-7},
      {"silu", [](const Tensor& x) { return tessera::silu(x); }, UnaryOp::Silu,
       [](LD x) { return x * sigmoid_ref(x); },
       [](LD x) { return sigmoid_ref(x) * (1.0L + x * (1.0L - sigmoid_ref(x))); }, -40, 40, true, 0, 1e-7},
      {"sin", [](const Tensor& x) { return x.sin(); }, UnaryOp::Sin, [](LD x) { return std::sin(x); },
       [](LD x) { return std::cos(x); }, -30, 30, true},
      {"cos", [](const Tensor& x) { return tessera::cos(x); }, UnaryOp::Cos, [](LD x) { return std::cos(x); },
       [](LD x) { return -std::sin(x); }, -30, 30, true},
  };
}

std::vector<double> apply_ref(const std::function<LD(LD)>& f, const std::vector<double>& in) {
  std::vector<double> out(in.size());
  for (size_t i = 0; i < in.size(); ++i) out[i] = double(f(LD(in[i])));
  return out;
}

Tol unary_tol(const UnaryCase& c, DType dt) {
  Tol t = tol_for(dt);
  if (dt == DType::Float32) t.rtol += c.extra_rtol;
  return t;
}

const DType kFloatTypes[] = {kFloat32, kFloat64, kBFloat16, kFloat16};

}  // namespace

// ---- result_type ----

TEST(ResultType, FollowsTorchResultType) {
  Tensor i32 = zeros({2}, kInt32), i64 = zeros({2}, kInt64), b = zeros({2}, kBool), f16 = zeros({2}, kFloat16);
  Tensor bf = zeros({2}, kBFloat16), f32 = zeros({2}, kFloat32);
  Tensor d0 = scalar_tensor(1.0, kFloat64), i0 = scalar_tensor(1, kInt64), h0 = scalar_tensor(1.0, kFloat16);
  EXPECT_EQ(result_type(i32, f16), kFloat16);
  EXPECT_EQ(result_type(f16, bf), kFloat32);
  EXPECT_EQ(result_type(i32, i64), kInt64);
  EXPECT_EQ(result_type(i32, 2.5), kFloat32);  // float Scalar -> default dtype
  EXPECT_EQ(result_type(i64, 2), kInt64);
  EXPECT_EQ(result_type(b, 2), kInt64);        // int Scalar raises bool to int64
  EXPECT_EQ(result_type(b, 2.5), kFloat32);
  EXPECT_EQ(result_type(b, true), kBool);
  EXPECT_EQ(result_type(f16, 2.5), kFloat16);  // same category: the tensor decides
  EXPECT_EQ(result_type(i32, d0), kFloat64);   // 0-dim of a higher category: its dtype
  EXPECT_EQ(result_type(f16, d0), kFloat16);   // 0-dim of the same category: ignored
  EXPECT_EQ(result_type(i32, i0), kInt32);
  EXPECT_EQ(result_type(scalar_tensor(1, kInt32), h0), kFloat16);
  EXPECT_EQ(result_type(scalar_tensor(1.0, kFloat32), 2), kFloat32);
  EXPECT_EQ(result_type(scalar_tensor(true, kBool), 2.0), kFloat32);
  EXPECT_EQ(result_type(i0, scalar_tensor(1, kInt32)), kInt64);  // two 0-dim: promote
}

TEST(ResultType, OpsUsePromotedTypes) {
  Tensor i32 = tensor({1, 2, 3});
  EXPECT_EQ((i32 + tensor({1.0f, 2.0f, 3.0f}, kFloat16)).dtype(), kFloat16);
  EXPECT_EQ((i32 + 2.5).dtype(), kFloat32);
  EXPECT_EQ((i32 * scalar_tensor(2.0, kFloat64)).dtype(), kFloat64);
  EXPECT_EQ((i32 / 2).dtype(), kFloat32);  // true division
  EXPECT_EQ((i32 / tensor({2, 4, 8})).dtype(), kFloat32);
  EXPECT_EQ(values(i32 / 2), (std::vector<double>{0.5, 1.0, 1.5}));
  EXPECT_EQ(i32.exp().dtype(), kFloat32);
  EXPECT_EQ(i32.abs().dtype(), kInt32);
  EXPECT_EQ(i32.neg().dtype(), kInt32);
  EXPECT_EQ(i32.relu().dtype(), kInt32);
  EXPECT_EQ(tensor({true, false}).square().dtype(), kInt64);
  EXPECT_EQ(tensor({true, false}).sign().dtype(), kBool);
  EXPECT_EQ((tensor({true, false}) + 2).dtype(), kInt64);
  EXPECT_EQ(i32.eq(1.5).dtype(), kBool);
  EXPECT_EQ(values(i32.eq(2.0)), (std::vector<double>{0, 1, 0}));
  EXPECT_EQ(values(i32.lt(1.5)), (std::vector<double>{1, 0, 0}));  // compared in float, not truncated
  EXPECT_EQ(tensor({1.0f}, kBFloat16).add(tensor({1.0f}, kFloat16)).dtype(), kFloat32);
  EXPECT_EQ(tensor({1.0f}, kBFloat16).mul(2.0).dtype(), kBFloat16);
}

// ---- unary ops ----
// The float unary kernels have an AVX2 and an AVX-512 build (Note [cpu isa variants]); the
// UnaryIsa tests run once per build (the AVX-512 one skips, saying so, on CPUs without it).

class UnaryIsa : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    saved_ = cpu::avx512_kernels_enabled();
    bool on = cpu::set_avx512_kernels_enabled(GetParam());
    if (GetParam() && !on) GTEST_SKIP() << "this CPU has no AVX-512: the AVX-512 kernels are not tested here";
  }
  void TearDown() override { cpu::set_avx512_kernels_enabled(saved_); }
  bool saved_ = false;
};
INSTANTIATE_TEST_SUITE_P(Isa, UnaryIsa, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& i) { return i.param ? "avx512" : "avx2"; });

TEST_P(UnaryIsa, MatchesReferenceForEveryFloatDType) {
  for (const UnaryCase& c : unary_cases()) {
    for (DType dt : kFloatTypes) {
      double lo = c.lo, hi = c.hi;
      if (dt == kFloat16 && c.name == "exp") lo = -15, hi = 11;   // stay inside float16's range
      if (dt == kFloat16 && (c.name == "square")) lo = -200, hi = 200;
      Tensor x = uniform({1000}, lo, hi, dt, 7);
      Tensor y = c.op(x);
      EXPECT_EQ(y.dtype(), dt) << c.name;
      std::vector<double> in = values(x);
      expect_close(values(y), apply_ref(c.ref, in), unary_tol(c, dt), c.name + " " + std::string(dtype_name(dt)), &in);
    }
  }
}

TEST(Unary, IntegerAndBoolInputs) {
  for (const UnaryCase& c : unary_cases()) {
    for (DType dt : {kInt32, kInt64}) {
      double lo = std::max(c.lo, -60.0), hi = std::min(c.hi, 60.0);
      if (c.name == "exp") lo = -20, hi = 20;
      if (c.name == "reciprocal" || c.name == "log" || c.name == "sqrt" || c.name == "rsqrt") lo = 1;
      Tensor x = uniform({300}, lo, hi, dt, 3);
      Tensor y = c.op(x);
      EXPECT_EQ(y.dtype(), c.float_only ? kFloat32 : dt) << c.name;
      std::vector<double> in = values(x);
      Tol t = c.float_only ? unary_tol(c, kFloat32) : Tol{0, 0};
      expect_close(values(y), apply_ref(c.ref, in), t, c.name + " " + std::string(dtype_name(dt)), &in);
    }
  }
  Tensor b = tensor({true, false, true});
  EXPECT_EQ(b.exp().dtype(), kFloat32);
  expect_close(values(b.exp()), {double(std::exp(1.0L)), 1.0, double(std::exp(1.0L))}, tol_for(kFloat32), "exp bool");
  EXPECT_EQ(values(b.square()), (std::vector<double>{1, 0, 1}));
  EXPECT_EQ(values(b.sign()), (std::vector<double>{1, 0, 1}));
}

TEST_P(UnaryIsa, NonContiguousInputs) {
  for (const UnaryCase& c : unary_cases()) {
    for (DType dt : {kFloat32, kBFloat16}) {
      Tensor base = uniform({37, 29}, c.lo, c.hi, dt, 11);
      Tensor views[] = {base.t(), base.slice(0, 1, 37, 3), base.select(1, 4).unsqueeze(1).expand({37, 5}),
                        base.slice(1, 0, 29, 2).t()};
      for (const Tensor& v : views) {
        std::vector<double> in = values(v);
        Tensor y = c.op(v);
        EXPECT_EQ(y.sizes(), v.sizes());
        expect_close(values(y), apply_ref(c.ref, in), unary_tol(c, dt), c.name + " view " + v.toString(), &in);
      }
    }
  }
}

TEST(Unary, OutputFollowsDensePermutedLayout) {
  Tensor x = uniform({64, 48}, -3, 3, kFloat32);
  Tensor y = x.t().exp();
  EXPECT_EQ(y.strides(), IntArrayRef({1, 48}));  // same layout as x.t() (Note [elementwise output layout])
  expect_close(values(y), apply_ref([](LD v) { return std::exp(v); }, values(x.t())), tol_for(kFloat32), "exp t");
  Tensor z = x.slice(0, 0, 64, 2).exp();  // not dense: contiguous output
  EXPECT_TRUE(z.is_contiguous());
}

TEST_P(UnaryIsa, OddSizesAcrossTheParallelThreshold) {
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(1000003)}) {
    Tensor x = uniform({n}, -10, 10, kFloat32, uint32_t(n));
    std::vector<double> in = values(x);
    expect_close(values(x.gelu()), apply_ref([](LD v) { return v * phi_cdf(v); }, in), {6e-6, 1e-37},
                 "gelu n=" + std::to_string(n));
    expect_close(values(x.exp()), apply_ref([](LD v) { return std::exp(v); }, in), tol_for(kFloat32),
                 "exp n=" + std::to_string(n));
    Tensor h = x.to(kFloat16);
    expect_close(values(h.tanh()), apply_ref([](LD v) { return std::tanh(v); }, values(h)), tol_for(kFloat16),
                 "tanh f16 n=" + std::to_string(n));
  }
}

TEST_P(UnaryIsa, SpecialValues) {
  Tensor s = tensor({kInf, -kInf, kNaN, 0.0, -0.0, 100.0, -110.0, 1e-40}, kFloat32);
  auto v = [&](const Tensor& t) { return values(t); };
  std::vector<double> e = v(s.exp());
  EXPECT_EQ(e[0], kInf);
  EXPECT_EQ(e[1], 0.0);
  EXPECT_TRUE(std::isnan(e[2]));
  EXPECT_EQ(e[3], 1.0);
  EXPECT_EQ(e[5], kInf);  // overflow
  EXPECT_EQ(e[6], 0.0);   // underflow
  std::vector<double> l = v(s.log());
  EXPECT_EQ(l[0], kInf);
  EXPECT_TRUE(std::isnan(l[1]));
  EXPECT_TRUE(std::isnan(l[2]));
  EXPECT_EQ(l[3], -kInf);
  EXPECT_EQ(l[4], -kInf);
  EXPECT_NEAR(l[7], std::log(double(1e-40f)), 1e-5);  // subnormal input
  EXPECT_TRUE(std::isnan(v(tensor({-1.0f}).log())[0]));
  EXPECT_TRUE(std::isnan(v(tensor({-1.0f}).sqrt())[0]));
  EXPECT_EQ(v(tensor({-1.0f}).log1p())[0], -kInf);
  EXPECT_TRUE(std::isnan(v(tensor({-2.0f}).log1p())[0]));
  EXPECT_EQ(v(s.log1p())[0], kInf);
  EXPECT_EQ(v(s.tanh())[0], 1.0);
  EXPECT_EQ(v(s.tanh())[1], -1.0);
  EXPECT_TRUE(std::isnan(v(s.tanh())[2]));
  EXPECT_EQ(v(s.sigmoid())[0], 1.0);
  EXPECT_EQ(v(s.sigmoid())[1], 0.0);
  EXPECT_EQ(v(s.gelu())[0], kInf);
  EXPECT_EQ(v(s.gelu())[5], 100.0);
  EXPECT_EQ(v(s.gelu("tanh"))[0], kInf);
  EXPECT_EQ(v(s.silu())[5], 100.0);
  EXPECT_TRUE(std::isnan(v(s.relu())[2]));  // relu keeps NaN, like PyTorch
  EXPECT_EQ(v(s.sign())[2], 0.0);          // sign(NaN) = 0, like PyTorch
  EXPECT_EQ(v(s.reciprocal())[3], kInf);
  EXPECT_EQ(v(s.rsqrt())[3], kInf);
  EXPECT_TRUE(std::isnan(v(s.sin())[0]));
  EXPECT_TRUE(std::isnan(v(s.cos())[2]));
  Tensor z = tensor({0.0, -0.0}, kFloat32);
  EXPECT_TRUE(std::signbit(v(z.sin())[1]));
}

TEST_P(UnaryIsa, SinCosLargeArguments) {
  // |x| > 1e5 takes the double-precision fix-up path (Note [vectorisable math]).
  std::vector<double> big = {1e5, 123456.7, -3e6, 1e7, 3.4e38, -1e30, 12345.678, 1e5 + 0.5};
  Tensor x = tensor(big, kFloat32);
  std::vector<double> in = values(x);
  expect_close(values(x.sin()), apply_ref([](LD v) { return std::sin(v); }, in), {2e-6, 1e-7}, "sin big", &in);
  expect_close(values(x.cos()), apply_ref([](LD v) { return std::cos(v); }, in), {2e-6, 1e-7}, "cos big", &in);
  Tensor g = ones({8});
  expect_close(values(raw::unary_backward(UnaryOp::Sin, g, x)), apply_ref([](LD v) { return std::cos(v); }, in),
               {2e-6, 1e-7}, "sin' big");
}

TEST_P(UnaryIsa, ValuesNearZeroKeepRelativeAccuracy) {
  Tensor x = tensor({1e-30f, -3e-20f, 1e-8f, -2e-6f}, kFloat32);
  std::vector<double> in = values(x);
  for (const UnaryCase& c : unary_cases()) {
    if (c.name != "tanh" && c.name != "sin" && c.name != "log1p" && c.name != "silu" && c.name != "gelu") continue;
    expect_close(values(c.op(x)), apply_ref(c.ref, in), {3e-6, 0}, c.name + " tiny", &in);
  }
}

TEST(Unary, InPlace) {
  Tensor x = uniform({6, 5}, -3, 3, kFloat32);
  std::vector<double> in = values(x);
  uint32_t v0 = x._version();
  x.exp_();
  EXPECT_EQ(x._version(), v0 + 1);
  expect_close(values(x), apply_ref([](LD v) { return std::exp(v); }, in), tol_for(kFloat32), "exp_");
  // Non-contiguous destination: only the viewed elements change.
  Tensor base = uniform({6, 5}, -3, 3, kFloat32, 3);
  std::vector<double> before = values(base);
  Tensor view = base.t().slice(0, 1, 5, 2);  // [2, 6]
  view.neg_();
  std::vector<double> after = values(base);
  for (int64_t i = 0; i < 6; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      double b = before[size_t(i * 5 + j)], a = after[size_t(i * 5 + j)];
      EXPECT_EQ(a, (j == 1 || j == 3) ? -b : b) << i << "," << j;
    }
  }
  Tensor r = tensor({-1.0f, 2.0f}, kBFloat16);
  r.relu_();
  EXPECT_EQ(values(r), (std::vector<double>{0, 2}));
  Tensor iv = tensor({-3, 4});
  iv.relu_();
  EXPECT_EQ(values(iv), (std::vector<double>{0, 4}));
  Tensor lb = tensor({1.0f, 0.0f});
  raw::unary_(UnaryOp::LogicalNot, lb);
  EXPECT_EQ(values(lb), (std::vector<double>{0, 1}));
}

TEST(Unary, Errors) {
  Tensor i = tensor<int64_t>({1, 2});
  try {
    i.exp_();
    FAIL() << "exp_ on int64 should throw";
  } catch (const DTypeError& e) {
    EXPECT_STREQ(e.what(), "exp_: result type Float can't be cast to the desired output type Long");
  }
  Tensor b = tensor({true});
  try {
    (void)(-b);
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("neg: Negation, the `-` operator, on a bool tensor"), std::string::npos);
  }
  EXPECT_THROW(b.abs(), DTypeError);
  EXPECT_THROW(b.relu(), DTypeError);
  try {
    (void)zeros({3}).gelu("fast");
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("gelu: approximate"), std::string::npos);
  }
  Tensor e = zeros({1}).expand({4});
  try {
    e.neg_();
    FAIL();
  } catch (const ValueError& err) {
    EXPECT_NE(std::string(err.what()).find("neg_: unsupported operation: more than one element"), std::string::npos);
  }
  EXPECT_THROW(Tensor().exp(), ValueError);
}

// ---- unary backward ----

TEST_P(UnaryIsa, BackwardMatchesAnalyticDerivative) {
  for (const UnaryCase& c : unary_cases()) {
    for (DType dt : kFloatTypes) {
      double lo = c.lo, hi = c.hi;
      if (dt == kFloat16 && c.name == "exp") lo = -15, hi = 10;
      if (dt == kFloat16 && (c.name == "reciprocal" || c.name == "rsqrt")) lo = 0.1;
      Tensor x = uniform({500}, lo, hi, dt, 21);
      Tensor g = uniform({500}, -2, 2, dt, 22);
      Tensor gi = raw::unary_backward(c.raw_op, g, x);
      EXPECT_EQ(gi.dtype(), dt);
      std::vector<double> xs = values(x), gs = values(g), want(xs.size());
      for (size_t i = 0; i < xs.size(); ++i) want[i] = double(LD(gs[i]) * c.dref(LD(xs[i])));
      Tol t = unary_tol(c, dt);
      t.atol = std::max(t.atol, c.grad_atol * (dt == kFloat32 ? 1.0 : dt == kFloat64 ? 1e-8 : 1e4));
      if (dt == kFloat32 && c.name != "neg" && c.name != "sign" && c.name != "relu") t.rtol *= 2;  // one more rounding
      expect_close(values(gi), want, t, c.name + "' " + std::string(dtype_name(dt)), &xs);
    }
  }
}

TEST(UnaryBackward, AgreesWithCentralDifferencesOfTheForward) {
  // An independent check of unary_backward against the forward kernels themselves (float64).
  for (const UnaryCase& c : unary_cases()) {
    if (c.name == "sign" || c.name == "abs" || c.name == "relu") continue;  // kinks
    Tensor x = uniform({64}, std::max(c.lo, -8.0), std::min(c.hi, 8.0), kFloat64, 5);
    if (c.name == "log" || c.name == "sqrt" || c.name == "rsqrt" || c.name == "reciprocal") {
      x = uniform({64}, 0.5, 8.0, kFloat64, 5);
    }
    const double h = 1e-6;
    std::vector<double> fd = values((c.op(x + h) - c.op(x - h)) / (2 * h));
    std::vector<double> an = values(raw::unary_backward(c.raw_op, ones({64}, kFloat64), x));
    expect_close(an, fd, {1e-6, 1e-6}, c.name + " finite difference");
  }
}

TEST(UnaryBackward, Errors) {
  EXPECT_THROW(raw::unary_backward(UnaryOp::Exp, ones({3}), tensor({1, 2, 3})), DTypeError);
  try {
    raw::unary_backward(UnaryOp::Tanh, ones({2}), ones({3}));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("tanh_backward: grad_out has shape [2] but the input has shape [3]"),
              std::string::npos);
  }
  EXPECT_THROW(raw::unary_backward(UnaryOp::LogicalNot, ones({2}), ones({2})), ValueError);
}

// ---- binary ops ----

namespace {

struct BinaryCase {
  std::string name;
  std::function<Tensor(const Tensor&, const Tensor&)> op;
  std::function<LD(LD, LD)> ref;
  bool comparison;
};

std::vector<BinaryCase> binary_cases() {
  return {
      {"add", [](const Tensor& a, const Tensor& b) { return a + b; }, [](LD a, LD b) { return a + b; }, false},
      {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }, [](LD a, LD b) { return a - b; }, false},
      {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }, [](LD a, LD b) { return a * b; }, false},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); },
       [](LD a, LD b) { return a > b ? a : b; }, false},
      {"minimum", [](const Tensor& a, const Tensor& b) { return a.minimum(b); },
       [](LD a, LD b) { return a < b ? a : b; }, false},
      {"eq", [](const Tensor& a, const Tensor& b) { return a == b; }, [](LD a, LD b) { return LD(a == b); }, true},
      {"ne", [](const Tensor& a, const Tensor& b) { return a != b; }, [](LD a, LD b) { return LD(a != b); }, true},
      {"lt", [](const Tensor& a, const Tensor& b) { return a < b; }, [](LD a, LD b) { return LD(a < b); }, true},
      {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); }, [](LD a, LD b) { return LD(a <= b); }, true},
      {"gt", [](const Tensor& a, const Tensor& b) { return a > b; }, [](LD a, LD b) { return LD(a > b); }, true},
      {"ge", [](const Tensor& a, const Tensor& b) { return a >= b; }, [](LD a, LD b) { return LD(a >= b); }, true},
      {"logical_and", [](const Tensor& a, const Tensor& b) { return a.logical_and(b); },
       [](LD a, LD b) { return LD(a != 0 && b != 0); }, true},
      {"logical_or", [](const Tensor& a, const Tensor& b) { return logical_or(a, b); },
       [](LD a, LD b) { return LD(a != 0 || b != 0); }, true},
  };
}

// Reference of a broadcast binary op on the host: out[idx] = f(a[idx mapped], b[idx mapped]).
std::vector<double> broadcast_ref(const std::function<LD(LD, LD)>& f, const Tensor& a, const Tensor& b,
                                  IntArrayRef out_shape) {
  std::vector<double> av = values(a), bv = values(b), out(size_t(numel_of(out_shape)));
  auto index_in = [&](const Tensor& t, int64_t linear) {
    int64_t idx = 0, mul = 1;
    int64_t nd = int64_t(out_shape.size()), td = t.dim();
    for (int64_t d = nd - 1; d >= 0; --d) {
      int64_t coord = linear % out_shape[size_t(d)];
      linear /= out_shape[size_t(d)];
      int64_t k = d - (nd - td);
      if (k < 0) continue;
      int64_t size = t.size(k);
      idx += (size == 1 ? 0 : coord) * mul;
      mul *= size;
    }
    return idx;
  };
  for (int64_t i = 0; i < int64_t(out.size()); ++i) {
    out[size_t(i)] = double(f(LD(av[size_t(index_in(a, i))]), LD(bv[size_t(index_in(b, i))])));
  }
  return out;
}

}  // namespace

TEST(Binary, EveryOpEveryDTypeWithBroadcasting) {
  const DType all[] = {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64, kBool};
  for (const BinaryCase& c : binary_cases()) {
    for (DType dt : all) {
      if (dt == kBool && c.name == "sub") continue;
      Tensor a = uniform({3, 1, 5}, -20, 20, dt, 1);
      Tensor b = uniform({4, 1}, -20, 20, dt, 2);
      if (c.comparison) b = b.clone().masked_fill_(uniform({4, 1}, 0, 1, kFloat32, 9) > 0.5, 3.0);  // some equal
      Tensor y = c.op(a, b);
      EXPECT_EQ(y.sizes(), IntArrayRef({3, 4, 5})) << c.name;
      EXPECT_EQ(y.dtype(), c.comparison ? kBool : dt) << c.name;
      Tol t = c.comparison || is_integral(dt, true) ? Tol{0, 0} : tol_for(dt);
      std::vector<double> want = broadcast_ref(c.ref, a, b, {3, 4, 5});
      if (dt == kBool) {
        for (double& w : want) w = w != 0 ? 1.0 : 0.0;  // bool arithmetic saturates (add = or, mul = and)
      }
      expect_close(values(y), want, t, c.name + " " + std::string(dtype_name(dt)));
    }
  }
}

TEST(Binary, DivAndPow) {
  for (DType dt : kFloatTypes) {
    Tensor a = uniform({2, 7}, -5, 5, dt, 3), b = uniform({7}, 0.5, 3, dt, 4);
    Tol t = tol_for(dt);
    expect_close(values(a / b), broadcast_ref([](LD x, LD y) { return x / y; }, a, b, {2, 7}), t, "div");
    expect_close(values(a.abs().pow(b)),
                 broadcast_ref([](LD x, LD y) { return std::pow(std::fabs(x), y); }, a, b, {2, 7}),
                 {t.rtol * 2, t.atol}, "pow");
    for (double e : {2.0, 3.0, 0.5, -0.5, -1.0, -2.0, 1.0, 0.0, 1.7}) {
      Tensor base = a.abs() + 0.1;
      std::vector<double> in = values(base), want(in.size());
      for (size_t i = 0; i < in.size(); ++i) want[i] = double(std::pow(LD(in[i]), LD(e)));
      expect_close(values(base.pow(e)), want, {t.rtol * 2, t.atol}, "pow scalar " + std::to_string(e));
    }
  }
  Tensor i = tensor<int64_t>({-3, 0, 2, 5}), e = tensor<int64_t>({3, 0, 10, 2});
  EXPECT_EQ(values(i.pow(e)), (std::vector<double>{-27, 1, 1024, 25}));
  EXPECT_EQ(values(i.pow(2)), (std::vector<double>{9, 0, 4, 25}));
  EXPECT_EQ(i.pow(2).dtype(), kInt64);
  EXPECT_EQ(values(pow(2, tensor({0, 3, 10}))), (std::vector<double>{1, 8, 1024}));
  EXPECT_EQ(pow(2, tensor({0, 3, 10})).dtype(), kInt32);
  EXPECT_EQ(values(tensor({1, -1, 2, -1}).pow(tensor({-1, -3, -1, -2}))), (std::vector<double>{1, -1, 0, 1}));
  EXPECT_EQ(i.pow(0.5).dtype(), kFloat32);
  EXPECT_EQ(values(tensor({7, -7}) / tensor({2, 2})), (std::vector<double>{3.5, -3.5}));
  std::vector<double> z = values(tensor({1.0f, -1.0f, 0.0f}) / 0.0);
  EXPECT_EQ(z[0], kInf);
  EXPECT_EQ(z[1], -kInf);
  EXPECT_TRUE(std::isnan(z[2]));
}

TEST(Binary, ScalarOperandsBothSides) {
  for (DType dt : {kFloat32, kFloat16, kInt32, kInt64}) {
    Tensor a = uniform({9}, 1, 9, dt, 5);
    std::vector<double> in = values(a);
    auto check = [&](const Tensor& y, const std::function<double(double)>& f, const std::string& what) {
      std::vector<double> want(in.size());
      for (size_t i = 0; i < in.size(); ++i) want[i] = f(in[i]);
      Tol t = is_floating_point(y.dtype()) ? tol_for(y.dtype()) : Tol{0, 0};
      expect_close(values(y), want, t, what + " " + std::string(dtype_name(dt)));
    };
    check(a + 3, [](double v) { return v + 3; }, "t+s");
    check(3 + a, [](double v) { return 3 + v; }, "s+t");
    check(a - 3, [](double v) { return v - 3; }, "t-s");
    check(10 - a, [](double v) { return 10 - v; }, "s-t");
    check(a * 3, [](double v) { return v * 3; }, "t*s");
    check(3 * a, [](double v) { return 3 * v; }, "s*t");
    check(a / 4, [](double v) { return v / 4; }, "t/s");
    check(12 / a, [](double v) { return 12 / v; }, "s/t");
    check(a.add(2, 3), [](double v) { return v + 6; }, "add alpha");
    check(a.sub(2, 3), [](double v) { return v - 6; }, "sub alpha");
    check(maximum(a, full({1}, 5, dt)), [](double v) { return std::max(v, 5.0); }, "max bcast");
    EXPECT_EQ((a * 3).dtype(), dt);
    EXPECT_EQ((a / 4).dtype(), is_floating_point(dt) ? dt : kFloat32);
  }
  Tensor f = uniform({5}, -1, 1, kFloat32);
  expect_close(values(f + 0.1), broadcast_ref([](LD x, LD) { return LD(float(x + LD(0.1f))); }, f, f, {5}),
               tol_for(kFloat32), "float + double scalar computes in float32");
  EXPECT_EQ((tensor({1, 2}) + 2.5).dtype(), kFloat32);
  EXPECT_EQ(values(tensor({1, 2}) + 2.5), (std::vector<double>{3.5, 4.5}));
}

TEST(Binary, AlphaTensorForm) {
  Tensor a = uniform({4, 3}, -2, 2, kFloat32, 8), b = uniform({3}, -2, 2, kFloat32, 9);
  expect_close(values(add(a, b, 0.5)), broadcast_ref([](LD x, LD y) { return x + 0.5L * y; }, a, b, {4, 3}),
               tol_for(kFloat32), "add alpha");
  expect_close(values(sub(a, b, -2)), broadcast_ref([](LD x, LD y) { return x + 2 * y; }, a, b, {4, 3}),
               tol_for(kFloat32), "sub alpha");
  Tensor i = tensor({1, 2}), j = tensor({10, 20});
  EXPECT_EQ(values(i.add(j, 3)), (std::vector<double>{31, 62}));
  try {
    (void)i.add(j, 1.5);
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_STREQ(e.what(), "add: For integral input tensors, argument alpha must not be a floating point number.");
  }
  EXPECT_THROW(i.add(2, 1.5), DTypeError);
}

TEST(Binary, BoolArithmetic) {
  Tensor a = tensor({true, true, false, false}), b = tensor({true, false, true, false});
  EXPECT_EQ((a + b).dtype(), kBool);
  EXPECT_EQ(values(a + b), (std::vector<double>{1, 1, 1, 0}));
  EXPECT_EQ(values(a * b), (std::vector<double>{1, 0, 0, 0}));
  EXPECT_EQ(values(maximum(a, b)), (std::vector<double>{1, 1, 1, 0}));
  EXPECT_EQ(values(minimum(a, b)), (std::vector<double>{1, 0, 0, 0}));
  EXPECT_EQ((a / b).dtype(), kFloat32);
  EXPECT_EQ((a + 1).dtype(), kInt64);
  EXPECT_EQ(values(a + 1), (std::vector<double>{2, 2, 1, 1}));
  try {
    (void)(a - b);
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_STREQ(e.what(),
                 "sub: Subtraction, the `-` operator, with two bool tensors is not supported. Use the `^` or "
                 "`logical_xor()` operator instead.");
  }
  try {
    (void)(a - 1);
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("sub: Subtraction, the `-` operator, with a bool tensor is not supported"),
              std::string::npos);
  }
  EXPECT_THROW(a.pow(b), DTypeError);
  EXPECT_EQ(values(a.pow(2)), (std::vector<double>{1, 1, 0, 0}));
}

TEST(Binary, IntegerWrapAround) {
  Tensor a = tensor({std::numeric_limits<int32_t>::max()}), one = tensor({1});
  EXPECT_EQ(values(a + one)[0], double(std::numeric_limits<int32_t>::min()));
  EXPECT_EQ(values(tensor({std::numeric_limits<int32_t>::min()}).neg())[0], double(std::numeric_limits<int32_t>::min()));
}

TEST(Binary, NaNPropagationAndComparisons) {
  Tensor a = tensor({1.0f, kNaNf, 2.0f, kNaNf}), b = tensor({kNaNf, 1.0f, 1.0f, kNaNf});
  std::vector<double> mx = values(maximum(a, b)), mn = values(minimum(a, b));
  EXPECT_TRUE(std::isnan(mx[0]) && std::isnan(mx[1]) && std::isnan(mx[3]));
  EXPECT_EQ(mx[2], 2.0);
  EXPECT_TRUE(std::isnan(mn[0]) && std::isnan(mn[1]));
  EXPECT_EQ(mn[2], 1.0);
  EXPECT_EQ(values(a == b), (std::vector<double>{0, 0, 0, 0}));
  EXPECT_EQ(values(a != b), (std::vector<double>{1, 1, 1, 1}));
  EXPECT_EQ(values(a < 3.0), (std::vector<double>{1, 0, 1, 0}));
  EXPECT_EQ(values(a.logical_and(b)), (std::vector<double>{1, 1, 1, 1}));  // NaN is nonzero
  EXPECT_EQ(values(logical_not(tensor({0.0f, 2.0f, kNaNf}))), (std::vector<double>{1, 0, 0}));
}

TEST(Binary, NonContiguousAndScalarBroadcastInputs) {
  for (DType dt : {kFloat32, kFloat16, kInt64}) {
    Tensor base = uniform({40, 30}, -9, 9, dt, 13), other = uniform({30, 40}, -9, 9, dt, 14);
    Tensor a = base.t();                          // [30, 40] transposed
    Tensor b = other.slice(1, 0, 40, 1);          // contiguous
    Tensor c = uniform({1}, -9, 9, dt, 15).expand({30, 40});  // stride-0 scalar broadcast
    Tensor d = uniform({30, 80}, -9, 9, dt, 16).slice(1, 0, 80, 2);  // step 2
    Tol t = is_floating_point(dt) ? tol_for(dt) : Tol{0, 0};
    auto add = [](LD x, LD y) { return x + y; };
    auto mul = [](LD x, LD y) { return x * y; };
    expect_close(values(a + b), broadcast_ref(add, a, b, {30, 40}), t, "t + c");
    expect_close(values(b * a), broadcast_ref(mul, b, a, {30, 40}), t, "c * t");
    expect_close(values(a + c), broadcast_ref(add, a, c, {30, 40}), t, "t + scalar-bcast");
    expect_close(values(c * b), broadcast_ref(mul, c, b, {30, 40}), t, "scalar-bcast * c");
    expect_close(values(d + a), broadcast_ref(add, d, a, {30, 40}), t, "strided + t");
    Tensor big = uniform({1000003}, -9, 9, dt, 17), s = uniform({1}, -9, 9, dt, 18);
    expect_close(values(big * s), broadcast_ref(mul, big, s, {1000003}), t, "big * [1]");
    expect_close(values(s + big), broadcast_ref(add, s, big, {1000003}), t, "[1] + big");
  }
}

TEST(Binary, LargeNonContiguousRunsInParallel) {
  // ~1M elements over many strided runs: for_each_run splits the runs across threads.
  Tensor a = uniform({1200, 901}, -5, 5, kFloat32, 31).t();  // [901, 1200], transposed
  Tensor b = uniform({901, 1200}, -5, 5, kFloat32, 32);
  Tensor c = uniform({901, 2400}, -5, 5, kBFloat16, 33).slice(1, 0, 2400, 2);
  auto add = [](LD x, LD y) { return x + y; };
  expect_close(values(a + b), broadcast_ref(add, a, b, {901, 1200}), tol_for(kFloat32), "big t + c");
  Tensor ct = a.to(kBFloat16);
  expect_close(values(c * ct), broadcast_ref([](LD x, LD y) { return x * y; }, c, ct, {901, 1200}),
               tol_for(kBFloat16), "big strided bf16 * t");
  Tensor both = a + a;  // both operands transposed: the output takes their layout
  EXPECT_EQ(both.strides(), a.strides());
  expect_close(values(both), broadcast_ref(add, a, a, {901, 1200}), tol_for(kFloat32), "t + t");
}

TEST(Binary, InPlaceForms) {
  for (DType dt : {kFloat32, kBFloat16, kInt32}) {
    Tensor base = uniform({8, 6}, -5, 5, dt, 1);
    std::vector<double> before = values(base);
    Tensor other = uniform({6}, -5, 5, dt, 2);
    std::vector<double> ov = values(other);
    Tensor view = base.t();          // [6, 8], non-contiguous destination
    Tensor o2 = other.unsqueeze(1);  // [6, 1] broadcasts over it
    uint32_t v0 = base._version();
    view.add_(o2, 2);
    EXPECT_EQ(base._version(), v0 + 1);
    std::vector<double> after = values(base);
    Tol t = is_floating_point(dt) ? tol_for(dt) : Tol{0, 0};
    std::vector<double> want(before.size());
    for (int64_t i = 0; i < 8; ++i) {
      for (int64_t j = 0; j < 6; ++j) {
        size_t k = size_t(i * 6 + j);
        want[k] = double(float(before[k] + 2 * ov[size_t(j)]));
        if (dt == kBFloat16) want[k] = double(float(BFloat16(float(before[k] + 2 * ov[size_t(j)]))));
      }
    }
    expect_close(after, want, t, "add_ transposed " + std::string(dtype_name(dt)));
    Tensor x = uniform({5, 4}, 1, 5, dt, 3);
    std::vector<double> xv = values(x);
    x *= 2;
    x -= x.slice(0, 0, 1);  // partially aliasing other: must read the old row 0 everywhere
    std::vector<double> got = values(x);
    for (int64_t i = 0; i < 5; ++i) {
      for (int64_t j = 0; j < 4; ++j) {
        double w = 2 * xv[size_t(i * 4 + j)] - 2 * xv[size_t(j)];
        EXPECT_NEAR(got[size_t(i * 4 + j)], w, std::fabs(w) * t.rtol + 1e-6) << i << "," << j;
      }
    }
    Tensor y = uniform({7}, 1, 5, dt, 4);
    std::vector<double> yv = values(y);
    y += y;  // exact alias
    for (size_t i = 0; i < yv.size(); ++i) EXPECT_EQ(values(y)[i], 2 * yv[i]);
  }
  Tensor i32 = tensor({1, 2});
  i32 += tensor({int64_t(5), int64_t(6)});  // int64 result castable to int32
  EXPECT_EQ(i32.dtype(), kInt32);
  EXPECT_EQ(values(i32), (std::vector<double>{6, 8}));
  Tensor f = tensor({1.0f, 2.0f});
  f /= tensor({2, 4});
  EXPECT_EQ(values(f), (std::vector<double>{0.5, 0.5}));
  f.pow_(2);
  EXPECT_EQ(values(f), (std::vector<double>{0.25, 0.25}));
  Tensor eqd = tensor({1.0f, 2.0f});
  raw::binary_(BinaryOp::Eq, eqd, 1.0);
  EXPECT_EQ(values(eqd), (std::vector<double>{1, 0}));
}

TEST(Binary, Errors) {
  try {
    (void)(ones({2, 3}) + ones({4, 3}));
    FAIL();
  } catch (const ShapeError& e) {
    std::string m = e.what();
    EXPECT_EQ(m.rfind("add: ", 0), 0u) << m;
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4, 3]"), std::string::npos) << m;
  }
  try {
    Tensor t = ones({2, 3});
    t.mul_(ones({4, 2, 3}));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_STREQ(e.what(), "mul_: output with shape [2, 3] doesn't match the broadcast shape [4, 2, 3]");
  }
  try {
    Tensor t = tensor<int64_t>({1, 2});
    t.add_(1.5);
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_STREQ(e.what(), "add_: result type Float can't be cast to the desired output type Long");
  }
  try {
    Tensor t = tensor<int64_t>({1, 2});
    t /= 2;
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_STREQ(e.what(), "div_: result type Float can't be cast to the desired output type Long");
  }
  try {
    Tensor t = tensor({true});
    t.add_(tensor<int64_t>({1}));
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_STREQ(e.what(), "add_: result type Long can't be cast to the desired output type Bool");
  }
  try {
    (void)tensor<int64_t>({1, 2}).pow(-1);
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "pow: Integers to negative integer powers are not allowed.");
  }
  Tensor e = zeros({1}).expand({3});
  EXPECT_THROW(e.add_(1.0), ValueError);
  EXPECT_THROW(Tensor() + ones({1}), ValueError);
}

// ---- where, clamp, masked_fill ----

TEST(Where, BroadcastsAllThreeAndPromotes) {
  Tensor cond = uniform({3, 1, 4}, 0, 2, kBool, 1);
  Tensor a = uniform({5, 1}, -9, 9, kInt32, 2);
  Tensor b = uniform({4}, -9, 9, kFloat16, 3);
  Tensor y = where(cond, a, b);
  EXPECT_EQ(y.sizes(), IntArrayRef({3, 5, 4}));
  EXPECT_EQ(y.dtype(), kFloat16);
  std::vector<double> cv = values(cond), av = values(a), bv = values(b), got = values(y);
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < 5; ++j) {
      for (int64_t k = 0; k < 4; ++k) {
        double want = cv[size_t(i * 4 + k)] != 0 ? av[size_t(j)] : bv[size_t(k)];
        EXPECT_EQ(got[size_t((i * 5 + j) * 4 + k)], want);
      }
    }
  }
  for (DType dt : {kFloat32, kFloat64, kBFloat16, kInt64, kBool}) {
    Tensor x = uniform({6, 7}, -9, 9, dt, 4), z = uniform({7, 6}, -9, 9, dt, 5).t();
    Tensor c = uniform({6, 7}, 0, 2, kBool, 6);
    std::vector<double> xv = values(x), zv = values(z), cv2 = values(c), r = values(where(c, x, z));
    for (size_t i = 0; i < r.size(); ++i) EXPECT_EQ(r[i], cv2[i] != 0 ? xv[i] : zv[i]);
  }
  EXPECT_EQ(where(tensor({true, false}), tensor({1, 2}, kInt32), 2.5).dtype(), kFloat32);
  EXPECT_EQ(values(where(tensor({true, false}), tensor({1, 2}, kInt32), 2.5)), (std::vector<double>{1, 2.5}));
  EXPECT_EQ(where(tensor({true, false}), 0.5, tensor({1.0f, 2.0f}, kBFloat16)).dtype(), kBFloat16);
  try {
    (void)where(tensor({1.0f, 0.0f}), ones({2}), ones({2}));
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_STREQ(e.what(), "where: expected condition to be a boolean tensor, but got a tensor with dtype Float");
  }
  EXPECT_THROW(where(tensor({true, false}), ones({3}), ones({2})), ShapeError);
}

TEST(Clamp, BoundsPromotionNaNAndInPlace) {
  for (DType dt : {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64}) {
    Tensor x = uniform({50}, -10, 10, dt, 2);
    std::vector<double> xv = values(x);
    std::vector<double> both = values(x.clamp(-3, 4)), lo = values(x.clamp_min(-2)), hi = values(clamp(x, {}, 1));
    for (size_t i = 0; i < xv.size(); ++i) {
      EXPECT_EQ(both[i], std::min(std::max(xv[i], -3.0), 4.0));
      EXPECT_EQ(lo[i], std::max(xv[i], -2.0));
      EXPECT_EQ(hi[i], std::min(xv[i], 1.0));
    }
    EXPECT_EQ(x.clamp(-3, 4).dtype(), dt);
  }
  EXPECT_EQ(tensor({1, 2, 3}).clamp(1.5).dtype(), kFloat32);
  EXPECT_EQ(values(tensor({1, 2, 3}).clamp(1.5)), (std::vector<double>{1.5, 2, 3}));
  EXPECT_EQ(values(tensor({true, false}).clamp(0)), (std::vector<double>{1, 0}));
  EXPECT_EQ(tensor({true, false}).clamp(0).dtype(), kInt64);
  std::vector<double> n = values(tensor({1.0f, kNaNf, -5.0f}).clamp(0, 0.5));
  EXPECT_EQ(n[0], 0.5);
  EXPECT_TRUE(std::isnan(n[1]));
  EXPECT_EQ(n[2], 0.0);
  EXPECT_EQ(values(tensor({1.0f, 2.0f}).clamp(3, 0.5)), (std::vector<double>{0.5, 0.5}));  // min > max -> max
  Tensor base = uniform({4, 6}, -5, 5, kFloat32, 3);
  std::vector<double> bv = values(base);
  base.t().clamp_(-1, 1);
  std::vector<double> av = values(base);
  for (size_t i = 0; i < bv.size(); ++i) EXPECT_EQ(av[i], std::min(std::max(bv[i], -1.0), 1.0));
  try {
    Tensor i = tensor<int64_t>({1, 2});
    i.clamp_(0.5);
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_STREQ(e.what(), "clamp_: result type Float can't be cast to the desired output type Long");
  }
  EXPECT_THROW(ones({2}).clamp(std::nullopt, std::nullopt), ValueError);
}

TEST(MaskedFill, BroadcastMaskAllDTypes) {
  for (DType dt : {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64, kBool}) {
    Tensor x = uniform({3, 4}, -9, 9, dt, 1);
    Tensor mask = tensor({true, false, false, true});  // [4] broadcasts over rows
    std::vector<double> xv = values(x), got = values(x.masked_fill(mask, 1));
    for (size_t i = 0; i < xv.size(); ++i) EXPECT_EQ(got[i], (i % 4 == 0 || i % 4 == 3) ? 1.0 : xv[i]);
  }
  EXPECT_EQ(values(tensor({1, 2}).masked_fill(tensor({true, false}), 0.5)), (std::vector<double>{0, 2}));
  EXPECT_EQ(values(tensor({1.0f, 2.0f}).masked_fill(tensor({true, false}), -kInf))[0], -kInf);
  // Out-of-place with a mask larger than x broadcasts x.
  EXPECT_EQ(tensor({1.0f, 2.0f}).masked_fill(tensor({true, false}).view({2, 1}).expand({2, 2}).contiguous(), 7).sizes(),
            IntArrayRef({2, 2}));
  Tensor base = zeros({4, 5});
  Tensor m = uniform({5, 4}, 0, 2, kBool, 3);
  std::vector<double> mv = values(m);
  uint32_t v0 = base._version();
  base.t().masked_fill_(m, 2.0);
  EXPECT_EQ(base._version(), v0 + 1);
  std::vector<double> got = values(base.t());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], mv[i] != 0 ? 2.0 : 0.0);
  try {
    (void)ones({2}).masked_fill(tensor<int64_t>({1, 0}), 3);
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_STREQ(e.what(), "masked_fill: only supports boolean masks, but got mask with dtype int64");
  }
  try {
    Tensor t = ones({2});
    t.masked_fill_(tensor({true, false}).view({2, 1}), 3);
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("masked_fill_: mask of shape [2, 1] cannot be broadcast"), std::string::npos);
  }
}

TEST(FreeFunctions, ForwardToTheMethods) {
  Tensor a = uniform({5}, 0.5, 2, kFloat32, 1), b = uniform({5}, 0.5, 2, kFloat32, 2);
  EXPECT_TRUE(same(add(a, b), a + b));
  EXPECT_TRUE(same(sub(a, 1.0), a - 1.0));
  EXPECT_TRUE(same(mul(a, b), a * b));
  EXPECT_TRUE(same(div(a, b), a / b));
  EXPECT_TRUE(same(pow(a, b), a.pow(b)));
  EXPECT_TRUE(same(minimum(a, b), a.minimum(b)));
  EXPECT_TRUE(same(neg(a), -a));
  EXPECT_TRUE(same(abs(a), a.abs()));
  EXPECT_TRUE(same(log(a), a.log()));
  EXPECT_TRUE(same(log1p(a), a.log1p()));
  EXPECT_TRUE(same(rsqrt(a), a.rsqrt()));
  EXPECT_TRUE(same(square(a), a.square()));
  EXPECT_TRUE(same(reciprocal(a), a.reciprocal()));
  EXPECT_TRUE(same(sign(a), a.sign()));
  EXPECT_TRUE(same(sigmoid(a), a.sigmoid()));
  EXPECT_TRUE(same(gelu(a), a.gelu()));
  EXPECT_TRUE(same(sin(a), a.sin()));
  EXPECT_TRUE(same(masked_fill(a, a > 1.0, 0), a.masked_fill(a > 1.0, 0)));
  EXPECT_TRUE(same(eq(a, b), a == b));
  EXPECT_TRUE(same(ne(a, 1.0), a != 1.0));
  EXPECT_TRUE(same(lt(a, b), a < b));
  EXPECT_TRUE(same(gt(a, 1.0), a > 1.0));
  EXPECT_TRUE(same(ge(a, b), a >= b));
  EXPECT_TRUE(same(le(a, 1.0), a <= 1.0));
  Tensor c = a.clone();
  c += 1;
  EXPECT_TRUE(same(c, a + 1));
  c = a.clone();
  c -= b;
  EXPECT_TRUE(same(c, a - b));
  c = a.clone();
  c *= b;
  EXPECT_TRUE(same(c, a * b));
  c = a.clone();
  c.mul_(3).div_(3.0).sub_(1, 2).add_(b, 2);
  expect_close(values(c), values(a - 2 + 2 * b), tol_for(kFloat32), "chained in-place");
}
