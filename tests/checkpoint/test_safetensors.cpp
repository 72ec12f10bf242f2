// safetensors save/load: round trips of every dtype and layout, metadata and the checksum, the
// file Python wrote (tests/data/interop.safetensors), and a live round trip through Python's
// safetensors when python3 has it. Malformed files: test_safetensors_errors.cpp.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include <tessera/tensor/crc32c.h>
#include <tessera/tensor/file_io.h>
#include <tessera/tensor/safetensors.h>
#include <tessera/tessera.h>

#include "checkpoint_test_util.h"

using namespace tessera;
using namespace tessera::testing_ckpt;
namespace st = tessera::safetensors;

namespace {

// Same dtype, same shape and the same bytes (NaN-safe, exact).
::testing::AssertionResult same_tensor(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype())
    return ::testing::AssertionFailure() << "dtype " << dtype_name(a.dtype()) << " vs " << dtype_name(b.dtype());
  if (!a.sizes().equals(b.sizes()))
    return ::testing::AssertionFailure() << "shape " << shape_str(a.sizes()) << " vs " << shape_str(b.sizes());
  Tensor ca = a.contiguous(), cb = b.contiguous();
  if (a.numel() > 0 && std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.numel() * ca.element_size()) != 0)
    return ::testing::AssertionFailure() << "values differ: " << to_string(a) << " vs " << to_string(b);
  return ::testing::AssertionSuccess();
}

// A tensor of `dtype` with distinct values (bool: an irregular pattern).
Tensor sample(std::vector<int64_t> shape, DType dtype, double start = 0.0) {
  int64_t n = numel_of(shape);
  Tensor base = tessera::arange(Scalar(start), Scalar(start + double(n)), Scalar(1.0), TensorOptions(kFloat64));
  if (dtype == kBool) return base.mul(0.37).sin().gt(0.0).reshape(shape);
  return base.mul(0.5).sub(double(n) / 4).to(dtype).reshape(shape);
}

const DType kAllDTypes[] = {kFloat32, kFloat64, kBFloat16, kFloat16, kInt32, kInt64, kBool};

}  // namespace

TEST(Crc32c, StandardCheckValues) {
  // The CRC-32C check value and the RFC 3720 (iSCSI) test vectors.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  std::vector<uint8_t> zeros(32, 0), ones(32, 0xFF), inc(32);
  for (int i = 0; i < 32; ++i) inc[i] = uint8_t(i);
  EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(crc32c(nullptr, 0), 0u);
}

TEST(Crc32c, HardwareMatchesTableAndExtendComposes) {
  std::vector<uint8_t> buf(4099);
  uint32_t x = 12345;
  for (auto& b : buf) b = uint8_t((x = x * 1103515245u + 12345u) >> 16);
  for (size_t len : {size_t(0), size_t(1), size_t(7), size_t(8), size_t(9), size_t(63), size_t(4099)}) {
    for (size_t off : {size_t(0), size_t(1), size_t(3)}) {
      if (off + len > buf.size()) continue;
      uint32_t whole = crc32c(buf.data() + off, len);
      EXPECT_EQ(whole, detail::crc32c_extend_table(0, buf.data() + off, len)) << len << " at " << off;
      size_t cut = len / 3;
      EXPECT_EQ(whole, crc32c_extend(crc32c(buf.data() + off, cut), buf.data() + off + cut, len - cut));
    }
  }
}

TEST(Safetensors, RoundTripEveryDTypeWith0dEmptyAndNonContiguous) {
  ScratchDir dir;
  std::vector<std::pair<std::string, Tensor>> ts;
  for (DType dt : kAllDTypes) {
    std::string d(dtype_name(dt));
    ts.emplace_back(d + ".matrix", sample({3, 5}, dt));
    ts.emplace_back(d + ".scalar", sample({}, dt, 7));                  // 0-d
    ts.emplace_back(d + ".empty", sample({0, 4}, dt));                  // no bytes
    ts.emplace_back(d + ".transposed", sample({4, 3}, dt).transpose(0, 1));  // non-contiguous
    ts.emplace_back(d + ".strided", sample({6, 5}, dt).slice(0, 1, 6, 2).slice(1, 0, 5, 3));
    ts.emplace_back(d + ".expanded", sample({1, 3}, dt).expand({4, 3}));    // stride 0
  }
  ts.emplace_back("param", tessera::randn({2, 3}, TensorOptions().requires_grad(true)));  // a leaf parameter
  ASSERT_FALSE(ts[3].second.is_contiguous());
  std::string path = dir.file("all.safetensors");
  st::save(path, ts, {{"step", "12"}, {"note", "ünïcödé ✓"}});
  st::File f = st::load(path);
  ASSERT_EQ(f.tensors.size(), ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    EXPECT_EQ(f.tensors[i].first, ts[i].first) << "file order is save order";
    EXPECT_TRUE(same_tensor(f.tensors[i].second, ts[i].second)) << ts[i].first;
    EXPECT_TRUE(f.tensors[i].second.is_contiguous());
    EXPECT_TRUE(f.tensors[i].second.is_cpu());
    EXPECT_FALSE(f.tensors[i].second.requires_grad());
  }
  EXPECT_EQ(f.metadata.at("step"), "12");
  EXPECT_EQ(f.metadata.at("note"), "ünïcödé ✓");
  EXPECT_EQ(f.metadata.at("format"), "pt");
  ASSERT_EQ(f.metadata.count(st::kChecksumKey), 1u);
  EXPECT_EQ(f.metadata.at(st::kChecksumKey).rfind("crc32c:", 0), 0u);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"all.safetensors"}) << "no temp file left behind";
}

