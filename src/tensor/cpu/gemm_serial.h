// Single-threaded GEMM on plain row-major buffers, for CPU kernels that split their own work
// over threads and need small matrix products inside each piece (the fused attention): the
// same OpenBLAS / built-in kernels as the gemm primitive (cpu/gemm.cpp), on the calling thread.
#pragma once

#include <cstdint>

namespace tessera::cpu {

// C[M, N] = alpha * op(A) @ op(B) + beta * C, op(X) = X^T when trans_x. A is [M, K] (or [K, M]
// when trans_a) with row stride lda, B [K, N] (or [N, K]) with ldb, C row stride ldc.
// beta == 0 never reads C.
void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                 int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc);

}  // namespace tessera::cpu
