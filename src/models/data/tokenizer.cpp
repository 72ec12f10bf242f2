// ByteTokenizer (tokenizer.h): bytes <-> ids, Note [byte tokenizer ids].
#include "tessera/models/data/tokenizer.h"

#include "tessera/tensor/error.h"

namespace tessera::data {

std::vector<int64_t> ByteTokenizer::encode(std::string_view text, bool bos, bool eos) const {
  std::vector<int64_t> ids;
  ids.reserve(text.size() + 2);
  if (bos) ids.push_back(kBos);
  for (char c : text) ids.push_back(int64_t(static_cast<unsigned char>(c)));
  if (eos) ids.push_back(kEos);
  return ids;
}

std::string ByteTokenizer::special_name(int64_t id) {
  switch (id) {
    case data::kPad: return "<pad>";
    case data::kBos: return "<bos>";
    case data::kEos: return "<eos>";
    case data::kImage: return "<image>";
    default: break;
  }
  throw ValueError(fmt::format("ByteTokenizer::special_name: id {} is not a special id (specials are {}..{})", id,
                               data::kPad, kVocabSize - 1));
}

std::string ByteTokenizer::decode(const std::vector<int64_t>& ids, bool skip_special) const {
  std::string text;
  text.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    int64_t id = ids[i];
    TESSERA_CHECK(id >= 0 && id < kVocabSize, ValueError,
                  "ByteTokenizer::decode: id {} at position {} is outside the vocabulary [0, {}); "
                  "ids come from ByteTokenizer::encode or a model whose vocab_size is {}",
                  id, i, kVocabSize, kVocabSize);
    if (id < 256) {
      text.push_back(static_cast<char>(static_cast<unsigned char>(id)));
    } else if (!skip_special) {
      text += special_name(id);
    }
  }
  return text;
}

std::string ByteTokenizer::decode(const Tensor& ids, bool skip_special) const {
  TESSERA_CHECK(ids.defined(), ValueError, "ByteTokenizer::decode: the ids tensor is undefined");
  TESSERA_CHECK(ids.dim() <= 1, ShapeError,
                "ByteTokenizer::decode: expected a 1-D tensor of ids, got {}; decode one row at a time "
                "(ids[b])", ids.toString());
  TESSERA_CHECK(!ids.is_floating_point() && ids.dtype() != DType::Bool, DTypeError,
                "ByteTokenizer::decode: expected an integer tensor of ids, got {}", ids.toString());
  Tensor flat = ids.cpu().to(DType::Int64).contiguous().reshape({-1});
  const int64_t* p = flat.data_ptr<int64_t>();
  return decode(std::vector<int64_t>(p, p + flat.numel()), skip_special);
}

}  // namespace tessera::data
