// RNG tests: Philox4x32-10 known-answer vectors, the Note [philox stream] contract element by
// element (uniform per dtype, normal, randint, dropout keep mask), (seed, offset) determinism
// and generator state, moments of the distributions, ranges and error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>
#include <vector>

#include "tessera/tensor/rng.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

template <typename T>
std::vector<T> host(const Tensor& t) {
  Tensor c = t.contiguous();
  const T* p = c.data_ptr<T>();
  return std::vector<T>(p, p + c.numel());
}

std::vector<double> as_double(const Tensor& t) { return host<double>(t.to(kFloat64)); }

// The counter of element i for a call at `offset`, and its words (Note [philox stream]).
Philox4x32 words_at(uint64_t seed, uint64_t position) {
  Philox4x32 c{{uint32_t(position & 0xffffffffu), uint32_t(position >> 32), 0u, 0u}};
  return philox4x32_10(c, uint32_t(seed & 0xffffffffu), uint32_t(seed >> 32));
}

}  // namespace

TEST(Philox, KnownAnswerVectors) {
  // Random123's kat_vectors for philox4x32 with 10 rounds.
  Philox4x32 a = philox4x32_10({{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(a.v[0], 0x6627e8d5u);
  EXPECT_EQ(a.v[1], 0xe169c58du);
  EXPECT_EQ(a.v[2], 0xbc57ac4cu);
  EXPECT_EQ(a.v[3], 0x9b00dbd8u);
  Philox4x32 b = philox4x32_10({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu, 0xffffffffu);
  EXPECT_EQ(b.v[0], 0x408f276du);
  EXPECT_EQ(b.v[1], 0x41c83b0eu);
  EXPECT_EQ(b.v[2], 0xa20bc7c6u);
  EXPECT_EQ(b.v[3], 0x6d5451fdu);
  Philox4x32 c = philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(c.v[0], 0xd16cfe09u);
  EXPECT_EQ(c.v[1], 0x94fdccebu);
  EXPECT_EQ(c.v[2], 0x5001e420u);
  EXPECT_EQ(c.v[3], 0x24126ea1u);
  // philox_words splits seed and counter position into lo/hi words.
  Philox4x32 d = philox_words(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull);
  Philox4x32 e = philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0, 0}}, 0xa4093822u, 0x299f31d0u);
  EXPECT_EQ(std::memcmp(&d, &e, sizeof(d)), 0);
}

TEST(Random, UniformFollowsTheStreamForEveryDType) {
  const uint64_t seed = 1234567;
  const int64_t n = 1000003;  // crosses the parallel threshold: every element checked
  manual_seed(seed);
  std::vector<float> f = host<float>(rand({n}));
  for (int64_t i = 0; i < n; ++i) {
    float want = float(words_at(seed, uint64_t(i)).v[0] >> 8) / 16777216.0f;
    ASSERT_EQ(f[size_t(i)], want) << i;
  }
  // The next call continues at offset n.
  std::vector<double> d = host<double>(rand({1000}, kFloat64));
  for (int64_t i = 0; i < 1000; ++i) {
    Philox4x32 w = words_at(seed, uint64_t(n + i));
    uint64_t bits = (uint64_t(w.v[0]) << 32 | w.v[1]) >> 11;
    ASSERT_EQ(d[size_t(i)], double(bits) / 9007199254740992.0) << i;
  }
  manual_seed(seed);
  std::vector<BFloat16> bf = host<BFloat16>(rand({4096}, kBFloat16));
  std::vector<Half> hf = host<Half>(rand({4096}, kFloat16));
  std::set<float> distinct;
  for (int64_t i = 0; i < 4096; ++i) {
    float b = float(bf[size_t(i)]), h = float(hf[size_t(i)]);
    ASSERT_EQ(b, float(words_at(seed, uint64_t(i)).v[0] >> 24) / 256.0f) << i;
    ASSERT_EQ(h, float(words_at(seed, uint64_t(4096 + i)).v[0] >> 21) / 2048.0f) << i;
    ASSERT_TRUE(b >= 0.0f && b < 1.0f && h >= 0.0f && h < 1.0f);
    distinct.insert(b);
  }
  EXPECT_GT(distinct.size(), 200u);  // close to all 256 bfloat16 levels
}

TEST(Random, CountersCrossThe32BitBoundary) {
  const uint64_t seed = 0xdeadbeefcafef00dull;
  default_generator().set_state({seed, 0xfffffff0ull});
  std::vector<float> f = host<float>(rand({32}));
  for (int i = 0; i < 32; ++i) {
    uint64_t pos = 0xfffffff0ull + uint64_t(i);
    Philox4x32 w = philox4x32_10({{uint32_t(pos), uint32_t(pos >> 32), 0, 0}}, 0xcafef00du, 0xdeadbeefu);
    EXPECT_EQ(f[size_t(i)], float(w.v[0] >> 8) / 16777216.0f) << i;
  }
  EXPECT_EQ(default_generator().offset(), 0x100000010ull);
}

TEST(Random, NormalFollowsTheStream) {
  const uint64_t seed = 99;
  manual_seed(seed);
  std::vector<float> f = host<float>(randn({5000}));
  std::vector<double> d = host<double>(randn({5000}, kFloat64));
  for (int64_t i = 0; i < 5000; ++i) {
    for (int k = 0; k < 2; ++k) {
      Philox4x32 w = words_at(seed, uint64_t(k * 5000 + i));
      double u1 = double((w.v[0] >> 8) + 1) / 16777216.0, u2 = double(w.v[1] >> 8) / 16777216.0;
      double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.14159265358979323846 * u2);
      if (k == 0) ASSERT_NEAR(f[size_t(i)], z, 1e-6 * std::max(1.0, std::fabs(z))) << i;
      else ASSERT_NEAR(d[size_t(i)], z, 1e-14 * std::max(1.0, std::fabs(z))) << i;
    }
  }
}

