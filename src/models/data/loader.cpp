// CaptionLoader and collate_captions (loader.h): Note [VLMBatch layout], Note [loader order and resume].
#include "tessera/models/data/loader.h"

#include <cstring>
#include <numeric>

#include "tessera/models/data/tokenizer.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"
#include "tessera/tensor/rng.h"

namespace tessera::data {

namespace {
constexpr uint32_t kLoaderTag = 0x4C4F4144u;  // "LOAD"
}

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  for (int64_t i = n - 1; i > 0; --i) {
    Philox4x32 c{{uint32_t(uint64_t(i)), uint32_t(uint64_t(i) >> 32), uint32_t(uint64_t(epoch)), kLoaderTag}};
    Philox4x32 w = philox4x32_10(c, uint32_t(seed), uint32_t(seed >> 32));
    uint64_t j = ((uint64_t(w.v[0]) << 32) | w.v[1]) % uint64_t(i + 1);
    std::swap(perm[size_t(i)], perm[size_t(j)]);
  }
  return perm;
}

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

CaptionLoader::CaptionLoader(std::shared_ptr<const CaptionDataset> dataset, int64_t batch_size, int64_t max_text_len,
                             uint64_t seed, bool shuffle, bool drop_last)
    : dataset_(std::move(dataset)),
      batch_size_(batch_size),
      max_text_len_(max_text_len),
      seed_(seed),
      shuffle_(shuffle),
      drop_last_(drop_last) {
  TESSERA_CHECK(dataset_ != nullptr, ValueError, "CaptionLoader: the dataset is null");
  TESSERA_CHECK(batch_size_ >= 1, ValueError, "CaptionLoader: batch_size must be >= 1, got {}", batch_size_);
  TESSERA_CHECK(max_text_len_ >= 2, ValueError, "CaptionLoader: max_text_len must be >= 2, got {}", max_text_len_);
  TESSERA_CHECK(!drop_last_ || dataset_->size() >= batch_size_, ValueError,
                "CaptionLoader: the dataset has {} samples, fewer than batch_size = {}, so drop_last leaves no "
                "batch; use a smaller batch_size or drop_last = false",
                dataset_->size(), batch_size_);
  TESSERA_CHECK(dataset_->size() >= 1, ValueError, "CaptionLoader: the dataset is empty");
}

int64_t CaptionLoader::batches_per_epoch() const {
  int64_t n = dataset_->size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

void CaptionLoader::set_position(LoaderPosition position) {
  TESSERA_CHECK(position.epoch >= 0 && position.cursor >= 0 && position.cursor <= dataset_->size(), ValueError,
                "CaptionLoader::set_position: position (epoch {}, cursor {}) is invalid for a dataset of {} samples; "
                "pass a value returned by position()",
                position.epoch, position.cursor, dataset_->size());
  pos_ = position;
}

const std::vector<int64_t>& CaptionLoader::order(int64_t epoch) {
  if (order_epoch_ != epoch) {
    int64_t n = dataset_->size();
    if (shuffle_) {
      order_ = epoch_permutation(n, seed_, epoch);
    } else {
      order_.resize(size_t(n));
      std::iota(order_.begin(), order_.end(), int64_t(0));
    }
    order_epoch_ = epoch;
  }
  return order_;
}

VLMBatch CaptionLoader::next() {
  const int64_t n = dataset_->size();
  const int64_t need = drop_last_ ? batch_size_ : 1;
  if (n - pos_.cursor < need) pos_ = {pos_.epoch + 1, 0};
  const std::vector<int64_t>& perm = order(pos_.epoch);
  const int64_t take = std::min(batch_size_, n - pos_.cursor);
  std::vector<CaptionSample> samples;
  std::vector<int64_t> indices;
  samples.reserve(size_t(take));
  for (int64_t i = 0; i < take; ++i) {
    int64_t index = perm[size_t(pos_.cursor + i)];
    indices.push_back(index);
    samples.push_back(dataset_->get(index));
  }
  VLMBatch batch = collate_captions(samples, max_text_len_, indices);
  pos_.cursor += take;
  return batch;
}

}  // namespace tessera::data
