// A minimal raster canvas for plots: filled rectangles, thick lines, and text in a built-in 5x7
// bitmap font (digits, lowercase letters (uppercase drawn as lowercase), space and . - + : ( ) _
// / = , ; other characters draw as a hollow box). Used by plot_loss_curve (plot.h).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "tessera/models/data/image_io.h"

namespace tessera::models {

using Rgb = std::array<uint8_t, 3>;

class Canvas {
 public:
  Canvas(int64_t width, int64_t height, Rgb background);
  int64_t width() const { return image_.width; }
  int64_t height() const { return image_.height; }
  const data::RgbImage& image() const { return image_; }

  // Pixels outside the canvas are ignored by every drawing call.
  void set(int64_t x, int64_t y, Rgb colour);
  void fill_rect(int64_t x0, int64_t y0, int64_t x1, int64_t y1, Rgb colour);  // inclusive corners
  // A line from (x0, y0) to (x1, y1) (Bresenham), `thickness` pixels wide (square pen).
  void line(double x0, double y0, double x1, double y1, Rgb colour, int thickness = 1);
  // Text with its top-left corner at (x, y); each font pixel is scale x scale canvas pixels.
  void text(int64_t x, int64_t y, const std::string& s, Rgb colour, int scale = 1);
  static int64_t text_width(const std::string& s, int scale = 1);  // 6 * scale per character, less the last gap
  static int64_t text_height(int scale = 1) { return 7 * scale; }

 private:
  data::RgbImage image_;
};

}  // namespace tessera::models
