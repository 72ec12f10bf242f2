// Loads OpenBLAS at run time with the right kernels for this CPU (Note [openblas core type]).
#include "tessera/tensor/cpu/blas.h"

#include <dlfcn.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include <fmt/format.h>

#include "tessera/tensor/cpu/loops.h"

#ifdef TESSERA_HAVE_OPENBLAS
#include <cblas.h>
static_assert(sizeof(blasint) == sizeof(int), "tessera expects the LP64 (32-bit blasint) OpenBLAS");
#endif

namespace tessera::cpu {

// Note [openblas core type]
// OpenBLAS (0.3.21, built with DYNAMIC_ARCH) picks its kernels when the library initialises,
// from cpuid, or from the OPENBLAS_CORETYPE environment variable if set. On some of our machines
// its detection falls back to the Prescott (SSE3) kernels, ~5x slower than the AVX-512 ones
// the CPU supports. So meson does not link libopenblas: gemm dlopen()s it at first use, after
// setting OPENBLAS_CORETYPE (unless the user set it) to the best core type this CPU supports.
// openblas_get_corename() reports what was chosen (blas_core_name(); printed by the tests).
//
// Note [openblas thread timeout]
// OpenBLAS's worker threads busy-wait for new work for 2^28 cycles (~0.1 s) after each call.
// tessera's own kernels run on OpenMP threads, so those spinning workers take cores from the
// next elementwise/reduction op (and from other processes). Measured on the 2-core dev machine:
// 10 x (512^3 sgemm, 2 threads, then 50 ms idle) burnt 380-430 ms of CPU with the default
// against 31-37 ms with a 2^14-cycle timeout. So we set OPENBLAS_THREAD_TIMEOUT=14 (unless the
// user set it): workers still stay hot between the back-to-back GEMMs of a batched matmul, and
// sleep a few microseconds after the last one.
//
// Note [one thread pool]
// OpenBLAS (Debian's pthread build) has its own worker threads; tessera's kernels run on
// OpenMP's. Two pools on the same cores fight: after each OpenMP region libgomp's workers spin
// (GOMP_SPINCOUNT) while OpenBLAS's workers want the cores, and the other way round. Measured on
// the 2-core machine under load (tools/bench/bench_block, ViT block stack, 2 threads): 80% of
// the samples were libgomp spinning, and the step took 1.6-1.7 s against 0.24 s with
// OMP_WAIT_POLICY=passive. So OpenBLAS always runs single-threaded (set once at load) and the
// gemm primitive splits its work (batch items x row or column blocks) over tessera's OpenMP
// threads itself (cpu/gemm.cpp), each block one single-threaded sgemm/dgemm: one pool, as
// PyTorch has with MKL on OpenMP.

namespace {

std::once_flag g_load_once;
OpenBlasApi g_api;
bool g_loaded = false;
std::atomic<bool> g_enabled{true};

void load() {
#ifdef TESSERA_HAVE_OPENBLAS
  std::string core = preferred_openblas_coretype();
  if (!core.empty()) setenv("OPENBLAS_CORETYPE", core.c_str(), /*overwrite=*/0);
  setenv("OPENBLAS_THREAD_TIMEOUT", "14", /*overwrite=*/0);  // Note [openblas thread timeout]
  void* handle = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* err = dlerror();
    fmt::print(stderr, "tessera: could not load libopenblas.so.0 ({}); matmul uses the built-in CPU kernel, which is "
               "several times slower\n", err ? err : "unknown error");
    return;
  }
  g_api.sgemm = reinterpret_cast<OpenBlasApi::sgemm_fn>(dlsym(handle, "cblas_sgemm"));
  g_api.dgemm = reinterpret_cast<OpenBlasApi::dgemm_fn>(dlsym(handle, "cblas_dgemm"));
  g_api.set_num_threads = reinterpret_cast<void (*)(int)>(dlsym(handle, "openblas_set_num_threads"));
  g_api.get_corename = reinterpret_cast<char* (*)()>(dlsym(handle, "openblas_get_corename"));
  if (!g_api.sgemm || !g_api.dgemm || !g_api.set_num_threads) {
    fmt::print(stderr, "tessera: libopenblas.so.0 lacks cblas_sgemm/cblas_dgemm/openblas_set_num_threads; matmul "
               "uses the built-in CPU kernel\n");
    g_api = OpenBlasApi{};
    return;
  }
  // The cblas enums tessera passes as ints.
  static_assert(CblasRowMajor == 101 && CblasNoTrans == 111 && CblasTrans == 112);
  g_api.set_num_threads(1);  // Note [one thread pool]
  g_loaded = true;
#else
  fmt::print(stderr, "tessera: built without OpenBLAS (-Dblas=none); matmul uses the built-in CPU kernel\n");
#endif
}

}  // namespace

std::string preferred_openblas_coretype() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl")) {
    return "SkylakeX";
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return "";
}

const OpenBlasApi* openblas() {
  if (!g_enabled.load(std::memory_order_relaxed)) return nullptr;
  std::call_once(g_load_once, load);
  if (!g_loaded) return nullptr;
  return &g_api;
}

std::string blas_core_name() {
  const OpenBlasApi* api = openblas();
  if (!api) return "none";
  return api->get_corename ? std::string(api->get_corename()) : std::string("unknown");
}

void set_blas_enabled(bool enabled) { g_enabled.store(enabled); }
bool blas_enabled() { return g_enabled.load(); }

}  // namespace tessera::cpu
