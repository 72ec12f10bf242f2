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

  // attention.cpp
  void attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v, bool causal,
                 double scale) override;
  void attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout, const Tensor& q,
                          const Tensor& k, const Tensor& v, const Tensor& out, const Tensor& lse, bool causal,
                          double scale) override;
};

}  // namespace tessera::cpu
