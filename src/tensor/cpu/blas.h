// The CPU BLAS used by the gemm primitive: OpenBLAS loaded at first use with the kernels for this
// CPU (Note [openblas core type]), or nothing, in which case gemm uses its built-in kernel.
#pragma once

#include <string>

namespace tessera::cpu {

// Entry points resolved from libopenblas.so.0. The signatures are cblas's, with int for blasint
// (the LP64 build Debian ships; checked at compile time where the header is available).
struct OpenBlasApi {
  using sgemm_fn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float* a,
                            int lda, const float* b, int ldb, float beta, float* c, int ldc);
  using dgemm_fn = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, double alpha, const double* a,
                            int lda, const double* b, int ldb, double beta, double* c, int ldc);
  sgemm_fn sgemm = nullptr;
  dgemm_fn dgemm = nullptr;
  void (*set_num_threads)(int) = nullptr;
  char* (*get_corename)() = nullptr;
};

// The loaded library, or nullptr when it could not be loaded (logged once) or was disabled.
// OpenBLAS runs single-threaded: the gemm primitive parallelises over OpenMP threads itself
// (Note [one thread pool]); a caller that changes set_num_threads must restore 1.
const OpenBlasApi* openblas();

// OpenBLAS's name for the kernels it runs ("SkylakeX", "Haswell", ...), or "none" when gemm
// uses the built-in kernel.
std::string blas_core_name();

// The OPENBLAS_CORETYPE tessera asks for on this CPU ("SkylakeX", "Haswell") or "" to let
// OpenBLAS decide.
std::string preferred_openblas_coretype();

// Tests and benchmarks: route float32/float64 gemm through the built-in kernel (false) or
// OpenBLAS when available (true, the default).
void set_blas_enabled(bool enabled);
bool blas_enabled();

}  // namespace tessera::cpu
