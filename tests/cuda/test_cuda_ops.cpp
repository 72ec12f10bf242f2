// CUDA backend tests (suite `gpu`): every primitive against a float64 host reference (or the CPU
// backend where noted) on fresh random inputs, poisoned outputs, odd sizes and non-contiguous
// inputs; the Philox stream bit for bit against the host implementation; allocator behaviour.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "cuda_test_util.h"
#include "tessera/cuda/kernels/philox.h"

using namespace tessera;
using namespace cuda_test;

namespace {
Backend& gpu() { return backend_for(kDev); }
Backend& cpu() { return backend_for(Device::cpu()); }
const std::vector<int64_t> kSizes = {1, 7, 1000003};
}  // namespace

// ------------------------------------------------------------------------------------ device
TEST(CudaDevice, RegisteredAndSynchronizes) {
  REQUIRE_CUDA();
  EXPECT_TRUE(has_backend(kCUDA));
  EXPECT_GE(cuda::device_count(), 1);
  EXPECT_EQ(cuda::unavailable_reason(), "");
  cuda::synchronize();
}

TEST(CudaAllocator, CachesReusesAndReportsStats) {
  REQUIRE_CUDA();
  cuda::synchronize();
  cuda::empty_cache();  // so the next 4 MiB request must come from cudaMalloc, and its reuse from the cache
  size_t base_alloc = cuda::memory_allocated();
  void* first = nullptr;
  {
    Tensor t = raw::empty({1 << 20}, TensorOptions(kFloat32).device(kDev));  // 4 MiB
    first = t.data_ptr();
    EXPECT_GE(cuda::memory_allocated(), base_alloc + (4u << 20));
    EXPECT_GE(cuda::memory_reserved(), cuda::memory_allocated());
    EXPECT_GE(cuda::max_memory_allocated(), cuda::memory_allocated());
  }
  EXPECT_EQ(cuda::memory_allocated(), base_alloc);
  size_t reserved = cuda::memory_reserved();
  auto hits = cuda::memory_stats().num_cache_hits;
  {
    Tensor t = raw::empty({1 << 20}, TensorOptions(kFloat32).device(kDev));
    EXPECT_EQ(t.data_ptr(), first) << "a freed block of the same size class is reused";
    EXPECT_EQ(cuda::memory_reserved(), reserved);
    EXPECT_EQ(cuda::memory_stats().num_cache_hits, hits + 1);
  }
  cuda::empty_cache();
  EXPECT_LT(cuda::memory_reserved(), reserved);
}

TEST(CudaAllocator, OutOfMemoryNamesSizes) {
  REQUIRE_CUDA();
  try {
    Tensor t = raw::empty({int64_t(1) << 48}, TensorOptions(kFloat32).device(kDev));  // 1 PiB
    FAIL() << "expected an out-of-memory error";
  } catch (const RuntimeError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("out of memory"), std::string::npos) << m;
    EXPECT_NE(m.find("tried to allocate"), std::string::npos) << m;
    EXPECT_NE(m.find("allocated"), std::string::npos) << m;
    EXPECT_NE(m.find("reserved"), std::string::npos) << m;
  }
  // the device is still usable
  Tensor t = raw::full({3}, 2.0, TensorOptions(kFloat32).device(kDev));
  expect_close(t, std::vector<double>{2, 2, 2}, {0, 0}, "after OOM");
}

TEST(CudaErrors, UnsupportedDTypeNamesTheOp) {
  REQUIRE_CUDA();
  Tensor a = raw::full({2, 3}, true, TensorOptions(kBool).device(kDev));
  Tensor idx = raw::to(from_vector<int64_t>({0, 1}, {2}), kDev, kInt64);
  try {
    gpu().index_add(a, 0, idx, a);
    FAIL() << "expected a DTypeError";
  } catch (const DTypeError& e) {
    EXPECT_NE(std::string(e.what()).find("index_add_"), std::string::npos) << e.what();
  }
  Tensor i32 = raw::full({4}, 1, TensorOptions(kInt32).device(kDev));
  EXPECT_THROW(gpu().gemm(raw::view(i32, {1, 2, 2}), raw::view(i32, {1, 2, 2}), raw::view(i32, {1, 2, 2}), 1, 0),
               DTypeError);
}

// -------------------------------------------------------------------------------- copy / fill
TEST(CudaCopy, RoundTripEveryDTypeAndSize) {
  REQUIRE_CUDA();
  for (DType dt : kAllTypes) {
    for (int64_t n : kSizes) {
      Tensor h = random_cpu({n}, dt);
      Tensor d = poisoned({n}, dt);
      raw::copy_(d, h);
      Tensor back = poisoned({n}, dt, Device::cpu());
      raw::copy_(back, d);
      EXPECT_EQ(std::memcmp(back.data_ptr(), h.data_ptr(), h.nbytes()), 0) << dn(dt) << " n=" << n;
    }
  }
}

TEST(CudaCopy, CastsEveryDTypePairOnDeviceNonContiguous) {
  REQUIRE_CUDA();
  for (DType from : kAllTypes) {
    Tensor h = random_cpu({37, 29}, from);
    Tensor d = to_cuda(h, /*noncontig=*/true);
    ASSERT_FALSE(d.is_contiguous());
    for (DType to : kAllTypes) {
      Tensor out = poisoned({37, 29}, to);
      gpu().copy(out, d);
      Tensor want = poisoned({37, 29}, to, Device::cpu());
      cpu().copy(want, h);
      expect_close(out, want, {0, 0}, "copy " + dn(from) + " -> " + dn(to));
    }
  }
}

TEST(CudaCopy, StridedAndBroadcastAcrossDevices) {
  REQUIRE_CUDA();
  for (DType dt : {kFloat32, kBFloat16, kInt64}) {
    Tensor h = random_cpu({5, 1, 7}, dt);
    Tensor hx = raw::expand(h, {5, 3, 7});  // stride-0 source
    // host (expanded, cast) -> device (transposed destination)
    Tensor dbase = poisoned({7, 3, 5}, kFloat64);
    Tensor dview = raw::permute(dbase, {2, 1, 0});
    raw::copy_(dview, hx);
    Tensor want = raw::to(raw::contiguous(hx), Device::cpu(), kFloat64);
    expect_close(dview, want, {0, 0}, "H2D strided " + dn(dt));
    // device (strided) -> host (strided, cast back)
    Tensor hbase = poisoned({7, 3, 5}, dt, Device::cpu());
    Tensor hview = raw::permute(hbase, {2, 1, 0});
    raw::copy_(hview, dview);
    expect_close(hview, want, {0, 0}, "D2H strided " + dn(dt));
  }
}

