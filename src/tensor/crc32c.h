// CRC-32C (Castagnoli polynomial, as in iSCSI/ext4/LevelDB): the checksum tessera writes into
// checkpoint metadata (Note [checkpoint checksum] in safetensors.h). Uses the SSE4.2 crc32
// instruction when the build targets it, a table otherwise; both give the same values.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tessera {

// CRC-32C of `size` bytes, continuing from `crc` (the value returned for the bytes before them;
// 0 to start). crc32c_extend(crc32c_extend(0, a), b) == crc32c of a followed by b.
// crc32c_extend(0, "123456789", 9) == 0xE3069283 (the standard check value).
uint32_t crc32c_extend(uint32_t crc, const void* data, size_t size);
inline uint32_t crc32c(const void* data, size_t size) { return crc32c_extend(0, data, size); }

namespace detail {
// The table implementation, whatever the build targets (tests compare it with crc32c_extend).
uint32_t crc32c_extend_table(uint32_t crc, const void* data, size_t size);
}  // namespace detail

}  // namespace tessera
