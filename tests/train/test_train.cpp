// The training stack of `tessera train`: recipes (JSON round trip, field errors), training checkpoints
// (round trip, clear errors, a failed save keeps the previous checkpoint), exact resume (K steps + save +
// load + N-K steps == N steps, bitwise), and the metrics log.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "tessera/models/data/image_caption_dataset.h"
#include "tessera/models/data/shapes.h"
#include "tessera/models/train/checkpoint.h"
#include "tessera/models/train/recipe.h"
#include "tessera/models/train/trainer.h"
#include "tessera/models/vlm.h"
#include "tessera/tensor/safetensors.h"
#include "tessera/tessera.h"

using namespace tessera;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// A VLM small enough to train a few steps in well under a second per step.
json tiny_model() {
  return json::parse(R"({
    "projector_hidden": 32,
    "vision_config": {"image_size": 16, "patch_size": 4, "d_model": 32, "n_layers": 1, "n_heads": 2,
                      "mlp_hidden": 64, "norm_eps": 1e-6},
    "text_config": {"style": "gpt2", "vocab_size": 260, "d_model": 32, "n_layers": 1, "n_heads": 2,
                    "n_kv_heads": 2, "mlp_hidden": 64, "max_seq_len": 96, "tie_embeddings": true,
                    "norm_eps": 1e-5}})");
}

train::Recipe tiny_recipe(int64_t steps) {
  json j = {{"name", "test-tiny"}, {"model", tiny_model()}, {"image_size", 16},   {"steps", steps},
            {"batch_size", 4},     {"warmup_steps", 2},     {"heldout_size", 8}, {"eval_every", 0},
            {"checkpoint_every", 0}, {"log_every", 1},      {"seed", 7},         {"max_text_len", 64},
            {"lr", 3e-3}};
  return train::Recipe::from_json(j, "test recipe");
}

std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("tessera_test_train_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Recipe, JsonRoundTripAndBuiltins) {
  for (const auto& name : train::recipe_names()) {
    train::Recipe r = train::builtin_recipe(name);
    train::Recipe back = train::Recipe::from_json(r.to_json(), name);
    EXPECT_EQ(back.to_json(), r.to_json()) << name;
  }
  train::Recipe r = train::Recipe::from_json(json{{"base", "tiny-vlm"}, {"steps", 700}}, "x.json");
  EXPECT_EQ(r.steps, 700);
  EXPECT_EQ(r.batch_size, train::builtin_recipe("tiny-vlm").batch_size);
}

TEST(Recipe, FieldErrorsNameTheKey) {
  EXPECT_NE(error_of([] { train::Recipe::from_json(json{{"stpes", 3}}, "r.json"); })
                .find("r.json: unknown key 'stpes'"),
            std::string::npos);
  EXPECT_NE(error_of([] { train::Recipe::from_json(json{{"steps", "ten"}}, "r.json"); })
                .find("key 'steps' should be an integer, found string"),
            std::string::npos);
  EXPECT_NE(error_of([] { train::Recipe::from_json(json{{"lr", true}}, "r.json"); })
                .find("key 'lr' should be a number, found boolean"),
            std::string::npos);
  EXPECT_NE(error_of([] { train::Recipe::from_json(json{{"batch_size", 6}, {"micro_batches", 4}}, "r.json"); })
                .find("batch_size 6 must be divisible by micro_batches 4"),
            std::string::npos);
  EXPECT_NE(error_of([] { train::load_recipe("no-such-recipe"); }).find("unknown recipe 'no-such-recipe'"),
            std::string::npos);
  EXPECT_NE(error_of([] { train::load_recipe("/nonexistent/r.json"); }).find("cannot be opened"), std::string::npos);
}

TEST(TrainingCheckpoint, RoundTripAndErrors) {
  std::string dir = temp_dir("ckpt");
  train::CheckpointContents c;
  c.model = {{"w", tessera::arange(6).to(kFloat32).view({2, 3})}};
  c.optimizer = {{"state.0.step", tessera::scalar_tensor(3, kInt64)}};
  c.state.step = 12;
  c.state.rng_seed = 5;
  c.state.rng_offset = 1ull << 40;
  c.state.data_epoch = 1;
  c.state.data_cursor = 96;
  c.state.recipe_json = "{}";
  std::string path = dir + "/checkpoint.safetensors";
  train::save_training_checkpoint(path, c);
  train::CheckpointContents back = train::load_training_checkpoint(path);
  EXPECT_EQ(back.state.step, 12);
  EXPECT_EQ(back.state.rng_offset, 1ull << 40);
  EXPECT_EQ(back.state.data_cursor, 96);
  ASSERT_EQ(back.model.size(), 1u);
  EXPECT_EQ(back.model[0].first, "w");
  EXPECT_TRUE(equal(back.model[0].second, c.model[0].second));

  // A save that fails (two tensors with one name) leaves the previous checkpoint in place.
  train::CheckpointContents bad = c;
  bad.state.step = 13;
  bad.model.push_back({"w", tessera::ones({1})});
  EXPECT_THROW(train::save_training_checkpoint(path, bad), Error);
  EXPECT_EQ(train::load_training_checkpoint(path).state.step, 12);
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().filename(), "checkpoint.safetensors");

  // A model-only file is not a training checkpoint; the message says what to do.
  safetensors::save(dir + "/model.safetensors", c.model, {});
  EXPECT_NE(error_of([&] { train::load_training_checkpoint(dir + "/model.safetensors"); })
                .find("is not a tessera training checkpoint"),
            std::string::npos);
  // A truncated checkpoint is an error naming the file, never a crash.
  auto size = fs::file_size(path);
  fs::resize_file(path, size / 2);
  EXPECT_NE(error_of([&] { train::load_training_checkpoint(path); }).find(path), std::string::npos);
  fs::remove_all(dir);
}

