// Recipe: everything `tessera train` needs to know about a run besides the model weights — the model
// (a preset name or a full VLM config), the data, the optimiser and schedule, evaluation and checkpoint
// cadence, the seed and the device. Named recipes are built in; a JSON file with the same keys (see
// docs/training.md) defines a custom one, checked field by field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tessera::train {

struct Recipe {
  std::string name = "custom";
  nlohmann::json model = "tiny-vlm";  // a preset name, or a VLM config object (vision_config/text_config/...)
  // Data: the synthetic shapes task, or a directory with captions.jsonl + images.
  std::string dataset = "shapes";     // "shapes" | "captions"
  std::string data_dir;               // for "captions"
  int64_t image_size = 32;
  int64_t min_shapes = 1, max_shapes = 3;
  int64_t heldout_size = 256;         // held-out samples for eval loss and caption exact-match
  int64_t max_text_len = 64;          // caption tokens incl. <bos>/<eos>, padded
  // Optimisation.
  int64_t steps = 1000;
  int64_t batch_size = 32;
  int64_t micro_batches = 1;          // gradient accumulation: batch_size is split into this many parts
  double lr = 1e-3, min_lr_ratio = 0.1, weight_decay = 0.05;
  int64_t warmup_steps = 50;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8, grad_clip = 1.0;
  std::string precision = "fp32";     // fp32 | bf16 (autocast) | fp16 (autocast + loss scaling)
  // Cadence.
  int64_t log_every = 10, eval_every = 250, checkpoint_every = 250;
  int64_t eval_batches = 0;           // 0: the whole held-out set
  uint64_t seed = 1234;
  std::string device = "cpu";
  int64_t threads = 0;                // 0: all cores

  nlohmann::json to_json() const;
  // `source` names the file (or "recipe") in error messages.
  static Recipe from_json(const nlohmann::json& j, const std::string& source);
};

// Built-in recipes: "tiny-vlm" (the README's main job), "tiny-vlm-smoke" (a few steps, for tests).
std::vector<std::string> recipe_names();
Recipe builtin_recipe(const std::string& name);
// A built-in name, or a path to a JSON recipe file.
Recipe load_recipe(const std::string& name_or_path);

}  // namespace tessera::train
