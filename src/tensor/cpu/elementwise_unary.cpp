// CPU unary elementwise primitives: CpuBackend::unary (neg ... logical_not) and
// CpuBackend::unary_backward (grad * d op(x)/dx). The kernels live in elementwise_unary_kernels.h;
// this file holds their baseline (AVX2) build and picks the AVX-512 build
// (elementwise_unary_avx512.cpp) for floating types when the CPU has it (Note [cpu isa variants]).
#include <cstdlib>
#include <cstring>

#include "tessera/tensor/cpu/elementwise_unary_kernels.h"

namespace tessera::cpu {

namespace isa_avx512 {  // elementwise_unary_avx512.cpp
bool unary_impl(UnaryOp op, const Tensor& out, const Tensor& in);
bool unary_backward_impl(UnaryOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& x);
}  // namespace isa_avx512

namespace {

bool cpu_has_avx512() {
#if defined(__x86_64__) && defined(__GNUC__)
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
#else
  return false;
#endif
}

// On by default where the CPU supports it; TESSERA_CPU_ISA=avx2 turns it off.
bool g_use_avx512 = [] {
  const char* isa = std::getenv("TESSERA_CPU_ISA");
  return cpu_has_avx512() && !(isa && std::strcmp(isa, "avx2") == 0);
}();

bool use_avx512_for(DType dtype) {
  return g_use_avx512 && (dtype == DType::Float32 || dtype == DType::BFloat16 || dtype == DType::Float16);
}

}  // namespace

bool avx512_kernels_enabled() { return g_use_avx512; }
bool set_avx512_kernels_enabled(bool enabled) {
  g_use_avx512 = enabled && cpu_has_avx512();
  return g_use_avx512;
}

void CpuBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in) {
  if (op == UnaryOp::LogicalNot) {
    TESSERA_CHECK(out.dtype() == DType::Bool, DTypeError, "logical_not: cpu kernel expects a bool output, got {}",
                  dtype_name(out.dtype()));
    TESSERA_DISPATCH_ALL_TYPES(in.dtype(), "logical_not", [&] {
      using C = compute_t<scalar_t>;
      elementwise<bool, scalar_t>(out, {&in}, [](C x) { return !(x != C(0)); });
    });
    return;
  }
  if (op == UnaryOp::Sign && in.dtype() == DType::Bool) return copy(out, in);  // sign(b) = b
  bool done = use_avx512_for(in.dtype()) ? isa_avx512::unary_impl(op, out, in) : unary_impl(op, out, in);
  if (!done) not_implemented(unary_op_name(op));
}

void CpuBackend::unary_backward(UnaryOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& x) {
  bool done = use_avx512_for(x.dtype()) ? isa_avx512::unary_backward_impl(op, grad_in, grad_out, x)
                                        : unary_backward_impl(op, grad_in, grad_out, x);
  if (!done) throw DTypeError(fmt::format("{}_backward: the op is not differentiable", unary_op_name(op)));
}

}  // namespace tessera::cpu
