// Trainer: see trainer.h.
//
// Note [exact resume]
// Training K steps, saving, loading and training N-K more gives bitwise the same model as training N steps
// in one go (CPU, fixed thread count). That holds because everything a step reads is restored: the model's
// fp32 weights, the optimizer's moments and step count, the schedule's step, the data loader's (epoch,
// cursor) and the generator's (seed, offset) — dropout masks depend only on those (DESIGN.md decision 6).
// A step must never read state that is not in the checkpoint (no wall-clock, no unseeded RNG).
#include "tessera/models/train/trainer.h"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>

#include "tessera/autograd/autocast.h"
#include "tessera/autograd/grad_mode.h"
#include "tessera/models/data/image_caption_dataset.h"
#include "tessera/models/data/loader.h"
#include "tessera/models/data/shapes.h"
#include "tessera/models/data/tokenizer.h"
#include "tessera/models/train/checkpoint.h"
#include "tessera/models/train/evaluate.h"
#include "tessera/models/train/metrics_log.h"
#include "tessera/models/train/progress.h"
#include "tessera/models/vlm.h"
#include "tessera/nn/amp.h"
#include "tessera/nn/clip_grad.h"
#include "tessera/nn/optim/adamw.h"
#include "tessera/nn/optim/lr_scheduler.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"
#include "tessera/tensor/rng.h"
#include "tessera/tensor/safetensors.h"

namespace tessera::train {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct Trainer::State {
  Recipe recipe;
  TrainerOptions options;
  Device device = Device::cpu();
  models::VLMConfig model_config;
  std::shared_ptr<models::VLM> model;
  std::shared_ptr<data::CaptionDataset> train_set, heldout_set;  // heldout_set may be null
  std::unique_ptr<data::CaptionLoader> loader;
  std::unique_ptr<optim::AdamW> optimizer;
  std::unique_ptr<optim::WarmupCosineLR> scheduler;
  std::unique_ptr<amp::GradScaler> scaler;
  int64_t step = 0;

  std::string checkpoint_path() const { return options.out_dir + "/checkpoint.safetensors"; }
};

namespace {

models::VLMConfig resolve_model(const Recipe& r) {
  if (r.model.is_string()) return models::VLMConfig::preset(r.model.get<std::string>());
  return models::VLMConfig::from_json(r.model.dump(), "recipe '" + r.name + "' key 'model'");
}

// AdamW groups as in GPT-2/nanoGPT practice: weight decay on matrices, none on biases, norms and
// position/CLS vectors (decaying those only hurts).
std::vector<optim::ParamGroup> param_groups(nn::Module& model, double weight_decay) {
  optim::ParamGroup decay, no_decay;
  for (auto& [name, p] : model.named_parameters()) {
    if (!p.requires_grad()) continue;
    bool matrix = p.dim() >= 2 && name.find("pos_embed") == std::string::npos;
    auto& g = matrix ? decay : no_decay;
    g.params.push_back(p);
    g.names.push_back(name);
  }
  decay.weight_decay = weight_decay;
  no_decay.weight_decay = 0.0;
  return {decay, no_decay};
}

}  // namespace

Trainer::Trainer(Recipe recipe, TrainerOptions options) : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.recipe = std::move(recipe);
  s.options = std::move(options);
  const Recipe& r = s.recipe;
  if (r.threads > 0) cpu::set_num_threads(static_cast<int>(r.threads));
  s.device = Device(r.device);
  s.model_config = resolve_model(r);
  TESSERA_CHECK(s.model_config.vision.image_size == r.image_size, ValueError,
                "recipe '{}': image_size {} differs from the model's vision_config.image_size {}", r.name,
                r.image_size, s.model_config.vision.image_size);

  manual_seed(r.seed);
  s.model = std::make_shared<models::VLM>(s.model_config);
  s.model->to(s.device);