TEST(CudaFill, EveryDTypeNonContiguous) {
  REQUIRE_CUDA();
  for (DType dt : kAllTypes) {
    Tensor base = poisoned({9, 1001}, dt);
    Tensor view = raw::slice(base, 1, 3, 1000, 3);
    Scalar v = dt == kBool ? Scalar(true) : is_integral(dt) ? Scalar(int64_t(-7)) : Scalar(1.25);
    gpu().fill(view, v);
    std::vector<double> want(size_t(view.numel()), dt == kBool ? 1.0 : is_integral(dt) ? -7.0 : 1.25);
    expect_close(view, want, {0, 0}, "fill " + dn(dt));
    // elements between the slice keep their poison
    std::vector<double> all = values(base);
    if (is_floating_point(dt)) {
      EXPECT_TRUE(std::isnan(all[0]) && std::isnan(all[4])) << dn(dt);
    }
  }
}

// -------------------------------------------------------------------------------- elementwise
namespace {
double ref_unary(UnaryOp op, double x) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Abs: return std::abs(x);
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Log1p: return std::log1p(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Rsqrt: return 1 / std::sqrt(x);
    case UnaryOp::Square: return x * x;
    case UnaryOp::Reciprocal: return 1 / x;
    case UnaryOp::Sign: return double((x > 0) - (x < 0));
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Sigmoid: return 1 / (1 + std::exp(-x));
    case UnaryOp::Relu: return x > 0 ? x : 0;
    case UnaryOp::GeluErf: return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case UnaryOp::GeluTanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case UnaryOp::Silu: return x / (1 + std::exp(-x));
    case UnaryOp::Sin: return std::sin(x);
    case UnaryOp::Cos: return std::cos(x);
    case UnaryOp::LogicalNot: return x == 0 ? 1 : 0;
  }
  return 0;
}
// d op / dx, by central differences of ref_unary in float64 (independent of the kernels' formulas).
double ref_unary_grad(UnaryOp op, double x) {
  if (op == UnaryOp::Sign) return 0;
  if (op == UnaryOp::Relu) return x > 0 ? 1 : 0;
  if (op == UnaryOp::Abs) return x > 0 ? 1 : x < 0 ? -1 : 0;
  double h = 1e-6 * std::max(1.0, std::abs(x));
  return (ref_unary(op, x + h) - ref_unary(op, x - h)) / (2 * h);
}
bool positive_domain(UnaryOp op) {
  return op == UnaryOp::Log || op == UnaryOp::Log1p || op == UnaryOp::Sqrt || op == UnaryOp::Rsqrt;
}
const std::vector<UnaryOp> kUnaryOps = {
    UnaryOp::Neg,  UnaryOp::Abs,     UnaryOp::Exp,  UnaryOp::Log,     UnaryOp::Log1p,    UnaryOp::Sqrt,
    UnaryOp::Rsqrt, UnaryOp::Square, UnaryOp::Reciprocal, UnaryOp::Sign, UnaryOp::Tanh, UnaryOp::Sigmoid,
    UnaryOp::Relu, UnaryOp::GeluErf, UnaryOp::GeluTanh, UnaryOp::Silu, UnaryOp::Sin, UnaryOp::Cos,
    UnaryOp::LogicalNot};
}  // namespace

TEST(CudaUnary, EveryOpEveryFloatDType) {
  REQUIRE_CUDA();
  for (UnaryOp op : kUnaryOps) {
    for (DType dt : kFloatTypes) {
      for (bool nc : {false, true}) {
        int64_t rows = nc ? 33 : 1, cols = nc ? 65 : 1000003;
        Tensor h = positive_domain(op) ? random_cpu({rows, cols}, dt, 0.1, 3.0) : random_cpu({rows, cols}, dt);
        Tensor d = to_cuda(h, nc);
        DType odt = op == UnaryOp::LogicalNot ? kBool : dt;
        Tensor out = poisoned({rows, cols}, odt);
        gpu().unary(op, out, d);
        std::vector<double> x = values(h), want(x.size());
        for (size_t i = 0; i < x.size(); ++i) want[i] = round_to(ref_unary(op, x[i]), odt);
        Tol tol = tol_for(odt);
        if (dt == kFloat32) tol = {1e-5, 1e-6};
        expect_close(out, want, tol, std::string(unary_op_name(op)) + " " + dn(dt) + (nc ? " noncontig" : ""));
      }
    }
  }
}

TEST(CudaUnary, IntegerAndBoolOps) {
  REQUIRE_CUDA();
  for (DType dt : {kInt32, kInt64}) {
    for (UnaryOp op : {UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Square, UnaryOp::Sign, UnaryOp::Relu,
                       UnaryOp::LogicalNot}) {
      Tensor h = random_cpu({7, 9}, dt);
      DType odt = op == UnaryOp::LogicalNot ? kBool : dt;
      Tensor out = poisoned({7, 9}, odt);
      gpu().unary(op, out, to_cuda(h, true));
      std::vector<double> x = values(h), want(x.size());
      for (size_t i = 0; i < x.size(); ++i) want[i] = ref_unary(op, x[i]);
      expect_close(out, want, {0, 0}, std::string(unary_op_name(op)) + " " + dn(dt));
    }
  }
}

TEST(CudaUnary, BackwardEveryOp) {
  REQUIRE_CUDA();
  for (UnaryOp op : kUnaryOps) {
    if (op == UnaryOp::LogicalNot) continue;
    for (DType dt : kFloatTypes) {
      Tensor hx = positive_domain(op) ? random_cpu({17, 31}, dt, 0.2, 3.0) : random_cpu({17, 31}, dt);
      Tensor hg = random_cpu({17, 31}, dt);
      Tensor out = poisoned({17, 31}, dt);
      gpu().unary_backward(op, out, to_cuda(hg, true), to_cuda(hx));
      std::vector<double> x = values(hx), g = values(hg), want(x.size());
      for (size_t i = 0; i < x.size(); ++i) want[i] = g[i] * ref_unary_grad(op, x[i]);
      Tol tol = tol_for(dt);
      if (dt == kFloat32 || dt == kFloat64) tol = {1e-5, 1e-5};  // the reference is a finite difference
      expect_close(out, want, tol, std::string(unary_op_name(op)) + "_backward " + dn(dt));
    }
  }
}

