// Core tensor tests: dtypes and promotion, 16-bit rounding, creation, views without copies,
// reshape/contiguous, copy with casts, cat/stack, printing and error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "tessera/tessera.h"

using namespace tessera;

namespace {
template <typename T>
std::vector<T> values(const Tensor& t) {
  Tensor c = t.contiguous().to(dtype_of<T>::value).cpu();
  const T* p = c.data_ptr<T>();
  return std::vector<T>(p, p + c.numel());
}
}  // namespace

TEST(DType, Promotion) {
  EXPECT_EQ(promote_types(kInt32, kFloat16), kFloat16);
  EXPECT_EQ(promote_types(kBFloat16, kFloat16), kFloat32);
  EXPECT_EQ(promote_types(kFloat32, kFloat64), kFloat64);
  EXPECT_EQ(promote_types(kBool, kInt32), kInt32);
  EXPECT_EQ(promote_types(kInt32, kInt64), kInt64);
  EXPECT_EQ(promote_types(kBool, kBool), kBool);
  EXPECT_EQ(element_size(kBFloat16), 2u);
  EXPECT_EQ(dtype_name(kBFloat16), "bfloat16");
}

TEST(DType, BFloat16RoundsToNearestEven) {
  // 1 + 2^-8 is exactly halfway between two bfloat16 values: ties go to the even one (1.0).
  EXPECT_EQ(float(BFloat16(1.0f + 1.0f / 256)), 1.0f);
  // 1 + 3 * 2^-8 is halfway between 1+2^-7 (odd mantissa) and 1+2^-6 (even): rounds up.
  EXPECT_EQ(float(BFloat16(1.0f + 3.0f / 256)), 1.0f + 1.0f / 64);
  EXPECT_EQ(float(BFloat16(3.140625f)), 3.140625f);
  EXPECT_TRUE(std::isnan(float(BFloat16(NAN))));
  EXPECT_TRUE(std::isinf(float(BFloat16(INFINITY))));
}

TEST(DType, HalfRoundsToNearestEvenAndHandlesRange) {
  EXPECT_EQ(float(Half(1.0f + 1.0f / 2048)), 1.0f);                   // tie -> even
  EXPECT_EQ(float(Half(1.0f + 3.0f / 2048)), 1.0f + 1.0f / 512);     // tie -> even (up)
  EXPECT_EQ(float(Half(65504.0f)), 65504.0f);                          // max finite
  EXPECT_TRUE(std::isinf(float(Half(65520.0f))));                      // rounds to inf
  EXPECT_EQ(float(Half(5.9604644775390625e-8f)), 5.9604644775390625e-8f);  // smallest subnormal
  EXPECT_EQ(float(Half(2.98023223876953125e-8f)), 0.0f);              // half of it: tie -> 0
  EXPECT_EQ(float(Half(-2.5f)), -2.5f);
  // Every half value round-trips exactly through float.
  for (uint32_t b = 0; b < 0x10000; ++b) {
    Half h = Half::from_bits(uint16_t(b));
    float f = float(h);
    if (std::isnan(f)) continue;
    ASSERT_EQ(Half(f).bits, h.bits) << b;
  }
}

TEST(Creation, Basics) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.dim(), 2);
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.dtype(), kFloat32);
  EXPECT_TRUE(z.is_contiguous());
  for (float v : values<float>(z)) EXPECT_EQ(v, 0.0f);
  Tensor f = full({4}, 2.5, kFloat64);
  for (double v : values<double>(f)) EXPECT_EQ(v, 2.5);
  Tensor a = arange(5);
  EXPECT_EQ(a.dtype(), kInt64);
  EXPECT_EQ(values<int64_t>(a), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  Tensor af = arange(0.0, 1.0, 0.25);
  EXPECT_EQ(af.dtype(), kFloat32);
  EXPECT_EQ(values<float>(af), (std::vector<float>{0, 0.25f, 0.5f, 0.75f}));
  Tensor l = linspace(0, 1, 5, kFloat64);
  EXPECT_EQ(values<double>(l), (std::vector<double>{0, 0.25, 0.5, 0.75, 1.0}));
  Tensor e = eye(3);
  EXPECT_EQ(values<float>(e), (std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1}));
  Tensor t = tensor({1.5f, -2.0f});
  EXPECT_EQ(t.dtype(), kFloat32);
}

TEST(Creation, ItemNeedsOneElement) {
  Tensor t = tensor({1.5f, -2.0f});
  EXPECT_THROW(t.item<float>(), ValueError);
  EXPECT_EQ(tensor({7.0}).item<double>(), 7.0);
}

