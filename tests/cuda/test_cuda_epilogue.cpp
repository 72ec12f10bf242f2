// cuBLASLt GEMMs with epilogues on CUDA against the CPU: addmm's bias epilogue and addmm_gelu_tanh's
// bias + GELU epilogue (values, the saved pre-activation through the gradients, odd widths that take
// the generic path, misaligned operand views), nn::functional::linear / linear_gelu_tanh under
// bf16 autocast, and float32 GEMMs with TF32 allowed and not.
#include <gtest/gtest.h>

#include "cuda_test_util.h"
#include "tessera/nn/functional.h"

using namespace cuda_test;

namespace {
struct Shape3 {
  int64_t M, K, N;
};
const std::vector<Shape3> kShapes = {{1, 1, 1}, {7, 13, 5}, {33, 64, 96}, {128, 257, 64}, {5, 8, 72}};

Tol gemm_tol(DType dt) { return dt == kFloat32 ? Tol{1e-4, 1e-4} : Tol{tol_for(dt).rtol, 0.1}; }
}  // namespace

TEST(CudaEpilogue, AddmmBiasMatchesCpu) {
  REQUIRE_CUDA();
  for (DType dt : {kFloat32, kBFloat16, kFloat16, kFloat64}) {
    for (const Shape3& s : kShapes) {
      Tensor a = random_cpu({s.M, s.K}, dt), w = random_cpu({s.N, s.K}, dt), b = random_cpu({s.N}, dt);
      Tensor want;
      CPU_REF(want = raw::addmm(b.to(kFloat64), a.to(kFloat64), w.to(kFloat64).t()));
      // w^T is a transposed view on the device, as in linear
      Tensor got = raw::addmm(to_cuda(b), to_cuda(a), to_cuda(w).t());
      expect_close(got.cpu(), want, gemm_tol(dt),
                   "addmm " + dn(dt) + " " + std::to_string(s.M) + "x" + std::to_string(s.K) + "x" + std::to_string(s.N));
    }
  }
}

TEST(CudaEpilogue, AddmmMisalignedViewsAndGeneralBeta) {
  REQUIRE_CUDA();
  // operands starting 1 element into their storage: cuBLASLt must not assume 256-byte alignment
  Tensor a = random_cpu({1 + 31 * 40}, kBFloat16), w = random_cpu({1 + 48 * 40}, kBFloat16),
         b = random_cpu({1 + 48}, kBFloat16);
  Tensor av = raw::view(raw::narrow(a, 0, 1, 31 * 40), {31, 40}), wv = raw::view(raw::narrow(w, 0, 1, 48 * 40), {48, 40}),
         bv = raw::narrow(b, 0, 1, 48);
  Tensor da = raw::view(raw::narrow(to_cuda(a), 0, 1, 31 * 40), {31, 40});
  Tensor dw = raw::view(raw::narrow(to_cuda(w), 0, 1, 48 * 40), {48, 40});
  Tensor db = raw::narrow(to_cuda(b), 0, 1, 48);
  Tensor want = raw::addmm(bv.to(kFloat64), av.to(kFloat64), wv.to(kFloat64).t());
  expect_close(raw::addmm(db, da, dw.t()).cpu(), want, gemm_tol(kBFloat16), "addmm misaligned bf16");
  // beta/alpha != 1 and a 2-D self take the composite path
  Tensor c = random_cpu({31, 48}, kFloat32);
  Tensor want2 = raw::addmm(c.to(kFloat64), av.to(kFloat64), wv.to(kFloat64).t(), 0.5, 2.0);
  Tensor got2 = raw::addmm(to_cuda(c), da.to(kFloat32), dw.to(kFloat32).t(), 0.5, 2.0);
  expect_close(got2.cpu(), want2, Tol{1e-2, 1e-2}, "addmm beta 0.5 alpha 2");
}

