// Training checkpoints: see checkpoint.h (Note [one-file checkpoints]).
#include "tessera/models/train/checkpoint.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstdlib>

#include "tessera/tensor/error.h"
#include "tessera/tensor/file_io.h"
#include "tessera/tensor/safetensors.h"

namespace tessera::train {

namespace {

constexpr const char* kModel = "model.";
constexpr const char* kOptimizer = "optimizer.";
constexpr const char* kScheduler = "scheduler.";
constexpr const char* kScaler = "scaler.";

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

int64_t meta_int(const safetensors::Metadata& meta, const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  TESSERA_CHECK(it != meta.end(), ValueError,
                "training checkpoint '{}': metadata key '{}' is missing (is this a tessera training checkpoint? "
                "model-only files are loaded with `--init-from`)",
                path, key);
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  TESSERA_CHECK(errno == 0 && end && *end == '\0' && !it->second.empty(), ValueError,
                "training checkpoint '{}': metadata '{}' should be an integer, found '{}'", path, key, it->second);
  return v;
}

uint64_t meta_uint(const safetensors::Metadata& meta, const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  TESSERA_CHECK(it != meta.end(), ValueError, "training checkpoint '{}': metadata key '{}' is missing", path, key);
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(it->second.c_str(), &end, 10);
  TESSERA_CHECK(errno == 0 && end && *end == '\0' && !it->second.empty() && it->second[0] != '-', ValueError,
                "training checkpoint '{}': metadata '{}' should be an unsigned integer, found '{}'", path, key,
                it->second);
  return v;
}

}  // namespace

void save_training_checkpoint(const std::string& path, const CheckpointContents& c) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  tensors.reserve(c.model.size() + c.optimizer.size() + c.scheduler.size());
  for (const auto& [n, t] : c.model) tensors.emplace_back(kModel + n, t);
  for (const auto& [n, t] : c.optimizer) tensors.emplace_back(kOptimizer + n, t);
  for (const auto& [n, t] : c.scheduler) tensors.emplace_back(kScheduler + n, t);
  for (const auto& [n, t] : c.scaler) tensors.emplace_back(kScaler + n, t);
  safetensors::Metadata meta;
  meta["tessera.kind"] = "training-checkpoint";
  meta["tessera.step"] = std::to_string(c.state.step);
  meta["tessera.rng_seed"] = std::to_string(c.state.rng_seed);
  meta["tessera.rng_offset"] = std::to_string(c.state.rng_offset);
  meta["tessera.data_epoch"] = std::to_string(c.state.data_epoch);
  meta["tessera.data_cursor"] = std::to_string(c.state.data_cursor);
  meta["tessera.recipe"] = c.state.recipe_json;
  meta["tessera.model_config"] = c.state.model_config_json;
  safetensors::save(path, tensors, meta);
}

CheckpointContents load_training_checkpoint(const std::string& path) {
  safetensors::File file = safetensors::load(path);
  const auto& meta = file.metadata;
  auto kind = meta.find("tessera.kind");
  TESSERA_CHECK(kind != meta.end() && kind->second == "training-checkpoint", ValueError,
                "'{}' is not a tessera training checkpoint (metadata 'tessera.kind' is {}); to start from model "
                "weights only, use --init-from",
                path, kind == meta.end() ? std::string("missing") : "'" + kind->second + "'");
  CheckpointContents c;
  for (auto& [n, t] : file.tensors) {
    if (starts_with(n, kModel)) {
      c.model.emplace_back(n.substr(6), t);
    } else if (starts_with(n, kOptimizer)) {
      c.optimizer.emplace_back(n.substr(10), t);
    } else if (starts_with(n, kScheduler)) {
      c.scheduler.emplace_back(n.substr(10), t);
    } else if (starts_with(n, kScaler)) {
      c.scaler.emplace_back(n.substr(7), t);
    } else {
      throw ValueError(fmt::format("training checkpoint '{}': unexpected tensor '{}' (expected names starting with "
                                   "'model.', 'optimizer.', 'scheduler.' or 'scaler.')",
                                   path, n));
    }
  }
  TrainingState& s = c.state;
  s.step = meta_int(meta, "tessera.step", path);
  s.rng_seed = meta_uint(meta, "tessera.rng_seed", path);
  s.rng_offset = meta_uint(meta, "tessera.rng_offset", path);
  s.data_epoch = meta_int(meta, "tessera.data_epoch", path);
  s.data_cursor = meta_int(meta, "tessera.data_cursor", path);
  auto r = meta.find("tessera.recipe");
  s.recipe_json = r == meta.end() ? "" : r->second;
  auto mc = meta.find("tessera.model_config");
  s.model_config_json = mc == meta.end() ? "" : mc->second;
  TESSERA_CHECK(s.step >= 0 && s.data_epoch >= 0 && s.data_cursor >= 0, ValueError,
                "training checkpoint '{}': negative step/epoch/cursor in the metadata ({}/{}/{})", path, s.step,
                s.data_epoch, s.data_cursor);
  return c;
}

void export_model(const std::string& dir, const nn::Module& model, const std::string& config_json) {
  safetensors::save(dir + "/model.safetensors", model.state_dict(), {{"format", "pt"}});
  atomic_write_file(dir + "/config.json", config_json + "\n");
}

}  // namespace tessera::train
