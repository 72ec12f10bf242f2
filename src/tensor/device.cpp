// Device parsing and formatting.
#include "tessera/tensor/device.h"

#include "tessera/tensor/error.h"

namespace tessera {

Device::Device(const std::string& spec) {
  if (spec == "cpu") {
    *this = Device::cpu();
    return;
  }
  if (spec.rfind("cuda", 0) == 0) {
    if (spec.size() == 4) {
      *this = Device::cuda(0);
      return;
    }
    if (spec[4] == ':' && spec.size() > 5 && spec.find_first_not_of("0123456789", 5) == std::string::npos) {
      *this = Device::cuda(std::stoi(spec.substr(5)));
      return;
    }
  }
  throw ValueError(fmt::format("Device: cannot parse '{}' (expected 'cpu', 'cuda' or 'cuda:N')", spec));
}

std::string Device::str() const { return is_cpu() ? "cpu" : fmt::format("cuda:{}", index); }

}  // namespace tessera
