// Turns CUDA runtime / cuBLAS return codes into tessera::RuntimeError naming the call and the
// file:line (DESIGN decision 5). Internal: includes CUDA headers, never included by cuda.h.
#pragma once

#include <cublas_api.h>
#include <cuda_runtime_api.h>

#include "tessera/tensor/error.h"

namespace tessera::cuda::detail {
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* what, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t st, const char* what, const char* file, int line);
}  // namespace tessera::cuda::detail

#define TESSERA_CUDA_CHECK(expr)                                                          \
  do {                                                                                    \
    cudaError_t tessera_err_ = (expr);                                                    \
    if (tessera_err_ != cudaSuccess)                                                      \
      ::tessera::cuda::detail::throw_cuda_error(tessera_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define TESSERA_CUBLAS_CHECK(expr)                                                         \
  do {                                                                                     \
    cublasStatus_t tessera_st_ = (expr);                                                   \
    if (tessera_st_ != CUBLAS_STATUS_SUCCESS)                                              \
      ::tessera::cuda::detail::throw_cublas_error(tessera_st_, #expr, __FILE__, __LINE__); \
  } while (0)
