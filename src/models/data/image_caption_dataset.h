// ImageCaptionDataset: image-caption pairs from a directory, for training the VLM on real files.
//
//   dir/captions.jsonl   one JSON object per line: {"image": "cat.png", "caption": "a cat"}
//                        (other keys are ignored; blank lines are skipped; "image" is relative to dir)
//   dir/cat.png ...      PNG or binary PPM (P6), any size: resized (bilinear, stretched to a square)
//                        to image_size x image_size, normalised (Note [image normalisation]).
// The index file is parsed and every image's existence checked when the dataset is built; errors
// name captions.jsonl and the line. Images are decoded on each get() (errors name the image file
// and the line that listed it).
#pragma once

#include <string>
#include <vector>

#include "tessera/models/data/dataset.h"

namespace tessera::data {

class ImageCaptionDataset : public CaptionDataset {
 public:
  explicit ImageCaptionDataset(const std::string& dir, int64_t image_size = 32);
  int64_t size() const override { return int64_t(entries_.size()); }
  CaptionSample get(int64_t index) const override;
  int64_t image_size() const override { return image_size_; }
  // The image path (dir / "image") and caption of an entry, without decoding the image.
  const std::string& image_path(int64_t index) const;
  const std::string& caption(int64_t index) const;

 private:
  struct Entry {
    std::string image_path, caption;
    int64_t line;
  };
  std::string index_path_;
  int64_t image_size_;
  std::vector<Entry> entries_;
};

}  // namespace tessera::data
