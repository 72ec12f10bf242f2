// tessera-gpu-bench: a few CUDA microbenchmarks, each a ratio against a reference measured in the
// same process on the same device (DESIGN: a timing is a benchmark, never a test):
//   gemm bf16/fp16/fp32  tessera's Backend::gemm          vs cublasGemmEx on the same buffers
//   linear+bias(+gelu)   Backend::gemm_bias (cuBLASLt epilogue) vs gemm + bias add (+ gelu kernel)
//   copy f32             tessera's strided-kernel copy    vs cudaMemcpyAsync device-to-device
//   contiguous copy      Backend::copy (memcpy fast path)  vs cudaMemcpyAsync
//   add / cast / softmax / layer_norm / rms_norm / cross_entropy (+ backward) / sum: achieved
//                        bandwidth, against the memcpy bandwidth
//   adamw                the multi-tensor AdamW step over GPT-2 small's 124M parameters (f32, and
//                        bf16 with float32 master weights): bandwidth against the memcpy bandwidth
//   attention            fused attention fwd / bwd TFLOP/s (flash-attention's FLOP convention:
//                        fwd 4*B*S^2*H*D, halved if causal; bwd 2.5x fwd); tools/bench/torch_sdpa_ref.py
//                        prints PyTorch's numbers for the same shapes
// Usage: tessera-gpu-bench [--quick]
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tessera/cuda/cuda.h"
#include "tessera/tensor/backend.h"
#include "tessera/tensor/factory.h"
#include "tessera/tensor/raw.h"

using namespace tessera;

