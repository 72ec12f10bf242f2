// safetensors save/serialize (header JSON + data, checksum, atomic write) and load/parse (every
// field of the header and the layout of the data section validated before any tensor exists).
#include "tessera/tensor/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "tessera/tensor/crc32c.h"
#include "tessera/tensor/file_io.h"
#include "tessera/tensor/raw.h"

namespace tessera::safetensors {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host would need byte swaps");

namespace {

using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

struct DTypeName {
  const char* name;
  DType dtype;
};
constexpr DTypeName kDTypes[] = {{"F32", kFloat32}, {"F64", kFloat64}, {"BF16", kBFloat16}, {"F16", kFloat16},
                                 {"I32", kInt32},   {"I64", kInt64},   {"BOOL", kBool}};
constexpr const char* kSupported = "F32, F64, BF16, F16, I32, I64, BOOL";

// "safetensors: 'ckpt/model.safetensors': " -- every message starts with the source.
std::string where(const std::string& source) { return fmt::format("safetensors: '{}': ", source); }

[[noreturn]] void fail(const std::string& source, const std::string& what) {
  throw FormatError(where(source) + what);
}

// A short, printable rendering of a JSON value for messages.
std::string show(const json& v) {
  std::string s;
  try {
    s = v.dump(-1, ' ', /*ensure_ascii=*/true, json::error_handler_t::replace);
  } catch (const json::exception&) {
    s = "<unprintable>";
  }
  if (s.size() > 80) s = s.substr(0, 77) + "...";
  return s;
}

// A JSON value as a non-negative integer that fits int64; fails naming `what` otherwise.
uint64_t as_index(const json& v, const std::string& source, const std::string& key, const std::string& what) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u <= static_cast<uint64_t>(INT64_MAX)) return u;
  } else if (v.is_number_integer()) {
    fail(source, fmt::format("tensor '{}': {} must be a non-negative integer, found {}", key, what, show(v)));
  }
  fail(source, fmt::format("tensor '{}': {} must be a non-negative integer below 2^63, found {}", key, what,
                           show(v)));
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;  // byte offsets within the data section
};

Entry parse_entry(const std::string& source, const std::string& name, const json& v, uint64_t data_size) {
  if (name.empty()) fail(source, "a tensor has an empty name; names must be non-empty");
  if (!v.is_object()) {
    fail(source, fmt::format("tensor '{}': expected an object {{\"dtype\", \"shape\", \"data_offsets\"}}, found {}",
                             name, show(v)));
  }
  for (const auto& [field, value] : v.items()) {
    if (field != "dtype" && field != "shape" && field != "data_offsets") {
      fail(source, fmt::format("tensor '{}': unknown field '{}' (expected only dtype, shape, data_offsets)", name,
                               field));
    }
  }
  for (const char* field : {"dtype", "shape", "data_offsets"}) {
    if (!v.contains(field)) fail(source, fmt::format("tensor '{}': missing field '{}'", name, field));
  }
  Entry e;
  e.name = name;
  const json& dt = v["dtype"];
  if (!dt.is_string()) fail(source, fmt::format("tensor '{}': dtype must be a string, found {}", name, show(dt)));
  const std::string& dts = dt.get_ref<const std::string&>();
  const DTypeName* found = nullptr;
  for (const auto& d : kDTypes)
    if (dts == d.name) found = &d;
  if (!found) {
    fail(source, fmt::format("tensor '{}': unsupported dtype {}; tessera reads {}", name, show(dt), kSupported));
  }
  e.dtype = found->dtype;

  const json& sh = v["shape"];
  if (!sh.is_array()) fail(source, fmt::format("tensor '{}': shape must be an array, found {}", name, show(sh)));
  uint64_t numel = 1;
  bool overflow = false;
  e.shape.reserve(sh.size());
  for (size_t i = 0; i < sh.size(); ++i) {
    uint64_t d = as_index(sh[i], source, name, fmt::format("shape[{}]", i));
    e.shape.push_back(static_cast<int64_t>(d));
    overflow = overflow || __builtin_mul_overflow(numel, d, &numel);
  }
  uint64_t nbytes = 0;
  overflow = overflow || __builtin_mul_overflow(numel, uint64_t(element_size(e.dtype)), &nbytes) ||
             nbytes > static_cast<uint64_t>(INT64_MAX);
  // A zero dimension makes numel 0 whatever overflowed before it.
  bool has_zero = std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end();
  if (has_zero) nbytes = 0;
  else if (overflow) {
    fail(source, fmt::format("tensor '{}': shape {} has more bytes than fit in 64 bits", name, shape_str(e.shape)));
  }

  const json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2) {
    fail(source, fmt::format("tensor '{}': data_offsets must be an array [begin, end], found {}", name, show(off)));
  }
  e.begin = as_index(off[0], source, name, "data_offsets[0]");
  e.end = as_index(off[1], source, name, "data_offsets[1]");
  if (e.end < e.begin) {
    fail(source, fmt::format("tensor '{}': data_offsets [{}, {}] end before begin", name, e.begin, e.end));
  }
  if (e.end > data_size) {
    fail(source, fmt::format("tensor '{}': data_offsets [{}, {}] out of range: the data section has {} bytes "
                             "(truncated file?)",
                             name, e.begin, e.end, data_size));
  }
  if (e.end - e.begin != nbytes) {
    fail(source, fmt::format("tensor '{}': data_offsets [{}, {}] span {} bytes, expected {} ({} {} of {} bytes)",
                             name, e.begin, e.end, e.end - e.begin, nbytes, shape_str(e.shape), found->name,
                             element_size(e.dtype)));
  }
  return e;
}