TEST(Views, ShareStorageAndVersion) {
  Tensor a = arange(12, kFloat32).view({3, 4});
  Tensor t = a.transpose(0, 1);
  EXPECT_TRUE(t.is_alias_of(a));
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.sizes(), IntArrayRef({4, 3}));
  EXPECT_EQ(t.strides(), IntArrayRef({1, 4}));
  EXPECT_EQ(values<float>(t), (std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11}));
  uint32_t v = a._version();
  t.fill_(1.0);
  EXPECT_EQ(a._version(), v + 1);
  for (float x : values<float>(a)) EXPECT_EQ(x, 1.0f);
}

TEST(Views, SliceSelectNarrowExpand) {
  Tensor a = arange(24, kFloat32).view({2, 3, 4});
  EXPECT_EQ(values<float>(a.select(1, 2)), (std::vector<float>{8, 9, 10, 11, 20, 21, 22, 23}));
  EXPECT_EQ(values<float>(a.slice(2, 1, 4, 2)), (std::vector<float>{1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23}));
  EXPECT_EQ(values<float>(a.narrow(0, 1, 1).select(1, -1)), (std::vector<float>{20, 21, 22, 23}));
  Tensor r = arange(3, kFloat32).view({3, 1}).expand({3, 2});
  EXPECT_EQ(r.strides(), IntArrayRef({1, 0}));
  EXPECT_EQ(values<float>(r), (std::vector<float>{0, 0, 1, 1, 2, 2}));
  EXPECT_EQ(a.unsqueeze(1).sizes(), IntArrayRef({2, 1, 3, 4}));
  EXPECT_EQ(a.unsqueeze(-1).sizes(), IntArrayRef({2, 3, 4, 1}));
  EXPECT_EQ(a.unsqueeze(0).squeeze().sizes(), IntArrayRef({2, 3, 4}));
  EXPECT_EQ(a.flatten(1).sizes(), IntArrayRef({2, 12}));
  EXPECT_EQ(a.permute({2, 0, 1}).sizes(), IntArrayRef({4, 2, 3}));
  auto parts = a.chunk(2, 2);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(values<float>(parts[1].select(0, 0).select(0, 0)), (std::vector<float>{2, 3}));
  auto sp = arange(5).split(2);
  ASSERT_EQ(sp.size(), 3u);
  EXPECT_EQ(sp[2].numel(), 1);
}

TEST(Views, ViewNeedsCompatibleStridesReshapeCopies) {
  Tensor a = arange(6, kFloat32).view({2, 3});
  Tensor t = a.t();
  try {
    t.view({6});
    FAIL() << "expected a ShapeError";
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("view size is not compatible"), std::string::npos) << e.what();
  }
  Tensor r = t.reshape({6});
  EXPECT_FALSE(r.is_alias_of(a));
  EXPECT_EQ(values<float>(r), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor v = a.reshape({3, -1});
  EXPECT_TRUE(v.is_alias_of(a));
  EXPECT_EQ(v.sizes(), IntArrayRef({3, 2}));
  EXPECT_THROW(a.view({4, -1}), ShapeError);
  // a view of a non-contiguous tensor that does not cross chunks is allowed
  Tensor b = arange(24, kFloat32).view({2, 3, 4}).transpose(0, 1);  // [3,2,4]
  EXPECT_THROW(b.view({3, 8}), ShapeError);
  EXPECT_THROW(b.view({6, 4}), ShapeError);
  EXPECT_EQ(b.view({3, 2, 2, 2}).sizes(), IntArrayRef({3, 2, 2, 2}));
}

TEST(Copy, CastsAllDTypePairs) {
  const DType all[] = {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64, kBool};
  Tensor src = tensor({0.0, 1.0, 2.0, 3.0});
  for (DType a : all) {
    for (DType b : all) {
      Tensor x = src.to(a);
      Tensor y = x.to(b);
      EXPECT_EQ(y.dtype(), b);
      std::vector<double> got = values<double>(y);
      for (int i = 0; i < 4; ++i) {
        double want = (a == kBool || b == kBool) ? (i != 0 ? 1.0 : 0.0) : double(i);
        EXPECT_EQ(got[i], want) << dtype_name(a) << "->" << dtype_name(b);
      }
    }
  }
  // float -> int truncates toward zero like a C cast, float -> bfloat16 rounds to nearest even
  EXPECT_EQ(values<int32_t>(tensor({-1.7f, 2.9f}).to(kInt32)), (std::vector<int32_t>{-1, 2}));
  EXPECT_EQ(values<float>(tensor({1.0f + 1.0f / 256}).to(kBFloat16)), (std::vector<float>{1.0f}));
}