TEST(Safetensors, LoadedTensorsOwnTheirMemoryAndAreIndependent) {
  ScratchDir dir;
  Tensor w = sample({2, 2}, kFloat32);
  st::save(dir.file("a.safetensors"), {{"w", w}, {"v", sample({3}, kFloat32)}});
  st::File f = st::load(dir.file("a.safetensors"));
  EXPECT_FALSE(f.tensors[0].second.is_alias_of(f.tensors[1].second));
  f.tensors[0].second.fill_(3.0);  // writable, and the file does not change
  st::File g = st::load(dir.file("a.safetensors"));
  EXPECT_TRUE(same_tensor(g.tensors[0].second, w));
}

TEST(Safetensors, FileLayoutIsTheFormat) {
  // 8-byte little-endian N, N bytes of JSON padded with spaces to 8-byte alignment, then the
  // data of each tensor at its data_offsets.
  Tensor a = sample({3}, kFloat32), b = sample({2, 2}, kInt64);
  std::vector<uint8_t> bytes = st::serialize({{"a", a}, {"b", b}}, {{"k", "v"}});
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 12 + 32);
  std::string header(bytes.begin() + 8, bytes.begin() + 8 + n);
  auto j = nlohmann::json::parse(header);
  EXPECT_EQ(header.find_last_not_of(' ') + 1, header.rfind('}') + 1) << "padding is spaces after the JSON";
  EXPECT_EQ(j["a"]["dtype"], "F32");
  EXPECT_EQ(j["a"]["shape"], nlohmann::json::array({3}));
  EXPECT_EQ(j["a"]["data_offsets"], nlohmann::json::array({0, 12}));
  EXPECT_EQ(j["b"]["dtype"], "I64");
  EXPECT_EQ(j["b"]["data_offsets"], nlohmann::json::array({12, 44}));
  EXPECT_EQ(j["__metadata__"]["k"], "v");
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + n, a.data_ptr(), 12), 0);
  EXPECT_EQ(std::memcmp(bytes.data() + 8 + n + 12, b.data_ptr(), 32), 0);
  char expect_crc[32];
  std::snprintf(expect_crc, sizeof expect_crc, "crc32c:%08x", crc32c(bytes.data() + 8 + n, 44));
  EXPECT_EQ(j["__metadata__"][st::kChecksumKey], expect_crc);
  // save() writes exactly these bytes.
  ScratchDir dir;
  st::save(dir.file("x.safetensors"), {{"a", a}, {"b", b}}, {{"k", "v"}});
  EXPECT_EQ(read_file(dir.file("x.safetensors")), bytes);
}

TEST(Safetensors, EmptyFileListAndResavingLoadedMetadata) {
  ScratchDir dir;
  st::save(dir.file("none.safetensors"), {});
  st::File f = st::load(dir.file("none.safetensors"));
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_EQ(f.metadata.count(st::kChecksumKey), 1u);
  // Saving a loaded file's metadata (which holds the old checksum) writes the new one.
  Tensor t = sample({4}, kFloat32);
  st::save(dir.file("t.safetensors"), {{"t", t}}, f.metadata);
  st::File g = st::load(dir.file("t.safetensors"));
  EXPECT_NE(g.metadata.at(st::kChecksumKey), f.metadata.at(st::kChecksumKey));
  EXPECT_TRUE(same_tensor(g.tensors[0].second, t));
  // A caller's "format" is kept.
  st::save(dir.file("np.safetensors"), {{"t", t}}, {{"format", "np"}});
  EXPECT_EQ(st::load(dir.file("np.safetensors")).metadata.at("format"), "np");
}