// AdamW's float32 master weights (Note [adamw master weights]) of bfloat16 parameters survive a
// training checkpoint: save after 3 steps, load into fresh parameters and optimizer, 3 more steps equal
// 6 uninterrupted ones bit for bit.
TEST(TrainingCheckpoint, AdamWMasterWeightsRoundTrip) {
  auto make_params = [] {
    manual_seed(17);
    return std::vector<Tensor>{randn({6, 4}).to(kBFloat16).requires_grad_(), randn({5}).to(kBFloat16).requires_grad_()};
  };
  const optim::AdamWOptions o{.lr = 1e-3, .weight_decay = 0.1, .master_weights = true};
  auto run = [](optim::AdamW& opt, std::vector<Tensor>& ps, int from, int to) {
    for (int s = from; s < to; ++s) {
      for (auto& p : ps) {
        NoGradGuard ng;
        p.set_grad((p.detach().to(kFloat32) * 0.7 + 0.1 * s).sin().to(kBFloat16));
      }
      opt.step();
    }
  };
  auto pa = make_params();
  optim::AdamW opt_a(pa, o);
  run(opt_a, pa, 0, 6);

  auto pb = make_params();
  optim::AdamW opt_b(pb, o);
  run(opt_b, pb, 0, 3);
  train::CheckpointContents c;
  c.model = {{"w", pb[0].detach()}, {"b", pb[1].detach()}};
  c.optimizer = opt_b.state_dict();
  c.state.step = 3;
  std::string dir = temp_dir("master");
  std::string path = dir + "/checkpoint.safetensors";
  train::save_training_checkpoint(path, c);

  train::CheckpointContents back = train::load_training_checkpoint(path);
  std::map<std::string, Tensor> model(back.model.begin(), back.model.end());
  ASSERT_TRUE(model.count("w") && model.count("b"));
  std::vector<Tensor> pc = {model["w"].clone().requires_grad_(), model["b"].clone().requires_grad_()};
  EXPECT_EQ(pc[0].dtype(), kBFloat16);
  optim::AdamW opt_c(pc, o);
  opt_c.load_state_dict(back.optimizer);
  ASSERT_TRUE(opt_c.state(0).count("master_param"));
  EXPECT_EQ(opt_c.state(0).at("master_param").dtype(), kFloat32);
  run(opt_c, pc, 3, 6);
  for (size_t i = 0; i < pa.size(); ++i) {
    EXPECT_TRUE(pa[i].equal(pc[i])) << "param " << i;
    EXPECT_TRUE(opt_a.state(i).at("master_param").equal(opt_c.state(i).at("master_param"))) << "master " << i;
  }
  fs::remove_all(dir);
}

// Note [exact resume] (src/models/train/trainer.cpp): 3 steps + checkpoint + resume + 3 steps equals 6 steps.
TEST(Trainer, ResumeIsBitwiseExact) {
  std::string straight = temp_dir("straight"), resumed = temp_dir("resumed");
  {
    train::TrainerOptions o;
    o.out_dir = straight;
    o.quiet = true;
    train::Trainer t(tiny_recipe(6), o);
    EXPECT_EQ(t.run().steps_done, 6);
  }
  {
    train::TrainerOptions o;
    o.out_dir = resumed;
    o.quiet = true;
    o.stop_after = 3;
    train::Trainer t(tiny_recipe(6), o);
    EXPECT_EQ(t.run().steps_done, 3);
  }
  {
    train::TrainerOptions o;
    o.out_dir = resumed;
    o.quiet = true;
    o.resume = true;
    train::Trainer t(tiny_recipe(6), o);
    EXPECT_EQ(t.step(), 3);
    EXPECT_EQ(t.run().steps_done, 6);
  }
  auto a = train::load_training_checkpoint(straight + "/checkpoint.safetensors");
  auto b = train::load_training_checkpoint(resumed + "/checkpoint.safetensors");
  ASSERT_EQ(a.model.size(), b.model.size());
  for (size_t i = 0; i < a.model.size(); ++i) {
    EXPECT_EQ(a.model[i].first, b.model[i].first);
    EXPECT_TRUE(equal(a.model[i].second, b.model[i].second)) << a.model[i].first;
  }
  ASSERT_EQ(a.optimizer.size(), b.optimizer.size());
  for (size_t i = 0; i < a.optimizer.size(); ++i) {
    EXPECT_TRUE(equal(a.optimizer[i].second, b.optimizer[i].second)) << a.optimizer[i].first;
  }
  EXPECT_EQ(a.state.data_cursor, b.state.data_cursor);
  EXPECT_EQ(a.state.rng_offset, b.state.rng_offset);
  // The metrics log of the resumed run continues: 3 + 3 step lines after the start line.
  std::ifstream log(resumed + "/metrics.jsonl");
  int steps = 0;
  for (std::string line; std::getline(log, line);) steps += json::parse(line).contains("loss");
  EXPECT_EQ(steps, 6);
  // The exported model loads into a fresh VLM with the exported config.
  auto cfg = models::VLMConfig::from_json_file(straight + "/config.json");
  models::VLM vlm(cfg);
  vlm.load_state_dict(safetensors::load(straight + "/model.safetensors").tensors);
  fs::remove_all(straight);
  fs::remove_all(resumed);
}

