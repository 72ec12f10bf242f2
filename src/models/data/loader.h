// CaptionLoader: batches of (image, caption) samples as VLMBatch tensors, shuffled per epoch with
// a Philox permutation, resumable exactly from a saved position.
//
// Note [VLMBatch layout]
// For batch size B and text length T (= max_text_len):
//   images         [B, 3, H, W] float32 (Note [image normalisation])
//   input_ids      [B, T] int64: kBos, the caption's bytes, kEos, then kPad up to T
//   labels         [B, T] int64: input_ids with kIgnoreIndex (-100) at the pad positions; kBos and
//                  kEos are labels like any token. Aligned with input_ids: the model shifts (logits
//                  at t predict labels at t + 1).
//   attention_mask [B, T] bool: true on real tokens (bos, caption, eos), false on pads.
// A caption with caption bytes + 2 > T is a ValueError naming the sample index and the lengths
// (captions are never truncated silently).
//
// The order and the resume position are a BatchSampler's (Note [loader order and resume]).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tessera/models/data/dataset.h"
#include "tessera/models/data/sampler.h"
#include "tessera/tensor/tensor.h"

namespace tessera::data {

struct VLMBatch {
  Tensor images;          // [B, 3, H, W] float32
  Tensor input_ids;       // [B, T] int64: bos caption eos pad..
  Tensor labels;          // [B, T] int64, -100 at pad; aligned with input_ids (the model shifts)
  Tensor attention_mask;  // [B, T] bool, true = real token
};

// Builds one batch from samples (Note [VLMBatch layout]); `indices` only name the samples in errors.
VLMBatch collate_captions(const std::vector<CaptionSample>& samples, int64_t max_text_len,
                          const std::vector<int64_t>& indices = {});

class CaptionLoader {
 public:
  // drop_last = true: every batch has batch_size samples and an epoch's last < batch_size samples
  // are skipped; false: the last batch of an epoch may be smaller.
  CaptionLoader(std::shared_ptr<const CaptionDataset> dataset, int64_t batch_size, int64_t max_text_len,
                uint64_t seed, bool shuffle = true, bool drop_last = true);

  // The next batch; if building it fails (a caption too long), the position is left unchanged.
  VLMBatch next();
  LoaderPosition position() const { return sampler_.position(); }
  void set_position(LoaderPosition position) { sampler_.set_position(position); }
  int64_t batches_per_epoch() const { return sampler_.batches_per_epoch(); }
  int64_t batch_size() const { return sampler_.batch_size(); }
  int64_t max_text_len() const { return max_text_len_; }
  const CaptionDataset& dataset() const { return *dataset_; }

 private:
  static std::shared_ptr<const CaptionDataset> checked(std::shared_ptr<const CaptionDataset> dataset);

  std::shared_ptr<const CaptionDataset> dataset_;
  int64_t max_text_len_;
  BatchSampler sampler_;
};

}  // namespace tessera::data