Metadata parse_metadata(const std::string& source, const json& v) {
  Metadata m;
  if (v.is_null()) return m;
  if (!v.is_object()) fail(source, fmt::format("__metadata__ must be an object of strings, found {}", show(v)));
  for (const auto& [k, val] : v.items()) {
    if (!val.is_string()) {
      fail(source, fmt::format("__metadata__ key '{}': values must be strings, found {}", k, show(val)));
    }
    m.emplace(k, val.get<std::string>());
  }
  return m;
}

uint32_t parse_checksum(const std::string& source, const std::string& value) {
  constexpr std::string_view prefix = "crc32c:";
  auto bad = [&] {
    fail(source, fmt::format("__metadata__ key '{}': expected \"crc32c:<8 hex digits>\", found \"{}\"", kChecksumKey,
                             value.size() > 80 ? value.substr(0, 77) + "..." : value));
  };
  if (value.size() != prefix.size() + 8 || value.compare(0, prefix.size(), prefix) != 0) bad();
  uint32_t c = 0;
  for (size_t i = prefix.size(); i < value.size(); ++i) {
    char ch = value[i];
    uint32_t nib = 0;
    if (ch >= '0' && ch <= '9') nib = ch - '0';
    else if (ch >= 'a' && ch <= 'f') nib = ch - 'a' + 10;
    else if (ch >= 'A' && ch <= 'F') nib = ch - 'A' + 10;
    else bad();
    c = (c << 4) | nib;
  }
  return c;
}

// The tensors to write: contiguous CPU tensors, validated names.
std::vector<std::pair<std::string, Tensor>> prepare(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::vector<std::pair<std::string, Tensor>> out;
  out.reserve(tensors.size());
  std::unordered_set<std::string> seen;
  for (const auto& [name, t] : tensors) {
    TESSERA_CHECK(!name.empty(), FormatError, "safetensors::save: a tensor has an empty name; names must be non-empty");
    TESSERA_CHECK(name != "__metadata__", FormatError,
                  "safetensors::save: '__metadata__' is reserved by the format; rename the tensor");
    TESSERA_CHECK(seen.insert(name).second, FormatError,
                  "safetensors::save: duplicate tensor name '{}'; names must be unique", name);
    TESSERA_CHECK(t.defined(), FormatError, "safetensors::save: tensor '{}' is undefined (a default-constructed "
                  "Tensor); give a tensor or leave the name out", name);
    Tensor c = t;
    if (!c.is_cpu()) c = raw::to(c, Device::cpu(), c.dtype());
    if (!c.is_contiguous()) c = raw::contiguous(c);
    out.emplace_back(name, c);
  }
  return out;
}

const void* bytes_of(const Tensor& t) { return t.numel() == 0 ? nullptr : t.data_ptr(); }
uint64_t nbytes_of(const Tensor& t) { return static_cast<uint64_t>(t.numel()) * element_size(t.dtype()); }

// The header bytes (8-byte length + JSON padded with spaces to a multiple of 8).
std::string make_header(const std::vector<std::pair<std::string, Tensor>>& tensors, const Metadata& metadata) {
  uint32_t crc = 0;
  for (const auto& [name, t] : tensors) {
    if (nbytes_of(t) > 0) crc = crc32c_extend(crc, bytes_of(t), nbytes_of(t));
  }
  ordered_json meta = ordered_json::object();
  Metadata m = metadata;
  m[kChecksumKey] = fmt::format("crc32c:{:08x}", crc);
  m.emplace(kFormatKey, "pt");
  for (const auto& [k, v] : m) meta[k] = v;
  ordered_json header = ordered_json::object();
  header["__metadata__"] = std::move(meta);
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    ordered_json e = ordered_json::object();
    e["dtype"] = dtype_to_string(t.dtype());
    e["shape"] = t.sizes().vec();
    e["data_offsets"] = {offset, offset + nbytes_of(t)};
    offset += nbytes_of(t);
    header[name] = std::move(e);
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const ordered_json::exception& ex) {
    throw FormatError(fmt::format("safetensors::save: a tensor name or metadata string is not valid UTF-8 ({}); "
                                  "names and metadata must be UTF-8 text",
                                  ex.what()));
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);  // little-endian (static_assert above)
  return out + text;
}

}  // namespace

const char* dtype_to_string(DType dtype) {
  for (const auto& d : kDTypes)
    if (d.dtype == dtype) return d.name;
  throw DTypeError(fmt::format("safetensors: no safetensors name for dtype {}", dtype_name(dtype)));
}

