// ShapesDataset (shapes.h): scene sampling with the split rule, rendering and captions.
#include "tessera/models/data/shapes.h"

#include <algorithm>
#include <cmath>

#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"
#include "tessera/tensor/rng.h"

namespace tessera::data {

namespace {

// The fixed key of scene_hash: the split must not depend on the dataset seed (Note [shapes split rule]).
constexpr uint64_t kSplitKey = 0x7E55E2A5C0FFEE11ull;
constexpr uint32_t kSplitTag[2] = {0x54524E00u /*Train*/, 0x484C4400u /*HeldOut*/};
constexpr int kMaxAttempts = 100000;
constexpr int64_t kMaxShapes = kNumCells;

// Sequential 32-bit words of one (seed, index, attempt, split) stream: block b uses the counter
// (lo(index), hi(index), attempt, tag | b).
class WordStream {
 public:
  WordStream(uint64_t seed, int64_t index, uint32_t attempt, Split split)
      : seed_(seed), index_(uint64_t(index)), attempt_(attempt), tag_(kSplitTag[split == Split::HeldOut]) {}
  uint32_t next() {
    if (used_ == 4) {
      Philox4x32 c{{uint32_t(index_), uint32_t(index_ >> 32), attempt_, tag_ | block_++}};
      words_ = philox4x32_10(c, uint32_t(seed_), uint32_t(seed_ >> 32));
      used_ = 0;
    }
    return words_.v[used_++];
  }
  // Uniform in [0, n) (n tiny: the modulo bias is below 2^-28).
  int below(int n) { return int(next() % uint32_t(n)); }

 private:
  uint64_t seed_, index_;
  uint32_t attempt_, tag_, block_ = 0;
  Philox4x32 words_{};
  int used_ = 4;
};

Scene draw_scene(const ShapesConfig& config, Split split, int64_t index, uint32_t attempt) {
  WordStream rng(config.seed, index, attempt, split);
  int n = int(config.min_shapes) + rng.below(int(config.max_shapes - config.min_shapes + 1));
  std::array<int, kNumCells> cells;
  for (int i = 0; i < kNumCells; ++i) cells[i] = i;
  std::vector<SceneShape> shapes;
  for (int i = 0; i < n; ++i) {  // partial Fisher-Yates: n distinct cells
    int j = i + rng.below(kNumCells - i);
    std::swap(cells[i], cells[j]);
    SceneShape s;
    s.cell = cells[i];
    s.kind = ShapeKind(rng.below(kNumShapeKinds));
    s.colour = ShapeColour(rng.below(kNumShapeColours));
    s.size = ShapeSize(rng.below(kNumShapeSizes));
    shapes.push_back(s);
  }
  return make_scene(std::move(shapes));
}

void check_config(const ShapesConfig& c) {
  TESSERA_CHECK(c.image_size >= 12 && c.image_size <= 4096, ValueError,
                "ShapesConfig: image_size must be in [12, 4096], got {} (32 is the recipe's)", c.image_size);
  TESSERA_CHECK(c.min_shapes >= 1 && c.min_shapes <= c.max_shapes && c.max_shapes <= kMaxShapes, ValueError,
                "ShapesConfig: need 1 <= min_shapes <= max_shapes <= {}, got min_shapes = {}, max_shapes = {}",
                kMaxShapes, c.min_shapes, c.max_shapes);
}

}  // namespace

const char* to_string(Split split) { return split == Split::Train ? "train" : "held-out"; }

const char* kind_word(ShapeKind kind) {
  static const char* words[] = {"dot", "box", "tri"};
  return words[int(kind)];
}
const char* colour_word(ShapeColour colour) {
  static const char* words[] = {"red", "green", "blue", "yellow"};
  return words[int(colour)];
}
const char* size_word(ShapeSize size) { return size == ShapeSize::Big ? "big" : "small"; }
std::array<float, 3> colour_rgb(ShapeColour colour) {
  static const std::array<float, 3> rgb[] = {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}, {1, 1, 0}};
  return rgb[int(colour)];
}

Scene make_scene(std::vector<SceneShape> shapes) {
  TESSERA_CHECK(!shapes.empty(), ValueError, "make_scene: a scene needs at least one shape");
  uint32_t used = 0;
  for (const SceneShape& s : shapes) {
    TESSERA_CHECK(s.cell >= 0 && s.cell < kNumCells, ValueError, "make_scene: cell {} is outside 0..{}", s.cell,
                  kNumCells - 1);
    TESSERA_CHECK(!(used >> s.cell & 1u), ValueError,
                  "make_scene: two shapes in cell {}; each shape needs its own grid cell", s.cell);
    TESSERA_CHECK(int(s.kind) >= 0 && int(s.kind) < kNumShapeKinds && int(s.colour) >= 0 &&
                      int(s.colour) < kNumShapeColours && int(s.size) >= 0 && int(s.size) < kNumShapeSizes,
                  ValueError, "make_scene: shape in cell {} has an invalid kind/colour/size", s.cell);
    used |= 1u << s.cell;
  }
  std::sort(shapes.begin(), shapes.end(), [](const SceneShape& a, const SceneShape& b) { return a.cell < b.cell; });
  return Scene{std::move(shapes)};
}

