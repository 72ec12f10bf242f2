// PNG/PPM reading and writing, resize, tensor conversion (image_io.h).
#include "tessera/models/data/image_io.h"

#include <png.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "tessera/models/data/dataset.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"

namespace tessera::data {

namespace {

void check_image(const RgbImage& image, const char* op) {
  TESSERA_CHECK(image.width >= 1 && image.height >= 1 &&
                    image.pixels.size() == size_t(image.width * image.height * 3),
                ValueError, "{}: image is {}x{} with {} bytes, expected width, height >= 1 and width * height * 3 bytes",
                op, image.width, image.height, image.pixels.size());
}

std::string read_bytes(const std::string& path, const char* op, size_t limit = SIZE_MAX) {
  std::ifstream in(path, std::ios::binary);
  TESSERA_CHECK(in.good(), ValueError, "{}: cannot open '{}': {}", op, path, std::strerror(errno));
  std::string bytes;
  char buf[65536];
  while (bytes.size() < limit) {
    in.read(buf, std::streamsize(std::min(sizeof buf, limit - bytes.size())));
    if (in.gcount() <= 0) break;
    bytes.append(buf, size_t(in.gcount()));
  }
  return bytes;
}

// Writes through `tmp` then renames, so readers never see a half-written file.
template <typename Writer>
void write_atomically(const std::string& path, const char* op, Writer&& write) {
  std::string tmp = path + ".tmp";
  write(tmp);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    throw ValueError(fmt::format("{}: cannot rename '{}' to '{}': {}", op, tmp, path, ec.message()));
  }
}

}  // namespace

RgbImage read_png(const std::string& path) {
  std::string bytes = read_bytes(path, "read_png");
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, bytes.data(), bytes.size())) {
    std::string msg = img.message;
    png_image_free(&img);
    throw ValueError(fmt::format("read_png: '{}' is not a readable PNG: {}", path, msg));
  }
  img.format = PNG_FORMAT_RGB;
  RgbImage out(int64_t(img.width), int64_t(img.height));
  png_color black{0, 0, 0};
  if (!png_image_finish_read(&img, &black, out.pixels.data(), 0, nullptr)) {
    std::string msg = img.message;
    png_image_free(&img);
    throw ValueError(fmt::format("read_png: '{}' is corrupt: {}", path, msg));
  }
  return out;
}

void write_png(const std::string& path, const RgbImage& image) {
  check_image(image, "write_png");
  write_atomically(path, "write_png", [&](const std::string& tmp) {
    png_image img;
    std::memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = png_uint_32(image.width);
    img.height = png_uint_32(image.height);
    img.format = PNG_FORMAT_RGB;
    if (!png_image_write_to_file(&img, tmp.c_str(), 0, image.pixels.data(), 0, nullptr)) {
      std::string msg = img.message;
      png_image_free(&img);
      throw ValueError(fmt::format("write_png: cannot write '{}': {}", tmp, msg));
    }
  });
}

RgbImage read_ppm(const std::string& path) {
  std::string b = read_bytes(path, "read_ppm");
  size_t pos = 0;
  auto fail = [&](const std::string& what) {
    return ValueError(fmt::format("read_ppm: '{}': {} (at byte {}); expected a binary PPM: 'P6', width, height, "
                                  "maxval, one whitespace, then the pixels",
                                  path, what, pos));
  };
  if (b.size() < 2 || b[0] != 'P' || b[1] != '6') throw fail("missing the 'P6' magic");
  pos = 2;
  auto number = [&](const char* name) -> int64_t {
    for (;;) {  // skip whitespace and comments
      while (pos < b.size() && std::isspace(static_cast<unsigned char>(b[pos]))) ++pos;
      if (pos < b.size() && b[pos] == '#') {
        while (pos < b.size() && b[pos] != '\n') ++pos;
        continue;
      }
      break;
    }
    if (pos >= b.size() || !std::isdigit(static_cast<unsigned char>(b[pos])))
      throw fail(fmt::format("expected the {} (a decimal number)", name));
    int64_t v = 0;
    while (pos < b.size() && std::isdigit(static_cast<unsigned char>(b[pos]))) {
      v = v * 10 + (b[pos++] - '0');
      if (v > (int64_t(1) << 30)) throw fail(fmt::format("the {} is too large", name));
    }
    return v;
  };
  int64_t w = number("width"), h = number("height"), maxval = number("maxval");
  if (w < 1 || h < 1) throw fail(fmt::format("size {}x{} is empty", w, h));
  if (maxval < 1 || maxval > 65535) throw fail(fmt::format("maxval {} is outside 1..65535", maxval));
  if (pos >= b.size() || !std::isspace(static_cast<unsigned char>(b[pos]))) throw fail("no whitespace after maxval");
  ++pos;
  const int64_t bpc = maxval > 255 ? 2 : 1;
  const size_t need = size_t(w * h * 3 * bpc);
  if (b.size() - pos < need)
    throw fail(fmt::format("truncated: {}x{} pixels need {} bytes, the file has {}", w, h, need, b.size() - pos));
  RgbImage out(w, h);
  const auto* p = reinterpret_cast<const unsigned char*>(b.data() + pos);
  for (size_t i = 0; i < size_t(w * h * 3); ++i) {
    int64_t v = bpc == 1 ? p[i] : (int64_t(p[2 * i]) << 8 | p[2 * i + 1]);
    out.pixels[i] = uint8_t(std::min<int64_t>(255, (v * 255 + maxval / 2) / maxval));
  }
  return out;
}