TEST(Safetensors, SaveRejectsBadNames) {
  ScratchDir dir;
  Tensor t = sample({2}, kFloat32);
  auto path = dir.file("bad.safetensors");
  expect_error<st::FormatError>([&] { st::save(path, {{"", t}}); }, {"empty name"});
  expect_error<st::FormatError>([&] { st::save(path, {{"w", t}, {"w", t}}); }, {"duplicate", "'w'"});
  expect_error<st::FormatError>([&] { st::save(path, {{"__metadata__", t}}); }, {"reserved"});
  expect_error<st::FormatError>([&] { st::save(path, {{"u", Tensor()}}); }, {"'u'", "undefined"});
  expect_error<st::FormatError>([&] { st::save(path, {{std::string("bad\xff"), t}}); }, {"UTF-8"});
  EXPECT_TRUE(dir.list().empty()) << "nothing written for a rejected call";
}

TEST(Safetensors, LoadsTheFileWrittenByPython) {
  // tools/golden/safetensors_interop.py wrote both files with torch + safetensors.
  std::string dir = TESSERA_TEST_DATA_DIR;
  st::File f = st::load(dir + "/interop.safetensors");
  std::ifstream in(dir + "/interop.json");
  ASSERT_TRUE(in.good()) << "missing " << dir << "/interop.json";
  auto golden = nlohmann::json::parse(in);
  EXPECT_EQ(f.metadata.count(st::kChecksumKey), 0u) << "Python writes no checksum";
  EXPECT_EQ(f.metadata, (st::Metadata{{"source", "python"}, {"format", "pt"}}));
  ASSERT_EQ(f.tensors.size(), golden["tensors"].size());
  for (const auto& [name, t] : f.tensors) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(golden["tensors"].contains(name));
    const auto& g = golden["tensors"][name];
    EXPECT_EQ(std::string(dtype_name(t.dtype())), g["dtype"].get<std::string>());
    EXPECT_EQ(t.sizes().vec(), g["shape"].get<std::vector<int64_t>>());
    ASSERT_EQ(size_t(t.numel()), g["values"].size());
    Tensor flat = t.reshape({-1});
    for (int64_t i = 0; i < t.numel(); ++i) {
      const auto& v = g["values"][size_t(i)];
      if (t.dtype() == kBool) EXPECT_EQ(flat[i].item<bool>(), v.get<bool>()) << i;
      else if (is_integral(t.dtype())) EXPECT_EQ(flat[i].item<int64_t>(), v.get<int64_t>()) << i;
      else EXPECT_EQ(flat[i].item<double>(), v.get<double>()) << i;  // exact: values are representable
    }
  }
}

TEST(Safetensors, LoadErrorsForMissingFileAndDirectory) {
  ScratchDir dir;
  expect_error<IOError>([&] { st::load(dir.file("nope.safetensors")); },
                        {"nope.safetensors", "No such file", "check the path"});
  expect_error<IOError>([&] { st::load(dir.path()); }, {"is a directory"});
}

TEST(Safetensors, ManyTensorsKeepTheirOrder) {
  ScratchDir dir;
  std::vector<std::pair<std::string, Tensor>> ts;
  for (int i = 0; i < 300; ++i)
    ts.emplace_back(fmt::format("layers.{}.weight", 299 - i), sample({i % 4, 3}, kFloat32, i));
  st::save(dir.file("m.safetensors"), ts);
  st::File f = st::load(dir.file("m.safetensors"));
  ASSERT_EQ(f.tensors.size(), ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    // Empty tensors share an offset with their neighbour; among ties the order is by name.
    if (ts[i].second.numel() == 0) continue;
    EXPECT_EQ(f.tensors[i].first, ts[i].first);
    EXPECT_TRUE(same_tensor(f.tensors[i].second, ts[i].second));
  }
}

// Live interop with Python: tessera writes, safetensors.torch.load_file checks, Python writes,
// tessera checks. Skips (loudly) without python3 + torch + safetensors.
TEST(Safetensors, LivePythonInterop) {
  ScratchDir dir;
  std::vector<std::pair<std::string, Tensor>> ts;
  for (DType dt : kAllDTypes) ts.emplace_back(std::string("t.") + std::string(dtype_name(dt)), sample({2, 3}, dt));
  ts.emplace_back("scalar", sample({}, kInt64, 5));
  ts.emplace_back("empty", sample({0}, kFloat32));
  st::save(dir.file("from_tessera.safetensors"), ts, {{"who", "tessera"}});
  // Expected values as JSON (float values printed exactly) for Python to compare with.
  nlohmann::json expect;
  for (const auto& [name, t] : ts) {
    nlohmann::json vals = nlohmann::json::array();
    Tensor flat = t.reshape({-1});
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (t.dtype() == kBool) vals.push_back(flat[i].item<bool>());
      else if (is_integral(t.dtype())) vals.push_back(flat[i].item<int64_t>());
      else vals.push_back(flat[i].item<double>());
    }
    expect[name] = {{"dtype", std::string(dtype_name(t.dtype()))}, {"shape", t.sizes().vec()}, {"values", vals}};
  }
  atomic_write_file(dir.file("expect.json"), expect.dump());
  std::string script = R"PY(