TEST(Random, DeterministicBySeedAndOffset) {
  manual_seed(42);
  EXPECT_EQ(default_generator().seed(), 42u);
  EXPECT_EQ(default_generator().offset(), 0u);
  std::vector<float> a = host<float>(randn({300}));
  EXPECT_EQ(default_generator().offset(), 300u);
  std::vector<float> a2 = host<float>(randn({200}));
  manual_seed(42);
  std::vector<float> b = host<float>(randn({500}));
  for (size_t i = 0; i < 300; ++i) ASSERT_EQ(a[i], b[i]);
  for (size_t i = 0; i < 200; ++i) ASSERT_EQ(a2[i], b[300 + i]);
  manual_seed(43);
  std::vector<float> c = host<float>(randn({300}));
  int same = 0;
  for (size_t i = 0; i < 300; ++i) same += a[i] == c[i];
  EXPECT_LT(same, 3);
  // get_state / set_state replay a call exactly (checkpoints).
  GeneratorState s = default_generator().get_state();
  std::vector<float> r1 = host<float>(rand({64, 3}));
  default_generator().set_state(s);
  std::vector<float> r2 = host<float>(rand({64, 3}));
  EXPECT_EQ(r1, r2);
  EXPECT_EQ(default_generator().get_state(), (GeneratorState{43, 300 + 192}));
  // Empty tensors reserve nothing.
  uint64_t off = default_generator().offset();
  EXPECT_EQ(rand({0, 5}).numel(), 0);
  EXPECT_EQ(default_generator().offset(), off);
}

