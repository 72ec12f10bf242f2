// BatchSampler and epoch_permutation (sampler.h): Note [loader order and resume].
#include "tessera/models/data/sampler.h"

#include <algorithm>
#include <numeric>

#include "tessera/tensor/error.h"
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

BatchSampler::BatchSampler(int64_t n, int64_t batch_size, uint64_t seed, bool shuffle, bool drop_last,
                           const char* what)
    : n_(n), batch_size_(batch_size), seed_(seed), shuffle_(shuffle), drop_last_(drop_last), what_(what) {
  TESSERA_CHECK(batch_size_ >= 1, ValueError, "{}: batch_size must be >= 1, got {}", what_, batch_size_);
  TESSERA_CHECK(n_ >= 1, ValueError, "{}: the dataset is empty", what_);
  TESSERA_CHECK(!drop_last_ || n_ >= batch_size_, ValueError,
                "{}: the dataset has {} samples, fewer than batch_size = {}, so drop_last leaves no batch; use a "
                "smaller batch_size or drop_last = false",
                what_, n_, batch_size_);
}

int64_t BatchSampler::batches_per_epoch() const {
  return drop_last_ ? n_ / batch_size_ : (n_ + batch_size_ - 1) / batch_size_;
}

void BatchSampler::set_position(LoaderPosition position) {
  TESSERA_CHECK(position.epoch >= 0 && position.cursor >= 0 && position.cursor <= n_, ValueError,
                "{}::set_position: position (epoch {}, cursor {}) is invalid for a dataset of {} samples; pass a "
                "value returned by position()",
                what_, position.epoch, position.cursor, n_);
  pos_ = position;
}

const std::vector<int64_t>& BatchSampler::order(int64_t epoch) {
  if (order_epoch_ != epoch) {
    if (shuffle_) {
      order_ = epoch_permutation(n_, seed_, epoch);
    } else {
      order_.resize(size_t(n_));
      std::iota(order_.begin(), order_.end(), int64_t(0));
    }
    order_epoch_ = epoch;
  }
  return order_;
}

std::vector<int64_t> BatchSampler::next() {
  const int64_t need = drop_last_ ? batch_size_ : 1;
  if (n_ - pos_.cursor < need) pos_ = {pos_.epoch + 1, 0};
  const std::vector<int64_t>& perm = order(pos_.epoch);
  const int64_t take = std::min(batch_size_, n_ - pos_.cursor);
  std::vector<int64_t> indices(perm.begin() + pos_.cursor, perm.begin() + pos_.cursor + take);
  pos_.cursor += take;
  return indices;
}

}  // namespace tessera::data
