// CaptionLoader and collate_captions (loader.h): Note [VLMBatch layout]; the order is a BatchSampler's.
#include "tessera/models/data/loader.h"

#include <cstring>

#include "tessera/models/data/tokenizer.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"

namespace tessera::data {

VLMBatch collate_captions(const std::vector<CaptionSample>& samples, int64_t max_text_len,
                          const std::vector<int64_t>& indices) {
  TESSERA_CHECK(!samples.empty(), ValueError, "collate_captions: no samples");
  TESSERA_CHECK(max_text_len >= 2, ValueError, "collate_captions: max_text_len must be >= 2 (bos + eos), got {}",
                max_text_len);
  const int64_t B = int64_t(samples.size()), T = max_text_len;
  auto name = [&](int64_t b) { return b < int64_t(indices.size()) ? indices[size_t(b)] : b; };
  const Tensor& first = samples[0].image;
  TESSERA_CHECK(first.defined() && first.dim() == 3 && first.size(0) == 3 && first.dtype() == kFloat32, ShapeError,
                "collate_captions: sample {} image must be float32 [3, H, W], got {}", name(0),
                first.defined() ? first.toString() : std::string("an undefined tensor"));
  const int64_t H = first.size(1), W = first.size(2), plane = 3 * H * W;

  Tensor images = empty({B, 3, H, W}, kFloat32);
  std::vector<int64_t> ids(size_t(B * T), kPad), labels(size_t(B * T), kIgnoreIndex);
  std::vector<uint8_t> mask(size_t(B * T), 0);
  float* img = images.data_ptr<float>();
  ByteTokenizer tok;
  for (int64_t b = 0; b < B; ++b) {
    const CaptionSample& s = samples[size_t(b)];
    TESSERA_CHECK(s.image.defined() && s.image.sizes() == first.sizes() && s.image.dtype() == kFloat32, ShapeError,
                  "collate_captions: sample {} image is {}, but sample {} image is {}; every image of a batch "
                  "must have the same shape (resize to the dataset's image_size)",
                  name(b), s.image.defined() ? s.image.toString() : std::string("undefined"), name(0),
                  first.toString());
    Tensor src = s.image.cpu().contiguous();
    std::memcpy(img + b * plane, src.data_ptr<float>(), size_t(plane) * sizeof(float));
    std::vector<int64_t> row = tok.encode(s.caption, /*bos=*/true, /*eos=*/true);
    TESSERA_CHECK(int64_t(row.size()) <= T, ValueError,
                  "collate_captions: sample {} caption has {} bytes, {} tokens with <bos> and <eos>, more than "
                  "max_text_len = {}; raise max_text_len to at least {} or shorten the caption (\"{}\")",
                  name(b), s.caption.size(), row.size(), T, row.size(), s.caption);
    for (size_t t = 0; t < row.size(); ++t) {
      size_t k = size_t(b * T) + t;
      ids[k] = labels[k] = row[t];
      mask[k] = 1;
    }
  }
  VLMBatch batch;
  batch.images = images;
  batch.input_ids = from_vector(ids, {B, T});
  batch.labels = from_vector(labels, {B, T});
  Tensor m = empty({B, T}, DType::Bool);
  std::memcpy(m.data_ptr(), mask.data(), mask.size());
  batch.attention_mask = m;
  return batch;
}

std::shared_ptr<const CaptionDataset> CaptionLoader::checked(std::shared_ptr<const CaptionDataset> dataset) {
  TESSERA_CHECK(dataset != nullptr, ValueError, "CaptionLoader: the dataset is null");
  return dataset;
}

CaptionLoader::CaptionLoader(std::shared_ptr<const CaptionDataset> dataset, int64_t batch_size, int64_t max_text_len,
                             uint64_t seed, bool shuffle, bool drop_last)
    : dataset_(checked(std::move(dataset))),
      max_text_len_(max_text_len),
      sampler_(dataset_->size(), batch_size, seed, shuffle, drop_last, "CaptionLoader") {
  TESSERA_CHECK(max_text_len_ >= 2, ValueError, "CaptionLoader: max_text_len must be >= 2 (bos + eos), got {}",
                max_text_len_);
}

VLMBatch CaptionLoader::next() {
  const LoaderPosition before = sampler_.position();
  std::vector<int64_t> indices = sampler_.next();
  try {
    std::vector<CaptionSample> samples;
    samples.reserve(indices.size());
    for (int64_t index : indices) samples.push_back(dataset_->get(index));
    return collate_captions(samples, max_text_len_, indices);
  } catch (...) {
    sampler_.set_position(before);
    throw;
  }
}

}  // namespace tessera::data