TEST(Random, Moments) {
  manual_seed(7);
  const int64_t n = 1 << 20;
  for (DType dt : {kFloat32, kFloat64, kBFloat16, kFloat16}) {
    std::vector<double> u = as_double(rand({n}, dt));
    double mean = 0, m2 = 0, lo = 1, hi = 0;
    for (double v : u) {
      mean += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    mean /= double(n);
    for (double v : u) m2 += (v - mean) * (v - mean);
    m2 /= double(n);
    double step = dt == kBFloat16 ? 1.0 / 256 : dt == kFloat16 ? 1.0 / 2048 : 0.0;
    EXPECT_NEAR(mean, 0.5 - step / 2, 2e-3) << dtype_name(dt);      // quantised levels average below 0.5
    EXPECT_NEAR(m2, 1.0 / 12, 2e-3) << dtype_name(dt);
    EXPECT_GE(lo, 0.0);
    EXPECT_LT(hi, 1.0);
    std::vector<double> z = as_double(randn({n}, dt));
    double zm = 0, z2 = 0, z3 = 0, z4 = 0, tail = 0;
    for (double v : z) {
      zm += v;
      z2 += v * v;
      z3 += v * v * v;
      z4 += v * v * v * v;
      tail += std::fabs(v) > 1.959963984540054;
    }
    zm /= double(n), z2 /= double(n), z3 /= double(n), z4 /= double(n), tail /= double(n);
    EXPECT_NEAR(zm, 0.0, 5e-3) << dtype_name(dt);
    EXPECT_NEAR(z2, 1.0, 1e-2) << dtype_name(dt);
    EXPECT_NEAR(z3, 0.0, 2e-2) << dtype_name(dt);
    EXPECT_NEAR(z4, 3.0, 5e-2) << dtype_name(dt);
    EXPECT_NEAR(tail, 0.05, 2e-3) << dtype_name(dt);
  }
}

TEST(Random, RandintRangeAndStream) {
  const uint64_t seed = 5;
  manual_seed(seed);
  std::vector<int64_t> v = host<int64_t>(randint(-3, 4, {20000}));
  std::vector<int> counts(7, 0);
  for (size_t i = 0; i < v.size(); ++i) {
    ASSERT_GE(v[i], -3);
    ASSERT_LT(v[i], 4);
    ++counts[size_t(v[i] + 3)];
    Philox4x32 w = words_at(seed, i);
    ASSERT_EQ(v[i], -3 + int64_t(((uint64_t(w.v[0]) << 32) | w.v[1]) % 7u)) << i;
  }
  for (int c : counts) EXPECT_NEAR(c, 20000 / 7, 200);
  Tensor i32 = randint(10, {1000}, kInt32);
  EXPECT_EQ(i32.dtype(), kInt32);
  for (int32_t x : host<int32_t>(i32)) ASSERT_TRUE(x >= 0 && x < 10);
  Tensor f = randint(0, 5, {100}, kFloat32);
  for (float x : host<float>(f)) ASSERT_EQ(x, std::floor(x));
  // A range wider than 32 bits uses the whole 64-bit word.
  std::vector<int64_t> wide = host<int64_t>(randint(0, int64_t(1) << 40, {2000}));
  int64_t mx = 0;
  for (int64_t x : wide) mx = std::max(mx, x);
  EXPECT_GT(mx, int64_t(1) << 39);
  try {
    (void)randint(5, 5, {3});
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "randint: expects 'low' to be less than 'high', but got low=5 >= high=5");
  }
  EXPECT_THROW(randint(0, int64_t(1) << 33, {3}, kInt32), ValueError);
  EXPECT_THROW(randint(0, 2, {3}, kBool), DTypeError);
}

TEST(Random, DropoutMask) {
  const uint64_t seed = 11;
  manual_seed(seed);
  const int64_t n = 200003;
  std::vector<bool> keep;
  for (bool b : host<bool>(raw::dropout_mask({n}, 0.3, Device::cpu()))) keep.push_back(b);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    double u = double(words_at(seed, uint64_t(i)).v[0] >> 8) / 16777216.0;
    ASSERT_EQ(keep[size_t(i)], u >= 0.3) << i;
    kept += keep[size_t(i)];
  }
  EXPECT_NEAR(double(kept) / double(n), 0.7, 5e-3);
  // The mask is the same stream as rand: keep == (rand >= p).
  manual_seed(seed);
  std::vector<float> u = host<float>(rand({n}));
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(keep[size_t(i)], double(u[size_t(i)]) >= 0.3);
  for (bool b : host<bool>(raw::dropout_mask({100}, 0.0, Device::cpu()))) EXPECT_TRUE(b);
  for (bool b : host<bool>(raw::dropout_mask({100}, 1.0, Device::cpu()))) EXPECT_FALSE(b);
  try {
    (void)raw::dropout_mask({3}, 1.5, Device::cpu());
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_STREQ(e.what(), "dropout_mask: dropout probability has to be between 0 and 1, but got 1.5");
  }
}

TEST(Random, LikeFactoriesOptionsAndErrors) {
  Tensor t = zeros({3, 4}, kBFloat16);
  Tensor r = rand_like(t), z = randn_like(t);
  EXPECT_EQ(r.sizes(), IntArrayRef({3, 4}));
  EXPECT_EQ(r.dtype(), kBFloat16);
  EXPECT_EQ(z.dtype(), kBFloat16);
  EXPECT_FALSE(r.requires_grad());
  Tensor g = randn({2, 2}, TensorOptions().requires_grad(true));
  EXPECT_TRUE(g.requires_grad());
  try {
    (void)rand({2}, kInt64);
    FAIL();
  } catch (const DTypeError& e) {
    EXPECT_STREQ(e.what(), "rand: expected a floating point dtype, but got int64");
  }
  EXPECT_THROW(randn({2}, kInt32), DTypeError);
}
