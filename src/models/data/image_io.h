// 8-bit RGB images on the host: PNG (libpng) and binary PPM (P6) read/write, bilinear resize,
// and conversion to/from the normalised float32 [3, H, W] tensors the models take
// (Note [image normalisation]).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tessera/tensor/tensor.h"

namespace tessera::data {

// Row-major, 3 bytes (R, G, B) per pixel: pixels.size() == width * height * 3.
struct RgbImage {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> pixels;
  RgbImage() = default;
  RgbImage(int64_t w, int64_t h, uint8_t fill = 0) : width(w), height(h), pixels(size_t(w * h * 3), fill) {}
  uint8_t* at(int64_t x, int64_t y) { return pixels.data() + (y * width + x) * 3; }
  const uint8_t* at(int64_t x, int64_t y) const { return pixels.data() + (y * width + x) * 3; }
};

// Any PNG libpng reads (gray, palette, 16-bit, alpha composited onto black) as 8-bit RGB. Errors
// (missing file, not a PNG, corrupt data) are a ValueError naming the file and libpng's message.
RgbImage read_png(const std::string& path);
// Writes an 8-bit RGB PNG; the file appears complete or not at all (temp file + rename).
void write_png(const std::string& path, const RgbImage& image);
// Binary PPM (P6, maxval 1..65535, '#' comments in the header); errors name the file and what
// was wrong.
RgbImage read_ppm(const std::string& path);
void write_ppm(const std::string& path, const RgbImage& image);
// PNG or PPM, chosen by the file's first bytes (not its extension).
RgbImage read_image(const std::string& path);

// Bilinear resize with half-pixel centres (PyTorch's interpolate(mode="bilinear",
// align_corners=False, antialias=False)), rounded to the nearest byte. Same size: a copy.
RgbImage resize_bilinear(const RgbImage& image, int64_t width, int64_t height);

// float32 [3, H, W] with (byte / 255 - 0.5) / 0.5 (Note [image normalisation]), and back
// (clamped to [0, 255] and rounded).
Tensor image_to_tensor(const RgbImage& image);
RgbImage tensor_to_image(const Tensor& image);

}  // namespace tessera::data
