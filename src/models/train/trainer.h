// Trainer: the training loop behind `tessera train` — builds the model, data, optimizer and schedule from
// a Recipe, runs steps with gradient accumulation, clipping and optional autocast/loss scaling, logs a
// progress bar and a JSONL metrics file, evaluates on the held-out split, and writes checkpoints that a
// later run resumes from exactly (Note [exact resume]).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "tessera/models/train/evaluate.h"
#include "tessera/models/train/recipe.h"

namespace tessera::train {

struct TrainerOptions {
  std::string out_dir = "runs/tiny-vlm";
  bool resume = false;            // continue from <out_dir>/checkpoint.safetensors
  std::string init_from;          // a model.safetensors to start from (weights only)
  bool quiet = false;             // no progress bar (tests)
  int64_t stop_after = -1;        // stop (with a checkpoint) after this step, e.g. to test resume
};

struct TrainResult {
  int64_t steps_done = 0;
  double final_loss = 0;
  double tokens_per_second = 0;
  std::optional<EvalReport> eval;
};

class Trainer {
 public:
  Trainer(Recipe recipe, TrainerOptions options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  TrainResult run();
  EvalReport evaluate(int64_t max_samples = -1);
  models::VLM& model();
  const Recipe& recipe() const;
  int64_t step() const;
  // Writes <out_dir>/checkpoint.safetensors (+ model.safetensors, config.json); run() calls it.
  void save_checkpoint();

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace tessera::train
