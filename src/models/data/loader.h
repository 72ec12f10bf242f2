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
// Note [loader order and resume]
// Epoch e visits the dataset in order perm_e (a Fisher-Yates permutation whose swap i uses the
// Philox counter (i, e, "LOAD") under key `seed`; identity when shuffle is false). The position
// (epoch, cursor) is the epoch and the number of samples of perm_e already returned. next() takes
// the next batch_size samples of perm_e; when fewer than batch_size remain (drop_last) or none
// remain, it moves to (epoch + 1, 0) first. A loader built with the same arguments and given
// set_position(p) returns exactly the batches the original returned after position() == p.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "tessera/models/data/dataset.h"
#include "tessera/tensor/tensor.h"

namespace tessera::data {

struct VLMBatch {
  Tensor images;          // [B, 3, H, W] float32
  Tensor input_ids;       // [B, T] int64: bos caption eos pad..
  Tensor labels;          // [B, T] int64, -100 at pad; aligned with input_ids (the model shifts)
  Tensor attention_mask;  // [B, T] bool, true = real token
};

struct LoaderPosition {
  int64_t epoch = 0;
  int64_t cursor = 0;  // samples of this epoch already returned
  bool operator==(const LoaderPosition&) const = default;
};

// Builds one batch from samples (Note [VLMBatch layout]); `indices` only name the samples in errors.
VLMBatch collate_captions(const std::vector<CaptionSample>& samples, int64_t max_text_len,
                          const std::vector<int64_t>& indices = {});

// The order of epoch `epoch` (Note [loader order and resume]).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

class CaptionLoader {
 public:
  // drop_last = true: every batch has batch_size samples and an epoch's last < batch_size samples
  // are skipped; false: the last batch of an epoch may be smaller.
  CaptionLoader(std::shared_ptr<const CaptionDataset> dataset, int64_t batch_size, int64_t max_text_len,
                uint64_t seed, bool shuffle = true, bool drop_last = true);

  VLMBatch next();
  LoaderPosition position() const { return pos_; }
  void set_position(LoaderPosition position);
  int64_t batches_per_epoch() const;
  int64_t batch_size() const { return batch_size_; }
  int64_t max_text_len() const { return max_text_len_; }
  const CaptionDataset& dataset() const { return *dataset_; }

 private:
  const std::vector<int64_t>& order(int64_t epoch);

  std::shared_ptr<const CaptionDataset> dataset_;
  int64_t batch_size_, max_text_len_;
  uint64_t seed_;
  bool shuffle_, drop_last_;
  LoaderPosition pos_;
  int64_t order_epoch_ = -1;
  std::vector<int64_t> order_;
};

}  // namespace tessera::data
