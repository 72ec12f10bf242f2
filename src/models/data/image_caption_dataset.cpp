// ImageCaptionDataset (image_caption_dataset.h): captions.jsonl + PNG/PPM files.
#include "tessera/models/data/image_caption_dataset.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "tessera/models/data/image_io.h"
#include "tessera/tensor/error.h"

namespace tessera::data {

ImageCaptionDataset::ImageCaptionDataset(const std::string& dir, int64_t image_size) : image_size_(image_size) {
  namespace fs = std::filesystem;
  TESSERA_CHECK(image_size >= 1 && image_size <= 8192, ValueError,
                "ImageCaptionDataset: image_size must be in [1, 8192], got {}", image_size);
  index_path_ = (fs::path(dir) / "captions.jsonl").string();
  std::ifstream in(index_path_);
  TESSERA_CHECK(in.good(), ValueError,
                "ImageCaptionDataset: cannot open '{}'; the directory must hold captions.jsonl with one "
                "{{\"image\": ..., \"caption\": ...}} object per line",
                index_path_);
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto where = fmt::format("ImageCaptionDataset: {}:{}", index_path_, line_no);
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      throw ValueError(fmt::format("{}: not valid JSON ({}); each line must be one object like "
                                   "{{\"image\": \"x.png\", \"caption\": \"...\"}}",
                                   where, e.what()));
    }
    TESSERA_CHECK(j.is_object(), ValueError, "{}: expected a JSON object, found {}", where, j.type_name());
    for (const char* key : {"image", "caption"}) {
      TESSERA_CHECK(j.contains(key), ValueError, "{}: missing key \"{}\"", where, key);
      TESSERA_CHECK(j[key].is_string(), ValueError, "{}: key \"{}\" must be a string, found {}", where, key,
                    j[key].type_name());
    }
    Entry e{(fs::path(dir) / j["image"].get<std::string>()).string(), j["caption"].get<std::string>(), line_no};
    std::error_code ec;
    TESSERA_CHECK(fs::is_regular_file(e.image_path, ec), ValueError,
                  "{}: image \"{}\" not found (looked for '{}'); image paths are relative to the dataset directory",
                  where, j["image"].get<std::string>(), e.image_path);
    entries_.push_back(std::move(e));
  }
  TESSERA_CHECK(!entries_.empty(), ValueError, "ImageCaptionDataset: '{}' lists no images", index_path_);
}

const std::string& ImageCaptionDataset::image_path(int64_t index) const {
  TESSERA_CHECK(index >= 0 && index < size(), IndexError, "ImageCaptionDataset: index {} out of range [0, {})", index,
                size());
  return entries_[size_t(index)].image_path;
}

const std::string& ImageCaptionDataset::caption(int64_t index) const {
  image_path(index);  // range check
  return entries_[size_t(index)].caption;
}

CaptionSample ImageCaptionDataset::get(int64_t index) const {
  image_path(index);  // range check
  const Entry& e = entries_[size_t(index)];
  RgbImage img;
  try {
    img = read_image(e.image_path);
  } catch (const Error& err) {
    throw ValueError(fmt::format("ImageCaptionDataset: image of {}:{}: {}", index_path_, e.line, err.what()));
  }
  return {image_to_tensor(resize_bilinear(img, image_size_, image_size_)), e.caption};
}

}  // namespace tessera::data