uint64_t scene_code(const Scene& scene) {
  // Base 25 per cell: 0 = empty, 1 + (kind * 8 + colour * 2 + size) otherwise; 25^9 < 2^42.
  uint64_t code = 0;
  for (const SceneShape& s : scene.shapes) {
    uint64_t digit = 1 + uint64_t(int(s.kind) * 8 + int(s.colour) * 2 + int(s.size));
    uint64_t place = 1;
    for (int i = 0; i < s.cell; ++i) place *= 25;
    code += digit * place;
  }
  return code;
}

uint64_t scene_hash(const Scene& scene) {
  Philox4x32 w = philox_words(kSplitKey, scene_code(scene));
  return (uint64_t(w.v[0]) << 32) | w.v[1];
}

bool is_held_out(const Scene& scene) { return scene_hash(scene) % 10 == 0; }

std::string describe_scene(const Scene& scene) {
  std::string caption;
  for (size_t i = 0; i < scene.shapes.size(); ++i) {
    const SceneShape& s = scene.shapes[i];
    if (i > 0) caption += ", ";
    caption += fmt::format("{} {} {} {}", size_word(s.size), colour_word(s.colour), kind_word(s.kind), s.cell + 1);
  }
  return caption;
}

std::array<int64_t, 2> cell_center(int cell, int64_t image_size) {
  double side = double(image_size) / kGridSide;
  int row = cell / kGridSide, col = cell % kGridSide;
  return {int64_t(std::floor((col + 0.5) * side)), int64_t(std::floor((row + 0.5) * side))};
}

Tensor render_scene(const Scene& scene, int64_t image_size) {
  TESSERA_CHECK(image_size >= 12 && image_size <= 4096, ValueError,
                "render_scene: image_size must be in [12, 4096], got {}", image_size);
  const int64_t S = image_size;
  const double side = double(S) / kGridSide;
  std::vector<float> pixels(size_t(3 * S * S), normalise_pixel(0.f));
  for (const SceneShape& s : scene.shapes) {
    auto [px, py] = cell_center(s.cell, S);
    // Geometry in pixel units, tested at pixel centres (x + 0.5, y + 0.5); the centre pixel's centre
    // is the shape's centre, so the centre pixel is always inside.
    const double cx = px + 0.5, cy = py + 0.5;
    const double r = side * (s.size == ShapeSize::Big ? 0.44 : 0.26);
    const std::array<float, 3> rgb = colour_rgb(s.colour);
    int64_t x0 = std::max<int64_t>(0, int64_t(std::floor(cx - r - 1))), x1 = std::min<int64_t>(S - 1, int64_t(cx + r + 1));
    int64_t y0 = std::max<int64_t>(0, int64_t(std::floor(cy - r - 1))), y1 = std::min<int64_t>(S - 1, int64_t(cy + r + 1));
    for (int64_t y = y0; y <= y1; ++y) {
      for (int64_t x = x0; x <= x1; ++x) {
        const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
        bool inside = false;
        switch (s.kind) {
          case ShapeKind::Circle: inside = dx * dx + dy * dy <= r * r; break;
          case ShapeKind::Square: inside = std::abs(dx) <= 0.85 * r && std::abs(dy) <= 0.85 * r; break;
          case ShapeKind::Triangle:
            // Apex (0, -r), base y = +0.8 r from -r to +r: |dx| <= r * (dy + r) / (1.8 r).
            inside = dy >= -r && dy <= 0.8 * r && std::abs(dx) <= (dy + r) / 1.8;
            break;
        }
        if (!inside) continue;
        for (int c = 0; c < 3; ++c) pixels[size_t((c * S + y) * S + x)] = normalise_pixel(rgb[c]);
      }
    }
  }
  return from_vector(pixels, {3, S, S});
}

Scene sample_scene(const ShapesConfig& config, Split split, int64_t index) {
  check_config(config);
  TESSERA_CHECK(index >= 0, IndexError, "sample_scene: index must be >= 0, got {}", index);
  const bool want_held_out = split == Split::HeldOut;
  for (uint32_t attempt = 0; attempt < uint32_t(kMaxAttempts); ++attempt) {
    Scene scene = draw_scene(config, split, index, attempt);
    if (is_held_out(scene) == want_held_out) return scene;
  }
  throw ValueError(fmt::format("sample_scene: no {} scene found in {} attempts for min_shapes = {}, max_shapes = {}; "
                               "widen the shape count range",
                               to_string(split), kMaxAttempts, config.min_shapes, config.max_shapes));
}

ShapesDataset::ShapesDataset(ShapesConfig config, Split split, int64_t size)
    : config_(config), split_(split), size_(size) {
  check_config(config_);
  TESSERA_CHECK(size >= 1, ValueError, "ShapesDataset: size must be >= 1, got {}", size);
}

Scene ShapesDataset::scene(int64_t index) const {
  TESSERA_CHECK(index >= 0 && index < size_, IndexError, "ShapesDataset::get: index {} out of range [0, {})", index,
                size_);
  return sample_scene(config_, split_, index);
}

CaptionSample ShapesDataset::get(int64_t index) const {
  Scene s = scene(index);
  return {render_scene(s, config_.image_size), describe_scene(s)};
}

}  // namespace tessera::data
