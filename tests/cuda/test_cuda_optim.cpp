// Optimizers and mixed precision on CUDA tensors: AdamW's composite path on CUDA against the fused
// CPU step, SGD with momentum, GradScaler's inf check and unscale on CUDA gradients, and autocast
// on CUDA (bfloat16 matmul, float32 softmax, float32 gradients on float32 weights). The state stays
// on the parameter's device (no silent CPU fallback).
#include <gtest/gtest.h>

#include "cuda_test_util.h"

using namespace cuda_test;

namespace {
Tensor cpu_leaf(IntArrayRef shape, DType dt, uint64_t seed) {
  set_seed(seed);
  return random_cpu(shape, dt).requires_grad_();
}
}  // namespace

TEST(CudaOptim, AdamWMatchesFusedCpu) {
  REQUIRE_CUDA();
  for (DType dt : {kFloat32, kBFloat16}) {
    Tensor pc = cpu_leaf({33, 65}, dt, 1);
    Tensor pg = pc.detach().to(kDev).requires_grad_();
    optim::AdamW oc({pc}, {.lr = 1e-2, .weight_decay = 0.1});
    optim::AdamW og({pg}, {.lr = 1e-2, .weight_decay = 0.1});
    for (int s = 0; s < 5; ++s) {
      set_seed(100 + s);
      Tensor g = random_cpu({33, 65}, dt);
      pc.set_grad(g);
      pg.set_grad(g.to(kDev));
      oc.step();
      og.step();
    }
    EXPECT_TRUE(pg.is_cuda());
    EXPECT_TRUE(og.state(0).at("exp_avg").is_cuda());
    EXPECT_EQ(og.state(0).at("exp_avg").dtype(), kFloat32);
    expect_close(pg.detach().cpu(), pc.detach(), dt == kFloat32 ? Tol{1e-5, 1e-6} : Tol{2e-2, 2e-2},
                 "adamw " + dn(dt));
  }
}

TEST(CudaOptim, SGDMomentumMatchesCpu) {
  REQUIRE_CUDA();
  Tensor pc = cpu_leaf({17, 9}, kFloat32, 2);
  Tensor pg = pc.detach().to(kDev).requires_grad_();
  optim::SGDOptions o{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true};
  optim::SGD oc({pc}, o), og({pg}, o);
  for (int s = 0; s < 4; ++s) {
    set_seed(200 + s);
    Tensor g = random_cpu({17, 9}, kFloat32);
    pc.set_grad(g);
    pg.set_grad(g.to(kDev));
    oc.step();
    og.step();
  }
  expect_close(pg.detach().cpu(), pc.detach(), Tol{1e-5, 1e-6}, "sgd nesterov");
}

TEST(CudaOptim, GradScalerFindsInfOnCuda) {
  REQUIRE_CUDA();
  Tensor p = zeros({8}, TensorOptions(kFloat32).device(kDev)).requires_grad_();
  optim::SGD opt({p}, {.lr = 1.0});
  amp::GradScaler scaler(4.0, 2.0, 0.5, 100);
  p.set_grad(full({8}, 8.0f, TensorOptions(kFloat32).device(kDev)));
  EXPECT_TRUE(scaler.step(opt));
  scaler.update();
  expect_close(p.detach().cpu(), std::vector<double>(8, -2.0), Tol{0, 0}, "unscaled step");
  Tensor g = full({8}, 1.0f);
  g.data_ptr<float>()[3] = INFINITY;
  p.set_grad(g.to(kDev));
  EXPECT_FALSE(scaler.step(opt));
  scaler.update();
  EXPECT_EQ(scaler.get_scale(), 2.0);
  expect_close(p.detach().cpu(), std::vector<double>(8, -2.0), Tol{0, 0}, "skipped step");
}

TEST(CudaAutocast, DtypesAndGradients) {
  REQUIRE_CUDA();
  Tensor x = random_cpu({16, 64}, kFloat32).to(kDev);
  Tensor w = random_cpu({64, 32}, kFloat32).to(kDev).requires_grad_();
  Tensor loss;
  {
    AutocastGuard guard(kCUDA, kBFloat16);
    Tensor h = matmul(x, w);
    EXPECT_EQ(h.dtype(), kBFloat16);
    Tensor p = h.softmax(-1);
    EXPECT_EQ(p.dtype(), kFloat32);
    loss = p.square().sum();
    // a CPU-only guard does not touch CUDA ops and vice versa
    AutocastGuard cpu_off(kCPU, kBFloat16, false);
    EXPECT_EQ(matmul(x, w).dtype(), kBFloat16);
  }
  EXPECT_EQ(matmul(x.cpu(), w.detach().cpu()).dtype(), kFloat32);
  loss.backward();
  ASSERT_TRUE(w.grad().defined());
  EXPECT_TRUE(w.grad().is_cuda());
  EXPECT_EQ(w.grad().dtype(), kFloat32);
}
