// Scalar: a number passed to an op (alpha, fill value, clamp bound). Holds a double, an int64 or a
// bool, like c10::Scalar, so integer fills stay exact and float ones keep double precision.
#pragma once

#include <cstdint>
#include <type_traits>

#include "tessera/tensor/dtype.h"

namespace tessera {

class Scalar {
 public:
  enum class Kind : int8_t { Double, Int, Bool };

  Scalar() : Scalar(int64_t(0)) {}
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Scalar(T v) : kind_(Kind::Double), d_(double(v)) {}  // NOLINT
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Scalar(T v) : kind_(Kind::Int), i_(int64_t(v)) {}  // NOLINT
  Scalar(bool v) : kind_(Kind::Bool), i_(v ? 1 : 0) {}  // NOLINT
  Scalar(BFloat16 v) : kind_(Kind::Double), d_(float(v)) {}  // NOLINT
  Scalar(Half v) : kind_(Kind::Double), d_(float(v)) {}  // NOLINT

  Kind kind() const { return kind_; }
  bool is_floating_point() const { return kind_ == Kind::Double; }
  bool is_integral() const { return kind_ == Kind::Int; }
  bool is_bool() const { return kind_ == Kind::Bool; }

  double to_double() const { return kind_ == Kind::Double ? d_ : double(i_); }
  int64_t to_long() const { return kind_ == Kind::Double ? int64_t(d_) : i_; }
  bool to_bool() const { return kind_ == Kind::Double ? d_ != 0.0 : i_ != 0; }

  template <typename T>
  T to() const {
    if constexpr (std::is_same_v<T, bool>) return to_bool();
    else if constexpr (std::is_integral_v<T>) return T(to_long());
    else if constexpr (std::is_same_v<T, double>) return to_double();
    else return T(float(to_double()));  // float, BFloat16, Half
  }

  // The dtype this scalar would have as a 0-dim tensor (float64 for floats, int64, bool).
  DType dtype() const {
    return kind_ == Kind::Double ? DType::Float64 : kind_ == Kind::Int ? DType::Int64 : DType::Bool;
  }

 private:
  Kind kind_;
  double d_ = 0.0;
  int64_t i_ = 0;
};

}  // namespace tessera
