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

class CpuBackend final : public Backend {
 public:
  CpuBackend() : Backend(DeviceType::CPU) {}

  // copy_fill.cpp
  void copy(const Tensor& dst, const Tensor& src) override;
  void fill(const Tensor& out, Scalar value) override;

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
};

}  // namespace tessera::cpu
