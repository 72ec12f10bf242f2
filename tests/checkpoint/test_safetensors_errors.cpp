// safetensors::parse/load on malformed input: one hand-built image per validation rule, each
// asserting that the message names the source, the tensor key, and what was expected and found;
// plus truncated files and a flipped data byte (the checksum).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <tessera/tensor/file_io.h>
#include <tessera/tensor/safetensors.h>
#include <tessera/tessera.h>

#include "checkpoint_test_util.h"

using namespace tessera;
using namespace tessera::testing_ckpt;
namespace st = tessera::safetensors;

namespace {

// parse(image(header, data)) must throw a FormatError naming "src.st" and each of `parts`.
void expect_bad(const std::string& header, const std::vector<uint8_t>& data, std::vector<std::string> parts) {
  auto bytes = image(header, data);
  parts.push_back("'src.st'");
  expect_error<st::FormatError>([&] { st::parse(bytes.data(), bytes.size(), "src.st"); }, parts);
}

// A valid one-tensor entry for "x": F32 [2] at [begin, begin + 8).
std::string entry(const std::string& name, uint64_t begin, const std::string& dtype = "F32",
                  const std::string& shape = "[2]", uint64_t nbytes = 8) {
  return fmt::format(R"("{}":{{"dtype":"{}","shape":{},"data_offsets":[{},{}]}})", name, dtype, shape, begin,
                     begin + nbytes);
}

}  // namespace

TEST(SafetensorsErrors, ValidHandBuiltImageParses) {
  // The baseline the cases below break one rule of.
  auto bytes = image("{" + entry("x", 0) + "," + entry("y", 8) + R"(,"__metadata__":{"a":"b"}})", zeros_bytes(16));
  st::File f = st::parse(bytes.data(), bytes.size(), "src.st");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].first, "x");
  EXPECT_EQ(f.metadata.at("a"), "b");
  // No __metadata__, or a null one, is fine; so is an empty header object with no data.
  bytes = image("{" + entry("x", 0) + R"(,"__metadata__":null})", zeros_bytes(8));
  EXPECT_TRUE(st::parse(bytes.data(), bytes.size(), "src.st").metadata.empty());
  bytes = image("{}");
  EXPECT_TRUE(st::parse(bytes.data(), bytes.size(), "src.st").tensors.empty());
}

TEST(SafetensorsErrors, FileShorterThanTheLength) {
  for (size_t n : {0, 1, 7}) {
    std::vector<uint8_t> b(n, 0);
    expect_error<st::FormatError>([&] { st::parse(b.data(), b.size(), "src.st"); },
                                  {"'src.st'", fmt::format("file is {} bytes", n), "shorter than the 8-byte"});
  }
}

TEST(SafetensorsErrors, HeaderLengthLargerThanFileOrAbsurd) {
  auto b = image("{}");
  uint64_t n = 100;
  std::memcpy(b.data(), &n, 8);
  expect_error<st::FormatError>([&] { st::parse(b.data(), b.size(), "src.st"); },
                                {"'src.st'", "header length 100", "larger than the 2 bytes"});
  n = uint64_t(1) << 62;
  std::memcpy(b.data(), &n, 8);
  expect_error<st::FormatError>([&] { st::parse(b.data(), b.size(), "src.st"); },
                                {"header length 4611686018427387904", "100000000 bytes allowed"});
  n = ~uint64_t(0);  // would wrap 8 + n
  std::memcpy(b.data(), &n, 8);
  EXPECT_THROW(st::parse(b.data(), b.size(), "src.st"), st::FormatError);
}

TEST(SafetensorsErrors, HeaderNotJsonOrNotAnObject) {
  expect_bad("{\"x\": ", {}, {"not valid JSON"});
  expect_bad("hello", {}, {"not valid JSON"});
  expect_bad("{} trailing", {}, {"not valid JSON"});
  expect_bad(std::string("{\"a\xff\":1}"), {}, {"not valid JSON"});  // invalid UTF-8
  expect_bad("[1, 2]", {}, {"must be a JSON object", "found [1,2]"});
  expect_bad("\"str\"", {}, {"must be a JSON object"});
}

TEST(SafetensorsErrors, DuplicateKey) {
  expect_bad("{" + entry("x", 0) + "," + entry("x", 8) + "}", zeros_bytes(16), {"key 'x' twice"});
}

