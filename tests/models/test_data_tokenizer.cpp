// data::ByteTokenizer: ids of Note [byte tokenizer ids], round trips with and without specials,
// invalid ids, tensor decoding.
#include <gtest/gtest.h>

#include <tessera/models/data/tokenizer.h>
#include <tessera/tessera.h>

using namespace tessera;
using data::ByteTokenizer;

TEST(ByteTokenizer, IdsAndVocab) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 260);
  EXPECT_EQ(ByteTokenizer::kPad, 256);
  EXPECT_EQ(ByteTokenizer::kBos, 257);
  EXPECT_EQ(ByteTokenizer::kEos, 258);
  EXPECT_EQ(ByteTokenizer::kImage, 259);
  EXPECT_EQ(data::kIgnoreIndex, -100);
  EXPECT_EQ(tok.encode("Ab"), (std::vector<int64_t>{65, 98}));
  EXPECT_EQ(tok.encode("Ab", true, true), (std::vector<int64_t>{data::kBos, 65, 98, data::kEos}));
  EXPECT_EQ(tok.encode("", true, false), (std::vector<int64_t>{data::kBos}));
}

TEST(ByteTokenizer, RoundTripAllBytesAndUtf8) {
  ByteTokenizer tok;
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(char(b));
  std::vector<int64_t> ids = tok.encode(all, true, true);
  ASSERT_EQ(ids.size(), 258u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[size_t(b) + 1], b);
  EXPECT_EQ(tok.decode(ids), all);
  std::string utf8 = "gr\xC3\xBCn \xE2\x96\xB3";  // "grün △"
  EXPECT_EQ(tok.encode(utf8).size(), utf8.size());
  EXPECT_EQ(tok.decode(tok.encode(utf8, true, true)), utf8);
}

TEST(ByteTokenizer, SpecialsAreDroppedOrNamedNeverTerminate) {
  ByteTokenizer tok;
  std::vector<int64_t> ids = {data::kImage, data::kBos, 'h', 'i', data::kEos, '!', data::kPad, data::kPad};
  EXPECT_EQ(tok.decode(ids), "hi!");
  EXPECT_EQ(tok.decode(ids, /*skip_special=*/false), "<image><bos>hi<eos>!<pad><pad>");
  EXPECT_TRUE(ByteTokenizer::is_special(data::kEos));
  EXPECT_FALSE(ByteTokenizer::is_special(255));
  EXPECT_THROW(ByteTokenizer::special_name(65), ValueError);
}

TEST(ByteTokenizer, InvalidIdsAreErrors) {
  ByteTokenizer tok;
  try {
    tok.decode(std::vector<int64_t>{'a', 260});
    FAIL() << "expected ValueError";
  } catch (const ValueError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("id 260 at position 1"), std::string::npos) << msg;
  }
  EXPECT_THROW(tok.decode(std::vector<int64_t>{-1}), ValueError);
  EXPECT_THROW(tok.decode(std::vector<int64_t>{-100}), ValueError);
}

TEST(ByteTokenizer, DecodeTensor) {
  ByteTokenizer tok;
  Tensor ids = tessera::tensor<int64_t>({data::kBos, 'o', 'k', data::kEos, data::kPad});
  EXPECT_EQ(tok.decode(ids), "ok");
  EXPECT_EQ(tok.decode(ids.to(kInt32), false), "<bos>ok<eos><pad>");
  EXPECT_THROW(tok.decode(ids.view({1, 5})), ShapeError);
  EXPECT_THROW(tok.decode(tessera::ones({3})), DTypeError);
}
