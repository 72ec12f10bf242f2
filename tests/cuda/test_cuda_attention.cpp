// The CUDA fused attention (kernels/attention.cu) against a float64 reference: the CPU backend's
// attention in float64 (itself checked against naive loops and finite differences in
// tests/tensor/test_attention.cpp) on the same (bf16/fp16-rounded) inputs. S in {1, 17, 128,
// 257, 1024}, D in {64, 128}, causal both ways, bfloat16 and float16; outputs are poisoned
// first; errors are relative norms ||got - ref|| / ||ref||. Both forward implementations (tensor
// cores, SIMT tiles) are checked.
#include <cmath>

#include "cuda_test_util.h"
#include "tessera/cuda/kernels/kernel_api.h"

using namespace tessera;
using namespace cuda_test;

namespace {
Backend& gpu() { return backend_for(kDev); }

double sq_norm(const Tensor& t) {
  double s = 0;
  for (double v : values(t)) s += v * v;
  return s;
}
// ||got - ref|| / max(||ref||, ||scale||). `scale` (default: ref) gives the magnitude to compare
// against when the exact result is ~0: with one key (S=1) dq and dk are exactly zero
// mathematically, and only rounding of the bf16/fp16 forward output is left in them.
double rel_err(const Tensor& got, const Tensor& ref, const Tensor& scale = {}) {
  std::vector<double> g = values(got), r = values(ref);
  double num = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    double d = g[i] - r[i];
    num += std::isnan(d) ? INFINITY : d * d;
  }
  double den = std::max(sq_norm(ref), scale.defined() ? sq_norm(scale) : 0.0);
  return std::sqrt(num / std::max(den, 1e-300));
}
Tensor f64(const Tensor& t) { return raw::to(t, Device::cpu(), kFloat64); }

// One (dtype, D, S, causal) case: the forward with the implementation `impl` (0 tensor cores,
// 1 SIMT) and, when `backward`, the backward from the float64 reference's out/lse (rounded to the
// dtype), so a wrong forward cannot hide or fake a backward result.
void attention_case(DType dt, int64_t D, int64_t S, bool causal, int impl, bool backward) {
  const int64_t B = S >= 1024 ? 1 : 2, H = 2;
  const double scale = 1.0 / std::sqrt(double(D));
  std::string tag = dn(dt) + " D=" + std::to_string(D) + " S=" + std::to_string(S) + (causal ? " causal" : "") +
                    (impl == 0 ? " (tensor cores)" : " (simt)");
  Tensor hq = random_cpu({B, H, S, D}, dt, -1.5, 1.5), hk = random_cpu({B, H, S, D}, dt, -1.5, 1.5),
         hv = random_cpu({B, H, S, D}, dt), hg = random_cpu({B, H, S, D}, dt);
  auto [ro, rl] = raw::scaled_dot_product_attention(f64(hq), f64(hk), f64(hv), causal);
  Tensor q = to_cuda(hq), k = to_cuda(hk), v = to_cuda(hv), g = to_cuda(hg);
  struct ImplGuard {  // the implementation for this case; the default (0) again afterwards
    explicit ImplGuard(int i) { cuda::kern::set_attention_impl(i); }
    ~ImplGuard() { cuda::kern::set_attention_impl(0); }
  } guard(impl);
  Tensor out = poisoned({B, H, S, D}, dt), lse = poisoned({B, H, S}, kFloat32);
  gpu().attention(out, lse, q, k, v, causal, scale);
  double tol = dt == kBFloat16 ? 1e-2 : 2e-3;
  EXPECT_LT(rel_err(out, ro), tol) << "out " << tag;
  EXPECT_LT(rel_err(lse, rl), 1e-4) << "lse " << tag;
  if (!backward) return;
  auto [rdq, rdk, rdv] =
      raw::scaled_dot_product_attention_backward(f64(hg), f64(hq), f64(hk), f64(hv), ro, rl, causal);
  Tensor ref_out = raw::to(ro, kDev, dt), ref_lse = raw::to(rl, kDev, kFloat32);
  Tensor dq = poisoned({B, H, S, D}, dt), dk = poisoned({B, H, S, D}, dt), dv = poisoned({B, H, S, D}, dt);
  gpu().attention_backward(dq, dk, dv, g, q, k, v, ref_out, ref_lse, causal, scale);
  double gtol = dt == kBFloat16 ? 2e-2 : 5e-3;
  EXPECT_LT(rel_err(dq, rdq, rdv), gtol) << "dq " << tag;
  EXPECT_LT(rel_err(dk, rdk, rdv), gtol) << "dk " << tag;
  EXPECT_LT(rel_err(dv, rdv), gtol) << "dv " << tag;
}
}  // namespace

