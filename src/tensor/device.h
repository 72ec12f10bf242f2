// Device: where a tensor's bytes live (CPU, or a CUDA device with an index).
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <string>

namespace tessera {

enum class DeviceType : int8_t { CPU = 0, CUDA = 1 };
inline constexpr int kNumDeviceTypes = 2;
inline constexpr DeviceType kCPU = DeviceType::CPU;
inline constexpr DeviceType kCUDA = DeviceType::CUDA;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // CUDA ordinal; always 0 for CPU

  constexpr Device() = default;
  constexpr Device(DeviceType t, int i = 0) : type(t), index(t == DeviceType::CPU ? 0 : i) {}  // NOLINT
  // Parses "cpu", "cuda", "cuda:1"; throws ValueError otherwise.
  explicit Device(const std::string& spec);

  static constexpr Device cpu() { return Device(DeviceType::CPU); }
  static constexpr Device cuda(int i = 0) { return Device(DeviceType::CUDA, i); }
  constexpr bool is_cpu() const { return type == DeviceType::CPU; }
  constexpr bool is_cuda() const { return type == DeviceType::CUDA; }
  constexpr bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  constexpr bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;  // "cpu", "cuda:0"
};

}  // namespace tessera

template <>
struct fmt::formatter<tessera::Device> : fmt::formatter<std::string> {
  auto format(const tessera::Device& d, format_context& ctx) const {
    return fmt::formatter<std::string>::format(d.str(), ctx);
  }
};
