// File datasets: PNG/PPM reading (files written by the test itself, PNGs also through raw libpng
// in formats tessera never writes), bilinear resize against PyTorch goldens, image <-> tensor,
// ImageCaptionDataset (and its error messages: bad JSONL line, missing key, missing image,
// corrupt image), TextCorpus windows.
#include <gtest/gtest.h>
#include <png.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include <tessera/models/data/image_caption_dataset.h>
#include <tessera/models/data/image_io.h>
#include <tessera/models/data/loader.h>
#include <tessera/models/data/text_corpus.h>
#include <tessera/models/data/tokenizer.h>
#include <tessera/tessera.h>

using namespace tessera;
using namespace tessera::data;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed at the end of the test.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           fmt::format("tessera-data-{}-{}", ::testing::UnitTest::GetInstance()->current_test_info()->name(), ::getpid());
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

RgbImage gradient_image(int64_t w, int64_t h) {
  RgbImage img(w, h);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      img.at(x, y)[0] = uint8_t(x * 255 / std::max<int64_t>(1, w - 1));
      img.at(x, y)[1] = uint8_t(y * 255 / std::max<int64_t>(1, h - 1));
      img.at(x, y)[2] = uint8_t((x * 7 + y * 13) % 256);
    }
  return img;
}

// Writes a PNG through libpng directly, in a format given as PNG_FORMAT_*.
void write_png_raw(const std::string& path, int w, int h, uint32_t format, const std::vector<uint8_t>& data) {
  png_image img;
  std::memset(&img, 0, sizeof img);
  img.version = PNG_IMAGE_VERSION;
  img.width = png_uint_32(w);
  img.height = png_uint_32(h);
  img.format = format;
  ASSERT_TRUE(png_image_write_to_file(&img, path.c_str(), 0, data.data(), 0, nullptr)) << img.message;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "<no error>";
}

}  // namespace

TEST(ImageIO, PngAndPpmRoundTrip) {
  TempDir dir;
  RgbImage img = gradient_image(7, 5);
  write_png(dir / "a.png", img);
  write_ppm(dir / "a.ppm", img);
  EXPECT_FALSE(fs::exists(dir / "a.png.tmp"));
  for (std::string name : {"a.png", "a.ppm"}) {
    RgbImage back = read_image(dir / name);
    EXPECT_EQ(back.width, 7);
    EXPECT_EQ(back.height, 5);
    EXPECT_EQ(back.pixels, img.pixels) << name;
  }
  EXPECT_EQ(read_png(dir / "a.png").pixels, img.pixels);
  EXPECT_EQ(read_ppm(dir / "a.ppm").pixels, img.pixels);
}

TEST(ImageIO, PngFormatsTesseraDoesNotWrite) {
  TempDir dir;
  // Gray: every channel equals the gray value.
  write_png_raw(dir / "g.png", 3, 2, PNG_FORMAT_GRAY, {0, 100, 255, 7, 8, 9});
  RgbImage g = read_png(dir / "g.png");
  ASSERT_EQ(g.width, 3);
  EXPECT_EQ(g.at(1, 0)[0], 100);
  EXPECT_EQ(g.at(1, 0)[2], 100);
  EXPECT_EQ(g.at(2, 1)[1], 9);
  // RGBA: alpha composited onto black (opaque pixels unchanged, transparent ones black).
  write_png_raw(dir / "rgba.png", 2, 1, PNG_FORMAT_RGBA, {10, 20, 30, 255, 200, 200, 200, 0});
  RgbImage a = read_png(dir / "rgba.png");
  EXPECT_EQ(std::vector<uint8_t>(a.pixels.begin(), a.pixels.end()), (std::vector<uint8_t>{10, 20, 30, 0, 0, 0}));
}

TEST(ImageIO, PpmHeaderVariants) {
  TempDir dir;
  std::string px = {char(1), char(2), char(3), char(250), char(251), char(252)};
  write_text(dir / "c.ppm", "P6\n# a comment\n2 # width\n1\n255\n" + px);
  RgbImage c = read_ppm(dir / "c.ppm");
  EXPECT_EQ(c.pixels, (std::vector<uint8_t>{1, 2, 3, 250, 251, 252}));
  // 16-bit samples (maxval 65535), big-endian, scaled to bytes.
  std::string px16 = {char(0xFF), char(0xFF), char(0x00), char(0x00), char(0x80), char(0x00)};
  write_text(dir / "d.ppm", "P6 1 1 65535\n" + px16);
  EXPECT_EQ(read_ppm(dir / "d.ppm").pixels, (std::vector<uint8_t>{255, 0, 128}));
  // maxval 1: 0 -> 0, 1 -> 255.
  write_text(dir / "e.ppm", std::string("P6 1 1 1\n") + char(1) + char(0) + char(1));
  EXPECT_EQ(read_ppm(dir / "e.ppm").pixels, (std::vector<uint8_t>{255, 0, 255}));
}