TEST(CudaEpilogue, AddmmGeluTanhValuesAndPreActivation) {
  REQUIRE_CUDA();
  for (DType dt : {kFloat32, kBFloat16, kFloat16}) {
    for (const Shape3& s : kShapes) {  // N = 5, 1: no aux epilogue (N % 8 != 0), the generic path
      Tensor a = random_cpu({s.M, s.K}, dt, -0.5, 0.5), w = random_cpu({s.N, s.K}, dt, -0.5, 0.5),
             b = random_cpu({s.N}, dt);
      Tensor pre_want = raw::addmm(b.to(kFloat64), a.to(kFloat64), w.to(kFloat64).t());
      Tensor want = raw::unary(UnaryOp::GeluTanh, pre_want);
      Tensor da = to_cuda(a), dw = to_cuda(w), db = to_cuda(b);
      auto [out, pre] = raw::addmm_gelu_tanh(db, da, dw.t());
      std::string what = dn(dt) + " " + std::to_string(s.M) + "x" + std::to_string(s.K) + "x" + std::to_string(s.N);
      expect_close(pre.cpu(), pre_want, gemm_tol(dt), "addmm_gelu pre-activation " + what);
      expect_close(out.cpu(), want, gemm_tol(dt), "addmm_gelu output " + what);
    }
  }
}

TEST(CudaEpilogue, LinearGeluGradientsMatchCpu) {
  REQUIRE_CUDA();
  for (DType dt : {kFloat32, kBFloat16}) {
    Tensor x = random_cpu({2, 9, 32}, dt, -1, 1), w = random_cpu({64, 32}, dt, -0.3, 0.3), b = random_cpu({64}, dt);
    Tensor g = random_cpu({2, 9, 64}, dt);
    auto run = [&](Device dev) {
      Tensor xs = x.to(dev).requires_grad_(), ws = w.to(dev).requires_grad_(), bs = b.to(dev).requires_grad_();
      Tensor y = nn::functional::linear_gelu_tanh(xs, ws, bs);
      y.backward(g.to(dev));
      return std::vector<Tensor>{y.detach().cpu(), xs.grad().cpu(), ws.grad().cpu(), bs.grad().cpu()};
    };
    std::vector<Tensor> cpu, gpu;
    CPU_REF(cpu = run(Device::cpu()));
    gpu = run(kDev);
    const char* names[] = {"y", "dx", "dw", "db"};
    for (size_t i = 0; i < 4; ++i)
      expect_close(gpu[i], cpu[i], dt == kFloat32 ? Tol{1e-4, 1e-4} : Tol{3e-2, 0.15},
                   std::string("linear_gelu_tanh ") + names[i] + " " + dn(dt));
  }
}

TEST(CudaEpilogue, LinearUnderBf16AutocastUsesTheEpilogue) {
  REQUIRE_CUDA();
  Tensor x = random_cpu({16, 48}, kFloat32), w = random_cpu({40, 48}, kFloat32, -0.2, 0.2), b = random_cpu({40}, kFloat32);
  Tensor want = raw::addmm(b.to(kFloat64), x.to(kFloat64), w.to(kFloat64).t());
  Tensor y;
  {
    AutocastGuard ac(DeviceType::CUDA, kBFloat16);
    y = nn::functional::linear(to_cuda(x), to_cuda(w), to_cuda(b));
  }
  EXPECT_EQ(y.dtype(), kBFloat16);
  expect_close(y.cpu(), want, Tol{3e-2, 0.2}, "autocast linear");
}

TEST(CudaEpilogue, Float32GemmWithAndWithoutTf32) {
  REQUIRE_CUDA();
  Tensor a = random_cpu({96, 512}, kFloat32), b = random_cpu({512, 80}, kFloat32);
  Tensor want = raw::mm(a.to(kFloat64), b.to(kFloat64));
  const bool before = cuda::allow_tf32();
  cuda::set_allow_tf32(false);
  Tensor exact = raw::mm(to_cuda(a), to_cuda(b)).cpu();
  cuda::set_allow_tf32(true);
  Tensor fast = raw::mm(to_cuda(a), to_cuda(b)).cpu();
  cuda::set_allow_tf32(before);
  expect_close(exact, want, Tol{1e-5, 1e-4}, "fp32 gemm, tf32 off");
  // TF32 keeps 10 mantissa bits: ~1e-3 relative per product, sums of 512 terms of size ~1
  expect_close(fast, want, Tol{2e-2, 0.3}, "fp32 gemm, tf32 on");
}
