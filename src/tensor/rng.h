// The counter-based random number generator shared by every device (DESIGN decision 6):
// Philox4x32-10 (header-only, usable from CUDA kernels), the per-element transforms of
// Note [philox stream], and the default Generator that hands out (seed, offset) pairs.
//
// Note [philox stream]
// Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"). Key =
// (lo32(seed), hi32(seed)). Output element i (0-based index in the contiguous output) of a call
// given base `offset` uses counter = (lo32(offset+i), hi32(offset+i), 0, 0); w0..w3 =
// philox4x32_10(counter, key). Then:
// - uniform: float32 (w0 >> 8) * 2^-24; bfloat16 (w0 >> 24) * 2^-8; float16 (w0 >> 21) * 2^-11;
//   float64 (((uint64)w0 << 32 | w1) >> 11) * 2^-53; value = low + u * (high - low) in the
//   float type's compute type (double for float64, float otherwise), rounded to the dtype.
// - normal: u1 = ((w0 >> 8) + 1) * 2^-24 in (0, 1], u2 = (w1 >> 8) * 2^-24,
//   z = sqrt(-2 log u1) * cos(2 pi u2) in double; value = mean + std * z rounded to the dtype
//   (16-bit floats via float32: double -> float -> dtype).
// - randint in [low, high): low + (((uint64)w0 << 32 | w1) % (high - low)).
// - dropout keep mask: keep = ((w0 >> 8) * 2^-24) >= p, compared in double.
// Each random call reserves numel counters from the default generator (offset += numel) under
// its mutex. One generator serves all devices, so manual_seed(s); randn(shape, device) gives the
// same values on CPU and CUDA, and a value depends only on (seed, offset, element index).
#pragma once

#include <cmath>
#include <cstdint>
#include <mutex>

#include "tessera/tensor/half.h"

namespace tessera {

struct Philox4x32 {
  uint32_t v[4];
};

inline constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
inline constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
inline constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
inline constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;

// The Philox4x32 bijection with 10 rounds: counter (4 words) under key (k0, k1).
TESSERA_HOST_DEVICE inline Philox4x32 philox4x32_10(Philox4x32 c, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    uint64_t p0 = uint64_t(kPhiloxM0) * c.v[0];
    uint64_t p1 = uint64_t(kPhiloxM1) * c.v[2];
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c = Philox4x32{{hi1 ^ c.v[1] ^ k0, lo1, hi0 ^ c.v[3] ^ k1, lo0}};
  }
  return c;
}

// The four words for the element at absolute counter position `index` (= offset + i).
TESSERA_HOST_DEVICE inline Philox4x32 philox_words(uint64_t seed, uint64_t index) {
  Philox4x32 c{{uint32_t(index), uint32_t(index >> 32), 0u, 0u}};
  return philox4x32_10(c, uint32_t(seed), uint32_t(seed >> 32));
}

// Uniform values in [0, 1) with exactly the precision of each dtype (Note [philox stream]).
TESSERA_HOST_DEVICE inline float philox_uniform_float(uint32_t w0) { return float(w0 >> 8) * 0x1p-24f; }
TESSERA_HOST_DEVICE inline float philox_uniform_bfloat16(uint32_t w0) { return float(w0 >> 24) * 0x1p-8f; }
TESSERA_HOST_DEVICE inline float philox_uniform_half(uint32_t w0) { return float(w0 >> 21) * 0x1p-11f; }
TESSERA_HOST_DEVICE inline double philox_uniform_double(uint32_t w0, uint32_t w1) {
  return double(((uint64_t(w0) << 32) | w1) >> 11) * 0x1p-53;
}
// A standard normal value (Box-Muller, one output per counter), in double.
TESSERA_HOST_DEVICE inline double philox_normal(uint32_t w0, uint32_t w1) {
  double u1 = double((w0 >> 8) + 1u) * 0x1p-24;
  double u2 = double(w1 >> 8) * 0x1p-24;
  return ::sqrt(-2.0 * ::log(u1)) * ::cos(6.283185307179586476925 * u2);
}
// randint: low + (64-bit word % range), range = high - low > 0.
TESSERA_HOST_DEVICE inline int64_t philox_randint(uint32_t w0, uint32_t w1, int64_t low, uint64_t range) {
  return int64_t(uint64_t(low) + ((uint64_t(w0) << 32) | w1) % range);
}
// Dropout keep decision; the comparison is done in double so every p is exact.
TESSERA_HOST_DEVICE inline bool philox_keep(uint32_t w0, double p) { return double(w0 >> 8) * 0x1p-24 >= p; }

// Generator state for checkpoints: the seed and the next unused counter.
struct GeneratorState {
  uint64_t seed = 0;
  uint64_t offset = 0;
  bool operator==(const GeneratorState&) const = default;
};

// (seed, offset) pairs for random calls; thread-safe.
class Generator {
 public:
  static constexpr uint64_t kDefaultSeed = 67280421310721ull;  // PyTorch's default seed

  explicit Generator(uint64_t seed = kDefaultSeed) : seed_(seed) {}
  // seed = s, offset = 0 (torch.manual_seed).
  void manual_seed(uint64_t seed);
  uint64_t seed() const;
  uint64_t offset() const;
  // Reserves n consecutive counters and returns the state they start at.
  GeneratorState reserve(uint64_t n);
  GeneratorState get_state() const;
  void set_state(const GeneratorState& state);

 private:
  mutable std::mutex mutex_;
  uint64_t seed_;
  uint64_t offset_ = 0;
};

// The process-wide generator behind rand/randn/randint/dropout on every device.
Generator& default_generator();

}  // namespace tessera
