// The CPU elementwise driver: out[i] = f(in0[i], in1[i], ...) over tensors of any strides and
// storage types, built on for_each_run (loops.h). See Note [elementwise driver].
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/loops.h"

#ifndef TESSERA_CPU_ISA_NS
#define TESSERA_CPU_ISA_NS isa_default
#endif

namespace tessera::cpu {

// Note [cpu isa variants]
// Kernels whose speed depends on vector width (the transcendental unary ops) are compiled twice:
// for the baseline ISA (x86-64-v3, AVX2) and, in a separate file under
// `#pragma GCC target("avx512...")`, for AVX-512; CpuBackend picks one at run time. Every
// inline function of the headers they share (this one, elementwise_math.h) is declared inside
// `inline namespace TESSERA_CPU_ISA_NS`, which the AVX-512 file defines as isa_avx512 before
// including them, so the two copies never share a symbol (no ODR clash that could let the
// linker hand AVX-512 code to a CPU without it). Code outside just writes cpu::elementwise.
inline namespace TESSERA_CPU_ISA_NS {

// Note [elementwise driver]
// f is called on *compute* values: float for bfloat16/float16 storage, the storage type
// otherwise (Note [reduced precision compute]); it returns the compute type of the output.
// Each innermost run (for_each_run) takes the first of these paths that applies:
//  1. all operands unit-stride and stored in their compute type: one `omp simd` loop straight
//     over the tensors (the path contiguous float32 takes);
//  2. two inputs, one a broadcast scalar (stride 0), the rest unit-stride: the same loop with
//     the scalar hoisted;
//  3. otherwise blocks of kBlock elements: operands that are not unit-stride compute-typed
//     are gathered/converted into stack buffers, the same `omp simd` loop runs on the
//     buffers, and the output block is converted/scattered back. 16-bit floats therefore
//     convert once on load and round once on store, and transposed operands still vectorise.
// The `post` hook (path 3 only) sees each finished block of inputs/outputs (compute types);
// sin/cos use it to recompute the few elements their fast path does not cover.
// Out may alias an input exactly (in-place ops): every path reads element i of the inputs
// before writing element i of the output.

template <typename T>
struct compute_type_of {
  using type = T;
};
template <>
struct compute_type_of<BFloat16> {
  using type = float;
};
template <>
struct compute_type_of<Half> {
  using type = float;
};
template <typename T>
using compute_t = typename compute_type_of<T>::type;
template <typename T>
inline constexpr bool is_compute_native = std::is_same_v<T, compute_t<T>>;

inline constexpr int64_t kBlock = 256;

struct NoPost {
  static constexpr bool enabled = false;
};

// dst[i] = compute(src[i]) for a unit-stride run of 16-bit floats.
inline void convert_run(float* __restrict dst, const Half* __restrict src, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < n; ++i) dst[i] = float(src[i]);
}
inline void convert_run(float* __restrict dst, const BFloat16* __restrict src, int64_t n) {
  const uint16_t* s = reinterpret_cast<const uint16_t*>(src);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dst[i] = detail::bits_float(uint32_t(s[i]) << 16);
}
inline void convert_run(Half* __restrict dst, const float* __restrict src, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
#endif
  for (; i < n; ++i) dst[i] = Half(src[i]);
}
inline void convert_run(BFloat16* __restrict dst, const float* __restrict src, int64_t n) {
  uint16_t* d = reinterpret_cast<uint16_t*>(dst);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u = detail::float_bits(src[i]);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t nan = (u >> 16) | 0x0040u;
    d[i] = uint16_t((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
  }
}

// Gathers n elements of storage type T (byte stride st) into a compute-typed buffer.
template <typename T>
inline void load_block(compute_t<T>* __restrict dst, const char* src, int64_t st, int64_t n) {
  using C = compute_t<T>;
  if (st == int64_t(sizeof(T))) {
    if constexpr (is_compute_native<T>) std::copy_n(reinterpret_cast<const T*>(src), n, dst);
    else convert_run(dst, reinterpret_cast<const T*>(src), n);
  } else if (st == 0) {
    C v = C(*reinterpret_cast<const T*>(src));
    std::fill_n(dst, n, v);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = C(*reinterpret_cast<const T*>(src + i * st));
  }
}

// Scatters n compute-typed values into storage type T at byte stride st (rounding once).
template <typename T>
inline void store_block(char* dst, int64_t st, const compute_t<T>* __restrict src, int64_t n) {
  if (st == int64_t(sizeof(T))) {
    if constexpr (is_compute_native<T>) std::copy_n(src, n, reinterpret_cast<T*>(dst));
    else convert_run(reinterpret_cast<T*>(dst), src, n);
  } else {
    for (int64_t i = 0; i < n; ++i) *reinterpret_cast<T*>(dst + i * st) = T(src[i]);
  }
}

namespace detail_ew {

template <typename OutT, typename... InT, typename F, typename Post, size_t... I>
inline void run(const F& f, const Post& post, char** p, const int64_t* st, int64_t n, std::index_sequence<I...>) {
  using OC = compute_t<OutT>;
  constexpr int kIn = int(sizeof...(InT));
  constexpr bool all_native = is_compute_native<OutT> && (is_compute_native<InT> && ...);
  const bool out_unit = st[0] == int64_t(sizeof(OutT));
  if constexpr (all_native && !Post::enabled) {
    if (out_unit && ((st[I + 1] == int64_t(sizeof(InT))) && ...)) {
      OutT* o = reinterpret_cast<OutT*>(p[0]);
      std::tuple<const InT*...> in{reinterpret_cast<const InT*>(p[I + 1])...};
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) o[i] = f(std::get<I>(in)[i]...);
      return;
    }
    if constexpr (kIn == 2) {
      using A = std::tuple_element_t<0, std::tuple<InT...>>;
      using B = std::tuple_element_t<1, std::tuple<InT...>>;
      if (out_unit && st[1] == 0 && st[2] == int64_t(sizeof(B))) {
        OutT* o = reinterpret_cast<OutT*>(p[0]);
        const A a = *reinterpret_cast<const A*>(p[1]);
        const B* b = reinterpret_cast<const B*>(p[2]);
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) o[i] = f(a, b[i]);
        return;
      }
      if (out_unit && st[2] == 0 && st[1] == int64_t(sizeof(A))) {
        OutT* o = reinterpret_cast<OutT*>(p[0]);
        const A* a = reinterpret_cast<const A*>(p[1]);
        const B b = *reinterpret_cast<const B*>(p[2]);
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b);
        return;
      }
    }
  }
  alignas(64) OC obuf[kBlock];
  std::tuple<std::array<compute_t<InT>, kBlock>...> bufs;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t nb = std::min(kBlock, n - b);
    std::tuple<const compute_t<InT>*...> in{[&]() -> const compute_t<InT>* {
      const char* src = p[I + 1] + b * st[I + 1];
      if (is_compute_native<InT> && st[I + 1] == int64_t(sizeof(InT))) {
        return reinterpret_cast<const compute_t<InT>*>(src);
      }
      load_block<InT>(std::get<I>(bufs).data(), src, st[I + 1], nb);
      return std::get<I>(bufs).data();
    }()...};
    char* dst = p[0] + b * st[0];
    const bool direct = is_compute_native<OutT> && out_unit;
    OC* o = direct ? reinterpret_cast<OC*>(dst) : obuf;
#pragma omp simd
    for (int64_t i = 0; i < nb; ++i) o[i] = f(std::get<I>(in)[i]...);
    if constexpr (Post::enabled) post(std::get<I>(in)..., o, nb);
    if (!direct) store_block<OutT>(dst, st[0], obuf, nb);
  }
}

}  // namespace detail_ew

// out[i] = f(ins[0][i], ...) (Note [elementwise driver]). All tensors have out's shape (inputs
// broadcast by expand); cost_per_elem scales the parallel threshold for expensive f.
template <typename OutT, typename... InT, typename F, typename Post = NoPost>
void elementwise(const Tensor& out, const std::array<const Tensor*, sizeof...(InT)>& ins, const F& f,
                 int64_t cost_per_elem = 1, const Post& post = {}) {
  constexpr int N = 1 + int(sizeof...(InT));
  std::array<const Tensor*, N> all;
  all[0] = &out;
  for (size_t k = 0; k < sizeof...(InT); ++k) all[k + 1] = ins[k];
  for_each_run<N>(
      all,
      [&](char** p, const int64_t* st, int64_t n) {
        detail_ew::run<OutT, InT...>(f, post, p, st, n, std::index_sequence_for<InT...>{});
      },
      cost_per_elem);
}

}  // namespace TESSERA_CPU_ISA_NS
}  // namespace tessera::cpu