namespace {
double ref_binary(BinaryOp op, double a, double b, double alpha) {
  switch (op) {
    case BinaryOp::Add: return a + alpha * b;
    case BinaryOp::Sub: return a - alpha * b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Pow: return std::pow(a, b);
    case BinaryOp::Maximum: return std::max(a, b);
    case BinaryOp::Minimum: return std::min(a, b);
    case BinaryOp::Eq: return a == b;
    case BinaryOp::Ne: return a != b;
    case BinaryOp::Lt: return a < b;
    case BinaryOp::Le: return a <= b;
    case BinaryOp::Gt: return a > b;
    case BinaryOp::Ge: return a >= b;
    case BinaryOp::LogicalAnd: return a != 0 && b != 0;
    case BinaryOp::LogicalOr: return a != 0 || b != 0;
  }
  return 0;
}
const std::vector<BinaryOp> kBinaryOps = {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div,
                                          BinaryOp::Pow, BinaryOp::Maximum, BinaryOp::Minimum, BinaryOp::Eq,
                                          BinaryOp::Ne, BinaryOp::Lt, BinaryOp::Le, BinaryOp::Gt,
                                          BinaryOp::Ge, BinaryOp::LogicalAnd, BinaryOp::LogicalOr};
}  // namespace

TEST(CudaBinary, EveryOpEveryDTypeBroadcast) {
  REQUIRE_CUDA();
  for (BinaryOp op : kBinaryOps) {
    for (DType dt : kAllTypes) {
      bool arith = !is_comparison(op);
      if (dt == kBool && arith) continue;
      if (is_integral(dt) && (op == BinaryOp::Div || op == BinaryOp::Pow)) continue;  // promoted to float by raw
      bool pow = op == BinaryOp::Pow;
      Tensor ha = pow ? random_cpu({23, 41}, dt, 0.2, 2.0) : random_cpu({23, 41}, dt);
      Tensor hb = random_cpu({1, 41}, dt);
      if (op == BinaryOp::Eq || op == BinaryOp::Ne) hb = raw::slice(ha, 0, 3, 4, 1);  // some equal pairs
      Tensor db = raw::expand(to_cuda(hb), {23, 41});
      DType odt = arith ? dt : kBool;
      Tensor out = poisoned({23, 41}, odt);
      double alpha = (op == BinaryOp::Add || op == BinaryOp::Sub) && dt != kBool ? 2 : 1;
      gpu().binary(op, out, to_cuda(ha, true), db, alpha);
      std::vector<double> a = values(ha), b = values(raw::contiguous(raw::expand(hb, {23, 41}))), want(a.size());
      for (size_t i = 0; i < a.size(); ++i) want[i] = round_to(ref_binary(op, a[i], b[i], alpha), odt);
      expect_close(out, want, tol_for(odt), std::string(binary_op_name(op)) + " " + dn(dt));
    }
  }
}

TEST(CudaBinary, ScalarBothOrders) {
  REQUIRE_CUDA();
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div, BinaryOp::Pow, BinaryOp::Maximum,
                      BinaryOp::Lt, BinaryOp::Ge}) {
    for (DType dt : {kFloat32, kFloat64, kBFloat16, kFloat16, kInt64}) {
      if (is_integral(dt) && (op == BinaryOp::Div || op == BinaryOp::Pow)) continue;
      for (bool rev : {false, true}) {
        Tensor h = random_cpu({1000003}, dt, 0.2, 2.0);
        double s = is_integral(dt) ? 3.0 : 1.5;
        DType odt = is_comparison(op) ? kBool : dt;
        Tensor out = poisoned({1000003}, odt);
        gpu().binary_scalar(op, out, to_cuda(h), is_integral(dt) ? Scalar(int64_t(3)) : Scalar(1.5), rev);
        std::vector<double> a = values(h), want(a.size());
        for (size_t i = 0; i < a.size(); ++i)
          want[i] = round_to(rev ? ref_binary(op, s, a[i], 1) : ref_binary(op, a[i], s, 1), odt);
        expect_close(out, want, tol_for(odt), std::string(binary_op_name(op)) + " scalar " + dn(dt));
      }
    }
  }
}

TEST(CudaElementwise, WhereClampMaskedFill) {
  REQUIRE_CUDA();
  for (DType dt : kAllTypes) {
    Tensor hc = random_cpu({19, 13}, kBool), ha = random_cpu({19, 13}, dt), hb = random_cpu({13}, dt);
    Tensor out = poisoned({19, 13}, dt);
    gpu().where(out, to_cuda(hc, true), to_cuda(ha), raw::expand(to_cuda(hb), {19, 13}));
    std::vector<double> c = values(hc), a = values(ha), b = values(hb), want(a.size());
    for (size_t i = 0; i < a.size(); ++i) want[i] = c[i] != 0 ? a[i] : b[i % 13];
    expect_close(out, want, {0, 0}, "where " + dn(dt));

    Tensor mf = to_cuda(ha);
    gpu().masked_fill(mf, to_cuda(hc, true), dt == kBool ? Scalar(false) : Scalar(int64_t(5)));
    for (size_t i = 0; i < a.size(); ++i) want[i] = c[i] != 0 ? (dt == kBool ? 0 : 5) : a[i];
    expect_close(mf, want, {0, 0}, "masked_fill " + dn(dt));

    if (dt == kBool) continue;
    for (int variant = 0; variant < 3; ++variant) {
      std::optional<Scalar> lo, hi;
      if (variant != 1) lo = Scalar(-1.0);
      if (variant != 0) hi = Scalar(1.0);
      if (is_integral(dt)) {
        if (lo) lo = Scalar(int64_t(-10));
        if (hi) hi = Scalar(int64_t(10));
      }
      Tensor co = poisoned({19, 13}, dt);
      gpu().clamp(co, to_cuda(ha, true), lo, hi);
      for (size_t i = 0; i < a.size(); ++i) {
        double v = a[i];
        if (lo) v = std::max(v, lo->to_double());
        if (hi) v = std::min(v, hi->to_double());
        want[i] = round_to(v, dt);
      }
      expect_close(co, want, {0, 0}, "clamp " + dn(dt));
    }
  }
}

