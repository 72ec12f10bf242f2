// TextCorpus (text_corpus.h): byte-token windows of a text file.
#include "tessera/models/data/text_corpus.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"

namespace tessera::data {

TextCorpus::TextCorpus(const std::string& path, int64_t seq_len) : path_(path), seq_len_(seq_len) {
  TESSERA_CHECK(seq_len >= 1, ValueError, "TextCorpus: seq_len must be >= 1, got {}", seq_len);
  std::ifstream in(path, std::ios::binary);
  TESSERA_CHECK(in.good(), ValueError, "TextCorpus: cannot open '{}': {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  bytes_ = ss.str();
  TESSERA_CHECK(int64_t(bytes_.size()) >= seq_len, ValueError,
                "TextCorpus: '{}' has {} bytes, fewer than one window of seq_len = {}; use a longer text or a "
                "smaller seq_len",
                path, bytes_.size(), seq_len);
}

std::vector<int64_t> TextCorpus::window(int64_t index) const {
  TESSERA_CHECK(index >= 0 && index < size(), IndexError, "TextCorpus: window {} out of range [0, {}) for '{}'", index,
                size(), path_);
  std::vector<int64_t> ids(static_cast<size_t>(seq_len_));
  for (int64_t t = 0; t < seq_len_; ++t)
    ids[size_t(t)] = int64_t(static_cast<unsigned char>(bytes_[size_t(index * seq_len_ + t)]));
  return ids;
}

TextBatch TextCorpus::batch(const std::vector<int64_t>& indices) const {
  TESSERA_CHECK(!indices.empty(), ValueError, "TextCorpus::batch: no indices");
  std::vector<int64_t> ids;
  ids.reserve(indices.size() * size_t(seq_len_));
  for (int64_t i : indices) {
    std::vector<int64_t> w = window(i);
    ids.insert(ids.end(), w.begin(), w.end());
  }
  Tensor t = from_vector(ids, {int64_t(indices.size()), seq_len_});
  return {t, t.clone()};
}

}  // namespace tessera::data
