// models::ViT: the patch layout (Note [patch layout]), output shapes with and without the CLS
// token, HF-style names, state-dict round trip, a float64 gradcheck, and input errors.
#include <gtest/gtest.h>

#include <set>

#include <tessera/models/vit.h>
#include <tessera/tessera.h>

using namespace tessera;
using namespace tessera::models;

namespace {

ViTConfig small_vit(bool cls = false) {
  ViTConfig c;
  c.image_size = 8;
  c.patch_size = 4;
  c.in_channels = 3;
  c.d_model = 16;
  c.n_layers = 2;
  c.n_heads = 2;
  c.mlp_hidden = 32;
  c.cls_token = cls;
  return c;
}

}  // namespace

TEST(ViT, PatchifyLayout) {
  manual_seed(1);
  const int64_t B = 2, C = 3, H = 8, W = 12, p = 4;
  Tensor img = randn({B, C, H, W});
  Tensor patches = patchify(img, p);
  ASSERT_EQ(patches.sizes(), (Shape{B, (H / p) * (W / p), C * p * p}));
  const int64_t gw = W / p;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < patches.size(1); ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < p; ++i)
          for (int64_t j = 0; j < p; ++j) {
            const int64_t gy = n / gw, gx = n % gw;
            ASSERT_EQ(patches[b][n][(c * p + i) * p + j].item<float>(), img[b][c][gy * p + i][gx * p + j].item<float>());
          }
  EXPECT_THROW(patchify(img, 5), ShapeError);
}

TEST(ViT, ShapesAndNames) {
  manual_seed(2);
  ViT v(small_vit());
  Tensor img = randn({3, 3, 8, 8});
  EXPECT_EQ(v.forward(img).sizes(), (Shape{3, 4, 16}));
  ViT vc(small_vit(/*cls=*/true));
  EXPECT_EQ(vc.forward(img).sizes(), (Shape{3, 5, 16}));
  std::set<std::string> names;
  for (const auto& [n, t] : vc.state_dict()) names.insert(n);
  for (const char* n : {"cls_token", "pos_embed", "patch_embed.proj.weight", "patch_embed.proj.bias",
                        "layers.0.input_layernorm.weight", "layers.0.self_attn.qkv_proj.weight",
                        "layers.0.self_attn.o_proj.bias", "layers.1.post_attention_layernorm.bias",
                        "layers.1.mlp.fc1.weight", "layers.1.mlp.fc2.weight", "norm.weight", "norm.bias"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_EQ(vc.get("pos_embed").sizes(), (Shape{1, 5, 16}));
  EXPECT_EQ(vc.get("patch_embed.proj.weight").sizes(), (Shape{16, 3 * 4 * 4}));
  // Parameter count by formula: patch embed + pos + cls + blocks + final norm.
  const int64_t d = 16, h = 32;
  const int64_t block = 2 * (2 * d) + (3 * d * d + 3 * d) + (d * d + d) + (d * h + h) + (h * d + d);
  EXPECT_EQ(vc.num_parameters(), (48 * d + d) + 5 * d + d + 2 * block + 2 * d);
}

TEST(ViT, StateDictRoundTrip) {
  manual_seed(3);
  ViT a(small_vit(true));
  manual_seed(4);
  ViT b(small_vit(true));
  Tensor img = randn({2, 3, 8, 8});
  NoGradGuard g;
  EXPECT_FALSE(a.forward(img).allclose(b.forward(img)));
  b.load_state_dict(a.state_dict());
  EXPECT_TRUE(a.forward(img).equal(b.forward(img)));
}

TEST(ViT, GradcheckFloat64) {
  manual_seed(5);
  ViTConfig c = small_vit(true);
  c.image_size = 4, c.patch_size = 2, c.d_model = 8, c.n_layers = 1, c.mlp_hidden = 8;
  ViT v(c);
  v.to(kFloat64);
  Tensor img = autograd::gradcheck_input({1, 3, 4, 4}, 6);
  auto fn = [&](const autograd::variable_list& in) -> autograd::variable_list { return {v.forward(in[0])}; };
  EXPECT_TRUE(autograd::gradcheck(fn, {img}));
}

TEST(ViT, Errors) {
  ViT v(small_vit());
  EXPECT_THROW(v.forward(randn({1, 3, 16, 16})), ShapeError);  // not the configured image size
  EXPECT_THROW(v.forward(randn({1, 1, 8, 8})), ShapeError);    // channels
  EXPECT_THROW(v.forward(randn({3, 8, 8})), ShapeError);       // no batch dim
  EXPECT_THROW(v.forward(tessera::zeros({1, 3, 8, 8}, kInt64)), DTypeError);
  ViTConfig bad = small_vit();
  bad.patch_size = 3;
  EXPECT_THROW(ViT{bad}, ValueError);
}
