// The interface every image-caption dataset implements (ShapesDataset, ImageCaptionDataset), so
// that CaptionLoader and the trainer take any of them.
#pragma once

#include <cstdint>
#include <string>

#include "tessera/tensor/tensor.h"

namespace tessera::data {

// Which stream of a synthetic dataset: training samples or held-out (evaluation) samples.
enum class Split { Train, HeldOut };
const char* to_string(Split split);

// One sample: an image [3, H, W] float32, normalised (Note [image normalisation]), and its caption
// (plain text, no special tokens).
struct CaptionSample {
  Tensor image;
  std::string caption;
};

// Note [image normalisation]
// Every dataset here returns images as float32 [3, H, W] with value = (byte / 255 - 0.5) / 0.5,
// i.e. in [-1, 1] (black = -1, white = +1), channels R, G, B. Models trained on one dataset can
// read another's images; a file dataset's bytes go through the same formula.
inline float normalise_pixel(float unit) { return (unit - 0.5f) / 0.5f; }

class CaptionDataset {
 public:
  virtual ~CaptionDataset() = default;
  virtual int64_t size() const = 0;
  // Sample `index` in [0, size()); an index out of range is an IndexError.
  virtual CaptionSample get(int64_t index) const = 0;
  // The side of the square images this dataset returns (all its images have this size).
  virtual int64_t image_size() const = 0;
};

}  // namespace tessera::data