namespace {
#define CK(x)                                                                              \
  do {                                                                                     \
    auto e_ = (x);                                                                         \
    if (int(e_) != 0) {                                                                    \
      std::fprintf(stderr, "bench: %s failed (%d) at %s:%d\n", #x, int(e_), __FILE__, __LINE__); \
      std::exit(1);                                                                        \
    }                                                                                      \
  } while (0)

// Median-free simple timing: warmup, then `iters` runs between two events; ms per run.
double time_ms(const std::function<void()>& f, int warmup, int iters) {
  for (int i = 0; i < warmup; ++i) f();
  cudaEvent_t a, b;
  CK(cudaEventCreate(&a));
  CK(cudaEventCreate(&b));
  CK(cudaEventRecord(a, nullptr));
  for (int i = 0; i < iters; ++i) f();
  CK(cudaEventRecord(b, nullptr));
  CK(cudaEventSynchronize(b));
  float ms = 0;
  CK(cudaEventElapsedTime(&ms, a, b));
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return double(ms) / iters;
}

struct Row {
  std::string name;
  double ours_ms, ref_ms;
  std::string unit;  // what the rate column means
  double work;       // flops or bytes per run
};
std::vector<Row> g_rows;

void report(const Row& r) {
  g_rows.push_back(r);
  double rate = r.work / (r.ours_ms * 1e-3);
  double rrate = r.work / (r.ref_ms * 1e-3);
  bool flops = r.unit == "TFLOP/s";
  double scale = flops ? 1e12 : 1e9;
  std::printf("%-34s %9.3f ms %9.3f ms  %8.3f  %8.1f %-7s (ref %8.1f)\n", r.name.c_str(), r.ours_ms, r.ref_ms,
              r.ref_ms / r.ours_ms, rate / scale, r.unit.c_str(), rrate / scale);
  std::fflush(stdout);
}
Tensor dev_empty(IntArrayRef s, DType dt) { return raw::empty(s, TensorOptions(dt).device(Device::cuda(0))); }
}  // namespace

int main(int argc, char** argv) {
  bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  if (!cuda::is_available()) {
    std::printf("tessera-gpu-bench: no CUDA device: %s\n", cuda::unavailable_reason().c_str());
    return 77;
  }
  cudaDeviceProp prop{};
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d, %d SMs, %.1f GiB)\n", prop.name, prop.major, prop.minor, prop.multiProcessorCount,
              double(prop.totalGlobalMem) / (1 << 30));
  std::printf("%-34s %12s %12s  %8s  %s\n", "benchmark", "tessera", "reference", "ref/ours", "rate");
  Backend& be = backend_for(Device::cuda(0));
  cublasHandle_t h;
  CK(cublasCreate(&h));

  // ---- GEMM: tessera vs cublasGemmEx (row-major C = A B computed as C^T = B^T A^T) ----
  struct G {
    DType dt;
    cudaDataType_t cdt;
    int64_t n;
  };
  std::vector<G> gemms = {{kBFloat16, CUDA_R_16BF, quick ? 4096 : 8192},
                          {kFloat16, CUDA_R_16F, quick ? 4096 : 8192},
                          {kFloat32, CUDA_R_32F, 4096}};
  for (const G& g : gemms) {
    int64_t n = g.n;
    Tensor a = dev_empty({1, n, n}, g.dt), b = dev_empty({1, n, n}, g.dt), c = dev_empty({1, n, n}, g.dt);
    be.random_normal(a, 0, 1, 1, 0);
    be.random_normal(b, 0, 1, 2, 0);
    float alpha = 1, beta = 0;
    auto ours = [&] { be.gemm(c, a, b, 1.0, 0.0); };
    auto ref = [&] {
      CK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, int(n), int(n), int(n), &alpha, b.data_ptr(), g.cdt, int(n),
                      a.data_ptr(), g.cdt, int(n), &beta, c.data_ptr(), g.cdt, int(n), CUBLAS_COMPUTE_32F,
                      CUBLAS_GEMM_DEFAULT));
    };
    int it = n >= 8192 ? 10 : 20;
    double ref_ms = time_ms(ref, 3, it), ours_ms = time_ms(ours, 3, it);
    report({fmt::format("gemm {} {}^3", dtype_name(g.dt), n), ours_ms, ref_ms, "TFLOP/s", 2.0 * double(n) * n * n});
  }

  // ---- linear layer with bias (GPT-2-124M MLP fc shape): one GEMM whose cuBLASLt epilogue adds the bias
  // (and GELU) vs the unfused GEMM + broadcast bias add (+ GELU kernel) of the same primitives ----
  {
    const int64_t M = 8192, K = 768, Nf = 3072;
    Tensor xin = dev_empty({M, K}, kBFloat16), w = dev_empty({K, Nf}, kBFloat16), bias = dev_empty({Nf}, kBFloat16);
    Tensor out = dev_empty({M, Nf}, kBFloat16), pre = dev_empty({M, Nf}, kBFloat16);
    be.random_normal(xin, 0, 1, 5, 0);
    be.random_normal(w, 0, 0.02, 6, 0);
    be.random_normal(bias, 0, 1, 7, 0);
    Tensor bias2 = raw::expand(raw::unsqueeze(bias, 0), {M, Nf});
    auto unfused = [&](bool gelu) {
      be.gemm(raw::unsqueeze(pre, 0), raw::unsqueeze(xin, 0), raw::unsqueeze(w, 0), 1.0, 0.0);
      be.binary(BinaryOp::Add, pre, pre, bias2, 1);
      if (gelu) be.unary(UnaryOp::GeluTanh, out, pre);
    };
    double flops = 2.0 * double(M) * K * Nf;
    report({"linear+bias bf16 8192x768x3072", time_ms([&] { be.gemm_bias(out, xin, w, bias, GemmActivation::None, Tensor()); }, 3, 20),
            time_ms([&] { unfused(false); }, 3, 20), "TFLOP/s", flops});
    report({"linear+bias+gelu bf16 (same)", time_ms([&] { be.gemm_bias(out, xin, w, bias, GemmActivation::GeluTanh, pre); }, 3, 20),
            time_ms([&] { unfused(true); }, 3, 20), "TFLOP/s", flops});
  }

  // ---- memory-bound kernels vs cudaMemcpy D2D on the same byte count ----
  int64_t N = quick ? (int64_t(1) << 26) : (int64_t(1) << 28);  // float elements (1 GiB at full size)
  Tensor x = dev_empty({N}, kFloat32), y = dev_empty({N}, kFloat32), z = dev_empty({N}, kFloat32);
  be.random_uniform(x, -1, 1, 3, 0);
  be.random_uniform(y, -1, 1, 4, 0);
  size_t bytes = size_t(N) * 4;
  double memcpy_ms = time_ms([&] { CK(cudaMemcpyAsync(z.data_ptr(), x.data_ptr(), bytes, cudaMemcpyDeviceToDevice, nullptr)); }, 2, 10);
  report({"copy f32 contiguous (memcpy path)", time_ms([&] { be.copy(z, x); }, 2, 10), memcpy_ms, "GB/s", 2.0 * bytes});
  Tensor x2 = raw::view(x, {N / 4096, 4096}), z2 = raw::view(z, {4096, N / 4096});
  Tensor zt = raw::transpose(z2, 0, 1);
  report({"copy f32 transposed (kernel)", time_ms([&] { be.copy(zt, x2); }, 2, 10), memcpy_ms, "GB/s", 2.0 * bytes});
  report({"neg f32 (unary kernel)", time_ms([&] { be.unary(UnaryOp::Neg, z, x); }, 2, 10), memcpy_ms, "GB/s",
          2.0 * bytes});
  report({"add f32 (binary kernel)", time_ms([&] { be.binary(BinaryOp::Add, z, x, y, 1); }, 2, 10),
          memcpy_ms * 1.5, "GB/s", 3.0 * bytes});
  Tensor xb = dev_empty({N}, kBFloat16);
  report({"cast f32->bf16", time_ms([&] { be.copy(xb, x); }, 2, 10), memcpy_ms * 0.75, "GB/s", 1.5 * bytes});
  {
    int64_t rows = N / 4096 / 2;
    Tensor s = raw::view(raw::slice(xb, 0, 0, rows * 4096, 1), {rows, 4096});
    Tensor so = dev_empty({rows, 4096}, kBFloat16);
    double sb = double(rows) * 4096 * 2 * 2;
    report({"softmax bf16 [rows,4096]", time_ms([&] { be.softmax(so, s, false); }, 2, 10), memcpy_ms * sb / (2.0 * bytes),
            "GB/s", sb});
    Tensor w = dev_empty({4096}, kBFloat16), bb = dev_empty({4096}, kBFloat16);
    be.fill(w, 1.0);
    be.fill(bb, 0.0);
    Tensor mean = dev_empty({rows}, kFloat32), rstd = dev_empty({rows}, kFloat32);
    report({"layer_norm bf16 [rows,4096]", time_ms([&] { be.layer_norm(so, mean, rstd, s, w, bb, 1e-5); }, 2, 10),
            memcpy_ms * sb / (2.0 * bytes), "GB/s", sb});
    report({"rms_norm bf16 [rows,4096]", time_ms([&] { be.rms_norm(so, rstd, s, w, 1e-5); }, 2, 10),
            memcpy_ms * sb / (2.0 * bytes), "GB/s", sb});
    // backward: reads grad_out and x (or out), writes grad_in: 3 row-sized streams
    Tensor gi = dev_empty({rows, 4096}, kBFloat16);
    double sb3 = sb * 1.5;
    report({"softmax_backward bf16 [rows,4096]", time_ms([&] { be.softmax_backward(gi, s, so, false); }, 2, 10),
            memcpy_ms * sb3 / (2.0 * bytes), "GB/s", sb3});
    report({"layer_norm_backward bf16 (in only)",
            time_ms([&] { be.layer_norm_backward(gi, Tensor(), Tensor(), so, s, mean, rstd, w); }, 2, 10),
            memcpy_ms * sb3 / (2.0 * bytes), "GB/s", sb3});
    Tensor gw = dev_empty({4096}, kBFloat16), gb = dev_empty({4096}, kBFloat16);
    report({"layer_norm_backward bf16 (+w,b grads)",
            time_ms([&] { be.layer_norm_backward(gi, gw, gb, so, s, mean, rstd, w); }, 2, 10),
            memcpy_ms * sb3 / (2.0 * bytes), "GB/s", sb3 + sb});  // the w/b pass re-reads g and x
    // cross-entropy over a 32k vocabulary, bf16 logits
    int64_t ce_rows = rows * 4096 / 32768;
    Tensor logits = raw::view(s, {ce_rows, 32768});
    std::vector<int64_t> tv(static_cast<size_t>(ce_rows));
    for (int64_t i = 0; i < ce_rows; ++i) tv[size_t(i)] = (i * 7919) % 32768;
    Tensor tgt = raw::to(from_vector<int64_t>(tv, {ce_rows}), Device::cuda(0), kInt64);
    Tensor loss = dev_empty({ce_rows}, kFloat32), lse = dev_empty({ce_rows}, kFloat32);
    report({"cross_entropy bf16 [rows,32768]",
            time_ms([&] { be.cross_entropy(loss, lse, logits, tgt, -100, 0.0); }, 2, 10),
            memcpy_ms * (sb / 2) / (2.0 * bytes), "GB/s", sb / 2});
    Tensor gl = raw::view(gi, {ce_rows, 32768}), gloss = dev_empty({ce_rows}, kFloat32);
    be.fill(gloss, 1.0);
    report({"cross_entropy_backward bf16",
            time_ms([&] { be.cross_entropy_backward(gl, gloss, logits, lse, tgt, -100, 0.0); }, 2, 10),
            memcpy_ms * sb / (2.0 * bytes), "GB/s", sb});
  }
  {
    int64_t rows = N / 4096 / 2;
    Tensor s = raw::view(raw::slice(x, 0, 0, rows * 4096, 1), {rows, 4096});
    Tensor so = dev_empty({rows, 4096}, kFloat32);
    double sb = double(rows) * 4096 * 4 * 2;
    report({"softmax f32 [rows,4096]", time_ms([&] { be.softmax(so, s, false); }, 2, 10),
            memcpy_ms * sb / (2.0 * bytes), "GB/s", sb});
    Tensor w = dev_empty({4096}, kFloat32), bb = dev_empty({4096}, kFloat32);
    be.fill(w, 1.0);
    be.fill(bb, 0.0);
    Tensor mean = dev_empty({rows}, kFloat32), rstd = dev_empty({rows}, kFloat32);
    report({"layer_norm f32 [rows,4096]", time_ms([&] { be.layer_norm(so, mean, rstd, s, w, bb, 1e-5); }, 2, 10),
            memcpy_ms * sb / (2.0 * bytes), "GB/s", sb});
  }
  Tensor sum_out = dev_empty({1}, kFloat32);
  report({"sum f32 (one block per row!)", time_ms([&] { be.reduce(ReduceOp::Sum, raw::view(sum_out, {1}), x, {0}); }, 1, 3),
          memcpy_ms / 2, "GB/s", double(bytes)});
  x = y = z = xb = x2 = z2 = zt = Tensor();  // free the 1 GiB buffers before attention

  // ---- multi-tensor AdamW (Note [multi-tensor adamw]): GPT-2 small's 124M parameters in 148 tensors.
  // Both cases move 28 bytes per parameter (f32: param r/w, grad, m r/w, v r/w; bf16 + master: param
  // write, grad, m, v and master r/w), against the memcpy bandwidth.
  {
    std::vector<int64_t> sizes = {50257 * 768, 1024 * 768};
    for (int l = 0; l < 12; ++l)
      for (int64_t n : {768, 768, 768 * 2304, 2304, 768 * 768, 768, 768, 768, 768 * 3072, 3072, 3072 * 768, 768})
        sizes.push_back(n);
    sizes.push_back(768);
    sizes.push_back(768);
    for (bool low : {false, true}) {
      const DType pd = low ? kBFloat16 : kFloat32;
      std::vector<AdamWSlot> slots;
      int64_t total = 0;
      for (int64_t n : sizes) {
        AdamWSlot sl;
        sl.param = dev_empty({n}, pd);
        sl.grad = dev_empty({n}, pd);
        sl.exp_avg = dev_empty({n}, kFloat32);
        sl.exp_avg_sq = dev_empty({n}, kFloat32);
        be.random_normal(sl.param, 0, 0.02, 9, 0);
        be.random_normal(sl.grad, 0, 1e-3, 10, 0);
        be.fill(sl.exp_avg, 0.0);
        be.fill(sl.exp_avg_sq, 0.0);
        if (low) {
          sl.master = dev_empty({n}, kFloat32);
          be.copy(sl.master, sl.param);
        }
        sl.lr = 6e-4;
        sl.weight_decay = 0.1;
        sl.step = 10;
        slots.push_back(sl);
        total += n;
      }
      const double moved = 28.0 * double(total);
      std::string name = fmt::format("adamw multi-tensor {} ({:.0f}M, {} t)", low ? "bf16+master" : "f32",
                                     double(total) / 1e6, slots.size());
      report({name, time_ms([&] { be.adamw_step(slots, 0.9, 0.95, 1e-8); }, 2, 10), memcpy_ms * moved / (2.0 * bytes),
              "GB/s", moved});
    }
  }

  // ---- fused attention, bf16 (flash-attention shapes: 16k tokens per batch, hidden 2048) ----
  std::printf("\n%-44s %10s %10s %10s %10s\n", "attention (tessera)", "fwd ms", "fwd TF/s", "bwd ms", "bwd TF/s");
  struct A {
    int64_t D;
    bool causal;
  };
  for (A a : {A{128, false}, A{128, true}, A{64, false}, A{64, true}}) {
    int64_t S = 4096, B = 16384 / S, H = 2048 / a.D;
    if (quick) B = 1;
    Tensor q = dev_empty({B, H, S, a.D}, kBFloat16), k = dev_empty({B, H, S, a.D}, kBFloat16),
           v = dev_empty({B, H, S, a.D}, kBFloat16), go = dev_empty({B, H, S, a.D}, kBFloat16);
    be.random_normal(q, 0, 1, 5, 0);
    be.random_normal(k, 0, 1, 6, 0);
    be.random_normal(v, 0, 1, 7, 0);
    be.random_normal(go, 0, 1, 8, 0);
    Tensor out = dev_empty({B, H, S, a.D}, kBFloat16), lse = dev_empty({B, H, S}, kFloat32);
    Tensor dq = dev_empty({B, H, S, a.D}, kBFloat16), dk = dev_empty({B, H, S, a.D}, kBFloat16),
           dv = dev_empty({B, H, S, a.D}, kBFloat16);
    double scale = 1.0 / std::sqrt(double(a.D));
    double fwd_flop = 4.0 * double(B) * double(S) * double(S) * double(H) * double(a.D) * (a.causal ? 0.5 : 1.0);
    double f_ms = time_ms([&] { be.attention(out, lse, q, k, v, a.causal, scale); }, 1, 3);
    double b_ms = time_ms([&] { be.attention_backward(dq, dk, dv, go, q, k, v, out, lse, a.causal, scale); }, 1, 3);
    std::string name = fmt::format("attn bf16 B{} H{} S{} D{}{}", B, H, S, a.D, a.causal ? " causal" : "");
    std::printf("%-44s %10.3f %10.1f %10.3f %10.1f\n", name.c_str(), f_ms, fwd_flop / (f_ms * 1e-3) / 1e12, b_ms,
                2.5 * fwd_flop / (b_ms * 1e-3) / 1e12);
    std::fflush(stdout);
  }
  CK(cudaDeviceSynchronize());
  auto st = cuda::memory_stats(0);
  std::printf("allocator: allocated %.1f MiB, reserved %.1f MiB, peak %.1f MiB, %lld allocs, %lld cache hits, %lld cudaMalloc\n",
              st.allocated / 1048576.0, st.reserved / 1048576.0, st.peak_allocated / 1048576.0,
              (long long)st.num_allocs, (long long)st.num_cache_hits, (long long)st.num_device_allocs);
  cublasDestroy(h);
  return 0;
}