TEST(Copy, StridedAndBroadcast) {
  Tensor dst = zeros({3, 4});
  Tensor row = arange(4, kFloat32);
  dst.copy_(row);
  EXPECT_EQ(values<float>(dst.select(0, 2)), (std::vector<float>{0, 1, 2, 3}));
  Tensor big = arange(1000 * 37, kFloat64).view({1000, 37});
  Tensor tt = big.t().contiguous();
  EXPECT_EQ(tt.sizes(), IntArrayRef({37, 1000}));
  std::vector<double> v = values<double>(tt);
  for (int64_t i = 0; i < 37; ++i)
    for (int64_t j = 0; j < 1000; ++j) ASSERT_EQ(v[i * 1000 + j], double(j * 37 + i));
  EXPECT_THROW(zeros({3}).copy_(zeros({4})), ShapeError);
}

TEST(Join, CatAndStack) {
  Tensor a = arange(6, kFloat32).view({2, 3});
  Tensor b = arange(6, 9, 1, kFloat32).view({1, 3});
  Tensor c = cat({a, b}, 0);
  EXPECT_EQ(c.sizes(), IntArrayRef({3, 3}));
  EXPECT_EQ(values<float>(c), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  Tensor d = cat({a, a.to(kFloat64)}, 1);
  EXPECT_EQ(d.dtype(), kFloat64);
  EXPECT_EQ(values<double>(d.select(0, 1)), (std::vector<double>{3, 4, 5, 3, 4, 5}));
  Tensor s = stack({a, a}, 1);
  EXPECT_EQ(s.sizes(), IntArrayRef({2, 2, 3}));
  try {
    cat({a, arange(4, kFloat32).view({2, 2})}, 0);
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("cat: sizes of tensors must match"), std::string::npos) << e.what();
  }
}

TEST(Errors, DimensionOutOfRange) {
  Tensor a = zeros({2, 3});
  try {
    a.transpose(0, 2);
    FAIL();
  } catch (const IndexError& e) {
    EXPECT_NE(std::string(e.what()).find("Dimension out of range (expected to be in range of [-2, 1], but got 2)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(a.expand({3, 3}), ShapeError);
  EXPECT_THROW(a.select(0, 2), IndexError);
  EXPECT_THROW(zeros({-1}), ShapeError);
  EXPECT_THROW(Tensor().numel(), ValueError);
}

TEST(Print, LikePyTorch) {
  EXPECT_EQ(to_string(tensor({1.0f, 2.0f})), "tensor([1., 2.])");
  EXPECT_EQ(to_string(tensor({1.5, -2.25})), "tensor([ 1.5000, -2.2500], dtype=torch.float64)");
  EXPECT_EQ(to_string(arange(4).view({2, 2})), "tensor([[0, 1],\n        [2, 3]])");
  EXPECT_EQ(fmt::format("{}", tensor({true, false})), "tensor([ True, False])");
  std::string big = to_string(zeros({2000}));
  EXPECT_NE(big.find("..."), std::string::npos);
}

TEST(Storage, FromBlobDoesNotCopy) {
  float data[4] = {1, 2, 3, 4};
  Tensor t = from_blob(data, {2, 2});
  data[3] = 9;
  EXPECT_EQ(values<float>(t)[3], 9.0f);
}

TEST(Core, ToTakesLibTorchsArgumentOrder) {
  Tensor t = arange(0, 6, 1, TensorOptions(kFloat32)).view({2, 3});
  EXPECT_TRUE(t.to(kFloat32).is_same(t));
  EXPECT_TRUE(t.to(kFloat32, /*non_blocking=*/true).is_same(t)) << "non_blocking alone never copies";
  Tensor c = t.to(kFloat32, /*non_blocking=*/false, /*copy=*/true);
  EXPECT_FALSE(c.is_alias_of(t));
  EXPECT_TRUE(c.equal(t));
  Tensor d = t.to(Device::cpu(), kFloat64, /*non_blocking=*/false, /*copy=*/true);
  EXPECT_EQ(d.dtype(), kFloat64);
  t.copy_(full({2, 3}, 7.0), /*non_blocking=*/true);  // CPU -> CPU: a plain copy
  EXPECT_EQ(t.sum().item<float>(), 42.0f);
}

TEST(Core, PinMemoryNeedsACudaDevice) {
  Tensor t = full({4, 5}, 1.5);
  EXPECT_FALSE(t.is_pinned());
  if (pinned_allocator() == nullptr) {
    try {
      t.pin_memory();
      ADD_FAILURE() << "pin_memory without a CUDA device should throw";
    } catch (const DeviceError& e) {
      EXPECT_NE(std::string(e.what()).find("pin_memory: pinned host memory needs a CUDA device"), std::string::npos)
          << e.what();
    }
  } else {  // a machine with a GPU: the pinned copy is equal and pinned
    Tensor p = t.pin_memory();
    EXPECT_TRUE(p.is_pinned());
    EXPECT_TRUE(p.equal(t));
  }
}
