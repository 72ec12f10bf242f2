// How a strided matrix can be handed to a BLAS-style GEMM: row-major or column-major with a
// leading dimension. Shared by the matmul raw ops (which copy an operand that has no such
// layout) and by every backend's gemm primitive (which reads the layout back from the strides).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>

namespace tessera {

// Note [gemm operand layout]
// A matrix [rows, cols] with element strides (rs, cs) is usable by GEMM when
//   row-major:    cs == 1 (or cols == 1) and ld = rs >= cols (rows == 1: ld = cols), or
//   column-major: rs == 1 (or rows == 1) and ld = cs >= rows (cols == 1: ld = rows).
// `transposed` = column-major, i.e. the memory holds the transpose in row-major order with ld.
// Row-major is preferred when both hold. Size-1 dims may have any stride; stride 0 on a dim of
// size > 1 (an expanded matrix dim) is never usable, so such operands are copied by the caller.
struct GemmLayout {
  bool transposed = false;
  int64_t ld = 1;
};

inline std::optional<GemmLayout> gemm_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  const int64_t r1 = std::max<int64_t>(rows, 1), c1 = std::max<int64_t>(cols, 1);
  if (cs == 1 || cols <= 1) {
    if (rows <= 1) return GemmLayout{false, c1};
    if (rs >= c1) return GemmLayout{false, rs};
  }
  if (rs == 1 || rows <= 1) {
    if (cols <= 1) return GemmLayout{true, r1};
    if (cs >= r1) return GemmLayout{true, cs};
  }
  return std::nullopt;
}

}  // namespace tessera