// ------------------------------------------------------------------------------------ random
TEST(Philox, KnownAnswerVectors) {
  // Random123's kat_vectors for philox4x32_10 (host side: no device needed, but the suite
  // reports GPU-less runs as skipped, so this runs under REQUIRE_CUDA too for a clean count).
  REQUIRE_CUDA();
  philox::U4 z = philox::philox4x32_10({{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(z.w[0], 0x6627e8d5u);
  EXPECT_EQ(z.w[1], 0xe169c58du);
  EXPECT_EQ(z.w[2], 0xbc57ac4cu);
  EXPECT_EQ(z.w[3], 0x9b00dbd8u);
  philox::U4 f = philox::philox4x32_10({{~0u, ~0u, ~0u, ~0u}}, ~0u, ~0u);
  EXPECT_EQ(f.w[0], 0x408f276du);
  EXPECT_EQ(f.w[1], 0x41c83b0eu);
  EXPECT_EQ(f.w[2], 0xa20bc7c6u);
  EXPECT_EQ(f.w[3], 0x6d5451fdu);
  philox::U4 p = philox::philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u,
                                       0x299f31d0u);
  EXPECT_EQ(p.w[0], 0xd16cfe09u);
  EXPECT_EQ(p.w[1], 0x94fdccebu);
  EXPECT_EQ(p.w[2], 0x5001e420u);
  EXPECT_EQ(p.w[3], 0x24126ea1u);
}

namespace {
// Host values of Note [philox stream] for `n` elements, computed with the host philox.
template <typename T>
std::vector<double> host_stream(int64_t n, uint64_t seed, uint64_t offset, const std::function<T(philox::U4)>& f) {
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = double(f(philox::words(seed, offset, uint64_t(i))));
  return v;
}
}  // namespace

TEST(CudaRandom, BitIdenticalToHostPhilox) {
  REQUIRE_CUDA();
  uint64_t seed = rng()(), offset = rng()() >> 20;  // offsets cross the 2^32 counter word
  for (int64_t n : kSizes) {
    Tensor f32 = poisoned({n}, kFloat32), f64 = poisoned({n}, kFloat64), bf = poisoned({n}, kBFloat16),
           hf = poisoned({n}, kFloat16);
    gpu().random_uniform(f32, -1.5, 2.5, seed, offset);
    gpu().random_uniform(f64, -1.5, 2.5, seed, offset);
    gpu().random_uniform(bf, -1.5, 2.5, seed, offset);
    gpu().random_uniform(hf, -1.5, 2.5, seed, offset);
    expect_close(f32, host_stream<float>(n, seed, offset, [](philox::U4 w) { return philox::uniform<float>(w, -1.5, 2.5); }), {0, 0}, "rand f32");
    expect_close(f64, host_stream<double>(n, seed, offset, [](philox::U4 w) { return philox::uniform<double>(w, -1.5, 2.5); }), {0, 0}, "rand f64");
    expect_close(bf, host_stream<BFloat16>(n, seed, offset, [](philox::U4 w) { return philox::uniform<BFloat16>(w, -1.5, 2.5); }), {0, 0}, "rand bf16");
    expect_close(hf, host_stream<Half>(n, seed, offset, [](philox::U4 w) { return philox::uniform<Half>(w, -1.5, 2.5); }), {0, 0}, "rand f16");

    // normal: Box-Muller in double; device and host libm may differ in the last bit of a double,
    // so float64 is compared to 1e-14 and the rounded types exactly (a rare 1-ulp flip allowed).
    gpu().random_normal(f32, 0.5, 2.0, seed, offset);
    gpu().random_normal(f64, 0.5, 2.0, seed, offset);
    expect_close(f64, host_stream<double>(n, seed, offset, [](philox::U4 w) { return philox::normal<double>(w, 0.5, 2.0); }), {1e-14, 1e-14}, "randn f64");
    expect_close(f32, host_stream<float>(n, seed, offset, [](philox::U4 w) { return philox::normal<float>(w, 0.5, 2.0); }), {1.2e-7, 1e-7}, "randn f32");

    Tensor i64 = poisoned({n}, kInt64), i32 = poisoned({n}, kInt32), mask = poisoned({n}, kBool);
    gpu().random_int(i64, -1000, 123456789, seed, offset);
    gpu().random_int(i32, 3, 10, seed, offset);
    gpu().dropout_mask(mask, 0.3, seed, offset);
    expect_close(i64, host_stream<int64_t>(n, seed, offset, [](philox::U4 w) { return philox::randint(w, -1000, 123456789); }), {0, 0}, "randint i64");
    expect_close(i32, host_stream<int64_t>(n, seed, offset, [](philox::U4 w) { return philox::randint(w, 3, 10); }), {0, 0}, "randint i32");
    expect_close(mask, host_stream<bool>(n, seed, offset, [](philox::U4 w) { return philox::keep(w, 0.3); }), {0, 0}, "dropout");
  }
  // statistics of a large draw (sanity: the stream is not degenerate)
  Tensor u = poisoned({1000003}, kFloat32);
  gpu().random_uniform(u, 0, 1, seed, 0);
  std::vector<double> v = values(u);
  double mean = 0;
  for (double x : v) mean += x / double(v.size());
  EXPECT_NEAR(mean, 0.5, 0.005);
  EXPECT_GE(*std::min_element(v.begin(), v.end()), 0.0);
  EXPECT_LT(*std::max_element(v.begin(), v.end()), 1.0);
}

TEST(CudaRandom, SameBitsAsCpuBackend) {
  REQUIRE_CUDA();
  uint64_t seed = rng()(), offset = 12345;
  for (DType dt : kFloatTypes) {
    Tensor c = poisoned({1001}, dt, Device::cpu()), g = poisoned({1001}, dt);
    CPU_REF(cpu().random_uniform(c, -1, 1, seed, offset));
    gpu().random_uniform(g, -1, 1, seed, offset);
    expect_close(g, c, {0, 0}, "rand cpu vs cuda " + dn(dt));
    CPU_REF(cpu().random_normal(c, 0, 1, seed, offset));
    gpu().random_normal(g, 0, 1, seed, offset);
    expect_close(g, c, dt == kFloat64 ? Tol{1e-14, 1e-14} : Tol{0, 0}, "randn cpu vs cuda " + dn(dt));
  }
  Tensor c = poisoned({1001}, kInt64, Device::cpu()), g = poisoned({1001}, kInt64);
  CPU_REF(cpu().random_int(c, -5, 5, seed, offset));
  gpu().random_int(g, -5, 5, seed, offset);
  expect_close(g, c, {0, 0}, "randint cpu vs cuda");
  Tensor cm = poisoned({1001}, kBool, Device::cpu()), gm = poisoned({1001}, kBool);
  CPU_REF(cpu().dropout_mask(cm, 0.25, seed, offset));
  gpu().dropout_mask(gm, 0.25, seed, offset);
  expect_close(gm, cm, {0, 0}, "dropout cpu vs cuda");
}

// -------------------------------------------------------------------------------- reductions
namespace {
// Groups the elements of a row-major tensor of `shape` by their keepdim-output index over `dims`.
std::vector<std::vector<double>> groups(const std::vector<double>& x, IntArrayRef shape, IntArrayRef dims,
                                        Shape* out_shape) {
  Shape os = shape.vec();
  for (int64_t d : dims) os[size_t(d)] = 1;
  *out_shape = os;
  std::vector<std::vector<double>> g(size_t(numel_of(os)));
  Shape ostr = contiguous_strides(os);
  for (size_t i = 0; i < x.size(); ++i) {
    int64_t rem = int64_t(i), o = 0;
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
      int64_t c = rem % shape[size_t(d)];
      rem /= shape[size_t(d)];
      if (os[size_t(d)] != 1) o += c * ostr[size_t(d)];
    }
    g[size_t(o)].push_back(x[i]);
  }
  return g;
}
double ref_reduce(ReduceOp op, const std::vector<double>& v) {
  double r = op == ReduceOp::Prod ? 1 : op == ReduceOp::Max ? -INFINITY : op == ReduceOp::Min ? INFINITY : 0;
  for (double x : v) {
    switch (op) {
      case ReduceOp::Sum: case ReduceOp::Mean: r += x; break;
      case ReduceOp::Prod: r *= x; break;
      case ReduceOp::Max: r = std::max(r, x); break;
      case ReduceOp::Min: r = std::min(r, x); break;
    }
  }
  return op == ReduceOp::Mean ? r / double(v.size()) : r;
}
const std::vector<std::vector<int64_t>> kDimSets = {{0}, {1}, {2}, {0, 2}, {0, 1, 2}};
}  // namespace

TEST(CudaReduce, EveryOpDTypeAndDimSet) {
  REQUIRE_CUDA();
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min}) {
    for (DType dt : {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64}) {
      if (is_integral(dt) && op == ReduceOp::Mean) continue;
      for (const auto& dims : kDimSets) {
        Shape shape = {7, 33, 5};
        Tensor h = op == ReduceOp::Prod ? random_cpu(shape, dt, 0.9, 1.1) : random_cpu(shape, dt);
        if (op == ReduceOp::Prod && is_integral(dt)) h = raw::full(shape, dims.size() > 1 ? 1 : 2, TensorOptions(dt));
        Tensor d = to_cuda(h, true);
        Shape os;
        auto gs = groups(values(h), shape, dims, &os);
        DType odt = (op == ReduceOp::Sum || op == ReduceOp::Prod) && is_integral(dt) ? kInt64 : dt;
        Tensor out = poisoned(os, odt);
        gpu().reduce(op, out, d, dims);
        std::vector<double> want;
        for (auto& g : gs) want.push_back(round_to(ref_reduce(op, g), odt));
        Tol tol = tol_for(odt);
        if (dt == kFloat32) tol = {1e-4, 1e-4};  // summation order differs
        if (is_reduced_float(dt)) tol = {tol.rtol, 0.05};
        expect_close(out, want, tol, std::string(reduce_op_name(op)) + " " + dn(dt) + " dims " + shape_str(dims));
      }
    }
  }
}