TEST(ImageIO, ErrorsNameTheFile) {
  TempDir dir;
  write_text(dir / "short.ppm", "P6\n4 4\n255\n" + std::string(10, 'x'));
  std::string msg = error_of([&] { read_ppm(dir / "short.ppm"); });
  EXPECT_NE(msg.find("short.ppm"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  write_text(dir / "p3.ppm", "P3\n1 1\n255\n1 2 3\n");
  msg = error_of([&] { read_ppm(dir / "p3.ppm"); });
  EXPECT_NE(msg.find("'P6' magic"), std::string::npos) << msg;
  write_text(dir / "bad.png", "\x89PNG\r\n\x1a\n garbage garbage garbage");
  msg = error_of([&] { read_png(dir / "bad.png"); });
  EXPECT_NE(msg.find("bad.png"), std::string::npos) << msg;
  write_text(dir / "x.jpg", "\xFF\xD8\xFF\xE0 not supported");
  msg = error_of([&] { read_image(dir / "x.jpg"); });
  EXPECT_NE(msg.find("neither a PNG nor a binary PPM"), std::string::npos) << msg;
  msg = error_of([&] { read_image(dir / "missing.png"); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing.png"), std::string::npos) << msg;
}

TEST(ImageIO, ResizeBilinearMatchesPyTorch) {
  std::ifstream in(std::string(TESSERA_TEST_DATA_DIR) + "/resize_bilinear.json");
  ASSERT_TRUE(in.good()) << "tests/data/resize_bilinear.json (tools/golden/resize_bilinear.py)";
  nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_GE(j["cases"].size(), 3u);
  for (const auto& c : j["cases"]) {
    RgbImage img(c["width"].get<int64_t>(), c["height"].get<int64_t>());
    img.pixels = c["pixels"].get<std::vector<uint8_t>>();
    RgbImage out = resize_bilinear(img, c["out_width"].get<int64_t>(), c["out_height"].get<int64_t>());
    std::vector<uint8_t> expected = c["expected"].get<std::vector<uint8_t>>();
    ASSERT_EQ(out.pixels.size(), expected.size());
    int max_diff = 0;
    for (size_t i = 0; i < expected.size(); ++i) max_diff = std::max(max_diff, std::abs(int(out.pixels[i]) - int(expected[i])));
    EXPECT_LE(max_diff, 1) << img.width << "x" << img.height << " -> " << out.width << "x" << out.height;
  }
  // A constant image stays constant.
  RgbImage flat(5, 3, 77);
  EXPECT_EQ(resize_bilinear(flat, 11, 2).pixels, std::vector<uint8_t>(11 * 2 * 3, 77));
}

TEST(ImageIO, TensorConversion) {
  RgbImage img = gradient_image(4, 3);
  Tensor t = image_to_tensor(img);
  ASSERT_EQ(t.sizes(), (IntArrayRef{3, 3, 4}));
  EXPECT_FLOAT_EQ(t[0][0][0].item<float>(), -1.f);  // byte 0
  EXPECT_FLOAT_EQ(t[0][0][3].item<float>(), 1.f);   // byte 255
  EXPECT_FLOAT_EQ(t[2][1][2].item<float>(), float(img.at(2, 1)[2]) / 255.f * 2.f - 1.f);
  EXPECT_EQ(tensor_to_image(t).pixels, img.pixels);
  EXPECT_THROW(tensor_to_image(tessera::zeros({4, 2, 2})), ShapeError);
}

TEST(ImageCaptionDataset, ReadsPngAndPpmAndResizes) {
  TempDir dir;
  write_png(dir / "one.png", gradient_image(8, 8));
  fs::create_directories(dir.path / "sub");
  write_ppm(dir / "sub/two.ppm", RgbImage(3, 5, 255));
  write_text(dir / "captions.jsonl",
             "{\"image\": \"one.png\", \"caption\": \"a gradient\"}\n\n"
             "{\"image\": \"sub/two.ppm\", \"caption\": \"white\", \"source\": \"test\"}\n");
  auto ds = std::make_shared<ImageCaptionDataset>(dir.path.string(), 4);
  ASSERT_EQ(ds->size(), 2);
  EXPECT_EQ(ds->image_size(), 4);
  CaptionSample a = ds->get(0), b = ds->get(1);
  EXPECT_EQ(a.caption, "a gradient");
  EXPECT_EQ(b.caption, "white");
  EXPECT_EQ(a.image.sizes(), (IntArrayRef{3, 4, 4}));
  EXPECT_EQ(b.image.sizes(), (IntArrayRef{3, 4, 4}));
  EXPECT_TRUE(b.image.equal(tessera::ones({3, 4, 4})));
  EXPECT_TRUE(a.image.equal(image_to_tensor(resize_bilinear(gradient_image(8, 8), 4, 4))));
  EXPECT_THROW(ds->get(2), IndexError);
  // It plugs into CaptionLoader like ShapesDataset.
  CaptionLoader loader(ds, 2, 16, 0, false);
  VLMBatch batch = loader.next();
  EXPECT_EQ(batch.images.sizes(), (IntArrayRef{2, 3, 4, 4}));
  EXPECT_EQ(ByteTokenizer().decode(batch.input_ids[1]), "white");
}

TEST(ImageCaptionDataset, ErrorsNameFileAndLine) {
  TempDir dir;
  write_png(dir / "ok.png", RgbImage(2, 2));
  auto build_with = [&](const std::string& lines) {
    write_text(dir / "captions.jsonl", lines);
    return error_of([&] { ImageCaptionDataset ds(dir.path.string()); });
  };
  const std::string ok = "{\"image\": \"ok.png\", \"caption\": \"c\"}\n";
  std::string msg = build_with(ok + ok + "{\"image\": \"ok.png\", \"caption\": \n");
  EXPECT_NE(msg.find("captions.jsonl:3: not valid JSON"), std::string::npos) << msg;
  msg = build_with(ok + "{\"image\": \"ok.png\"}\n");
  EXPECT_NE(msg.find("captions.jsonl:2: missing key \"caption\""), std::string::npos) << msg;
  msg = build_with("{\"image\": 3, \"caption\": \"c\"}\n");
  EXPECT_NE(msg.find("captions.jsonl:1: key \"image\" must be a string, found number"), std::string::npos) << msg;
  msg = build_with(ok + "[1, 2]\n");
  EXPECT_NE(msg.find("captions.jsonl:2: expected a JSON object"), std::string::npos) << msg;
  msg = build_with(ok + ok + ok + "{\"image\": \"nope.png\", \"caption\": \"c\"}\n");
  EXPECT_NE(msg.find("captions.jsonl:4: image \"nope.png\" not found"), std::string::npos) << msg;
  msg = build_with("\n");
  EXPECT_NE(msg.find("lists no images"), std::string::npos) << msg;
  fs::remove(dir / "captions.jsonl");
  msg = error_of([&] { ImageCaptionDataset ds(dir.path.string()); });
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
  // A corrupt image is found when read, and the error names the image and the index line.
  write_text(dir / "broken.png", "\x89PNG\r\n\x1a\n broken");
  write_text(dir / "captions.jsonl", ok + "{\"image\": \"broken.png\", \"caption\": \"c\"}\n");
  ImageCaptionDataset ds(dir.path.string());
  EXPECT_NO_THROW(ds.get(0));
  msg = error_of([&] { ds.get(1); });
  EXPECT_NE(msg.find("captions.jsonl:2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("broken.png"), std::string::npos) << msg;
}

TEST(TextCorpus, Windows) {
  TempDir dir;
  write_text(dir / "t.txt", "hello world, hello tessera!");  // 27 bytes
  TextCorpus corpus(dir / "t.txt", 8);
  EXPECT_EQ(corpus.num_tokens(), 27);
  EXPECT_EQ(corpus.size(), 3);
  EXPECT_EQ(ByteTokenizer().decode(corpus.window(1)), "rld, hel");
  TextBatch b = corpus.batch({2, 0});
  ASSERT_EQ(b.input_ids.sizes(), (IntArrayRef{2, 8}));
  EXPECT_EQ(ByteTokenizer().decode(b.input_ids[0]), "lo tesse");
  EXPECT_EQ(ByteTokenizer().decode(b.input_ids[1]), "hello wo");
  EXPECT_TRUE(b.labels.equal(b.input_ids));
  EXPECT_THROW(corpus.window(3), IndexError);
  EXPECT_THROW(TextCorpus(dir / "t.txt", 28), ValueError);
  EXPECT_THROW(TextCorpus(dir / "none.txt", 4), ValueError);
}
