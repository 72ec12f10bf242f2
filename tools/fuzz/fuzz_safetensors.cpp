// libFuzzer target for safetensors::parse (tools/fuzz/run_fuzz.sh builds and runs it with
// -fsanitize=fuzzer,address,undefined). Bad input must end in a tessera::Error; a crash, a
// sanitizer report, a leak or any other exception escaping is a finding. An input that parses
// must also survive serialize -> parse unchanged (a differential check of the writer).
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "tessera/tensor/error.h"
#include "tessera/tensor/safetensors.h"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace st = tessera::safetensors;

namespace {

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "fuzz_safetensors: FINDING: %s\n", what);
  __builtin_trap();  // libFuzzer saves the input that got here as a crash
}

void check_round_trip(const st::File& f) {
  std::vector<uint8_t> again = st::serialize(f.tensors, f.metadata);
  st::File g = st::parse(again.data(), again.size(), "fuzz-roundtrip");  // must not throw
  if (g.tensors.size() != f.tensors.size()) finding("round trip changed the tensor count");
  for (size_t i = 0; i < f.tensors.size(); ++i) {
    const auto& [na, a] = f.tensors[i];
    const auto& [nb, b] = g.tensors[i];
    if (na != nb || a.dtype() != b.dtype() || !a.sizes().equals(b.sizes())) finding("round trip changed a tensor");
    if (a.numel() > 0 && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) != 0) finding("round trip changed data");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  st::File f;
  try {
    f = st::parse(data, size, "fuzz-input");
  } catch (const tessera::Error&) {
    return 0;  // rejected cleanly: the expected outcome for most inputs
  }
  check_round_trip(f);
  return 0;
}

// Half of the mutations edit only the JSON header and then rewrite the 8-byte length to match,
// so that header mutations reach the validation rules instead of failing at the length check.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  uint64_t n = 0;
  if (size >= 8) std::memcpy(&n, data, 8);
  if ((seed & 1) == 0 || size < 8 || n > size - 8) return LLVMFuzzerMutate(data, size, max_size);
  size_t rest = size - 8 - n;
  std::vector<uint8_t> header(max_size - 8 - rest);
  std::memcpy(header.data(), data + 8, n);
  std::vector<uint8_t> tail(data + 8 + n, data + size);
  size_t m = LLVMFuzzerMutate(header.data(), n, header.size());
  uint64_t m64 = m;
  std::memcpy(data, &m64, 8);
  std::memcpy(data + 8, header.data(), m);
  if (!tail.empty()) std::memcpy(data + 8 + m, tail.data(), tail.size());
  return 8 + m + tail.size();
}