TEST(CudaReduce, LargeRowOddSize) {
  REQUIRE_CUDA();
  Tensor h = random_cpu({1000003}, kFloat32, 0.0, 1.0);
  Tensor out = poisoned({1}, kFloat32);
  gpu().reduce(ReduceOp::Sum, out, to_cuda(h), {0});
  std::vector<double> x = values(h);
  double s = 0;
  for (double v : x) s += v;
  expect_close(out, std::vector<double>{s}, {1e-5, 0}, "sum 1000003");
  // a power-of-two length takes the two-stage (chunked) path
  for (DType dt : {kFloat32, kBFloat16, kInt64}) {
    Tensor h2 = random_cpu({2, 1 << 21}, dt);
    std::vector<double> x2 = values(h2);
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min}) {
      if (op == ReduceOp::Mean && is_integral(dt)) continue;
      DType odt = op == ReduceOp::Sum && is_integral(dt) ? kInt64 : dt;
      Tensor o2 = poisoned({2, 1}, odt);
      gpu().reduce(op, o2, to_cuda(h2), {1});
      std::vector<double> want;
      for (int r = 0; r < 2; ++r)
        want.push_back(round_to(ref_reduce(op, std::vector<double>(x2.begin() + r * (1 << 21), x2.begin() + (r + 1) * (1 << 21))), odt));
      Tol tol = is_integral(dt) ? Tol{0, 0} : dt == kFloat32 ? Tol{1e-5, 1e-3} : Tol{1.6e-2, 0.5};
      expect_close(o2, want, tol, std::string(reduce_op_name(op)) + " chunked " + dn(dt));
    }
  }
}