void save(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
          const Metadata& metadata) {
  auto prepared = prepare(tensors);
  std::string header = make_header(prepared, metadata);
  AtomicFileWriter w(path);
  w.write(header.data(), header.size());
  for (const auto& [name, t] : prepared) {
    if (nbytes_of(t) > 0) w.write(bytes_of(t), nbytes_of(t));
  }
  w.commit();
}

std::vector<uint8_t> serialize(const std::vector<std::pair<std::string, Tensor>>& tensors, const Metadata& metadata) {
  auto prepared = prepare(tensors);
  std::string header = make_header(prepared, metadata);
  std::vector<uint8_t> out(header.begin(), header.end());
  for (const auto& [name, t] : prepared) {
    const auto* p = static_cast<const uint8_t*>(bytes_of(t));
    if (p) out.insert(out.end(), p, p + nbytes_of(t));
  }
  return out;
}

File load(const std::string& path) {
  MappedFile f(path);
  return parse(f.data(), f.size(), path);
}

File parse(const uint8_t* data, size_t size, const std::string& source) {
  if (size < 8) {
    fail(source, fmt::format("file is {} bytes, shorter than the 8-byte header length that starts every safetensors "
                             "file (truncated or not a safetensors file)",
                             size));
  }
  uint64_t n = 0;
  std::memcpy(&n, data, 8);
  if (n > kMaxHeaderSize) {
    fail(source, fmt::format("header length {} is larger than the {} bytes allowed (not a safetensors file, or "
                             "corrupted)",
                             n, kMaxHeaderSize));
  }
  if (n > size - 8) {
    fail(source, fmt::format("header length {} is larger than the {} bytes that follow it (truncated file?)", n,
                             size - 8));
  }
  const char* hbegin = reinterpret_cast<const char*>(data + 8);
  const uint64_t data_size = size - 8 - n;
  const uint8_t* section = data + 8 + n;

  // Parse, rejecting duplicate top-level keys (JSON allows them; the format does not).
  json header;
  try {
    std::unordered_set<std::string> keys;
    json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
      if (depth == 1 && event == json::parse_event_t::key) {
        const std::string& k = parsed.get_ref<const std::string&>();
        if (!keys.insert(k).second) fail(source, fmt::format("header has the key '{}' twice", k));
      }
      return true;
    };
    header = json::parse(hbegin, hbegin + n, cb);
  } catch (const json::exception& ex) {
    fail(source, fmt::format("header is not valid JSON: {}", ex.what()));
  }
  if (!header.is_object()) {
    fail(source, fmt::format("header must be a JSON object {{name: {{dtype, shape, data_offsets}}}}, found {}",
                             show(header)));
  }

  Metadata metadata;
  std::vector<Entry> entries;
  entries.reserve(header.size());
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") metadata = parse_metadata(source, value);
    else entries.push_back(parse_entry(source, key, value, data_size));
  }

  // The data section must be covered exactly: sorted by offset, each tensor starts where the
  // previous one ended, the last one ends at the end of the file.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t cursor = 0;
  const Entry* prev = nullptr;
  for (const Entry& e : entries) {
    if (e.begin < cursor) {
      fail(source, fmt::format("tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", e.name, e.begin,
                               e.end, prev->name, prev->begin, prev->end));
    }
    if (e.begin > cursor) {
      fail(source, fmt::format("tensor '{}': data_offsets [{}, {}] leave a gap: expected it to begin at byte {}{}; "
                               "the data section must be fully covered",
                               e.name, e.begin, e.end, cursor,
                               prev ? fmt::format(" (where '{}' ends)", prev->name) : std::string()));
    }
    cursor = e.end;
    prev = &e;
  }
  if (cursor != data_size) {
    fail(source, fmt::format("the data section has {} bytes but the tensors cover {}: {} trailing bytes belong to no "
                             "tensor (corrupted header, or data appended)",
                             data_size, cursor, data_size - cursor));
  }

  // Note [checkpoint checksum]
  if (auto it = metadata.find(kChecksumKey); it != metadata.end()) {
    uint32_t expected = parse_checksum(source, it->second);
    uint32_t found = crc32c(section, data_size);
    if (expected != found) {
      fail(source, fmt::format("checksum mismatch: {} says crc32c:{:08x} but the data section ({} bytes) has "
                               "crc32c:{:08x}; the file is corrupted (a changed or truncated byte)",
                               kChecksumKey, expected, data_size, found));
    }
  }

  // bool tensors hold bytes 0 or 1 (anything else is not a C++ bool).
  for (const Entry& e : entries) {
    if (e.dtype != kBool) continue;
    for (uint64_t i = e.begin; i < e.end; ++i) {
      if (section[i] > 1) {
        fail(source, fmt::format("tensor '{}': BOOL element {} is byte {}, expected 0 or 1", e.name, i - e.begin,
                                 int(section[i])));
      }
    }
  }

  File file;
  file.metadata = std::move(metadata);
  file.tensors.reserve(entries.size());
  for (const Entry& e : entries) {
    Tensor t = raw::empty(e.shape, TensorOptions(e.dtype));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), section + e.begin, e.end - e.begin);
    file.tensors.emplace_back(e.name, std::move(t));
  }
  return file;
}

}  // namespace tessera::safetensors
