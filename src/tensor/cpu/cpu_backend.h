// The CPU Backend: declares the primitives the CPU implements. Each family of primitives is
// defined in its own file in this directory (copy_fill.cpp, elementwise.cpp, reduction.cpp, ...).
#pragma once

#include <type_traits>

#include "tessera/tensor/backend.h"

namespace tessera::cpu {

// Converts one element between C++ element types the way every CPU kernel does: 16-bit floats
// through float32 (round to nearest even), anything to bool as "!= 0".
template <typename To, typename From>
inline To cast_element(From v) {
  if constexpr (std::is_same_v<To, From>) return v;
  else if constexpr (std::is_same_v<To, bool>) {
    if constexpr (std::is_same_v<From, BFloat16> || std::is_same_v<From, Half>) return static_cast<float>(v) != 0.0f;
    else return v != From(0);
  }
  else if constexpr (std::is_same_v<From, BFloat16> || std::is_same_v<From, Half>) return To(static_cast<float>(v));
  else if constexpr (std::is_same_v<To, BFloat16> || std::is_same_v<To, Half>) return To(static_cast<float>(v));
  else return static_cast<To>(v);
}

// Whether the unary float kernels use their AVX-512 build (Note [cpu isa variants] in
// elementwise_loops.h). On by default where the CPU has AVX-512 (TESSERA_CPU_ISA=avx2 turns it
// off); set_avx512_kernels_enabled(true) is a no-op without CPU support. Returns the new state.
bool avx512_kernels_enabled();
bool set_avx512_kernels_enabled(bool enabled);

class CpuBackend final : public Backend {
 public:
  CpuBackend() : Backend(DeviceType::CPU) {}

  // copy_fill.cpp
  void copy(const Tensor& dst, const Tensor& src) override;
  void fill(const Tensor& out, Scalar value) override;

  // reductions (reduction.cpp)
  void reduce(ReduceOp op, const Tensor& out, const Tensor& in, IntArrayRef dims) override;
  void arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in,
                  int64_t dim) override;
  void var(const Tensor& out, const Tensor& in, IntArrayRef dims, int64_t correction) override;
  void logsumexp(const Tensor& out, const Tensor& in, IntArrayRef dims) override;

  // normalization (normalization.cpp)
  void softmax(const Tensor& out, const Tensor& in, bool log) override;
  void softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) override;
  void layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in,
                  const Tensor& weight, const Tensor& bias, double eps) override;
  void layer_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_bias,
                           const Tensor& grad_out, const Tensor& in, const Tensor& mean, const Tensor& rstd,
                           const Tensor& weight) override;
  void rms_norm(const Tensor& out, const Tensor& rstd, const Tensor& in, const Tensor& weight, double eps) override;
  void rms_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_out,
                         const Tensor& in, const Tensor& rstd, const Tensor& weight) override;

  // ---- linalg ---- gemm.cpp (OpenBLAS loading: blas.cpp)
  void gemm(const Tensor& out, const Tensor& a, const Tensor& b, double alpha, double beta) override;

  // ---- indexing ---- indexing.cpp (cross_entropy: cross_entropy.cpp)
  void index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override;
  void index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source) override;
  void gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) override;
  void scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) override;
  void tril_triu(const Tensor& out, const Tensor& in, int64_t k, bool upper) override;
  void cross_entropy(const Tensor& loss, const Tensor& lse, const Tensor& logits, const Tensor& target,
                     int64_t ignore_index, double label_smoothing) override;
  void cross_entropy_backward(const Tensor& grad_logits, const Tensor& grad_loss, const Tensor& logits,
                              const Tensor& lse, const Tensor& target, int64_t ignore_index,
                              double label_smoothing) override;

  // ---- attention ---- attention.cpp
  void attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                 double scale) override;
  void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout, const Tensor& q,
                          const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse, bool causal,
                          double scale) override;
  // ---- elementwise ---- elementwise_unary(_avx512).cpp, elementwise_binary.cpp, elementwise.cpp
  void unary(UnaryOp op, const Tensor& out, const Tensor& in) override;
  void binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha) override;
  void binary_scalar(BinaryOp op, const Tensor& out, const Tensor& a, Scalar s, bool reverse) override;
  void where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) override;
  void clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) override;
  void masked_fill(const Tensor& self, const Tensor& mask, Scalar value) override;
  void unary_backward(UnaryOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& x) override;

  // ---- random ---- random.cpp (Note [philox stream] in rng.h)
  void random_uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) override;
  void random_normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) override;
  void random_int(const Tensor& out, int64_t low, int64_t high, uint64_t seed, uint64_t offset) override;
  void dropout_mask(const Tensor& out, double p, uint64_t seed, uint64_t offset) override;
};

}  // namespace tessera::cpu