TEST(CudaReduce, ArgMaxMinVarLogsumexp) {
  REQUIRE_CUDA();
  for (DType dt : {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64}) {
    for (int64_t dim : {0, 1, 2}) {
      Shape shape = {6, 45, 3};
      Tensor h = random_cpu(shape, dt);
      if (is_integral(dt)) h = raw::to(raw::to(random_cpu(shape, kFloat32, -3, 3), Device::cpu(), kInt64), Device::cpu(), dt);  // ties
      Shape os;
      auto gs = groups(values(h), shape, {dim}, &os);
      for (bool is_max : {true, false}) {
        Tensor v = poisoned(os, dt), idx = poisoned(os, kInt64);
        gpu().arg_reduce(is_max, v, idx, to_cuda(h, true), dim);
        std::vector<double> wv, wi;
        for (auto& g : gs) {
          size_t best = 0;
          for (size_t j = 1; j < g.size(); ++j)
            if (is_max ? g[j] > g[best] : g[j] < g[best]) best = j;
          wv.push_back(g[best]);
          wi.push_back(double(best));
        }
        expect_close(v, wv, {0, 0}, std::string(is_max ? "max" : "min") + " values " + dn(dt));
        expect_close(idx, wi, {0, 0}, std::string(is_max ? "argmax" : "argmin") + " (first of ties) " + dn(dt));
      }
    }
  }
  for (DType dt : kFloatTypes) {
    for (const auto& dims : kDimSets) {
      Shape shape = {7, 33, 5};
      Tensor h = random_cpu(shape, dt);
      Shape os;
      auto gs = groups(values(h), shape, dims, &os);
      Tensor var = poisoned(os, dt), lse = poisoned(os, dt);
      gpu().var(var, to_cuda(h, true), dims, 1);
      gpu().logsumexp(lse, to_cuda(h, true), dims);
      std::vector<double> wv, wl;
      for (auto& g : gs) {
        double m = ref_reduce(ReduceOp::Mean, g), q = 0, mx = ref_reduce(ReduceOp::Max, g), s = 0;
        for (double x : g) {
          q += (x - m) * (x - m);
          s += std::exp(x - mx);
        }
        wv.push_back(round_to(q / double(g.size() - 1), dt));
        wl.push_back(round_to(mx + std::log(s), dt));
      }
      Tol tol = dt == kFloat32 ? Tol{1e-5, 1e-5} : tol_for(dt);
      expect_close(var, wv, tol, "var " + dn(dt) + " dims " + shape_str(dims));
      expect_close(lse, wl, tol, "logsumexp " + dn(dt) + " dims " + shape_str(dims));
    }
  }
}

// -------------------------------------------------------------------------- softmax and norms
TEST(CudaSoftmax, ForwardBackwardLogAndNot) {
  REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    for (int64_t n : {1, 7, 1000, 5003}) {
      int64_t rows = n > 1000 ? 3 : 37;
      Tensor h = random_cpu({rows, n}, dt, -5, 5), hg = random_cpu({rows, n}, dt);
      std::vector<double> x = values(h), g = values(hg);
      for (bool log : {false, true}) {
        Tensor out = poisoned({rows, n}, dt);
        gpu().softmax(out, to_cuda(h), log);
        std::vector<double> want(x.size()), y(x.size());
        for (int64_t r = 0; r < rows; ++r) {
          double m = -INFINITY, s = 0;
          for (int64_t j = 0; j < n; ++j) m = std::max(m, x[size_t(r * n + j)]);
          for (int64_t j = 0; j < n; ++j) s += std::exp(x[size_t(r * n + j)] - m);
          for (int64_t j = 0; j < n; ++j) {
            double v = x[size_t(r * n + j)] - m;
            y[size_t(r * n + j)] = log ? v - std::log(s) : std::exp(v) / s;
          }
        }
        for (size_t i = 0; i < y.size(); ++i) want[i] = round_to(y[i], dt);
        Tol tol = dt == kFloat32 ? Tol{1e-5, 1e-6} : tol_for(dt);
        expect_close(out, want, tol, std::string(log ? "log_softmax " : "softmax ") + dn(dt) + " n=" + std::to_string(n));
        // backward from the device's own output
        Tensor gi = poisoned({rows, n}, dt);
        gpu().softmax_backward(gi, to_cuda(hg), out, log);
        std::vector<double> yo = values(out), wg(x.size());
        for (int64_t r = 0; r < rows; ++r) {
          double s = 0;
          for (int64_t j = 0; j < n; ++j) {
            size_t i = size_t(r * n + j);
            s += log ? g[i] : g[i] * yo[i];
          }
          for (int64_t j = 0; j < n; ++j) {
            size_t i = size_t(r * n + j);
            wg[i] = log ? g[i] - std::exp(yo[i]) * s : yo[i] * (g[i] - s);
          }
        }
        Tol btol = is_reduced_float(dt) ? Tol{tol.rtol, 0.02} : Tol{1e-5, 1e-5};
        expect_close(gi, wg, btol, std::string(log ? "log_softmax_backward " : "softmax_backward ") + dn(dt));
      }
    }
  }
}

