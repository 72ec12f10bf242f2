// TextCorpus: a text file as byte tokens (Note [byte tokenizer ids]) cut into windows of seq_len
// tokens, for language-model training of the LLM alone; TextLoader batches them.
//
// Window i is tokens [i * seq_len, (i + 1) * seq_len) of the file (non-overlapping; the file's
// last num_tokens % seq_len bytes are not used). A batch's labels equal its input_ids (aligned;
// the model shifts, as for VLMBatch), so position t's logits predict token t + 1 of the window.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tessera/models/data/sampler.h"

#include "tessera/tensor/tensor.h"

namespace tessera::data {

struct TextBatch {
  Tensor input_ids;  // [B, T] int64
  Tensor labels;     // [B, T] int64, equal to input_ids (the model shifts)
};

class TextCorpus {
 public:
  // Reads the whole file; a file shorter than seq_len bytes is a ValueError.
  TextCorpus(const std::string& path, int64_t seq_len);
  int64_t size() const { return int64_t(bytes_.size()) / seq_len_; }  // number of windows
  int64_t seq_len() const { return seq_len_; }
  int64_t num_tokens() const { return int64_t(bytes_.size()); }
  std::vector<int64_t> window(int64_t index) const;
  TextBatch batch(const std::vector<int64_t>& indices) const;

 private:
  std::string path_;
  int64_t seq_len_;
  std::string bytes_;
};

// Batches of windows in a shuffled, resumable order (Note [loader order and resume]).
class TextLoader {
 public:
  TextLoader(std::shared_ptr<const TextCorpus> corpus, int64_t batch_size, uint64_t seed, bool shuffle = true,
             bool drop_last = true);
  TextBatch next() { return corpus_->batch(sampler_.next()); }
  LoaderPosition position() const { return sampler_.position(); }
  void set_position(LoaderPosition position) { sampler_.set_position(position); }
  int64_t batches_per_epoch() const { return sampler_.batches_per_epoch(); }

 private:
  static std::shared_ptr<const TextCorpus> checked(std::shared_ptr<const TextCorpus> corpus);

  std::shared_ptr<const TextCorpus> corpus_;
  BatchSampler sampler_;
};

}  // namespace tessera::data
