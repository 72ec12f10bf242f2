// ByteTokenizer: the byte-level tokenizer of the built-in models. Ids 0..255 are the bytes of the
// text (UTF-8 passes through byte by byte), then four specials: kPad, kBos, kEos, kImage.
//
// Note [byte tokenizer ids]
// The ids below are part of checkpoints and of every batch layout (VLMBatch, TextCorpus):
// 0..255 = bytes, kPad = 256, kBos = 257, kEos = 258, kImage = 259, vocab_size() = 260, and
// kIgnoreIndex = -100 marks label positions the loss skips (cross_entropy's ignore_index).
// Changing any of them invalidates trained models.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tessera/tensor/tensor.h"

namespace tessera::data {

inline constexpr int64_t kPad = 256;
inline constexpr int64_t kBos = 257;
inline constexpr int64_t kEos = 258;
inline constexpr int64_t kImage = 259;
inline constexpr int64_t kVocabSize = 260;
inline constexpr int64_t kIgnoreIndex = -100;

class ByteTokenizer {
 public:
  static constexpr int64_t kPad = data::kPad;
  static constexpr int64_t kBos = data::kBos;
  static constexpr int64_t kEos = data::kEos;
  static constexpr int64_t kImage = data::kImage;

  int64_t vocab_size() const { return kVocabSize; }
  // The bytes of `text` as ids, with kBos in front / kEos at the end when asked.
  std::vector<int64_t> encode(std::string_view text, bool bos = false, bool eos = false) const;
  // Bytes back to text. Specials are dropped when skip_special, else written as "<pad>", "<bos>",
  // "<eos>", "<image>". Decoding never stops early (a kEos in the middle is dropped or written,
  // not a terminator). An id outside [0, 260) is a ValueError naming its position.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = true) const;
  // Same for a 1-D integer tensor (any device; copied to the CPU).
  std::string decode(const Tensor& ids, bool skip_special = true) const;
  // The text of one special id ("<eos>"), or a ValueError when `id` is not special.
  static std::string special_name(int64_t id);
  static bool is_special(int64_t id) { return id >= kPad && id < kVocabSize; }
};

}  // namespace tessera::data