TEST(CudaNorm, LayerNormAndRmsNormForwardBackward) {
  REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    for (int64_t n : {1, 7, 1000, 4099}) {
      int64_t rows = 13;
      DType sdt = dt == kFloat64 ? kFloat64 : kFloat32;
      Tensor hx = random_cpu({rows, n}, dt), hw = random_cpu({n}, dt), hb = random_cpu({n}, dt),
             hg = random_cpu({rows, n}, dt);
      std::vector<double> x = values(hx), w = values(hw), b = values(hb), g = values(hg);
      double eps = 1e-5;
      for (bool rms : {false, true}) {
        Tensor out = poisoned({rows, n}, dt), mean = poisoned({rows}, sdt), rstd = poisoned({rows}, sdt);
        if (rms) gpu().rms_norm(out, rstd, to_cuda(hx), to_cuda(hw), eps);
        else gpu().layer_norm(out, mean, rstd, to_cuda(hx), to_cuda(hw), to_cuda(hb), eps);
        std::vector<double> wo(x.size()), wm(static_cast<size_t>(rows)), wr(static_cast<size_t>(rows)), wgi(x.size()), wgw(size_t(n), 0),
            wgb(size_t(n), 0);
        for (int64_t r = 0; r < rows; ++r) {
          const double* xr = &x[size_t(r * n)];
          double m = 0, q = 0;
          if (!rms)
            for (int64_t j = 0; j < n; ++j) m += xr[j] / double(n);
          for (int64_t j = 0; j < n; ++j) q += (xr[j] - m) * (xr[j] - m) / double(n);
          double rs = 1 / std::sqrt(q + eps);
          wm[size_t(r)] = m;
          wr[size_t(r)] = rs;
          double s1 = 0, s2 = 0;
          for (int64_t j = 0; j < n; ++j) {
            double xh = (xr[j] - m) * rs;
            wo[size_t(r * n + j)] = round_to(xh * w[size_t(j)] + (rms ? 0 : b[size_t(j)]), dt);
            double gw = g[size_t(r * n + j)] * w[size_t(j)];
            s1 += gw;
            s2 += gw * xh;
            wgw[size_t(j)] += g[size_t(r * n + j)] * xh;
            wgb[size_t(j)] += g[size_t(r * n + j)];
          }
          for (int64_t j = 0; j < n; ++j) {
            double xh = (xr[j] - m) * rs, gw = g[size_t(r * n + j)] * w[size_t(j)];
            wgi[size_t(r * n + j)] = rs * (gw - (rms ? 0 : s1 / double(n)) - xh * s2 / double(n));
          }
        }
        std::string tag = std::string(rms ? "rms_norm " : "layer_norm ") + dn(dt) + " n=" + std::to_string(n);
        Tol tol = dt == kFloat32 ? Tol{1e-4, 1e-4} : is_reduced_float(dt) ? Tol{tol_for(dt).rtol, 0.02} : tol_for(dt);
        expect_close(out, wo, tol, tag);
        expect_close(rstd, wr, dt == kFloat64 ? tol_for(dt) : Tol{1e-4, 1e-4}, tag + " rstd");
        if (!rms) expect_close(mean, wm, dt == kFloat64 ? tol_for(dt) : Tol{1e-5, 1e-5}, tag + " mean");

        Tensor gi = poisoned({rows, n}, dt), gw = poisoned({n}, dt), gb = poisoned({n}, dt);
        if (rms) gpu().rms_norm_backward(gi, gw, to_cuda(hg), to_cuda(hx), rstd, to_cuda(hw));
        else gpu().layer_norm_backward(gi, gw, gb, to_cuda(hg), to_cuda(hx), mean, rstd, to_cuda(hw));
        Tol btol = dt == kFloat64 ? Tol{1e-10, 1e-10} : dt == kFloat32 ? Tol{2e-3, 2e-3} : Tol{tol_for(dt).rtol * 2, 0.1};
        expect_close(gi, wgi, btol, tag + " grad_in");
        expect_close(gw, wgw, btol, tag + " grad_weight");
        if (!rms) expect_close(gb, wgb, btol, tag + " grad_bias");
      }
    }
  }
}

// ------------------------------------------------------------------------------------- gemm
TEST(CudaGemm, LayoutsDTypesBatchBroadcastBeta) {
  REQUIRE_CUDA();
  struct Case {
    int64_t B, M, K, N;
    bool ta, tb, bcast_b;
    double alpha, beta;
  };
  std::vector<Case> cases = {{1, 1, 1, 1, false, false, false, 1, 0},   {3, 7, 13, 5, false, false, false, 1, 0},
                             {2, 33, 17, 65, true, false, false, 1, 0}, {2, 33, 17, 65, false, true, false, 0.5, 0},
                             {4, 16, 64, 24, true, true, true, 1, 0},   {2, 31, 1, 9, false, false, false, 1, 0.5},
                             {1, 128, 257, 96, false, true, false, 2, 1}};
  for (DType dt : kFloatTypes) {
    for (const Case& c : cases) {
      Tensor ha = random_cpu({c.B, c.M, c.K}, dt), hb = random_cpu({c.bcast_b ? 1 : c.B, c.K, c.N}, dt),
             hc = random_cpu({c.B, c.M, c.N}, dt);
      // device operands in the requested layout (a transposed view keeps the values)
      Tensor da = c.ta ? to_cuda(ha, true) : to_cuda(ha);
      Tensor db = c.tb ? to_cuda(hb, true) : to_cuda(hb);
      if (c.bcast_b) db = raw::expand(db, {c.B, c.K, c.N});
      Tensor out = c.beta != 0 ? to_cuda(hc) : poisoned({c.B, c.M, c.N}, dt);
      gpu().gemm(out, da, db, c.alpha, c.beta);
      std::vector<double> a = values(ha), b = values(hb), cv = values(hc), want(size_t(c.B * c.M * c.N));
      for (int64_t bi = 0; bi < c.B; ++bi)
        for (int64_t i = 0; i < c.M; ++i)
          for (int64_t j = 0; j < c.N; ++j) {
            double s = 0;
            int64_t bb = c.bcast_b ? 0 : bi;
            for (int64_t k = 0; k < c.K; ++k) s += a[size_t((bi * c.M + i) * c.K + k)] * b[size_t((bb * c.K + k) * c.N + j)];
            size_t o = size_t((bi * c.M + i) * c.N + j);
            want[o] = c.alpha * s + (c.beta != 0 ? c.beta * cv[o] : 0);
          }
      Tol tol = dt == kFloat64 ? Tol{1e-12, 1e-12} : dt == kFloat32 ? Tol{1e-4, 1e-4} : Tol{tol_for(dt).rtol, 0.1};
      expect_close(out, want, tol, "gemm " + dn(dt) + " " + std::to_string(c.B) + "x" + std::to_string(c.M) + "x" +
                                       std::to_string(c.K) + "x" + std::to_string(c.N) + (c.ta ? " aT" : "") +
                                       (c.tb ? " bT" : "") + (c.bcast_b ? " bcast" : ""));
    }
  }
}

