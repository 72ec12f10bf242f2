// Benchmark: tessera::matmul GFLOP/s on the CPU against OpenBLAS's cblas_sgemm called directly
// on the same buffers (the best this machine's OpenBLAS kernel does), in one run.
//   bench_matmul [threads] [reps]
// Prints the OpenBLAS core type, then per shape: tessera, direct OpenBLAS (into a reused output,
// and into a freshly allocated one as matmul does), and tessera's speed relative to each.
// tools/bench/matmul_torch.py measures PyTorch on the same shapes.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "tessera/tensor/cpu/blas.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tessera.h"

using namespace tessera;

namespace {

template <typename F>
double best_seconds(int reps, const F& f) {
  f();  // warm-up
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::min(best, s);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : cpu::num_threads();
  int reps = argc > 2 ? std::atoi(argv[2]) : 10;
  cpu::set_num_threads(threads);
  std::printf("threads %d, OpenBLAS core %s\n", threads, cpu::blas_core_name().c_str());
  const cpu::OpenBlasApi* blas = cpu::openblas();
  struct Case { int64_t m, k, n; DType dtype; };
  for (Case c : {Case{1024, 1024, 1024, kFloat32}, Case{4096, 768, 3072, kFloat32}, Case{1024, 1024, 1024, kFloat64},
                 Case{1024, 1024, 1024, kBFloat16}}) {
    Tensor a = full({c.m, c.k}, 0.5, c.dtype), b = full({c.k, c.n}, 0.25, c.dtype);
    double flop = 2.0 * double(c.m) * double(c.n) * double(c.k);
    double t = best_seconds(reps, [&] { matmul(a, b); });
    std::printf("%-8s %5lldx%5lldx%5lld  tessera %7.1f GFLOP/s", std::string(dtype_name(c.dtype)).c_str(),
                (long long)c.m, (long long)c.k, (long long)c.n, flop / t * 1e-9);
    if (blas && c.dtype == kFloat32) {
      // OpenBLAS's own threads for the direct calls; tessera keeps it at 1 (Note [one thread pool]).
      blas->set_num_threads(threads);
      Tensor out = empty({c.m, c.n});
      double td = best_seconds(reps, [&] {
        blas->sgemm(101, 111, 111, int(c.m), int(c.n), int(c.k), 1.0f, a.data_ptr<float>(), int(c.k),
                    b.data_ptr<float>(), int(c.n), 0.0f, out.data_ptr<float>(), int(c.n));
      });
      // the same call writing a freshly allocated output each time, as matmul does
      double tf = best_seconds(reps, [&] {
        Tensor fresh = empty({c.m, c.n});
        blas->sgemm(101, 111, 111, int(c.m), int(c.n), int(c.k), 1.0f, a.data_ptr<float>(), int(c.k),
                    b.data_ptr<float>(), int(c.n), 0.0f, fresh.data_ptr<float>(), int(c.n));
      });
      blas->set_num_threads(1);
      std::printf("  direct cblas_sgemm %7.1f GFLOP/s (fresh output %7.1f)  ratio %.3f (%.3f)", flop / td * 1e-9,
                  flop / tf * 1e-9, td / t, tf / t);
    }
    std::printf("\n");
  }
  // tessera's OpenMP kernels right after an OpenBLAS call (Note [openblas thread timeout]): an
  // int32 matmul (built-in kernel, compute-bound, on OpenMP threads) alone and after a float32 one.
  Tensor ia = full({256, 256}, 1, kInt32), ib = full({256, 256}, 2, kInt32);
  Tensor fa = full({512, 512}, 0.5), fb = full({512, 512}, 0.25);
  double int_alone = best_seconds(reps, [&] { matmul(ia, ib); });
  double float_alone = best_seconds(reps, [&] { matmul(fa, fb); });
  double both = best_seconds(reps, [&] {
    matmul(fa, fb);
    matmul(ia, ib);
  });
  std::printf("int32 256^3 matmul (OpenMP): alone %.2f ms, right after a float32 512^3 matmul %.2f ms\n",
              int_alone * 1e3, (both - float_alone) * 1e3);
  return 0;
}
