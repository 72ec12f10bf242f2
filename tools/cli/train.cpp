// `tessera train`, `tessera eval`, `tessera generate`, `tessera plot`, `tessera recipes`: the training CLI
// over src/models/train (Trainer, evaluation, checkpoints) and src/models/plot.h.
#include <fmt/format.h>

#include <filesystem>

#include "cli/commands.h"
#include "tessera/models/data/image_io.h"
#include "tessera/models/data/shapes.h"
#include "tessera/models/plot.h"
#include "tessera/models/data/tokenizer.h"
#include "tessera/models/train/checkpoint.h"
#include "tessera/models/train/evaluate.h"
#include "tessera/models/train/recipe.h"
#include "tessera/models/train/trainer.h"
#include "tessera/models/vlm.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/safetensors.h"

namespace tessera::cli {

namespace {

namespace fs = std::filesystem;

struct TrainArgs {
  std::string recipe = "tiny-vlm";
  std::string out;
  std::string device;
  std::string init_from;
  int64_t steps = -1;
  int64_t seed = -1;
  int64_t threads = -1;
  int64_t stop_after = -1;
  bool resume = false;
  bool quiet = false;
  bool plot = true;
};

train::Recipe recipe_with_overrides(const TrainArgs& a) {
  train::Recipe r = train::load_recipe(a.recipe);
  if (a.steps > 0) r.steps = a.steps;
  if (a.seed >= 0) r.seed = static_cast<uint64_t>(a.seed);
  if (!a.device.empty()) r.device = a.device;
  if (a.threads >= 0) r.threads = a.threads;
  return r;
}

void run_train(const TrainArgs& a) {
  train::Recipe r = recipe_with_overrides(a);
  train::TrainerOptions o;
  o.out_dir = a.out.empty() ? "runs/" + r.name : a.out;
  o.resume = a.resume;
  o.init_from = a.init_from;
  o.quiet = a.quiet;
  o.stop_after = a.stop_after;
  if (a.resume) {
    // The checkpoint's recipe wins over the command line's name, so `--resume` needs no other flags.
    train::CheckpointContents c = train::load_training_checkpoint(o.out_dir + "/checkpoint.safetensors");
    if (!c.state.recipe_json.empty()) {
      train::Recipe saved = train::Recipe::from_json(nlohmann::json::parse(c.state.recipe_json),
                                                     o.out_dir + "/checkpoint.safetensors (recipe)");
      if (a.steps > 0) saved.steps = a.steps;
      if (!a.device.empty()) saved.device = a.device;
      if (a.threads >= 0) saved.threads = a.threads;
      r = saved;
    }
  }
  train::Trainer trainer(r, o);
  if (trainer.step() >= r.steps) {
    fmt::print("the run in {}/ already finished at step {} of {}; pass --steps N (N > {}) to train further\n",
               o.out_dir, trainer.step(), r.steps, trainer.step());
    return;
  }
  train::TrainResult res = trainer.run();
  fmt::print("done: {} steps, final loss {:.4f}, {:.0f} tokens/s; checkpoint and metrics in {}/\n", res.steps_done,
             res.final_loss, res.tokens_per_second, o.out_dir);
  if (res.eval) {
    const auto& e = *res.eval;
    fmt::print("held-out ({} captions): caption exact match {:.1f}% | with shuffled images {:.1f}% | best "
               "image-blind guess {:.1f}% | loss {:.4f} | token accuracy {:.1f}%\n",
               e.samples, 100 * e.exact_match, 100 * e.exact_match_shuffled, 100 * e.blind_best, e.loss,
               100 * e.token_accuracy);
  }
  if (a.plot) {
    models::plot_loss_curve(o.out_dir + "/metrics.jsonl", o.out_dir + "/loss.png");
    fmt::print("loss curve: {}/loss.png\n", o.out_dir);
  }
}

// Loads <dir>/config.json + <dir>/model.safetensors (what training exports).
std::shared_ptr<models::VLM> load_model(const std::string& dir) {
  auto cfg = models::VLMConfig::from_json_file(dir + "/config.json");
  auto model = std::make_shared<models::VLM>(cfg);
  model->load_state_dict(safetensors::load(dir + "/model.safetensors").tensors);
  model->eval();
  return model;
}

}  // namespace

void add_train_commands(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* t = app.add_subcommand("train", "train a model from a recipe (a built-in name or a .json file)");
  t->add_option("recipe", a->recipe, "recipe name or path (default tiny-vlm; `tessera recipes` lists them)");
  t->add_option("--out", a->out, "run directory for checkpoint, metrics.jsonl, loss.png (default runs/<recipe>)");
  t->add_option("--steps", a->steps, "override the recipe's number of steps");
  t->add_option("--seed", a->seed, "override the recipe's seed");
  t->add_option("--device", a->device, "cpu or cuda[:N]");
  t->add_option("--threads", a->threads, "CPU threads (0: all cores)");
  t->add_option("--init-from", a->init_from, "start from these weights (a model.safetensors)");
  t->add_option("--stop-after", a->stop_after, "stop after this step (with a checkpoint); --resume continues");
  t->add_flag("--resume", a->resume, "continue the run in --out from its checkpoint");
  t->add_flag("--quiet", a->quiet, "no progress bar");
  t->add_flag("!--no-plot", a->plot, "do not write loss.png");
  t->callback([a] { run_train(*a); });

  CLI::App* r = app.add_subcommand("recipes", "list the built-in recipes");
  r->callback([] {
    for (const auto& name : train::recipe_names()) {
      fmt::print("{}\n{}\n\n", name, train::builtin_recipe(name).to_json().dump(2));
    }
  });

  auto eval_dir = std::make_shared<std::string>("runs/tiny-vlm");
  auto eval_n = std::make_shared<int64_t>(256);
  auto eval_seed = std::make_shared<int64_t>(1234);
  CLI::App* e = app.add_subcommand("eval", "caption exact match and loss of a trained model on held-out shapes");
  e->add_option("dir", *eval_dir, "run directory with config.json and model.safetensors (default runs/tiny-vlm)");
  e->add_option("--samples", *eval_n, "held-out samples (default 256)");
  e->add_option("--seed", *eval_seed, "dataset seed (the recipe's, default 1234)");
  e->callback([=] {
    auto model = load_model(*eval_dir);
    const auto& vc = model->config().vision;
    data::ShapesConfig sc;
    sc.image_size = vc.image_size;
    sc.seed = static_cast<uint64_t>(*eval_seed);
    data::ShapesDataset held(sc, data::Split::HeldOut, *eval_n);
    auto rep = train::evaluate_captions(*model, held, *eval_n, 64, 64, Device::cpu());
    fmt::print("held-out ({} captions): caption exact match {:.1f}% | with shuffled images {:.1f}% | best image-blind "
               "guess {:.1f}% | loss {:.4f} | token accuracy {:.1f}%\n",
               rep.samples, 100 * rep.exact_match, 100 * rep.exact_match_shuffled, 100 * rep.blind_best, rep.loss,
               100 * rep.token_accuracy);
  });

  auto gen_dir = std::make_shared<std::string>("runs/tiny-vlm");
  auto gen_image = std::make_shared<std::string>();
  auto gen_index = std::make_shared<int64_t>(0);
  auto gen_count = std::make_shared<int64_t>(4);
  auto gen_temp = std::make_shared<double>(0.0);
  CLI::App* g = app.add_subcommand("generate", "caption an image (a PNG/PPM file, or held-out shapes scenes)");
  g->add_option("dir", *gen_dir, "run directory with config.json and model.safetensors (default runs/tiny-vlm)");
  g->add_option("--image", *gen_image, "a PNG or PPM file to caption");
  g->add_option("--index", *gen_index, "first held-out shapes scene to caption (when no --image)");
  g->add_option("--count", *gen_count, "how many held-out scenes (default 4)");
  g->add_option("--temperature", *gen_temp, "0 = greedy (default)");
  g->callback([=] {
    auto model = load_model(*gen_dir);
    data::ByteTokenizer tok;
    const int64_t size = model->config().vision.image_size;
    if (!gen_image->empty()) {
      Tensor img = data::image_to_tensor(data::resize_bilinear(data::read_image(*gen_image), size, size));
      fmt::print("{}: {}\n", *gen_image, model->caption(img, tok, 64, *gen_temp));
      return;
    }
    data::ShapesConfig sc;
    sc.image_size = size;
    data::ShapesDataset held(sc, data::Split::HeldOut, *gen_index + *gen_count);
    for (int64_t i = *gen_index; i < *gen_index + *gen_count; ++i) {
      auto s = held.get(i);
      std::string got = model->caption(s.image, tok, 64, *gen_temp);
      fmt::print("scene {}: {}\n  reference: {}\n  {}\n", i, got, s.caption, got == s.caption ? "exact" : "differs");
    }
  });

  auto plot_in = std::make_shared<std::string>();
  auto plot_out = std::make_shared<std::string>();
  CLI::App* p = app.add_subcommand("plot", "draw a loss curve (PNG) from a metrics.jsonl");
  p->add_option("metrics", *plot_in, "metrics.jsonl of a run")->required();
  p->add_option("png", *plot_out, "output PNG (default: loss.png next to the metrics)");
  p->callback([=] {
    std::string out = plot_out->empty() ? (fs::path(*plot_in).parent_path() / "loss.png").string() : *plot_out;
    models::plot_loss_curve(*plot_in, out);
    fmt::print("wrote {}\n", out);
  });
}

}  // namespace tessera::cli
