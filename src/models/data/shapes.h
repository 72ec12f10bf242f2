// ShapesDataset: the synthetic captioning task of the default VLM recipe (docs/data.md). Each
// image shows 1-3 coloured shapes in distinct cells of a 3x3 grid on a black background; the
// caption names each shape's size, colour, kind and cell, e.g. "big red dot 1, small blue box 5".
//
// Note [shapes caption grammar]
//   caption := shape (", " shape)*          shapes in increasing cell order (row-major)
//   shape   := SIZE " " COLOUR " " KIND " " CELL
//   SIZE    := "big" | "small"
//   COLOUR  := "red" | "green" | "blue" | "yellow"
//   KIND    := "dot" (a filled circle) | "box" (a filled square) | "tri" (a filled triangle, apex up)
//   CELL    := "1".."9", the grid cell in reading order: 1 2 3 / 4 5 6 / 7 8 9 (1 = top left)
// Words are short so that <bos> caption <eos> fits the recipe's text length: the longest caption
// (3 shapes, "small yellow box 9, ...") has kMaxShapesCaptionBytes = 58 bytes, so 60 tokens with
// <bos> and <eos> (tests/models/test_data_shapes.cpp checks the bound over the whole scene space).
//
// Note [shapes split rule]
// A scene is the set of (cell, kind, colour, size) of its shapes. scene_hash() hashes a scene's
// canonical code with a FIXED Philox key (independent of the dataset seed); a scene is held out
// iff scene_hash % 10 == 0. Train samples are drawn from the Train stream with held-out scenes
// rejected, HeldOut samples from a different stream accepting only held-out scenes, so no
// held-out scene (hence no held-out image) is ever a training sample, whatever the seeds.
// Sample i of a split depends only on (seed, split, i): attempt a of sample i uses the Philox
// counter (i, a, split) under key seed (no global RNG state).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "tessera/models/data/dataset.h"

namespace tessera::data {

enum class ShapeKind : int { Circle = 0, Square = 1, Triangle = 2 };
enum class ShapeColour : int { Red = 0, Green = 1, Blue = 2, Yellow = 3 };
enum class ShapeSize : int { Small = 0, Big = 1 };
inline constexpr int kNumShapeKinds = 3;
inline constexpr int kNumShapeColours = 4;
inline constexpr int kNumShapeSizes = 2;
inline constexpr int kGridSide = 3;
inline constexpr int kNumCells = kGridSide * kGridSide;
inline constexpr int64_t kMaxShapesCaptionBytes = 58;  // Note [shapes caption grammar]

// The words of the caption grammar, and each colour's RGB in [0, 1].
const char* kind_word(ShapeKind kind);
const char* colour_word(ShapeColour colour);
const char* size_word(ShapeSize size);
std::array<float, 3> colour_rgb(ShapeColour colour);

struct SceneShape {
  int cell = 0;  // 0..8 row-major (caption says cell + 1)
  ShapeKind kind = ShapeKind::Circle;
  ShapeColour colour = ShapeColour::Red;
  ShapeSize size = ShapeSize::Small;
  bool operator==(const SceneShape&) const = default;
};

// Shapes sorted by cell, cells distinct (make_scene checks and sorts).
struct Scene {
  std::vector<SceneShape> shapes;
  bool operator==(const Scene&) const = default;
};

// Sorts by cell; a ValueError when a cell is outside 0..8 or used twice, or there is no shape.
Scene make_scene(std::vector<SceneShape> shapes);
// The canonical code of a scene (distinct scenes have distinct codes) and its split hash.
uint64_t scene_code(const Scene& scene);
uint64_t scene_hash(const Scene& scene);
bool is_held_out(const Scene& scene);  // scene_hash % 10 == 0 (Note [shapes split rule])

// The caption of a scene (Note [shapes caption grammar]).
std::string describe_scene(const Scene& scene);
// The image: float32 [3, S, S] normalised (Note [image normalisation]); black background, each
// shape drawn in its colour inside its cell, centred, big = 0.44 of the cell side as radius /
// half-side, small = 0.26. The pixel at a shape's centre (shape_center) always has its colour.
Tensor render_scene(const Scene& scene, int64_t image_size = 32);
// The pixel (x, y) at the centre of `cell` for this image size.
std::array<int64_t, 2> cell_center(int cell, int64_t image_size);

struct ShapesConfig {
  int64_t image_size = 32;  // >= 12
  int64_t min_shapes = 1;   // 1 <= min_shapes <= max_shapes <= 9; captions fit
  int64_t max_shapes = 3;   // kMaxShapesCaptionBytes when max_shapes <= 3
  uint64_t seed = 0;
};

// The scene of sample `index` of `split` (Note [shapes split rule]).
Scene sample_scene(const ShapesConfig& config, Split split, int64_t index);

class ShapesDataset : public CaptionDataset {
 public:
  ShapesDataset(ShapesConfig config, Split split, int64_t size);
  int64_t size() const override { return size_; }
  CaptionSample get(int64_t index) const override;
  int64_t image_size() const override { return config_.image_size; }
  Scene scene(int64_t index) const;  // the scene behind get(index)
  const ShapesConfig& config() const { return config_; }
  Split split() const { return split_; }

 private:
  ShapesConfig config_;
  Split split_;
  int64_t size_;
};

}  // namespace tessera::data