  bool shuffle = false;
  if (r.dataset == "shapes") {
    data::ShapesConfig sc;
    sc.image_size = r.image_size;
    sc.min_shapes = r.min_shapes;
    sc.max_shapes = r.max_shapes;
    sc.seed = r.seed;
    // Every training step sees new scenes: the training split has exactly steps * batch_size samples.
    s.train_set = std::make_shared<data::ShapesDataset>(sc, data::Split::Train, r.steps * r.batch_size);
    s.heldout_set = std::make_shared<data::ShapesDataset>(sc, data::Split::HeldOut, r.heldout_size);
  } else {
    // "captions": <data_dir>/captions.jsonl + images, shuffled every epoch; the held-out split is
    // <data_dir>/heldout/captions.jsonl when it exists (else no evaluation).
    s.train_set = std::make_shared<data::ImageCaptionDataset>(r.data_dir, r.image_size);
    if (fs::exists(fs::path(r.data_dir) / "heldout" / "captions.jsonl")) {
      s.heldout_set = std::make_shared<data::ImageCaptionDataset>((fs::path(r.data_dir) / "heldout").string(),
                                                                  r.image_size);
    }
    shuffle = true;
  }
  TESSERA_CHECK(s.train_set->size() >= r.batch_size / r.micro_batches, ValueError,
                "recipe '{}': the training data has {} samples, fewer than one micro-batch of {}", r.name,
                s.train_set->size(), r.batch_size / r.micro_batches);
  s.loader = std::make_unique<data::CaptionLoader>(s.train_set, r.batch_size / r.micro_batches, r.max_text_len, r.seed,
                                                    shuffle);

  optim::AdamWOptions ao;
  ao.lr = r.lr;
  ao.beta1 = r.beta1;
  ao.beta2 = r.beta2;
  ao.eps = r.eps;
  ao.weight_decay = r.weight_decay;
  s.optimizer = std::make_unique<optim::AdamW>(param_groups(*s.model, r.weight_decay), ao);
  s.scheduler = std::make_unique<optim::WarmupCosineLR>(*s.optimizer, r.warmup_steps, r.steps, r.min_lr_ratio);
  if (r.precision == "fp16") s.scaler = std::make_unique<amp::GradScaler>();

  fs::create_directories(s.options.out_dir);
  if (!s.options.init_from.empty()) {
    s.model->load_state_dict(safetensors::load(s.options.init_from).tensors);
  }
  if (s.options.resume) {
    TESSERA_CHECK(fs::exists(s.checkpoint_path()), ValueError,
                  "--resume: no checkpoint at '{}' (train without --resume first, or pick the run's --out directory)",
                  s.checkpoint_path());
    CheckpointContents c = load_training_checkpoint(s.checkpoint_path());
    s.model->load_state_dict(c.model);
    s.optimizer->load_state_dict(c.optimizer);
    s.scheduler->load_state_dict(c.scheduler);
    s.step = c.state.step;
    default_generator().set_state({c.state.rng_seed, c.state.rng_offset});
    s.loader->set_position({c.state.data_epoch, c.state.data_cursor});
    if (s.scaler) s.scaler->load_state_dict(c.scaler);
  }
}

Trainer::~Trainer() = default;

models::VLM& Trainer::model() { return *s_->model; }
const Recipe& Trainer::recipe() const { return s_->recipe; }
int64_t Trainer::step() const { return s_->step; }

EvalReport Trainer::evaluate(int64_t max_samples) {
  State& s = *s_;
  TESSERA_CHECK(s.heldout_set != nullptr, ValueError,
                "evaluate: recipe '{}' has no held-out split (for dataset \"captions\", put one in {}/heldout/)",
                s.recipe.name, s.recipe.data_dir);
  int64_t n = s.heldout_set->size();
  if (max_samples > 0) n = std::min(n, max_samples);
  return evaluate_captions(*s.model, *s.heldout_set, n, s.recipe.max_text_len, std::max<int64_t>(s.recipe.batch_size, 32),
                           s.device);
}

