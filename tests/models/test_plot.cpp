// plot_loss_curve: a PNG of the expected size that libpng decodes, with curve colours inside the
// plot area and a white background; metrics log errors name file and line.
#include <gtest/gtest.h>
#include <png.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <tessera/models/data/image_io.h>
#include <tessera/models/plot.h>
#include <tessera/tessera.h>

using namespace tessera;
namespace fs = std::filesystem;

namespace {

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / fmt::format("tessera-plot-{}-{}", ::getpid(), name);
}

// Decodes with libpng directly (not through tessera's reader).
std::vector<uint8_t> decode_png(const std::string& path, uint32_t* w, uint32_t* h) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  EXPECT_TRUE(png_image_begin_read_from_file(&img, path.c_str())) << img.message;
  img.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> buf(PNG_IMAGE_SIZE(img));
  EXPECT_TRUE(png_image_finish_read(&img, nullptr, buf.data(), 0, nullptr)) << img.message;
  *w = img.width, *h = img.height;
  return buf;
}

int64_t count_colour(const std::vector<uint8_t>& px, uint32_t w, uint32_t x0, uint32_t y0, uint32_t x1, uint32_t y1,
                     std::array<uint8_t, 3> c) {
  int64_t n = 0;
  for (uint32_t y = y0; y < y1; ++y)
    for (uint32_t x = x0; x < x1; ++x) {
      const uint8_t* p = &px[(size_t(y) * w + x) * 3];
      n += p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
    }
  return n;
}

}  // namespace

TEST(PlotLossCurve, WritesADecodablePngWithCurves) {
  fs::path log = temp_path("metrics.jsonl"), png = temp_path("loss.png");
  {
    std::ofstream out(log);
    for (int s = 0; s <= 300; s += 10) {
      out << fmt::format("{{\"step\": {}, \"loss\": {}, \"lr\": 0.001", s, 5.5 * std::exp(-s / 80.0) + 0.3);
      if (s % 50 == 0) out << fmt::format(", \"eval_loss\": {}", 5.6 * std::exp(-s / 90.0) + 0.4);
      out << "}\n";
    }
    out << "\n{\"step\": 310, \"eval_loss\": null}\n";
  }
  models::LossCurves c = models::read_loss_curves(log.string());
  EXPECT_EQ(c.loss.size(), 31u);
  EXPECT_EQ(c.eval_loss.size(), 7u);
  EXPECT_EQ(c.steps.back(), 300);
  data::plot_loss_curve(log.string(), png.string());
  uint32_t w = 0, h = 0;
  std::vector<uint8_t> px = decode_png(png.string(), &w, &h);
  EXPECT_EQ(w, 800u);
  EXPECT_EQ(h, 500u);
  // Inside the plot area (away from the labels): train (blue) and eval (orange) pixels.
  EXPECT_GT(count_colour(px, w, 100, 60, 780, 440, {31, 119, 180}), 500);
  EXPECT_GT(count_colour(px, w, 100, 60, 780, 440, {230, 110, 20}), 100);
  // Mostly white background, and some black (axes and labels).
  EXPECT_GT(count_colour(px, w, 0, 0, w, h, {255, 255, 255}), int64_t(w) * h / 2);
  EXPECT_GT(count_colour(px, w, 0, 0, w, h, {0, 0, 0}), 500);
  // The curve descends: its blue pixels sit higher (smaller y) on the left than on the right.
  auto mean_blue_y = [&](uint32_t x0, uint32_t x1) {
    double sum = 0, n = 0;
    for (uint32_t y = 40; y < h - 40; ++y)
      for (uint32_t x = x0; x < x1; ++x) {
        const uint8_t* p = &px[(size_t(y) * w + x) * 3];
        if (p[0] == 31 && p[1] == 119 && p[2] == 180) sum += y, n += 1;
      }
    return n > 0 ? sum / n : -1.0;
  };
  EXPECT_LT(mean_blue_y(120, 200), mean_blue_y(650, 760));
  // Other sizes, train-only logs.
  models::plot_loss_curves({{0, 1, 2}, {3, 2, 2.5}, {}, {}}, png.string(), {.width = 320, .height = 200});
  px = decode_png(png.string(), &w, &h);
  EXPECT_EQ(w, 320u);
  EXPECT_EQ(h, 200u);
  fs::remove(log);
  fs::remove(png);
}

TEST(PlotLossCurve, Errors) {
  fs::path log = temp_path("bad.jsonl"), png = temp_path("bad.png");
  std::ofstream(log) << "{\"step\": 1, \"loss\": 2}\n{\"step\": 2, \"loss\": \n";
  try {
    models::plot_loss_curve(log.string(), png.string());
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl:2: not valid JSON"), std::string::npos) << e.what();
  }
  std::ofstream(log) << "{\"step\": 1, \"lr\": 2}\n";
  EXPECT_THROW(models::plot_loss_curve(log.string(), png.string()), ValueError);  // no loss values
  EXPECT_THROW(models::plot_loss_curve(temp_path("none.jsonl").string(), png.string()), ValueError);
  EXPECT_FALSE(fs::exists(png));
  fs::remove(log);
}
