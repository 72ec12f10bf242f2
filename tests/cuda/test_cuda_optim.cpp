// Optimizers and mixed precision on CUDA tensors: AdamW on CUDA (the multi-tensor step, Note
// [multi-tensor adamw], and the composite path) against the fused CPU step, SGD with momentum, GradScaler's inf check and unscale on CUDA gradients, and autocast
// on CUDA (bfloat16 matmul, float32 softmax, float32 gradients on float32 weights). The state stays
// on the parameter's device (no silent CPU fallback).
#include <gtest/gtest.h>

#include <cstring>
#include <limits>

#include "cuda_test_util.h"
#include "tessera/cuda/kernels/kernel_api.h"
#include "tessera/tensor/backend.h"

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

namespace {

// Ordered integer of a float's bits (adjacent floats differ by 1), for ulp distances.
int64_t ordered_bits(const Tensor& t, int64_t i) {
  int64_t b = 0, sign = 0;
  switch (t.dtype()) {
    case DType::Float32: {
      uint32_t u;
      std::memcpy(&u, t.data_ptr<float>() + i, 4);
      b = u & 0x7fffffffu;
      sign = u >> 31;
      break;
    }
    case DType::BFloat16: b = t.data_ptr<BFloat16>()[i].bits & 0x7fff; sign = t.data_ptr<BFloat16>()[i].bits >> 15; break;
    case DType::Float16: b = t.data_ptr<Half>()[i].bits & 0x7fff; sign = t.data_ptr<Half>()[i].bits >> 15; break;
    default: ADD_FAILURE() << "ordered_bits: unexpected dtype " << dtype_name(t.dtype());
  }
  return sign ? -b : b;
}

// The largest ulp distance between two same-dtype tensors (copied to CPU); NaN anywhere is "infinitely" far.
int64_t max_ulp(const Tensor& got, const Tensor& want) {
  Tensor a = got.detach().cpu().contiguous(), b = want.detach().cpu().contiguous();
  EXPECT_EQ(a.dtype(), b.dtype());
  EXPECT_EQ(a.numel(), b.numel());
  if (a.dtype() != b.dtype() || a.numel() != b.numel()) return std::numeric_limits<int64_t>::max();
  Tensor a64 = a.to(kFloat64), b64 = b.to(kFloat64);
  int64_t worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    if (std::isnan(a64.data_ptr<double>()[i]) || std::isnan(b64.data_ptr<double>()[i]))
      return std::numeric_limits<int64_t>::max();
    worst = std::max(worst, std::abs(ordered_bits(a, i) - ordered_bits(b, i)));
  }
  return worst;
}

struct MultiCase {
  DType dt;
  bool master;
};

}  // namespace