import json, sys
try:
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file
except ImportError as e:
    print("import failed:", e)
    sys.exit(77)
d = sys.argv[1]
exp = json.load(open(d + "/expect.json"))
got = load_file(d + "/from_tessera.safetensors")
assert sorted(got) == sorted(exp), (sorted(got), sorted(exp))
for k, e in exp.items():
    t = got[k]
    assert str(t.dtype) == "torch." + e["dtype"], (k, t.dtype)
    assert list(t.shape) == e["shape"], (k, t.shape)
    vals = t.float().flatten().tolist() if t.dtype in (torch.bfloat16, torch.float16) else t.flatten().tolist()
    assert vals == e["values"], (k, vals, e["values"])
with safe_open(d + "/from_tessera.safetensors", "pt") as f:
    assert f.metadata()["who"] == "tessera"
back = {k + ".py": (v * 2 if v.dtype != torch.bool else ~v) for k, v in got.items()}
back["py.noncontig"] = torch.arange(6.0).reshape(2, 3).t().contiguous()
save_file(back, d + "/from_python.safetensors", metadata={"who": "python"})
print("python: ok")
)PY";
  atomic_write_file(dir.file("check.py"), script);
  std::string cmd = "python3 " + dir.file("check.py") + " " + dir.path() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[512];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = ::pclose(p);
  int rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (rc == 77 || rc == 127) {
    GTEST_SKIP() << "python3 with torch and safetensors is not available (" << out
                 << "): live interop with Python's safetensors not tested (pip install torch safetensors)";
  }
  ASSERT_EQ(rc, 0) << "Python rejected tessera's file:\n" << out;
  st::File f = st::load(dir.file("from_python.safetensors"));
  EXPECT_EQ(f.metadata.at("who"), "python");
  ASSERT_EQ(f.tensors.size(), ts.size() + 1);
  for (const auto& [name, t] : ts) {
    auto it = std::find_if(f.tensors.begin(), f.tensors.end(), [&](const auto& e) { return e.first == name + ".py"; });
    ASSERT_NE(it, f.tensors.end()) << name;
    Tensor want = t.dtype() == kBool ? t.logical_not() : t.mul(2).to(t.dtype());
    EXPECT_TRUE(same_tensor(it->second, want)) << name;
  }
  auto it = std::find_if(f.tensors.begin(), f.tensors.end(), [](const auto& e) { return e.first == "py.noncontig"; });
  ASSERT_NE(it, f.tensors.end());
  EXPECT_TRUE(same_tensor(it->second, tessera::arange(Scalar(6.0), TensorOptions(kFloat32)).reshape({2, 3}).t()));
}

// The intended use: a module's state_dict to a file and back into a fresh module.
namespace {
struct TinyNet : nn::Module {
  Tensor w, b;
  TinyNet() : nn::Module("TinyNet") {
    w = register_parameter("weight", tessera::randn({3, 4}));
    b = register_parameter("bias", tessera::randn({3}));
    register_buffer("steps", tessera::scalar_tensor(0, kInt64));
  }
};
}  // namespace

TEST(Safetensors, ModuleStateDictRoundTrip) {
  ScratchDir dir;
  TinyNet a;
  a.get("steps").fill_(41);
  st::save(dir.file("net.safetensors"), a.state_dict(), {{"epoch", "3"}});
  TinyNet b;  // different random weights
  ASSERT_FALSE(b.w.equal(a.w));
  st::File f = st::load(dir.file("net.safetensors"));
  b.load_state_dict(f.tensors);
  EXPECT_TRUE(same_tensor(b.w, a.w));
  EXPECT_TRUE(same_tensor(b.b, a.b));
  EXPECT_EQ(b.get("steps").item<int64_t>(), 41);
  EXPECT_TRUE(b.w.requires_grad()) << "load_state_dict copies into the existing parameters";
  EXPECT_EQ(f.metadata.at("epoch"), "3");
}
