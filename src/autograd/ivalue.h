// IValue: the small tagged value custom autograd Functions keep in ctx->saved_data (LibTorch's
// c10::IValue, reduced to what a backward formula needs: none, bool, int, double, string, tensor,
// and lists of int / double / tensor).
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "tessera/tensor/error.h"
#include "tessera/tensor/tensor.h"

namespace tessera::autograd {

class IValue {
 public:
  using Storage = std::variant<std::monostate, bool, int64_t, double, std::string, Tensor, std::vector<int64_t>,
                               std::vector<double>, std::vector<Tensor>>;

  IValue() = default;
  IValue(bool v) : v_(v) {}  // NOLINT
  template <typename T, std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  IValue(T v) : v_(int64_t(v)) {}  // NOLINT
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  IValue(T v) : v_(double(v)) {}  // NOLINT
  IValue(std::string v) : v_(std::move(v)) {}  // NOLINT
  IValue(const char* v) : v_(std::string(v)) {}  // NOLINT
  IValue(Tensor v) : v_(std::move(v)) {}  // NOLINT
  IValue(std::vector<int64_t> v) : v_(std::move(v)) {}  // NOLINT
  IValue(IntArrayRef v) : v_(v.vec()) {}  // NOLINT
  IValue(std::vector<double> v) : v_(std::move(v)) {}  // NOLINT
  IValue(std::vector<Tensor> v) : v_(std::move(v)) {}  // NOLINT

  bool isNone() const { return std::holds_alternative<std::monostate>(v_); }
  bool isBool() const { return std::holds_alternative<bool>(v_); }
  bool isInt() const { return std::holds_alternative<int64_t>(v_); }
  bool isDouble() const { return std::holds_alternative<double>(v_); }
  bool isString() const { return std::holds_alternative<std::string>(v_); }
  bool isTensor() const { return std::holds_alternative<Tensor>(v_); }
  bool isIntList() const { return std::holds_alternative<std::vector<int64_t>>(v_); }
  bool isDoubleList() const { return std::holds_alternative<std::vector<double>>(v_); }
  bool isTensorList() const { return std::holds_alternative<std::vector<Tensor>>(v_); }

  bool toBool() const { return get<bool>("bool"); }
  int64_t toInt() const { return get<int64_t>("int"); }
  // Ints convert to double (as in LibTorch's toDouble on a number).
  double toDouble() const { return isInt() ? double(toInt()) : get<double>("double"); }
  const std::string& toStringRef() const { return get<std::string>("string"); }
  const Tensor& toTensor() const { return get<Tensor>("Tensor"); }
  const std::vector<int64_t>& toIntVector() const { return get<std::vector<int64_t>>("int list"); }
  const std::vector<double>& toDoubleVector() const { return get<std::vector<double>>("double list"); }
  const std::vector<Tensor>& toTensorVector() const { return get<std::vector<Tensor>>("Tensor list"); }

  const char* tag() const {
    static const char* names[] = {"None", "bool", "int", "double", "string", "Tensor", "int list", "double list",
                                  "Tensor list"};
    return names[v_.index()];
  }

 private:
  template <typename T>
  const T& get(const char* want) const {
    const T* p = std::get_if<T>(&v_);
    TESSERA_CHECK(p != nullptr, ValueError, "IValue: expected {} but the value holds {}", want, tag());
    return *p;
  }

  Storage v_;
};

}  // namespace tessera::autograd