TrainResult Trainer::run() {
  State& s = *s_;
  const Recipe& r = s.recipe;
  MetricsLog log(s.options.out_dir + "/metrics.jsonl", /*append=*/s.options.resume);
  if (!s.options.resume) log.write({{"event", "start"}, {"recipe", r.to_json()}, {"params", s.model->num_parameters()}});
  ProgressBar bar(r.steps, s.step, r.log_every, stdout);
  if (!s.options.quiet) {
    bar.message(fmt::format("tessera train: recipe '{}', model {} ({:.2f}M parameters), {} steps of batch {}, {} on {}",
                            r.name, r.model.is_string() ? "preset " + r.model.get<std::string>() : std::string("from the recipe"),
                            double(s.model->num_parameters()) / 1e6, r.steps, r.batch_size, r.precision,
                            s.device.str()));
  }
  TrainResult result;
  std::vector<Tensor> params = s.model->parameters();
  const int64_t micro = r.micro_batches;
  auto t_start = std::chrono::steady_clock::now();
  int64_t tokens_total = 0;
  while (s.step < r.steps) {
    s.model->train();
    s.optimizer->zero_grad();
    double loss_sum = 0;
    int64_t tokens = 0;
    for (int64_t m = 0; m < micro; ++m) {
      data::VLMBatch batch = s.loader->next();
      batch = to_device(batch, s.device);
      Tensor loss;
      {
        std::optional<AutocastGuard> ac;
        if (r.precision != "fp32") ac.emplace(s.device.type, r.precision == "bf16" ? kBFloat16 : kFloat16);
        loss = s.model->loss(batch);
      }
      loss_sum += loss.item<double>() / double(micro);
      Tensor scaled = loss / double(micro);
      if (s.scaler) scaled = s.scaler->scale(scaled);
      scaled.backward();
      tokens += batch.input_ids.numel() + batch.images.size(0) * s.model_config.vision.seq_len();
    }
    bool stepped = true;
    if (s.scaler) s.scaler->unscale_(*s.optimizer);
    Tensor grad_norm = nn::clip_grad_norm_(params, r.grad_clip > 0 ? r.grad_clip : INFINITY);
    if (s.scaler) {
      stepped = s.scaler->step(*s.optimizer);
      s.scaler->update();
    } else {
      s.optimizer->step();
    }
    double lr = s.scheduler->get_last_lr().at(0);
    s.scheduler->step();
    ++s.step;
    tokens_total += tokens;
    TESSERA_CHECK(std::isfinite(loss_sum) || s.scaler, RuntimeError,
                  "training diverged at step {}: loss is {} (lower the lr, or use --resume from the last checkpoint)",
                  s.step, loss_sum);
    result.final_loss = loss_sum;
    if (!s.options.quiet) bar.update(s.step, loss_sum, lr, tokens);
    if (s.step % r.log_every == 0 || s.step == r.steps) {
      double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
      json rec{{"step", s.step}, {"loss", loss_sum}, {"lr", lr}, {"grad_norm", grad_norm.item<double>()},
               {"tokens_per_s", elapsed > 0 ? double(tokens_total) / elapsed : 0.0}, {"elapsed_s", elapsed}};
      if (s.scaler) rec["loss_scale"] = s.scaler->get_scale();
      if (!stepped) rec["skipped"] = true;
      log.write(rec);
    }
    bool last = s.step == r.steps || s.step == s.options.stop_after;
    if (r.eval_every > 0 && (s.step % r.eval_every == 0 || last) && s.heldout_set && s.heldout_set->size() > 0) {
      EvalReport e = evaluate(r.eval_batches > 0 ? r.eval_batches * r.batch_size : -1);
      result.eval = e;
      log.write({{"step", s.step}, {"eval_loss", e.loss}, {"exact_match", e.exact_match},
                 {"exact_match_shuffled_images", e.exact_match_shuffled}, {"blind_best", e.blind_best},
                 {"token_accuracy", e.token_accuracy}});
      if (!s.options.quiet) {
        bar.message(fmt::format("eval @ step {}: held-out loss {:.4f}, token accuracy {:.1f}%, caption exact match "
                                "{:.1f}% ({} captions); with shuffled images {:.1f}%; best image-blind guess {:.1f}%",
                                s.step, e.loss, 100 * e.token_accuracy, 100 * e.exact_match, e.samples,
                                100 * e.exact_match_shuffled, 100 * e.blind_best));
      }
    }
    if ((r.checkpoint_every > 0 && s.step % r.checkpoint_every == 0) || last) save_checkpoint();
    if (s.step == s.options.stop_after) break;
  }
  if (!s.options.quiet) bar.finish();
  result.steps_done = s.step;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  result.tokens_per_second = elapsed > 0 ? double(tokens_total) / elapsed : 0.0;
  return result;
}

void Trainer::save_checkpoint() {
  State& s = *s_;
  CheckpointContents c;
  c.model = s.model->state_dict();
  c.optimizer = s.optimizer->state_dict();
  c.scheduler = s.scheduler->state_dict();
  c.state.step = s.step;
  GeneratorState g = default_generator().get_state();
  c.state.rng_seed = g.seed;
  c.state.rng_offset = g.offset;
  auto pos = s.loader->position();
  c.state.data_epoch = pos.epoch;
  c.state.data_cursor = pos.cursor;
  if (s.scaler) c.scaler = s.scaler->state_dict();
  c.state.recipe_json = s.recipe.to_json().dump();
  c.state.model_config_json = s.model_config.to_json();
  save_training_checkpoint(s.checkpoint_path(), c);
  export_model(s.options.out_dir, *s.model, c.state.model_config_json);
}

}  // namespace tessera::train
