// MetricsLog: the JSONL metrics file of a training run (one JSON object per line, flushed at once so a
// killed run keeps every line it wrote). `tessera plot` and plot_loss_curve read it back.
#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace tessera::train {

class MetricsLog {
 public:
  // append: keep existing lines (a resumed run continues the same log).
  MetricsLog(const std::string& path, bool append);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace tessera::train
