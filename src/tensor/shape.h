// Shapes and strides: IntArrayRef (a non-owning view of int64 sizes, built from {..} or a vector),
// contiguous strides, broadcasting, and dimension wrapping with PyTorch's error messages.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace tessera {

using Shape = std::vector<int64_t>;

// Non-owning view of a list of int64 (sizes, strides, dims). Like c10::IntArrayRef it is built
// from a braced list, a vector or a single integer; it must not outlive what it points at.
class IntArrayRef {
 public:
  IntArrayRef() = default;
  IntArrayRef(const std::vector<int64_t>& v) : data_(v.data()), size_(v.size()) {}  // NOLINT
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winit-list-lifetime"  // intended: a view of the caller's list
#endif
  IntArrayRef(std::initializer_list<int64_t> l) : data_(l.begin()), size_(l.size()) {}  // NOLINT
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  IntArrayRef(const int64_t& single) : data_(&single), size_(1) {}  // NOLINT
  IntArrayRef(const int64_t* data, size_t n) : data_(data), size_(n) {}

  const int64_t* begin() const { return data_; }
  const int64_t* end() const { return data_ + size_; }
  const int64_t* data() const { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t operator[](size_t i) const { return data_[i]; }
  int64_t front() const { return data_[0]; }
  int64_t back() const { return data_[size_ - 1]; }
  std::vector<int64_t> vec() const { return {data_, data_ + size_}; }
  bool equals(IntArrayRef o) const;
  bool operator==(IntArrayRef o) const { return equals(o); }
  bool operator!=(IntArrayRef o) const { return !equals(o); }

 private:
  const int64_t* data_ = nullptr;
  size_t size_ = 0;
};

// "[2, 3, 4]"
std::string shape_str(IntArrayRef s);
int64_t numel_of(IntArrayRef sizes);
Shape contiguous_strides(IntArrayRef sizes);
// Wraps a possibly negative dim into [0, ndim); throws IndexError in PyTorch's words:
// "Dimension out of range (expected to be in range of [-2, 1], but got 2)". `op` prefixes it.
int64_t wrap_dim(int64_t dim, int64_t ndim, const char* op = nullptr);
// Broadcast two shapes (numpy rules); throws ShapeError naming `op` and both shapes.
Shape broadcast_shapes(IntArrayRef a, IntArrayRef b, const char* op = "broadcast");
// Infers a single -1 in a view/reshape target shape; throws ShapeError on mismatch.
Shape infer_size(IntArrayRef shape, int64_t numel, const char* op);

}  // namespace tessera
