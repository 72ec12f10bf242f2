// CPU gemm primitive: float32/float64 through OpenBLAS (cpu/blas.h), bfloat16/float16 by
// converting panels to float32 (accumulate in fp32, round once), int32/int64 and the no-BLAS
// fallback through a built-in blocked kernel.
#include <algorithm>
#include <climits>
#include <memory>
#include <numeric>
#include <type_traits>
#include <vector>

#include "tessera/tensor/cpu/blas.h"
#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/gemm_serial.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/gemm_layout.h"

namespace tessera::cpu {

namespace {

// One matrix operand: element (i, j) is at p[i * rs + j * cs].
template <typename T>
struct Mat {
  const T* p;
  int64_t rs, cs;
  const T& at(int64_t i, int64_t j) const { return p[i * rs + j * cs]; }
};

// Register-blocked micro-kernel: out[MR, NR] (row stride ldo) += Ap @ Bp, where Ap is a packed
// [kc, MR] panel of A and Bp a packed [kc, NR] panel of B (both zero-padded). The MR x NR
// accumulator tile stays in vector registers (NR * sizeof(Acc) = 64 bytes per row).
template <typename Acc, int MR, int NR>
inline void micro_kernel(int64_t kc, const Acc* __restrict ap, const Acc* __restrict bp, Acc* __restrict out,
                         int64_t ldo, int64_t mr, int64_t nr) {
  Acc c[MR][NR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const Acc* b = bp + k * NR;
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const Acc a = ap[k * MR + i];
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) c[i][j] += a * b[j];
    }
  }
  for (int64_t i = 0; i < mr; ++i) {
    for (int64_t j = 0; j < nr; ++j) out[i * ldo + j] += c[i][j];
  }
}

// C[M, N] (row-major, ldc) = alpha * A @ B + beta * C, accumulating in Acc: the kernel for
// integers, and for floats when OpenBLAS is unavailable. Blocked over K (kKc) and N (kNc) with
// packed panels; panels of MR rows are split across threads. beta == 0 never reads C.
template <typename T, typename Acc>
void builtin_gemm(int64_t M, int64_t N, int64_t K, double alpha, Mat<T> A, Mat<T> B, double beta, T* C, int64_t ldc) {
  constexpr int MR = 4, NR = int(64 / sizeof(Acc));
  constexpr int64_t kKc = 256, kNc = 512;
  std::vector<Acc> acc(size_t(M * N), Acc(0));
  std::vector<Acc> bpack(size_t(kKc * kNc));
  const int64_t row_panels = (M + MR - 1) / MR;
  for (int64_t k0 = 0; k0 < K; k0 += kKc) {
    const int64_t kc = std::min(kKc, K - k0);
    for (int64_t n0 = 0; n0 < N; n0 += kNc) {
      const int64_t nc = std::min(kNc, N - n0);
      const int64_t col_panels = (nc + NR - 1) / NR;
      parallel_for(col_panels, kc * NR, [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          Acc* dst = bpack.data() + p * kc * NR;
          for (int64_t k = 0; k < kc; ++k) {
            for (int64_t j = 0; j < NR; ++j) {
              const int64_t col = p * NR + j;
              dst[k * NR + j] = col < nc ? cast_element<Acc>(B.at(k0 + k, n0 + col)) : Acc(0);
            }
          }
        }
      });
      parallel_for(row_panels, kc * nc, [&](int64_t r0, int64_t r1) {
        std::vector<Acc> apack(size_t(kc * MR));
        for (int64_t r = r0; r < r1; ++r) {
          const int64_t i0 = r * MR, mr = std::min<int64_t>(MR, M - i0);
          for (int64_t k = 0; k < kc; ++k) {
            for (int64_t i = 0; i < MR; ++i) {
              apack[size_t(k * MR + i)] = i < mr ? cast_element<Acc>(A.at(i0 + i, k0 + k)) : Acc(0);
            }
          }
          for (int64_t p = 0; p < col_panels; ++p) {
            micro_kernel<Acc, MR, NR>(kc, apack.data(), bpack.data() + p * kc * NR, acc.data() + i0 * N + n0 + p * NR,
                                      N, mr, std::min<int64_t>(NR, nc - p * NR));
          }
        }
      });
    }
  }
  // Integers accumulate in the unsigned type of their width: wrapping arithmetic, so the result
  // is the exact product modulo 2^bits (what PyTorch's integer matmul gives) without UB.
  using Scale = std::conditional_t<std::is_integral_v<Acc>, Acc, double>;
  const Scale a = std::is_integral_v<Acc> ? Scale(int64_t(alpha)) : Scale(alpha);
  const Scale b = std::is_integral_v<Acc> ? Scale(int64_t(beta)) : Scale(beta);
  parallel_for(M, N, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      T* crow = C + i * ldc;
      const Acc* arow = acc.data() + i * N;
      for (int64_t j = 0; j < N; ++j) {
        Scale v = a * Scale(arow[j]);
        if (beta != 0) v += b * Scale(cast_element<Acc>(crow[j]));
        crow[j] = cast_element<T>(Acc(v));
      }
    }
  });
}