// Separate suites (gpu_check runs one process per suite): a fault in one implementation
// cannot hide the other's results.
TEST(CudaAttentionSimt, ForwardBackwardVsFloat64) {
  REQUIRE_CUDA();
  for (DType dt : {kBFloat16, kFloat16})
    for (int64_t D : {64, 128})
      for (int64_t S : {1, 17, 128, 257, 1024})
        for (bool causal : {false, true}) attention_case(dt, D, S, causal, 1, true);
}

TEST(CudaAttention, TensorCoreForwardBackwardVsFloat64) {
  REQUIRE_CUDA();
  for (DType dt : {kBFloat16, kFloat16})
    for (int64_t D : {64, 128})
      for (int64_t S : {1, 17, 128, 257, 1024})
        for (bool causal : {false, true}) attention_case(dt, D, S, causal, 0, true);
}

// Inputs that start 8 bytes into their buffers are not 16-byte aligned: the tensor-core path
// must hand them to the SIMT kernels (and still be right).
TEST(CudaAttention, UnalignedInputsFallBack) {
  REQUIRE_CUDA();
  const int64_t B = 1, H = 2, S = 70, D = 64;
  for (bool causal : {false, true}) {
    Tensor hq = random_cpu({B, H, S, D}, kBFloat16), hk = random_cpu({B, H, S, D}, kBFloat16),
           hv = random_cpu({B, H, S, D}, kBFloat16), hg = random_cpu({B, H, S, D}, kBFloat16);
    auto shifted = [&](const Tensor& h) {
      Tensor big = poisoned({h.numel() + 4}, kBFloat16);
      Tensor view = raw::as_strided(big, h.sizes(), h.contiguous().strides(), 4);  // +8 bytes
      raw::copy_(view, h);
      return view;
    };
    Tensor q = shifted(hq), k = shifted(hk), v = shifted(hv), g = shifted(hg);
    auto [ro, rl] = raw::scaled_dot_product_attention(f64(hq), f64(hk), f64(hv), causal);
    auto [rdq, rdk, rdv] =
        raw::scaled_dot_product_attention_backward(f64(hg), f64(hq), f64(hk), f64(hv), ro, rl, causal);
    Tensor out = poisoned({B, H, S, D}, kBFloat16), lse = poisoned({B, H, S}, kFloat32);
    gpu().attention(out, lse, q, k, v, causal, 0.125);
    EXPECT_LT(rel_err(out, ro), 1e-2) << "unaligned out causal=" << causal;
    Tensor dq = shifted(hq), dk = shifted(hk), dv = shifted(hv);  // unaligned outputs too
    gpu().attention_backward(dq, dk, dv, g, q, k, v, out, lse, causal, 0.125);
    EXPECT_LT(rel_err(dq, rdq), 2e-2) << "unaligned dq causal=" << causal;
    EXPECT_LT(rel_err(dk, rdk), 2e-2) << "unaligned dk causal=" << causal;
    EXPECT_LT(rel_err(dv, rdv), 2e-2) << "unaligned dv causal=" << causal;
  }
}

TEST(CudaAttention, RawOpAndErrors) {
  REQUIRE_CUDA();
  // raw op on non-contiguous CUDA inputs ([B, S, H, D] transposed), Sq != Sk, explicit scale
  Tensor hq = random_cpu({2, 40, 3, 64}, kBFloat16), hk = random_cpu({2, 70, 3, 64}, kBFloat16),
         hv = random_cpu({2, 70, 3, 64}, kBFloat16);
  Tensor q = raw::transpose(to_cuda(hq), 1, 2), k = raw::transpose(to_cuda(hk), 1, 2), v = raw::transpose(to_cuda(hv), 1, 2);
  for (bool causal : {false, true}) {
    auto [out, lse] = raw::scaled_dot_product_attention(q, k, v, causal, 0.2);
    auto [ro, rl] = raw::scaled_dot_product_attention(f64(raw::transpose(hq, 1, 2)), f64(raw::transpose(hk, 1, 2)),
                                                      f64(raw::transpose(hv, 1, 2)), causal, 0.2);
    EXPECT_LT(rel_err(out, ro), 1e-2) << "raw op, causal=" << causal;
    EXPECT_LT(rel_err(lse, rl), 1e-4) << "raw op lse, causal=" << causal;
  }
  auto expect_error = [](auto f, const char* what) {
    try {
      f();
      ADD_FAILURE() << "no error: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("scaled_dot_product_attention"), std::string::npos) << e.what();
    }
  };
  Tensor q32 = to_cuda(random_cpu({1, 1, 8, 32}, kBFloat16));
  expect_error([&] { raw::scaled_dot_product_attention(q32, q32, q32); }, "head dim 32");
  Tensor qf = to_cuda(random_cpu({1, 1, 8, 64}, kFloat32));
  expect_error([&] { raw::scaled_dot_product_attention(qf, qf, qf); }, "float32 on CUDA");
  Tensor qc = random_cpu({1, 1, 8, 64}, kBFloat16);
  expect_error([&] { raw::scaled_dot_product_attention(to_cuda(qc), qc, qc); }, "mixed devices");
}