// --------------------------------------------------------------------------------- indexing
TEST(CudaIndex, SelectGatherScatterIndexAddTrilTriu) {
  REQUIRE_CUDA();
  std::uniform_int_distribution<int64_t> pick(0, 8);
  for (DType dt : {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64}) {
    Tensor h = random_cpu({9, 11}, dt);
    std::vector<double> x = values(h);
    for (DType idt : {kInt64, kInt32}) {
      // index_select along dim 0 and 1
      std::vector<int64_t> iv = {3, 0, 8, 3, 5};
      Tensor hi = raw::to(from_vector<int64_t>(iv, {5}), Device::cpu(), idt);
      for (int64_t dim : {0, 1}) {
        Shape os = dim == 0 ? Shape{5, 11} : Shape{9, 5};
        Tensor out = poisoned(os, dt);
        gpu().index_select(out, to_cuda(h, true), dim, to_cuda(hi));
        std::vector<double> want;
        for (int64_t r = 0; r < os[0]; ++r)
          for (int64_t c = 0; c < os[1]; ++c)
            want.push_back(dim == 0 ? x[size_t(iv[size_t(r)] * 11 + c)] : x[size_t(r * 11 + iv[size_t(c)])]);
        expect_close(out, want, {0, 0}, "index_select " + dn(dt) + " dim " + std::to_string(dim));
      }
      // gather / scatter_add along dim 0 with a [6, 11] index
      std::vector<int64_t> gv(66);
      for (auto& v : gv) v = pick(rng());
      Tensor hgi = raw::to(from_vector<int64_t>(gv, {6, 11}), Device::cpu(), idt);
      Tensor gout = poisoned({6, 11}, dt);
      gpu().gather(gout, to_cuda(h, true), 0, to_cuda(hgi, true));
      std::vector<double> want;
      for (int64_t r = 0; r < 6; ++r)
        for (int64_t c = 0; c < 11; ++c) want.push_back(x[size_t(gv[size_t(r * 11 + c)] * 11 + c)]);
      expect_close(gout, want, {0, 0}, "gather " + dn(dt));

      Tensor hs = random_cpu({6, 11}, dt);
      std::vector<double> sv = values(hs), acc = x;
      Tensor self = to_cuda(h);
      gpu().scatter_add(self, 0, to_cuda(hgi), to_cuda(hs, true));
      for (int64_t r = 0; r < 6; ++r)
        for (int64_t c = 0; c < 11; ++c) acc[size_t(gv[size_t(r * 11 + c)] * 11 + c)] += sv[size_t(r * 11 + c)];
      Tol tol = is_reduced_float(dt) ? Tol{tol_for(dt).rtol, 0.05} : dt == kFloat32 ? Tol{1e-6, 1e-6} : Tol{1e-12, 0};
      expect_close(self, acc, tol, "scatter_add " + dn(dt));

      // index_add along dim 1 with repeated indices
      Tensor src = random_cpu({9, 5}, dt);
      std::vector<double> srv = values(src), acc2 = x;
      Tensor self2 = to_cuda(h);
      gpu().index_add(self2, 1, to_cuda(hi), to_cuda(src, true));
      for (int64_t r = 0; r < 9; ++r)
        for (int64_t k = 0; k < 5; ++k) acc2[size_t(r * 11 + iv[size_t(k)])] += srv[size_t(r * 5 + k)];
      expect_close(self2, acc2, tol, "index_add " + dn(dt));
    }
  }
  for (DType dt : kAllTypes) {
    Tensor h = random_cpu({3, 7, 5}, dt);
    std::vector<double> x = values(h);
    for (int64_t k : {-2, 0, 1, 9}) {
      for (bool upper : {false, true}) {
        Tensor out = poisoned({3, 7, 5}, dt);
        gpu().tril_triu(out, to_cuda(h, true), k, upper);
        std::vector<double> want(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
          int64_t c = int64_t(i % 5), r = int64_t(i / 5 % 7);
          bool keep = upper ? c - r >= k : c - r <= k;
          want[i] = keep ? x[i] : 0;
        }
        expect_close(out, want, {0, 0}, std::string(upper ? "triu " : "tril ") + dn(dt) + " k=" + std::to_string(k));
      }
    }
  }
}

// ---------------------------------------------------------------------------- cross-entropy
TEST(CudaLoss, CrossEntropyForwardBackward) {
  REQUIRE_CUDA();
  for (DType dt : kFloatTypes) {
    for (double smoothing : {0.0, 0.1}) {
      int64_t N = 37, C = 1001, ignore = -100;
      Tensor hl = random_cpu({N, C}, dt, -4, 4);
      std::uniform_int_distribution<int64_t> cls(0, C - 1);
      std::vector<int64_t> tv(static_cast<size_t>(N));
      for (auto& t : tv) t = cls(rng());
      tv[3] = ignore;
      Tensor ht = from_vector<int64_t>(tv, {N});
      DType ldt = dt == kFloat64 ? kFloat64 : kFloat32;
      Tensor loss = poisoned({N}, ldt), lse = poisoned({N}, ldt);
      gpu().cross_entropy(loss, lse, to_cuda(hl), to_cuda(ht), ignore, smoothing);
      std::vector<double> x = values(hl), wl(static_cast<size_t>(N)), wlse(static_cast<size_t>(N));
      for (int64_t i = 0; i < N; ++i) {
        double m = -INFINITY, s = 0, sum = 0;
        for (int64_t j = 0; j < C; ++j) m = std::max(m, x[size_t(i * C + j)]);
        for (int64_t j = 0; j < C; ++j) {
          s += std::exp(x[size_t(i * C + j)] - m);
          sum += x[size_t(i * C + j)];
        }
        double l = m + std::log(s);
        wlse[size_t(i)] = l;
        int64_t t = tv[size_t(i)];
        wl[size_t(i)] = t == ignore ? 0 : (1 - smoothing) * (l - x[size_t(i * C + t)]) + smoothing * (l - sum / double(C));
      }
      Tol tol = dt == kFloat64 ? Tol{1e-12, 1e-12} : Tol{1e-5, 1e-5};
      expect_close(loss, wl, tol, "cross_entropy " + dn(dt));
      expect_close(lse, wlse, tol, "cross_entropy lse " + dn(dt));

      Tensor hg = random_cpu({N}, ldt);
      std::vector<double> g = values(hg), wg(x.size());
      Tensor gl = poisoned({N, C}, dt);
      gpu().cross_entropy_backward(gl, to_cuda(hg, true), to_cuda(hl), lse, to_cuda(ht), ignore, smoothing);
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < C; ++j) {
          int64_t t = tv[size_t(i)];
          double p = std::exp(x[size_t(i * C + j)] - wlse[size_t(i)]);
          wg[size_t(i * C + j)] = t == ignore ? 0 : g[size_t(i)] * (p - smoothing / double(C) - (j == t ? 1 - smoothing : 0));
        }
      Tol btol = dt == kFloat64 ? Tol{1e-12, 1e-12} : dt == kFloat32 ? Tol{1e-5, 1e-6} : Tol{tol_for(dt).rtol, 1e-3};
      expect_close(gl, wg, btol, "cross_entropy_backward " + dn(dt));
    }
  }
}
