// BatchSampler: the order in which a loader visits a dataset's indices, batch by batch, with a
// resumable position. CaptionLoader and TextLoader are a BatchSampler plus a collate step.
//
// Note [loader order and resume]
// Epoch e visits indices 0..n-1 in order perm_e: a Fisher-Yates permutation whose swap i uses the
// Philox counter (i, e, "LOAD") under key `seed` (identity when shuffle is false); it depends on
// nothing else (no global RNG state). The position (epoch, cursor) is the epoch and the number of
// its indices already returned. next() takes the next batch_size indices of perm_e; when fewer
// than batch_size remain (drop_last) or none remain, it moves to (epoch + 1, 0) first. A sampler
// built with the same arguments and given set_position(p) returns exactly the batches the
// original returned after position() == p.
#pragma once

#include <cstdint>
#include <vector>

namespace tessera::data {

struct LoaderPosition {
  int64_t epoch = 0;
  int64_t cursor = 0;  // indices of this epoch already returned
  bool operator==(const LoaderPosition&) const = default;
};

// The order of epoch `epoch` over n indices (Note [loader order and resume]).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

class BatchSampler {
 public:
  // drop_last = true: every batch has batch_size indices and an epoch's last n % batch_size are
  // skipped; false: the last batch of an epoch may be smaller. `what` names the owner in errors.
  BatchSampler(int64_t n, int64_t batch_size, uint64_t seed, bool shuffle, bool drop_last,
               const char* what = "BatchSampler");
  std::vector<int64_t> next();
  LoaderPosition position() const { return pos_; }
  void set_position(LoaderPosition position);
  int64_t batches_per_epoch() const;
  int64_t size() const { return n_; }
  int64_t batch_size() const { return batch_size_; }

 private:
  const std::vector<int64_t>& order(int64_t epoch);

  int64_t n_, batch_size_;
  uint64_t seed_;
  bool shuffle_, drop_last_;
  const char* what_;
  LoaderPosition pos_;
  int64_t order_epoch_ = -1;
  std::vector<int64_t> order_;
};

}  // namespace tessera::data
