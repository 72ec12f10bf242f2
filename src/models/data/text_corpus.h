// TextCorpus: a text file as byte tokens (Note [byte tokenizer ids]) cut into windows of seq_len
// tokens, for language-model training of the LLM alone.
//
// Window i is tokens [i * seq_len, (i + 1) * seq_len) of the file (non-overlapping; the file's
// last num_tokens % seq_len bytes are not used). A batch's labels equal its input_ids (aligned;
// the model shifts, as for VLMBatch), so position t's logits predict token t + 1 of the window.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace tessera::data
