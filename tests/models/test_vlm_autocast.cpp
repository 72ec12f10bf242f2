// models::VLM under mixed precision: the loss under bfloat16/float16 autocast is close to the
// float32 loss with float32 gradients on every (float32) parameter, and a few AdamW steps with
// bfloat16 autocast, and with float16 autocast plus GradScaler, reduce the loss on a Shapes batch.
#include <gtest/gtest.h>

#include <cmath>

#include <tessera/models/data/loader.h>
#include <tessera/models/data/shapes.h>
#include <tessera/models/vlm.h>
#include <tessera/tessera.h>

using namespace tessera;
using namespace tessera::models;

namespace {

VLMConfig tiny_vlm() {
  VLMConfig c;
  c.vision.image_size = 16, c.vision.patch_size = 8, c.vision.d_model = 16, c.vision.n_layers = 1;
  c.vision.n_heads = 2, c.vision.mlp_hidden = 32;
  c.text.vocab_size = 260, c.text.d_model = 24, c.text.n_layers = 2, c.text.n_heads = 4, c.text.n_kv_heads = 4;
  c.text.mlp_hidden = 48, c.text.max_seq_len = 40;
  c.projector_hidden = 20;
  return c;
}

data::VLMBatch batch_of(int64_t B, int64_t T) {
  data::ShapesConfig sc;
  sc.image_size = 16;
  sc.max_shapes = 1;
  sc.seed = 5;
  data::ShapesDataset ds(sc, data::Split::Train, 64);
  std::vector<data::CaptionSample> samples;
  for (int64_t i = 0; i < B; ++i) samples.push_back(ds.get(i));
  return data::collate_captions(samples, T);
}

}  // namespace

TEST(VLMAutocast, LossAndGradientsCloseToFloat32) {
  manual_seed(1);
  VLM m(tiny_vlm());
  data::VLMBatch b = batch_of(3, 24);
  Tensor l32 = m.loss(b);
  l32.backward();
  std::vector<Tensor> g32;
  for (auto& p : m.parameters()) g32.push_back(p.grad().defined() ? p.grad().clone() : Tensor());
  for (DType low : {kBFloat16, kFloat16}) {
    m.zero_grad();
    Tensor l;
    {
      AutocastGuard guard(kCPU, low);
      l = m.loss(b);
    }
    EXPECT_EQ(l.dtype(), kFloat32);
    EXPECT_NEAR(l.item<double>(), l32.item<double>(), 0.02 * l32.item<double>()) << dtype_name(low);
    l.backward();
    auto ps = m.parameters();
    double worst = 0;
    for (size_t i = 0; i < ps.size(); ++i) {
      if (!g32[i].defined()) continue;
      ASSERT_TRUE(ps[i].grad().defined()) << i;
      EXPECT_EQ(ps[i].grad().dtype(), kFloat32) << i;
      double scale = g32[i].abs().max().item<double>();
      if (scale > 1e-3) worst = std::max(worst, (ps[i].grad() - g32[i]).abs().max().item<double>() / scale);
    }
    EXPECT_LT(worst, 0.15) << dtype_name(low);
  }
}

TEST(VLMAutocast, AdamWStepsReduceTheLoss) {
  for (int mode = 0; mode < 2; ++mode) {  // 0: bfloat16 autocast; 1: float16 autocast + GradScaler
    manual_seed(2);
    VLM m(tiny_vlm());
    data::VLMBatch b = batch_of(4, 24);
    optim::AdamW opt(m.parameters(), {.lr = 3e-3, .weight_decay = 0.0});
    amp::GradScaler scaler(amp::GradScalerOptions{.init_scale = 1024.0, .growth_interval = 5, .enabled = mode == 1});
    double first = 0, last = 0;
    for (int step = 0; step < 20; ++step) {
      Tensor loss;
      {
        AutocastGuard guard(kCPU, mode == 0 ? kBFloat16 : kFloat16);
        loss = m.loss(b);
      }
      if (step == 0) first = loss.item<double>();
      last = loss.item<double>();
      scaler.scale(loss).backward();
      scaler.step(opt);
      scaler.update();
      opt.zero_grad();
    }
    EXPECT_TRUE(std::isfinite(last));
    EXPECT_LT(last, 0.7 * first) << "mode " << mode << ": first " << first << " last " << last;
  }
}
