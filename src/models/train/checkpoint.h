// Training checkpoints: everything a run needs to continue exactly where it stopped, in ONE safetensors file
// written atomically (Note [one-file checkpoints]), plus an exported model.safetensors + config.json that
// Hugging-Face-style tools (safetensors.torch.load_file) read directly.
//
// Note [one-file checkpoints]
// <out>/checkpoint.safetensors holds "model.<dotted name>" (the model's state dict), "optimizer.<key>" (the
// optimizer's tensor-only state dict), "scheduler.<key>", "scaler.<key>" and, in the safetensors metadata, the step,
// the generator's (seed, offset), the data loader's (epoch, cursor) and the recipe and model config as JSON. A
// single file replaced by rename is either the old checkpoint or the new one, never a mix of two steps.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "tessera/nn/module.h"

namespace tessera::train {

struct TrainingState {
  int64_t step = 0;
  uint64_t rng_seed = 0, rng_offset = 0;
  int64_t data_epoch = 0, data_cursor = 0;
  std::string recipe_json;    // the recipe the run was started with
  std::string model_config_json;
};

struct CheckpointContents {
  nn::StateDict model, optimizer, scheduler, scaler;  // scaler: empty unless fp16 loss scaling
  TrainingState state;
};

void save_training_checkpoint(const std::string& path, const CheckpointContents& contents);
// Throws a tessera::Error naming the file and what is wrong (missing keys, bad metadata, ...).
CheckpointContents load_training_checkpoint(const std::string& path);

// Writes <dir>/model.safetensors (state dict, HF names) and <dir>/config.json, both atomically.
void export_model(const std::string& dir, const nn::Module& model, const std::string& config_json);

}  // namespace tessera::train
