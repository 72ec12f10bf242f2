// Shape utilities: formatting, contiguous strides, broadcasting, dim wrapping, -1 inference.
#include "tessera/tensor/shape.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "tessera/tensor/error.h"

namespace tessera {

bool IntArrayRef::equals(IntArrayRef o) const {
  return size_ == o.size_ && std::equal(begin(), end(), o.begin());
}

std::string shape_str(IntArrayRef s) { return fmt::format("[{}]", fmt::join(s.begin(), s.end(), ", ")); }

int64_t numel_of(IntArrayRef sizes) {
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  return n;
}

Shape contiguous_strides(IntArrayRef sizes) {
  Shape st(sizes.size());
  int64_t acc = 1;
  for (int64_t i = int64_t(sizes.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(sizes[i], 1);
  }
  return st;
}

int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op) {
  int64_t n = std::max<int64_t>(ndim, 1);  // a 0-dim tensor accepts dim 0 and -1, like PyTorch
  if (dim < -n || dim >= n) {
    throw IndexError(fmt::format("{}{}Dimension out of range (expected to be in range of [{}, {}], but got {})",
                                 op ? op : "", op ? ": " : "", -n, n - 1, dim));
  }
  return dim < 0 ? dim + n : dim;
}

Shape broadcast_shapes(IntArrayRef a, IntArrayRef b, const char* op) {
  size_t n = std::max(a.size(), b.size());
  Shape out(n);
  for (size_t i = 0; i < n; ++i) {
    int64_t da = i < n - a.size() ? 1 : a[i - (n - a.size())];
    int64_t db = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (da != db && da != 1 && db != 1) {
      throw ShapeError(fmt::format(
          "{}: the size of tensor a ({}) must match the size of tensor b ({}) at non-singleton dimension {} "
          "(shapes {} and {} are not broadcastable)",
          op, da, db, i, shape_str(a), shape_str(b)));
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Shape infer_size(IntArrayRef shape, int64_t numel, const char* op) {
  Shape out = shape.vec();
  int64_t known = 1;
  int64_t infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      TESSERA_CHECK(infer < 0, ShapeError, "{}: only one dimension can be inferred (shape {})", op, shape_str(shape));
      infer = int64_t(i);
    } else {
      TESSERA_CHECK(out[i] >= 0, ShapeError, "{}: invalid shape dimension {} in {}", op, out[i], shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    TESSERA_CHECK(known != 0 && numel % known == 0, ShapeError, "{}: shape '{}' is invalid for input of size {}", op,
                  shape_str(shape), numel);
    out[infer] = numel / known;
  } else {
    TESSERA_CHECK(known == numel, ShapeError, "{}: shape '{}' is invalid for input of size {}", op, shape_str(shape),
                  numel);
  }
  return out;
}

}  // namespace tessera