TEST(SafetensorsErrors, EntryNotAnObjectOrMissingOrUnknownField) {
  expect_bad(R"({"x": [1, 2]})", {}, {"tensor 'x'", "expected an object", "found [1,2]"});
  expect_bad(R"({"x":{"shape":[2],"data_offsets":[0,8]}})", zeros_bytes(8), {"tensor 'x'", "missing field 'dtype'"});
  expect_bad(R"({"x":{"dtype":"F32","data_offsets":[0,8]}})", zeros_bytes(8), {"tensor 'x'", "missing field 'shape'"});
  expect_bad(R"({"x":{"dtype":"F32","shape":[2]}})", zeros_bytes(8), {"tensor 'x'", "missing field 'data_offsets'"});
  expect_bad(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", zeros_bytes(8),
             {"tensor 'x'", "unknown field 'extra'"});
  expect_bad(R"({"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", zeros_bytes(8), {"empty name"});
}

TEST(SafetensorsErrors, UnknownOrNonStringDType) {
  expect_bad("{" + entry("x", 0, "U8", "[8]") + "}", zeros_bytes(8),
             {"tensor 'x'", "unsupported dtype \"U8\"", "F32, F64, BF16, F16, I32, I64, BOOL"});
  expect_bad("{" + entry("x", 0, "F8_E4M3", "[8]") + "}", zeros_bytes(8), {"tensor 'x'", "\"F8_E4M3\""});
  expect_bad("{" + entry("x", 0, "f32") + "}", zeros_bytes(8), {"tensor 'x'", "\"f32\""});
  expect_bad(R"({"x":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", zeros_bytes(8),
             {"tensor 'x'", "dtype must be a string, found 4"});
}

TEST(SafetensorsErrors, BadDimensions) {
  expect_bad("{" + entry("x", 0, "F32", "[-2]") + "}", zeros_bytes(8),
             {"tensor 'x'", "shape[0] must be a non-negative integer, found -2"});
  expect_bad("{" + entry("x", 0, "F32", "[2, 1.5]") + "}", zeros_bytes(8), {"tensor 'x'", "shape[1]", "found 1.5"});
  expect_bad("{" + entry("x", 0, "F32", "[\"2\"]") + "}", zeros_bytes(8), {"tensor 'x'", "shape[0]", "found \"2\""});
  expect_bad("{" + entry("x", 0, "F32", "[true]") + "}", zeros_bytes(8), {"tensor 'x'", "shape[0]", "found true"});
  expect_bad("{" + entry("x", 0, "F32", "[18446744073709551615]") + "}", zeros_bytes(8),
             {"tensor 'x'", "below 2^63"});
  expect_bad(R"({"x":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", zeros_bytes(8),
             {"tensor 'x'", "shape must be an array, found 2"});
}

TEST(SafetensorsErrors, NumelTimesItemsizeOverflow) {
  // 2^62 * 4 elements * 4 bytes: the product overflows 64 bits.
  expect_bad("{" + entry("x", 0, "F32", "[4611686018427387904, 4]") + "}", zeros_bytes(8),
             {"tensor 'x'", "more bytes than fit in 64 bits"});
  expect_bad("{" + entry("x", 0, "F64", "[4611686018427387904]") + "}", zeros_bytes(8), {"tensor 'x'", "64 bits"});
  // A zero dimension makes it empty whatever the others are.
  auto ok = image("{" + entry("x", 0, "F32", "[4611686018427387904, 4, 0]", 0) + "}");
  EXPECT_EQ(st::parse(ok.data(), ok.size(), "src.st").tensors[0].second.numel(), 0);
}

TEST(SafetensorsErrors, BadOffsets) {
  expect_bad(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", zeros_bytes(8),
             {"tensor 'x'", "data_offsets must be an array [begin, end], found [0]"});
  expect_bad(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[-8, 0]}})", zeros_bytes(8),
             {"tensor 'x'", "data_offsets[0] must be a non-negative integer, found -8"});
  expect_bad(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[8, 0]}})", zeros_bytes(8),
             {"tensor 'x'", "[8, 0] end before begin"});
  expect_bad("{" + entry("x", 8) + "}", zeros_bytes(8),
             {"tensor 'x'", "[8, 16] out of range", "data section has 8 bytes"});
  expect_bad(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0, 12]}})", zeros_bytes(12),
             {"tensor 'x'", "span 12 bytes, expected 8", "[2] F32 of 4 bytes"});
}