// Integer accumulation type: the unsigned type of the same width (see builtin_gemm).
template <typename T> struct int_acc { using type = T; };
template <> struct int_acc<int32_t> { using type = uint32_t; };
template <> struct int_acc<int64_t> { using type = uint64_t; };
template <typename T> using IntAcc = typename int_acc<T>::type;

bool fits_blas(int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb) {
  return m <= INT_MAX && n <= INT_MAX && k <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX;
}

// float32/float64: OpenBLAS when loaded (single-threaded, Note [one thread pool]), else the
// built-in kernel. Runs on the calling thread; gemm_parallel splits a product over threads.
template <typename T>
void float_gemm(int64_t M, int64_t N, int64_t K, double alpha, Mat<T> A, Mat<T> B, double beta, T* C, int64_t ldc) {
  const OpenBlasApi* blas = openblas();
  auto la = gemm_layout(M, K, A.rs, A.cs);
  auto lb = gemm_layout(K, N, B.rs, B.cs);
  TESSERA_INTERNAL_ASSERT(la && lb, "gemm operand without a BLAS layout");
  if (blas && fits_blas(M, N, K, la->ld, lb->ld) && ldc <= INT_MAX) {
    constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
    const int ta = la->transposed ? kTrans : kNoTrans, tb = lb->transposed ? kTrans : kNoTrans;
    if constexpr (std::is_same_v<T, float>) {
      blas->sgemm(kRowMajor, ta, tb, int(M), int(N), int(K), float(alpha), A.p, int(la->ld), B.p, int(lb->ld),
                  float(beta), C, int(ldc));
    } else {
      blas->dgemm(kRowMajor, ta, tb, int(M), int(N), int(K), alpha, A.p, int(la->ld), B.p, int(lb->ld), beta, C,
                  int(ldc));
    }
    return;
  }
  builtin_gemm<T, T>(M, N, K, alpha, A, B, beta, C, ldc);
}

// Note [gemm work split]
// gemm_parallel runs `batch` products C_b[M, N] = alpha A_b B_b + beta C_b on tessera's OpenMP
// threads (Note [one thread pool]). The work is cut into batch x parts items, each one
// single-threaded float_gemm: parts = threads / gcd(batch, threads) (so the item count is a
// multiple of the thread count and every thread gets the same share), each part a block of
// rows of C (of columns when N > M, so the blocks stay large). Products under kSerialFlops run
// on the calling thread. A part never has fewer than kMinPart rows/columns (fewer parts then).
template <typename T>
void gemm_parallel(int64_t batch, int64_t M, int64_t N, int64_t K, double alpha, const T* pa, int64_t sa, int64_t ars,
                   int64_t acs, const T* pb, int64_t sb, int64_t brs, int64_t bcs, double beta, T* pc, int64_t sc,
                   int64_t ldc) {
  constexpr double kSerialFlops = 2.0 * 48 * 48 * 48;
  constexpr int64_t kMinPart = 16;
  auto item = [&](int64_t bi, int64_t r0, int64_t r1, bool by_rows) {
    const T* a = pa + bi * sa;
    const T* b = pb + bi * sb;
    T* c = pc + bi * sc;
    if (by_rows) {
      float_gemm<T>(r1 - r0, N, K, alpha, Mat<T>{a + r0 * ars, ars, acs}, Mat<T>{b, brs, bcs}, beta, c + r0 * ldc,
                    ldc);
    } else {
      float_gemm<T>(M, r1 - r0, K, alpha, Mat<T>{a, ars, acs}, Mat<T>{b + r0 * bcs, brs, bcs}, beta, c + r0, ldc);
    }
  };
  const int threads = num_threads();
  const double flops = 2.0 * double(batch) * double(M) * double(N) * double(K);
  if (threads <= 1 || omp_in_parallel() || flops < kSerialFlops || batch * std::max(M, N) < 2) {
    for (int64_t bi = 0; bi < batch; ++bi) item(bi, 0, M, true);
    return;
  }
  const bool by_rows = M >= N;
  const int64_t extent = by_rows ? M : N;
  int64_t parts = threads / std::gcd(int64_t(threads), batch);
  parts = std::max<int64_t>(1, std::min(parts, extent / kMinPart));
  const int64_t items = batch * parts;
  const int team = int(std::min<int64_t>(threads, items));
#pragma omp parallel num_threads(team)
  {
    const int nt = omp_get_num_threads(), tid = omp_get_thread_num();
    const int64_t i0 = items * tid / nt, i1 = items * (tid + 1) / nt;
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t bi = it / parts, part = it % parts;
      item(bi, extent * part / parts, extent * (part + 1) / parts, by_rows);
    }
  }
}

