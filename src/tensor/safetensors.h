// Checkpoints in the safetensors format (Hugging Face's): save named tensors to a file atomically
// with a checksum, load them back with every byte of the file validated first. docs/checkpoints.md
// describes the format, the checksum and the error catalogue.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "tessera/tensor/error.h"
#include "tessera/tensor/tensor.h"

namespace tessera::safetensors {

using Metadata = std::map<std::string, std::string>;

// What a file holds: the tensors in file order (increasing data offset; for files tessera wrote,
// the order they were given to save()) and the "__metadata__" strings, checksum included.
struct File {
  std::vector<std::pair<std::string, Tensor>> tensors;
  Metadata metadata;
};

// A file (or buffer) that is not a valid safetensors file, or whose data fails its checksum.
// The message names the source, the tensor key, what was expected and what was found.
class FormatError : public ValueError {
  using ValueError::ValueError;
};

// Metadata keys tessera writes.
// Note [checkpoint checksum]
// save() stores "tessera.checksum" = "crc32c:<8 lower-case hex digits>", the CRC-32C
// (crc32c.h) of the whole data section (every byte after the header). load()/parse() verify it
// when present and throw FormatError on a mismatch; files without it (e.g. written by Python's
// safetensors) load without a check. Any other "<algorithm>:" prefix is rejected.
inline constexpr const char* kChecksumKey = "tessera.checksum";
// Like Hugging Face's save_file from PyTorch: "format": "pt" (kept if the caller gives another).
inline constexpr const char* kFormatKey = "format";

// Writes `tensors` to `path` atomically (Note [atomic write] in file_io.h) with the checksum
// above added to `metadata`. Tensors may have any layout and device: non-contiguous and CUDA
// tensors are written from contiguous CPU copies, all held until the file is written (the
// checksum in the header covers the data, so the data is read twice: checksum, then write). Names must be non-empty and unique (FormatError otherwise);
// data is laid out in the given order. A caller's "tessera.checksum" entry is replaced.
// Throws IOError (file_io.h) when the file cannot be written; the previous file stays intact.
void save(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
          const Metadata& metadata = {});

// Bytes of the file save() would write (what save() writes, for callers that send checkpoints
// elsewhere than a local file).
std::vector<uint8_t> serialize(const std::vector<std::pair<std::string, Tensor>>& tensors,
                               const Metadata& metadata = {});

// Reads and validates `path` (IOError if it cannot be read, FormatError if it is not valid),
// returning CPU tensors that own their memory.
File load(const std::string& path);

// Validates and decodes a safetensors image in memory; `source_name` names it in errors. Nothing
// is allocated for tensor data before the whole header, the layout of the data section and the
// checksum have been checked. Throws only tessera::Error subclasses (FormatError) on bad input.
File parse(const uint8_t* data, size_t size, const std::string& source_name);

// The largest header parse() accepts (as Hugging Face's implementation: 100 MB).
inline constexpr uint64_t kMaxHeaderSize = 100'000'000;

// The format's name of a dtype: "F32", "F64", "BF16", "F16", "I32", "I64", "BOOL".
const char* dtype_to_string(DType dtype);

}  // namespace tessera::safetensors
