// data::ShapesDataset: determinism in (seed, split, index), captions that agree with the pixels,
// the split rule (no held-out scene is a training scene), the caption length bound over the whole
// scene space, balance of kinds/colours/sizes/counts, normalisation, errors.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>

#include <tessera/models/data/shapes.h>
#include <tessera/tessera.h>

using namespace tessera;
using namespace tessera::data;

namespace {

// The caption parsed back independently of describe_scene: (cell 0..8, size, colour, kind) words.
struct Parsed {
  int cell;
  std::string size, colour, kind;
};
std::vector<Parsed> parse_caption(const std::string& caption) {
  std::vector<Parsed> out;
  std::string rest = caption;
  while (!rest.empty()) {
    size_t comma = rest.find(", ");
    std::string part = rest.substr(0, comma);
    rest = comma == std::string::npos ? "" : rest.substr(comma + 2);
    std::istringstream words(part);
    Parsed p;
    int cell1 = 0;
    words >> p.size >> p.colour >> p.kind >> cell1;
    EXPECT_TRUE(words.eof() && !words.fail()) << "bad caption part '" << part << "' in '" << caption << "'";
    p.cell = cell1 - 1;
    out.push_back(p);
  }
  return out;
}

// Reads pixels through a host copy (Tensor indexing per pixel would be slow).
struct Pixels {
  std::vector<float> v;
  int64_t S;
  explicit Pixels(const Tensor& img) : S(img.size(1)) {
    Tensor c = img.contiguous();
    v.assign(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  std::array<float, 3> at(int64_t x, int64_t y) const {
    return {v[size_t(y * S + x)], v[size_t((S + y) * S + x)], v[size_t((2 * S + y) * S + x)]};
  }
};
std::array<float, 3> pixel(const Tensor& img, int64_t x, int64_t y) { return Pixels(img).at(x, y); }

std::array<float, 3> expected_rgb(const std::string& colour) {
  std::map<std::string, std::array<float, 3>> m = {
      {"red", {1, 0, 0}}, {"green", {0, 1, 0}}, {"blue", {0, 0, 1}}, {"yellow", {1, 1, 0}}};
  EXPECT_TRUE(m.count(colour)) << colour;
  auto rgb = m[colour];
  for (auto& v : rgb) v = v * 2 - 1;  // Note [image normalisation]
  return rgb;
}

// Number of non-background pixels inside a cell, and the width of their bounding box.
std::pair<int64_t, int64_t> cell_ink(const Pixels& img, int cell) {
  int64_t S = img.S;
  double side = double(S) / 3;
  int row = cell / 3, col = cell % 3;
  int64_t n = 0, xmin = S, xmax = -1;
  for (int64_t y = int64_t(row * side); y < int64_t((row + 1) * side); ++y)
    for (int64_t x = int64_t(col * side); x < int64_t((col + 1) * side); ++x) {
      auto p = img.at(x, y);
      if (p[0] > -1 || p[1] > -1 || p[2] > -1) {
        ++n;
        xmin = std::min(xmin, x);
        xmax = std::max(xmax, x);
      }
    }
  return {n, xmax - xmin + 1};
}

}  // namespace

TEST(ShapesDataset, DeterministicInSeedSplitIndex) {
  ShapesDataset a({.seed = 7}, Split::Train, 100), b({.seed = 7}, Split::Train, 100), c({.seed = 8}, Split::Train, 100);
  int differ = 0;
  for (int64_t i : {0, 1, 17, 99}) {
    CaptionSample x = a.get(i), y = b.get(i);
    EXPECT_EQ(x.caption, y.caption);
    EXPECT_TRUE(x.image.equal(y.image));
    differ += c.get(i).caption != x.caption;
  }
  EXPECT_GE(differ, 3);
  // Order of access does not matter (no hidden state).
  EXPECT_EQ(a.get(50).caption, ShapesDataset({.seed = 7}, Split::Train, 51).get(50).caption);
  EXPECT_EQ(describe_scene(a.scene(3)), a.get(3).caption);
}

TEST(ShapesDataset, CaptionAgreesWithPixels) {
  for (int64_t S : {32, 48}) {
    ShapesDataset ds({.image_size = S, .seed = 3}, Split::Train, 300);
    for (int64_t i = 0; i < ds.size(); ++i) {
      CaptionSample s = ds.get(i);
      Pixels px(s.image);
      ASSERT_EQ(s.image.sizes(), (IntArrayRef{3, S, S}));
      ASSERT_EQ(s.image.dtype(), kFloat32);
      std::vector<Parsed> parsed = parse_caption(s.caption);
      ASSERT_GE(parsed.size(), 1u);
      ASSERT_LE(parsed.size(), 3u);
      std::set<int> cells;
      for (size_t k = 0; k < parsed.size(); ++k) {
        const Parsed& p = parsed[k];
        ASSERT_TRUE(p.cell >= 0 && p.cell < 9) << s.caption;
        if (k > 0) {
          EXPECT_GT(p.cell, parsed[k - 1].cell) << "cells not in reading order: " << s.caption;
        }
        cells.insert(p.cell);
        auto [x, y] = cell_center(p.cell, S);
        EXPECT_EQ(px.at(x, y), expected_rgb(p.colour)) << s.caption << " cell " << p.cell + 1;
        auto [ink, width] = cell_ink(px, p.cell);
        double side = double(S) / 3;
        EXPECT_GT(ink, 0);
        if (p.size == "big") {
          EXPECT_GT(double(width), 0.6 * side) << s.caption;
        } else {
          EXPECT_LT(double(width), 0.6 * side) << s.caption;
        }
        EXPECT_TRUE(p.kind == "dot" || p.kind == "box" || p.kind == "tri") << s.caption;
      }
      for (int cell = 0; cell < 9; ++cell) {
        if (cells.count(cell)) continue;
        EXPECT_EQ(cell_ink(px, cell).first, 0) << "ink in empty cell " << cell + 1;
      }
    }
  }
}

TEST(ShapesDataset, KindsLookDifferent) {
  // Same cell, colour and size: the three kinds give three different masks, and a box covers its
  // corners' neighbourhood where a dot does not.
  for (ShapeSize size : {ShapeSize::Small, ShapeSize::Big}) {
    std::vector<Tensor> imgs;
    for (int k = 0; k < kNumShapeKinds; ++k)
      imgs.push_back(render_scene(make_scene({{4, ShapeKind(k), ShapeColour::Green, size}}), 32));
    EXPECT_FALSE(imgs[0].equal(imgs[1]));
    EXPECT_FALSE(imgs[0].equal(imgs[2]));
    EXPECT_FALSE(imgs[1].equal(imgs[2]));
    // Triangle: narrow at the top, wide at the bottom.
    auto [cx, cy] = cell_center(4, 32);
    int64_t r = size == ShapeSize::Big ? 4 : 2;
    auto green_at = [&](const Tensor& im, int64_t x, int64_t y) { return pixel(im, x, y)[1] > 0; };
    EXPECT_TRUE(green_at(imgs[2], cx - r + 1, cy + r - 1 - (size == ShapeSize::Small)));
    EXPECT_FALSE(green_at(imgs[2], cx - r + 1, cy - r + 1));
    EXPECT_TRUE(green_at(imgs[1], cx - r + 1, cy - r + 1));
  }
}

TEST(ShapesDataset, HeldOutScenesNeverInTraining) {
  ShapesConfig cfg{.seed = 11};
  ShapesDataset train(cfg, Split::Train, 20000), held(cfg, Split::HeldOut, 2000);
  std::set<uint64_t> train_codes;
  for (int64_t i = 0; i < train.size(); ++i) {
    Scene s = train.scene(i);
    ASSERT_FALSE(is_held_out(s));
    train_codes.insert(scene_code(s));
  }
  std::set<uint64_t> held_codes;
  for (int64_t i = 0; i < held.size(); ++i) {
    Scene s = held.scene(i);
    ASSERT_TRUE(is_held_out(s));
    EXPECT_EQ(train_codes.count(scene_code(s)), 0u) << describe_scene(s);
    held_codes.insert(scene_code(s));
  }
  // A different training seed still never produces a held-out scene (the rule is seed-free).
  ShapesDataset other({.seed = 12345}, Split::Train, 3000);
  for (int64_t i = 0; i < other.size(); ++i) EXPECT_EQ(held_codes.count(scene_code(other.scene(i))), 0u);
  // Roughly a tenth of scenes are held out: count over the training stream's raw draws is not
  // visible, so check the rule on all 2-shape scenes instead.
  int64_t total = 0, out = 0;
  for (int a = 0; a < 9; ++a)
    for (int b = a + 1; b < 9; ++b)
      for (int va = 0; va < 24; ++va)
        for (int vb = 0; vb < 24; ++vb) {
          Scene s = make_scene({{a, ShapeKind(va / 8), ShapeColour(va / 2 % 4), ShapeSize(va % 2)},
                                {b, ShapeKind(vb / 8), ShapeColour(vb / 2 % 4), ShapeSize(vb % 2)}});
          ++total;
          out += is_held_out(s);
        }
  EXPECT_NEAR(double(out) / double(total), 0.1, 0.01);
}

TEST(ShapesDataset, CaptionLengthBoundOverTheWholeSceneSpace) {
  size_t longest = 0;
  std::string longest_caption;
  std::set<uint64_t> codes;
  int64_t scenes = 0;
  for (uint32_t cells = 1; cells < (1u << 9); ++cells) {
    int n = __builtin_popcount(cells);
    if (n > 3) continue;
    std::vector<int> cell_list;
    for (int c = 0; c < 9; ++c)
      if (cells >> c & 1u) cell_list.push_back(c);
    int combos = 1;
    for (int k = 0; k < n; ++k) combos *= 24;
    for (int v = 0; v < combos; ++v) {
      std::vector<SceneShape> shapes;
      int rest = v;
      for (int c : cell_list) {
        int a = rest % 24;
        rest /= 24;
        shapes.push_back({c, ShapeKind(a / 8), ShapeColour(a / 2 % 4), ShapeSize(a % 2)});
      }
      Scene s = make_scene(shapes);
      std::string caption = describe_scene(s);
      if (caption.size() > longest) longest = caption.size(), longest_caption = caption;
      if (n <= 2) codes.insert(scene_code(s));
      ++scenes;
    }
  }
  EXPECT_EQ(scenes, 216 + 36 * 576 + 84 * 13824);
  EXPECT_EQ(int64_t(longest), kMaxShapesCaptionBytes) << longest_caption;
  EXPECT_LE(int64_t(longest) + 2, 62) << "bos + caption + eos must fit 62 tokens";
  EXPECT_EQ(int64_t(codes.size()), 216 + 36 * 576);  // scene_code is injective (1-2 shapes checked)
}

TEST(ShapesDataset, BalancedAttributes) {
  ShapesDataset ds({.seed = 5}, Split::Train, 6000);
  std::map<std::string, int64_t> kind, colour, size;
  std::map<size_t, int64_t> count;
  std::vector<int64_t> cell(9, 0);
  int64_t shapes = 0;
  for (int64_t i = 0; i < ds.size(); ++i) {
    Scene s = ds.scene(i);
    count[s.shapes.size()]++;
    for (const SceneShape& sh : s.shapes) {
      kind[kind_word(sh.kind)]++;
      colour[colour_word(sh.colour)]++;
      size[size_word(sh.size)]++;
      cell[size_t(sh.cell)]++;
      ++shapes;
    }
  }
  auto check = [&](const auto& m, size_t classes, int64_t total, const char* what) {
    EXPECT_EQ(m.size(), classes) << what;
    for (const auto& [k, n] : m)
      EXPECT_NEAR(double(n) / double(total), 1.0 / double(classes), 0.15 / double(classes)) << what << " " << k;
  };
  check(kind, 3, shapes, "kind");
  check(colour, 4, shapes, "colour");
  check(size, 2, shapes, "size");
  check(count, 3, ds.size(), "shape count");
  for (int c = 0; c < 9; ++c) EXPECT_NEAR(double(cell[size_t(c)]) / double(shapes), 1.0 / 9, 0.15 / 9) << c;
}

TEST(ShapesDataset, NormalisationAndBackground) {
  ShapesDataset ds({.seed = 1}, Split::HeldOut, 10);
  Tensor img = ds.get(0).image;
  EXPECT_EQ(img.min().item<float>(), -1.f);  // black background
  EXPECT_LE(img.max().item<float>(), 1.f);
  Tensor blank = render_scene(make_scene({{0, ShapeKind::Circle, ShapeColour::Red, ShapeSize::Small}}), 32);
  EXPECT_EQ(pixel(blank, 31, 31), (std::array<float, 3>{-1, -1, -1}));
}

TEST(ShapesDataset, MinMaxShapesAndErrors) {
  ShapesDataset one({.min_shapes = 1, .max_shapes = 1, .seed = 2}, Split::HeldOut, 50);
  for (int64_t i = 0; i < one.size(); ++i) EXPECT_EQ(one.scene(i).shapes.size(), 1u);
  ShapesDataset three({.min_shapes = 3, .max_shapes = 3, .seed = 2}, Split::Train, 50);
  for (int64_t i = 0; i < three.size(); ++i) EXPECT_EQ(three.scene(i).shapes.size(), 3u);
  EXPECT_THROW(ShapesDataset({.min_shapes = 2, .max_shapes = 1}, Split::Train, 5), ValueError);
  EXPECT_THROW(ShapesDataset({.image_size = 8}, Split::Train, 5), ValueError);
  EXPECT_THROW(ShapesDataset({}, Split::Train, 0), ValueError);
  EXPECT_THROW(one.get(50), IndexError);
  EXPECT_THROW(one.get(-1), IndexError);
  EXPECT_THROW(make_scene({{1, ShapeKind::Circle, ShapeColour::Red, ShapeSize::Big},
                           {1, ShapeKind::Square, ShapeColour::Red, ShapeSize::Big}}),
               ValueError);
  EXPECT_THROW(make_scene({{9, ShapeKind::Circle, ShapeColour::Red, ShapeSize::Big}}), ValueError);
}