// bfloat16/float16: panels of A and B converted to float32, multiplied by the float32 gemm into
// a float32 block, which is scaled and rounded once into C (Note [reduced precision compute]).
template <typename T>
void half_gemm(int64_t M, int64_t N, int64_t K, double alpha, Mat<T> A, Mat<T> B, double beta, T* C, int64_t ldc) {
  constexpr int64_t kMb = 1024, kNb = 1024;
  const int64_t nb_max = std::min(N, kNb), mb_max = std::min(M, kMb);
  // Scratch panels, left uninitialised (every element is written before it is read).
  std::unique_ptr<float[]> bf(new float[size_t(K * nb_max)]), af(new float[size_t(mb_max * K)]),
      cf(new float[size_t(mb_max * nb_max)]);
  for (int64_t n0 = 0; n0 < N; n0 += kNb) {
    const int64_t nb = std::min(kNb, N - n0);
    parallel_for(K, nb, [&](int64_t k0, int64_t k1) {
      for (int64_t k = k0; k < k1; ++k) {
        for (int64_t j = 0; j < nb; ++j) bf[size_t(k * nb + j)] = float(B.at(k, n0 + j));
      }
    });
    for (int64_t m0 = 0; m0 < M; m0 += kMb) {
      const int64_t mb = std::min(kMb, M - m0);
      parallel_for(mb, K, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          for (int64_t k = 0; k < K; ++k) af[size_t(i * K + k)] = float(A.at(m0 + i, k));
        }
      });
      gemm_parallel<float>(1, mb, nb, K, alpha, af.get(), 0, K, 1, bf.get(), 0, nb, 1, 0.0, cf.get(), 0, nb);
      const float b = float(beta);
      parallel_for(mb, nb, [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          T* crow = C + (m0 + i) * ldc + n0;
          const float* frow = cf.get() + i * nb;
          for (int64_t j = 0; j < nb; ++j) {
            float v = frow[j];
            if (beta != 0) v += b * float(crow[j]);
            crow[j] = T(v);
          }
        }
      });
    }
  }
}

}  // namespace

namespace {
template <typename T>
void gemm_serial_impl(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                      const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  Mat<T> a = trans_a ? Mat<T>{A, 1, lda} : Mat<T>{A, lda, 1};
  Mat<T> b = trans_b ? Mat<T>{B, 1, ldb} : Mat<T>{B, ldb, 1};
  float_gemm<T>(M, N, K, double(alpha), a, b, double(beta), C, ldc);
}
}  // namespace

void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                 int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  gemm_serial_impl<float>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void gemm_serial(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
                 int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  gemm_serial_impl<double>(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void CpuBackend::gemm(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) {
  TESSERA_INTERNAL_ASSERT(out.dim() == 3 && a.dim() == 3 && b.dim() == 3, "gemm expects 3-D operands");
  TESSERA_INTERNAL_ASSERT(out.is_contiguous(), "gemm: out must be contiguous");
  TESSERA_INTERNAL_ASSERT(a.dtype() == out.dtype() && b.dtype() == out.dtype(), "gemm: mixed dtypes");
  const int64_t batch = out.size(0), M = out.size(1), N = out.size(2), K = a.size(2);
  TESSERA_INTERNAL_ASSERT(a.size(0) == batch && b.size(0) == batch && a.size(1) == M && b.size(1) == K &&
                              b.size(2) == N,
                          "gemm: shapes {} {} {}", shape_str(out.sizes()), shape_str(a.sizes()), shape_str(b.sizes()));
  if (out.numel() == 0) return;
  TESSERA_DISPATCH_NUMERIC_TYPES(out.dtype(), "gemm", [&] {
    using T = scalar_t;
    const T* pa = a.data_ptr<T>();
    const T* pb = b.data_ptr<T>();
    T* pc = out.data_ptr<T>();
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
      if (K > 0) {
        gemm_parallel<T>(batch, M, N, K, alpha, pa, a.stride(0), a.stride(1), a.stride(2), pb, b.stride(0), b.stride(1),
                         b.stride(2), beta, pc, M * N, N);
        return;
      }
    }
    for (int64_t i = 0; i < batch; ++i) {
      Mat<T> A{pa + i * a.stride(0), a.stride(1), a.stride(2)};
      Mat<T> B{pb + i * b.stride(0), b.stride(1), b.stride(2)};
      T* C = pc + i * M * N;
      if (K == 0) {
        // Empty sum: alpha * 0 + beta * C.
        for (int64_t j = 0; j < M * N; ++j) C[j] = beta == 0 ? T(0) : cast_element<T>(beta * cast_element<double>(C[j]));
        continue;
      }
      if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        float_gemm<T>(M, N, K, alpha, A, B, beta, C, N);
      } else if constexpr (std::is_same_v<T, BFloat16> || std::is_same_v<T, Half>) {
        half_gemm<T>(M, N, K, alpha, A, B, beta, C, N);
      } else {
        builtin_gemm<T, IntAcc<T>>(M, N, K, alpha, A, B, beta, C, N);
      }
    }
  });
}

}  // namespace tessera::cpu