// The multi-tensor step (through AdamW::step's grouping) against the fused CPU step: 131 tensors of
// sizes around the kernel's edges (1, 3, vector width 4 +- 1, chunk 65536 +- 1, ...), more tensors than
// one launch holds, one tensor of more chunks than one launch has blocks, tensors at storage offset 1
// (misaligned: the scalar path) whose neighbouring elements must stay untouched, misaligned gradients,
// two parameter groups, and per-tensor step counts that differ (some tensors skip steps).
TEST(CudaOptim, MultiTensorAdamWMatchesFusedCpu) {
  REQUIRE_CUDA();
  const int64_t chunk = cuda::kern::kAdamWChunk;
  const std::vector<int64_t> odd = {1, 3, 1023, 4097, chunk - 1, chunk, chunk + 1, 2 * chunk + 3, 7, 2, 4 * chunk + 3, 5};
  std::vector<int64_t> sizes;
  for (int i = 0; i < 130; ++i) sizes.push_back(odd[size_t(i) % odd.size()]);
  sizes.push_back(int64_t(cuda::kern::kAdamWMaxBlocks + 11) * chunk + 5);
  for (MultiCase c : {MultiCase{kFloat32, false}, MultiCase{kBFloat16, false}, MultiCase{kBFloat16, true},
                      MultiCase{kFloat16, true}}) {
    const std::string what = dn(c.dt) + (c.master ? " master" : "");
    SCOPED_TRACE(what);
    manual_seed(1234);
    std::vector<Tensor> pc, pg, bases;  // bases: the sentinel-filled storage of the offset parameters
    for (size_t i = 0; i < sizes.size(); ++i) {
      Tensor init = randn({sizes[i]}).to(c.dt);
      pc.push_back(init.clone().requires_grad_());
      if (i % 7 == 3) {
        Tensor base = full({sizes[i] + 2}, 7.0f, TensorOptions(c.dt).device(kDev));
        Tensor view = base.slice(0, 1, sizes[i] + 1);
        view.copy_(init.to(kDev));
        bases.push_back(base);
        pg.push_back(view.detach().requires_grad_());
        ASSERT_EQ(pg.back().storage_offset(), 1);
      } else {
        pg.push_back(init.to(kDev).requires_grad_());
      }
    }
    auto groups = [&](const std::vector<Tensor>& ps) {
      size_t half = ps.size() / 2;
      return std::vector<optim::ParamGroup>{
          {std::vector<Tensor>(ps.begin(), ps.begin() + long(half)), {}, 1e-2, 0.1},
          {std::vector<Tensor>(ps.begin() + long(half), ps.end()), {}, 3e-3, 0.0}};
    };
    const optim::AdamWOptions o{.lr = 1e-2, .weight_decay = 0.1, .master_weights = c.master};
    optim::AdamW oc(groups(pc), o), og(groups(pg), o);
    for (int s = 0; s < 4; ++s) {
      for (size_t i = 0; i < sizes.size(); ++i) {
        if (i % 5 == 2 && s % 2 == 0) {  // no gradient: this tensor's step count falls behind
          pc[i].set_grad(Tensor());
          pg[i].set_grad(Tensor());
          continue;
        }
        Tensor g = randn({sizes[i]}).to(c.dt);
        pc[i].set_grad(g);
        if (i % 11 == 4) {  // a gradient at storage offset 1 (contiguous, misaligned)
          Tensor gb = zeros({sizes[i] + 1}, TensorOptions(c.dt).device(kDev));
          Tensor gv = gb.slice(0, 1, sizes[i] + 1);
          gv.copy_(g.to(kDev));
          pg[i].set_grad(gv);
        } else {
          pg[i].set_grad(g.to(kDev));
        }
      }
      oc.step();
      og.step();
    }
    cuda::synchronize();
    // float32: the same operations with the same roundings (1-2 ulp allowed); 16-bit parameters may
    // round the other way where their float32 value differs by an ulp.
    const int64_t param_ulps = c.dt == kFloat32 ? 2 : 1;
    for (size_t i = 0; i < sizes.size(); ++i) {
      SCOPED_TRACE("tensor " + std::to_string(i) + " of size " + std::to_string(sizes[i]));
      ASSERT_TRUE(pg[i].is_cuda());
      EXPECT_LE(max_ulp(pg[i], pc[i]), param_ulps);
      const auto& sc = oc.state(i);
      const auto& sg = og.state(i);
      ASSERT_EQ(sc.size(), sg.size());
      EXPECT_EQ(sg.at("step").item<int64_t>(), sc.at("step").item<int64_t>());
      EXPECT_EQ(sg.at("step").item<int64_t>(), i % 5 == 2 ? 2 : 4);
      EXPECT_TRUE(sg.at("exp_avg").is_cuda());
      EXPECT_LE(max_ulp(sg.at("exp_avg"), sc.at("exp_avg")), 2);
      EXPECT_LE(max_ulp(sg.at("exp_avg_sq"), sc.at("exp_avg_sq")), 2);
      EXPECT_EQ(sg.count("master_param"), c.master && c.dt != kFloat32 ? 1u : 0u);
      if (sg.count("master_param")) {
        EXPECT_LE(max_ulp(sg.at("master_param"), sc.at("master_param")), 2);
        // the parameter is the master rounded
        EXPECT_EQ(max_ulp(pg[i], sg.at("master_param").to(c.dt)), 0);
      }
    }
    for (const Tensor& base : bases) {
      Tensor b = base.cpu().to(kFloat32);
      EXPECT_EQ(b.data_ptr<float>()[0], 7.0f) << "element before an offset parameter was written";
      EXPECT_EQ(b.data_ptr<float>()[b.numel() - 1], 7.0f) << "element after an offset parameter was written";
    }
  }
}

// The backend primitive directly: its checks name the slot and what is wrong, an empty list and empty
// tensors are fine, and versions are the caller's business.
TEST(CudaOptim, AdamWStepPrimitiveChecksItsSlots) {
  REQUIRE_CUDA();
  Backend& be = backend_for(kDev);
  auto slot = [](DType dt, int64_t n) {
    TensorOptions po = TensorOptions(dt).device(kDev), so = TensorOptions(kFloat32).device(kDev);
    AdamWSlot s;
    s.param = full({n}, 1.0f, po);
    s.grad = full({n}, 0.5f, po);
    s.exp_avg = zeros({n}, so);
    s.exp_avg_sq = zeros({n}, so);
    s.lr = 1e-2;
    s.weight_decay = 0.0;
    s.step = 1;
    return s;
  };
  be.adamw_step({}, 0.9, 0.999, 1e-8);
  std::vector<AdamWSlot> ok = {slot(kFloat32, 0), slot(kFloat32, 5)};
  be.adamw_step(ok, 0.9, 0.999, 1e-8);
  // one step of Adam moves by lr (the bias-corrected m / sqrt(v) is g / |g|)
  expect_close(ok[1].param.cpu(), std::vector<double>(5, 1.0 - 1e-2), Tol{1e-6, 1e-6}, "one step");
  auto error_of = [&](std::vector<AdamWSlot> slots) -> std::string {
    try {
      be.adamw_step(slots, 0.9, 0.999, 1e-8);
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(error_of({slot(kFloat64, 3)}).find("float64 uses the composite path"), std::string::npos);
  AdamWSlot mixed = slot(kBFloat16, 3);
  EXPECT_NE(error_of({slot(kFloat32, 3), mixed}).find("slot 1's param"), std::string::npos);
  AdamWSlot strided = slot(kFloat32, 3);
  strided.grad = full({6}, 0.5f, TensorOptions(kFloat32).device(kDev)).slice(0, 0, 6, 2);
  EXPECT_NE(error_of({strided}).find("contiguous"), std::string::npos);
  AdamWSlot master32 = slot(kFloat32, 3);
  master32.master = zeros({3}, TensorOptions(kFloat32).device(kDev));
  EXPECT_NE(error_of({master32}).find("master weights are for bfloat16/float16"), std::string::npos);
  AdamWSlot on_cpu = slot(kFloat32, 3);
  on_cpu.exp_avg = zeros({3});
  EXPECT_NE(error_of({on_cpu}).find("slot 0's exp_avg"), std::string::npos);
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
