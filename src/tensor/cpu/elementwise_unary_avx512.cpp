// The AVX-512 build of the CPU unary kernels (float32, bfloat16, float16), chosen at run time by
// elementwise_unary.cpp (Note [cpu isa variants] in elementwise_loops.h). Everything the kernels
// include is included first, outside the target pragma; the kernels' own headers are then
// compiled for AVX-512 inside namespace tessera::cpu::isa_avx512. Keep the list of standard
// headers below a superset of what elementwise_unary_kernels.h and the headers it includes pull
// in: a standard header first included inside the pragma would compile its inline functions for
// AVX-512 under their ordinary (shared) names.
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/loops.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)

#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,prefer-vector-width=512")
#define TESSERA_CPU_ISA_NS isa_avx512
#define TESSERA_EW_FLOAT_TYPES_ONLY 1
#include "tessera/tensor/cpu/elementwise_unary_kernels.h"
#pragma GCC pop_options

#else  // no AVX-512 build on this compiler/architecture: never selected at run time

namespace tessera::cpu::isa_avx512 {
bool unary_impl(UnaryOp, const Tensor&, const Tensor&) { return false; }
bool unary_backward_impl(UnaryOp, const Tensor&, const Tensor&, const Tensor&) { return false; }
}  // namespace tessera::cpu::isa_avx512

#endif