TEST(SafetensorsErrors, OverlapGapAndTrailingBytes) {
  expect_bad("{" + entry("a", 0) + "," + entry("b", 4) + "}", zeros_bytes(12),
             {"tensor 'b'", "[4, 12] overlap tensor 'a' [0, 8]"});
  expect_bad("{" + entry("a", 0) + "," + entry("b", 12) + "}", zeros_bytes(20),
             {"tensor 'b'", "leave a gap", "begin at byte 8", "where 'a' ends"});
  expect_bad("{" + entry("a", 4) + "}", zeros_bytes(12), {"tensor 'a'", "leave a gap", "begin at byte 0"});
  expect_bad("{" + entry("a", 0) + "}", zeros_bytes(11), {"data section has 11 bytes", "cover 8", "3 trailing"});
}

TEST(SafetensorsErrors, BadMetadata) {
  expect_bad(R"({"__metadata__":[1]})", {}, {"__metadata__ must be an object of strings, found [1]"});
  expect_bad(R"({"__metadata__":{"step":3}})", {}, {"__metadata__ key 'step'", "must be strings, found 3"});
  expect_bad(R"({"__metadata__":{"tessera.checksum":"md5:00"}})", {},
             {"'tessera.checksum'", "expected \"crc32c:<8 hex digits>\"", "found \"md5:00\""});
  expect_bad(R"({"__metadata__":{"tessera.checksum":"crc32c:0000000g"}})", {}, {"crc32c:0000000g"});
  expect_bad(R"({"__metadata__":{"tessera.checksum":"crc32c:00000001"}})", {},
             {"checksum mismatch", "says crc32c:00000001", "has crc32c:00000000"});
}

TEST(SafetensorsErrors, BoolBytesOtherThanZeroOrOne) {
  std::vector<uint8_t> data = {0, 1, 2};
  expect_bad(fmt::format("{{{}}}", entry("m", 0, "BOOL", "[3]", 3)), data, {"tensor 'm'", "BOOL element 2 is byte 2"});
}

TEST(SafetensorsErrors, TruncatedFilesNeverLoad) {
  ScratchDir dir;
  std::string path = dir.file("t.safetensors");
  safetensors::save(path, {{"a", tessera::ones({16})}, {"b", tessera::zeros({3, 3}, kInt64)}});
  std::vector<uint8_t> whole = read_file(path);
  ASSERT_NO_THROW(st::parse(whole.data(), whole.size(), path));
  // Every proper prefix is rejected with a FormatError (never a crash or another exception).
  for (size_t n = 0; n < whole.size(); ++n) {
    try {
      st::parse(whole.data(), n, path);
      ADD_FAILURE() << "a prefix of " << n << " of " << whole.size() << " bytes loaded";
    } catch (const st::FormatError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  // The message for a file cut inside the data says so.
  std::vector<uint8_t> cut(whole.begin(), whole.end() - 4);
  atomic_write_file(path, cut);
  expect_error<st::FormatError>([&] { st::load(path); }, {path, "tensor 'b'", "out of range", "truncated"});
}

TEST(SafetensorsErrors, FlippedDataByteFailsTheChecksum) {
  ScratchDir dir;
  std::string path = dir.file("f.safetensors");
  st::save(path, {{"w", tessera::randn({64})}, {"s", tessera::scalar_tensor(3, kInt64)}});
  std::vector<uint8_t> b = read_file(path);
  for (size_t pos : {b.size() - 1, b.size() - 8, b.size() - 200}) {
    auto c = b;
    c[pos] ^= 0x10;
    expect_error<st::FormatError>([&] { st::parse(c.data(), c.size(), path); },
                                  {path, "checksum mismatch", "the file is corrupted"});
  }
  // The same flip in a file without a checksum (e.g. from Python) goes unnoticed: that is the
  // point of writing one.
  uint64_t n = 0;
  std::memcpy(&n, b.data(), 8);
  auto header = nlohmann::json::parse(b.begin() + 8, b.begin() + 8 + n);
  header["__metadata__"].erase(st::kChecksumKey);
  std::vector<uint8_t> data(b.begin() + 8 + n, b.end());
  data.back() ^= 0x10;
  auto unchecked = image(header.dump(), data);
  EXPECT_NO_THROW(st::parse(unchecked.data(), unchecked.size(), path));
}