void write_ppm(const std::string& path, const RgbImage& image) {
  check_image(image, "write_ppm");
  write_atomically(path, "write_ppm", [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << "P6\n" << image.width << " " << image.height << "\n255\n";
    out.write(reinterpret_cast<const char*>(image.pixels.data()), std::streamsize(image.pixels.size()));
    out.close();
    TESSERA_CHECK(out.good(), ValueError, "write_ppm: cannot write '{}': {}", tmp, std::strerror(errno));
  });
}

RgbImage read_image(const std::string& path) {
  std::string head = read_bytes(path, "read_image", 8);
  static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (head.size() >= 8 && std::memcmp(head.data(), png_sig, 8) == 0) return read_png(path);
  if (head.size() >= 2 && head[0] == 'P' && head[1] == '6') return read_ppm(path);
  throw ValueError(fmt::format("read_image: '{}' is neither a PNG nor a binary PPM (P6) file (first bytes checked); "
                               "convert it to PNG",
                               path));
}

RgbImage resize_bilinear(const RgbImage& image, int64_t width, int64_t height) {
  check_image(image, "resize_bilinear");
  TESSERA_CHECK(width >= 1 && height >= 1, ValueError, "resize_bilinear: target size {}x{} must be positive", width,
                height);
  if (width == image.width && height == image.height) return image;
  RgbImage out(width, height);
  const double sx = double(image.width) / double(width), sy = double(image.height) / double(height);
  for (int64_t y = 0; y < height; ++y) {
    double fy = std::max(0.0, (y + 0.5) * sy - 0.5);
    int64_t y0 = std::min(int64_t(fy), image.height - 1), y1 = std::min(y0 + 1, image.height - 1);
    double ty = fy - double(y0);
    for (int64_t x = 0; x < width; ++x) {
      double fx = std::max(0.0, (x + 0.5) * sx - 0.5);
      int64_t x0 = std::min(int64_t(fx), image.width - 1), x1 = std::min(x0 + 1, image.width - 1);
      double tx = fx - double(x0);
      for (int c = 0; c < 3; ++c) {
        double top = image.at(x0, y0)[c] * (1 - tx) + image.at(x1, y0)[c] * tx;
        double bottom = image.at(x0, y1)[c] * (1 - tx) + image.at(x1, y1)[c] * tx;
        out.at(x, y)[c] = uint8_t(std::clamp(std::lround(top * (1 - ty) + bottom * ty), 0L, 255L));
      }
    }
  }
  return out;
}

Tensor image_to_tensor(const RgbImage& image) {
  check_image(image, "image_to_tensor");
  const int64_t H = image.height, W = image.width;
  std::vector<float> v(size_t(3 * H * W));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) v[size_t((c * H + y) * W + x)] = normalise_pixel(float(image.at(x, y)[c]) / 255.f);
  return from_vector(v, {3, H, W});
}

RgbImage tensor_to_image(const Tensor& image) {
  TESSERA_CHECK(image.defined() && image.dim() == 3 && image.size(0) == 3, ShapeError,
                "tensor_to_image: expected an image [3, H, W], got {}",
                image.defined() ? image.toString() : std::string("an undefined tensor"));
  Tensor t = image.cpu().to(kFloat32).contiguous();
  const int64_t H = t.size(1), W = t.size(2);
  const float* p = t.data_ptr<float>();
  RgbImage out(W, H);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x)
      for (int c = 0; c < 3; ++c) {
        float unit = p[(c * H + y) * W + x] * 0.5f + 0.5f;
        out.at(x, y)[c] = uint8_t(std::clamp(std::lround(unit * 255.f), 0L, 255L));
      }
  return out;
}

}  // namespace tessera::data
