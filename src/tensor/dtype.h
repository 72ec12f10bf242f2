// DType (the element type of a tensor), its names, sizes, categories and PyTorch-style type
// promotion, plus TESSERA_DISPATCH_* macros that turn a runtime DType into a C++ type.
#pragma once

#include <cstdint>
#include <string_view>

#include "tessera/tensor/error.h"
#include "tessera/tensor/half.h"

namespace tessera {

enum class DType : int8_t { Float32, Float64, BFloat16, Float16, Int32, Int64, Bool };
using ScalarType = DType;  // LibTorch spelling

inline constexpr DType kFloat32 = DType::Float32;
inline constexpr DType kFloat = DType::Float32;
inline constexpr DType kFloat64 = DType::Float64;
inline constexpr DType kDouble = DType::Float64;
inline constexpr DType kBFloat16 = DType::BFloat16;
inline constexpr DType kFloat16 = DType::Float16;
inline constexpr DType kHalf = DType::Float16;
inline constexpr DType kInt32 = DType::Int32;
inline constexpr DType kInt = DType::Int32;
inline constexpr DType kInt64 = DType::Int64;
inline constexpr DType kLong = DType::Int64;
inline constexpr DType kBool = DType::Bool;

inline constexpr int kNumDTypes = 7;

constexpr size_t element_size(DType t) {
  switch (t) {
    case DType::Float32: return 4;
    case DType::Float64: return 8;
    case DType::BFloat16: return 2;
    case DType::Float16: return 2;
    case DType::Int32: return 4;
    case DType::Int64: return 8;
    case DType::Bool: return 1;
  }
  return 0;
}

// PyTorch's names: "float32", "bfloat16", ...
constexpr std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::Float32: return "float32";
    case DType::Float64: return "float64";
    case DType::BFloat16: return "bfloat16";
    case DType::Float16: return "float16";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::Bool: return "bool";
  }
  return "?";
}

constexpr bool is_floating_point(DType t) {
  return t == DType::Float32 || t == DType::Float64 || t == DType::BFloat16 || t == DType::Float16;
}
constexpr bool is_integral(DType t, bool include_bool = false) {
  return t == DType::Int32 || t == DType::Int64 || (include_bool && t == DType::Bool);
}
// 16-bit float types that compute in float32 (Note [reduced precision compute]).
constexpr bool is_reduced_float(DType t) { return t == DType::BFloat16 || t == DType::Float16; }

// Type promotion for two tensor operands of the same "dimension category", following
// torch.promote_types: bool < integers < floats; float16 with bfloat16 gives float32.
DType promote_types(DType a, DType b);

// C++ type <-> DType.
template <typename T>
struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };
template <> struct dtype_of<BFloat16> { static constexpr DType value = DType::BFloat16; };
template <> struct dtype_of<Half> { static constexpr DType value = DType::Float16; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };

// Note [reduced precision compute]
// bfloat16 and float16 values are computed in float32 and rounded once when stored
// (round-to-nearest-even). acc_type<T> is the type kernels compute/accumulate in.
template <typename T> struct acc_type_of { using type = T; };
template <> struct acc_type_of<BFloat16> { using type = float; };
template <> struct acc_type_of<Half> { using type = float; };
template <> struct acc_type_of<bool> { using type = int64_t; };
template <> struct acc_type_of<int32_t> { using type = int64_t; };
template <typename T> using acc_type = typename acc_type_of<T>::type;

}  // namespace tessera

// TESSERA_DISPATCH_*(dtype, "opname", [&] { ... scalar_t ... }) instantiates the lambda body for
// each supported C++ type and throws a DTypeError naming the op for an unsupported one.
#define TESSERA_DTYPE_CASE(enum_value, ctype, ...) \
  case ::tessera::DType::enum_value: {           \
    using scalar_t = ctype;                        \
    return __VA_ARGS__();                          \
  }

#define TESSERA_DTYPE_UNSUPPORTED(dtype, opname)                                                \
  default:                                                                                    \
    throw ::tessera::DTypeError(fmt::format("{}: not implemented for dtype {}", opname, \
                                            ::tessera::dtype_name(dtype)))

#define TESSERA_DISPATCH_FLOATING_TYPES(dtype, opname, ...)     \
  [&] {                                                        \
    switch (dtype) {                                           \
      TESSERA_DTYPE_CASE(Float32, float, __VA_ARGS__)          \
      TESSERA_DTYPE_CASE(Float64, double, __VA_ARGS__)         \
      TESSERA_DTYPE_CASE(BFloat16, ::tessera::BFloat16, __VA_ARGS__) \
      TESSERA_DTYPE_CASE(Float16, ::tessera::Half, __VA_ARGS__) \
      TESSERA_DTYPE_UNSUPPORTED(dtype, opname);                \
    }                                                          \
  }()

#define TESSERA_DISPATCH_ALL_TYPES(dtype, opname, ...)          \
  [&] {                                                        \
    switch (dtype) {                                           \
      TESSERA_DTYPE_CASE(Float32, float, __VA_ARGS__)          \
      TESSERA_DTYPE_CASE(Float64, double, __VA_ARGS__)         \
      TESSERA_DTYPE_CASE(BFloat16, ::tessera::BFloat16, __VA_ARGS__) \
      TESSERA_DTYPE_CASE(Float16, ::tessera::Half, __VA_ARGS__) \
      TESSERA_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)          \
      TESSERA_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)          \
      TESSERA_DTYPE_CASE(Bool, bool, __VA_ARGS__)              \
      TESSERA_DTYPE_UNSUPPORTED(dtype, opname);                \
    }                                                          \
  }()

// All types but bool (arithmetic that is not defined on bool).
#define TESSERA_DISPATCH_NUMERIC_TYPES(dtype, opname, ...)      \
  [&] {                                                        \
    switch (dtype) {                                           \
      TESSERA_DTYPE_CASE(Float32, float, __VA_ARGS__)          \
      TESSERA_DTYPE_CASE(Float64, double, __VA_ARGS__)         \
      TESSERA_DTYPE_CASE(BFloat16, ::tessera::BFloat16, __VA_ARGS__) \
      TESSERA_DTYPE_CASE(Float16, ::tessera::Half, __VA_ARGS__) \
      TESSERA_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)          \
      TESSERA_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)          \
      TESSERA_DTYPE_UNSUPPORTED(dtype, opname);                \
    }                                                          \
  }()

#define TESSERA_DISPATCH_INDEX_TYPES(dtype, opname, ...)        \
  [&] {                                                        \
    switch (dtype) {                                           \
      TESSERA_DTYPE_CASE(Int32, int32_t, __VA_ARGS__)          \
      TESSERA_DTYPE_CASE(Int64, int64_t, __VA_ARGS__)          \
      TESSERA_DTYPE_UNSUPPORTED(dtype, opname);                \
    }                                                          \
  }()
