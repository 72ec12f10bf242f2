// MetricsLog: see metrics_log.h.
#include "tessera/models/train/metrics_log.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

#include "tessera/tensor/error.h"

namespace tessera::train {

MetricsLog::MetricsLog(const std::string& path, bool append) : path_(path) {
  file_ = std::fopen(path.c_str(), append ? "a" : "w");
  TESSERA_CHECK(file_ != nullptr, RuntimeError, "metrics log: cannot open '{}' for writing: {}", path,
                std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write(const nlohmann::json& record) {
  std::string line = record.dump() + "\n";
  TESSERA_CHECK(std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0,
                RuntimeError, "metrics log: write to '{}' failed: {}", path_, std::strerror(errno));
}

}  // namespace tessera::train