TEST(Trainer, LossFallsOnTheShapesTask) {
  std::string dir = temp_dir("falls");
  train::TrainerOptions o;
  o.out_dir = dir;
  o.quiet = true;
  train::Trainer t(tiny_recipe(40), o);
  double before = t.evaluate().loss;
  auto res = t.run();
  double after = t.evaluate().loss;
  EXPECT_LT(after, before - 1.0) << "held-out loss " << before << " -> " << after;
  EXPECT_GT(res.tokens_per_second, 0);
  fs::remove_all(dir);
}

TEST(Trainer, ResumeWithoutCheckpointIsAClearError) {
  std::string dir = temp_dir("nockpt");
  train::TrainerOptions o;
  o.out_dir = dir;
  o.resume = true;
  EXPECT_NE(error_of([&] { train::Trainer t(tiny_recipe(2), o); }).find("--resume: no checkpoint at"),
            std::string::npos);
  fs::remove_all(dir);
}

// Mixed precision through the trainer: bf16 autocast, and fp16 autocast with the dynamic loss scaler
// (its state goes into the checkpoint and comes back on resume).
TEST(Trainer, MixedPrecisionRecipesTrain) {
  for (const char* precision : {"bf16", "fp16"}) {
    std::string dir = temp_dir(std::string("amp_") + precision);
    json j = tiny_recipe(6).to_json();
    j["precision"] = precision;
    train::TrainerOptions o;
    o.out_dir = dir;
    o.quiet = true;
    o.stop_after = 3;
    {
      train::Trainer t(train::Recipe::from_json(j, "amp recipe"), o);
      double before = t.evaluate().loss;
      auto res = t.run();
      EXPECT_EQ(res.steps_done, 3) << precision;
      EXPECT_TRUE(std::isfinite(res.final_loss)) << precision;
      EXPECT_LT(t.evaluate().loss, before) << precision;
    }
    auto c = train::load_training_checkpoint(dir + "/checkpoint.safetensors");
    EXPECT_EQ(c.scaler.empty(), std::string(precision) != "fp16") << precision;
    o.resume = true;
    o.stop_after = -1;
    train::Trainer t(train::Recipe::from_json(j, "amp recipe"), o);
    EXPECT_EQ(t.run().steps_done, 6) << precision;
    fs::remove_all(dir);
  }
}

// dataset "captions": a directory of images + captions.jsonl (here: shapes scenes exported as PNGs), with a
// held-out split in <dir>/heldout/.
TEST(Trainer, TrainsOnACaptionDirectory) {
  std::string dir = temp_dir("captions"), out = temp_dir("captions_out");
  data::ShapesConfig sc;
  sc.image_size = 16;
  sc.seed = 3;
  data::export_caption_dataset(data::ShapesDataset(sc, data::Split::Train, 24), dir);
  data::export_caption_dataset(data::ShapesDataset(sc, data::Split::HeldOut, 8), dir + "/heldout");
  json j = tiny_recipe(12).to_json();
  j["dataset"] = "captions";
  j["data_dir"] = dir;
  j["eval_every"] = 12;
  train::TrainerOptions o;
  o.out_dir = out;
  o.quiet = true;
  train::Trainer t(train::Recipe::from_json(j, "captions recipe"), o);
  double before = t.evaluate().loss;
  auto res = t.run();
  EXPECT_EQ(res.steps_done, 12);  // 24 samples / batch 4 = 6 batches per epoch: two epochs
  ASSERT_TRUE(res.eval.has_value());
  EXPECT_EQ(res.eval->samples, 8);
  EXPECT_LT(res.eval->loss, before);
  // Without a held-out split the run trains and skips evaluation; evaluate() says why.
  fs::remove_all(dir + "/heldout");
  train::Trainer t2(train::Recipe::from_json(j, "captions recipe"), o);
  EXPECT_NE(error_of([&] { t2.evaluate(); }).find("has no held-out split"), std::string::npos);
  fs::remove_all(dir);
  fs::remove_all(out);
}
