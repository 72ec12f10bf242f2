// Raw view ops (no copies): as_strided, view, transpose, permute, slice, select, expand, squeeze,
// unsqueeze, flatten, split; plus reshape (a view when possible) and cat/stack (copies).
#include <algorithm>
#include <numeric>
#include <optional>

#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::raw {

namespace {
void check_defined(const Tensor& t, const char* op) {
  TESSERA_CHECK(t.defined(), ValueError, "{}: expected a defined tensor", op);
}

// Strides for viewing (sizes, strides) as `shape` without a copy, or nullopt when impossible.
// Groups the old dims into chunks that are contiguous among themselves and maps new dims onto
// them (the algorithm of numpy / PyTorch's computeStride).
std::optional<Shape> view_strides(IntArrayRef old_sizes, IntArrayRef old_strides, IntArrayRef shape) {
  int64_t numel = numel_of(old_sizes);
  Shape st(shape.size());
  if (numel == 0) {
    return contiguous_strides(shape);
  }
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.empty() ? 1 : old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(old_sizes.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_sizes[d];
    if (d == 0 || (old_sizes[d - 1] != 1 && old_strides[d - 1] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[view_d] == 1)) {
        st[view_d] = view_numel * chunk_base_stride;
        view_numel *= shape[view_d];
        --view_d;
      }
      if (view_numel != tensor_numel) return std::nullopt;
      if (d > 0) {
        chunk_base_stride = old_strides[d - 1];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) {
    // remaining leading dims of size 1
    while (view_d >= 0) {
      if (shape[view_d] != 1) return std::nullopt;
      st[view_d] = 1;
      --view_d;
    }
  }
  return st;
}
}  // namespace

Tensor as_strided(const Tensor& t, IntArrayRef sizes, IntArrayRef strides, int64_t offset) {
  check_defined(t, "as_strided");
  TESSERA_CHECK(sizes.size() == strides.size(), ShapeError, "as_strided: {} sizes but {} strides", sizes.size(),
                strides.size());
  int64_t max_index = offset;
  bool empty = false;
  for (size_t i = 0; i < sizes.size(); ++i) {
    TESSERA_CHECK(sizes[i] >= 0 && strides[i] >= 0, ShapeError, "as_strided: negative size or stride ({}, {})",
                  sizes[i], strides[i]);
    if (sizes[i] == 0) empty = true;
    max_index += (sizes[i] - 1) * strides[i];
  }
  int64_t capacity = int64_t(t.storage()->nbytes() / t.element_size());
  TESSERA_CHECK(empty || max_index < capacity, ShapeError,
                "as_strided: view with sizes {} strides {} offset {} needs {} elements but the storage has {}",
                shape_str(sizes), shape_str(strides), offset, max_index + 1, capacity);
  auto impl = std::make_shared<TensorImpl>(*t.impl());
  impl->sizes = sizes.vec();
  impl->strides = strides.vec();
  impl->offset = offset;
  impl->autograd_meta = nullptr;
  return Tensor(std::move(impl));
}

Tensor view(const Tensor& t, IntArrayRef shape) {
  check_defined(t, "view");
  Shape target = infer_size(shape, t.numel(), "view");
  auto st = view_strides(t.sizes(), t.strides(), target);
  TESSERA_CHECK(st.has_value(), ShapeError,
                "view: view size is not compatible with input tensor's size and stride (at least one dimension spans "
                "across two contiguous subspaces); input shape {} strides {}, target {}. Use .reshape(...) instead.",
                shape_str(t.sizes()), shape_str(t.strides()), shape_str(target));
  return as_strided(t, target, *st, t.storage_offset());
}

Tensor reshape(const Tensor& t, IntArrayRef shape) {
  check_defined(t, "reshape");
  Shape target = infer_size(shape, t.numel(), "reshape");
  auto st = view_strides(t.sizes(), t.strides(), target);
  if (st) return as_strided(t, target, *st, t.storage_offset());
  return view(clone(t), target);
}

Tensor transpose(const Tensor& t, int64_t dim0, int64_t dim1) {
  check_defined(t, "transpose");
  int64_t nd = t.dim();
  if (nd == 0) {
    wrap_dim(dim0, 0, "transpose");
    wrap_dim(dim1, 0, "transpose");
    return as_strided(t, t.sizes(), t.strides(), t.storage_offset());
  }
  dim0 = wrap_dim(dim0, nd, "transpose");
  dim1 = wrap_dim(dim1, nd, "transpose");
  Shape sz = t.sizes().vec(), st = t.strides().vec();
  std::swap(sz[dim0], sz[dim1]);
  std::swap(st[dim0], st[dim1]);
  return as_strided(t, sz, st, t.storage_offset());
}

Tensor permute(const Tensor& t, IntArrayRef dims) {
  check_defined(t, "permute");
  int64_t nd = t.dim();
  TESSERA_CHECK(int64_t(dims.size()) == nd, ShapeError,
                "permute: number of dims don't match in permute (tensor has {} dims, got {} in {})", nd, dims.size(),
                shape_str(dims));
  Shape sz(nd), st(nd);
  std::vector<bool> seen(nd, false);
  for (int64_t i = 0; i < nd; ++i) {
    int64_t d = wrap_dim(dims[i], nd, "permute");
    TESSERA_CHECK(!seen[d], ShapeError, "permute: repeated dim {} in {}", d, shape_str(dims));
    seen[d] = true;
    sz[i] = t.size(d);
    st[i] = t.stride(d);
  }
  return as_strided(t, sz, st, t.storage_offset());
}

Tensor slice(const Tensor& t, int64_t dim, std::optional<int64_t> start, std::optional<int64_t> end, int64_t step) {
  check_defined(t, "slice");
  TESSERA_CHECK(t.dim() > 0, IndexError, "slice: cannot slice a 0-dim tensor");
  dim = wrap_dim(dim, t.dim(), "slice");
  TESSERA_CHECK(step > 0, ValueError, "slice: step must be positive, got {}", step);
  int64_t n = t.size(dim);
  int64_t s = start.value_or(0), e = end.value_or(n);
  if (s < 0) s += n;
  if (e < 0) e += n;
  s = std::clamp<int64_t>(s, 0, n);
  e = std::clamp<int64_t>(e, s, n);
  Shape sz = t.sizes().vec(), st = t.strides().vec();
  sz[dim] = (e - s + step - 1) / step;
  st[dim] *= step;
  return as_strided(t, sz, st, t.storage_offset() + s * t.stride(dim));
}

Tensor narrow(const Tensor& t, int64_t dim, int64_t start, int64_t length) {
  check_defined(t, "narrow");
  TESSERA_CHECK(t.dim() > 0, IndexError, "narrow: cannot narrow a 0-dim tensor");
  dim = wrap_dim(dim, t.dim(), "narrow");
  int64_t n = t.size(dim);
  if (start < 0) start += n;
  TESSERA_CHECK(start >= 0 && length >= 0 && start + length <= n, IndexError,
                "narrow: start ({}) + length ({}) exceeds dimension size ({}) of dim {} (shape {})", start, length, n,
                dim, shape_str(t.sizes()));
  return slice(t, dim, start, start + length, 1);
}

Tensor select(const Tensor& t, int64_t dim, int64_t index) {
  check_defined(t, "select");
  TESSERA_CHECK(t.dim() > 0, IndexError, "select: cannot be applied to a 0-dim tensor");
  dim = wrap_dim(dim, t.dim(), "select");
  int64_t n = t.size(dim);
  TESSERA_CHECK(index >= -n && index < n, IndexError,
                "select: index {} is out of bounds for dimension {} with size {}", index, dim, n);
  if (index < 0) index += n;
  Shape sz = t.sizes().vec(), st = t.strides().vec();
  int64_t offset = t.storage_offset() + index * st[dim];
  sz.erase(sz.begin() + dim);
  st.erase(st.begin() + dim);
  return as_strided(t, sz, st, offset);
}

Tensor expand(const Tensor& t, IntArrayRef sizes) {
  check_defined(t, "expand");
  int64_t nd = int64_t(sizes.size()), td = t.dim();
  TESSERA_CHECK(nd >= td, ShapeError,
                "expand: the number of sizes provided ({}) must be greater or equal to the number of dimensions in "
                "the tensor ({})",
                nd, td);
  Shape sz(nd), st(nd);
  for (int64_t i = nd - 1; i >= 0; --i) {
    int64_t j = i - (nd - td);
    int64_t want = sizes[i];
    if (j >= 0) {
      int64_t have = t.size(j);
      if (want == -1) want = have;
      TESSERA_CHECK(have == want || have == 1, ShapeError,
                    "expand: the expanded size of the tensor ({}) must match the existing size ({}) at non-singleton "
                    "dimension {}. Target sizes: {}. Tensor sizes: {}",
                    want, have, i, shape_str(sizes), shape_str(t.sizes()));
      sz[i] = want;
      st[i] = have == want ? t.stride(j) : 0;
    } else {
      TESSERA_CHECK(want >= 0, ShapeError, "expand: the expanded size {} is not allowed in a leading, non-existing "
                    "dimension {}", want, i);
      sz[i] = want;
      st[i] = 0;
    }
  }
  return as_strided(t, sz, st, t.storage_offset());
}

Tensor unsqueeze(const Tensor& t, int64_t dim) {
  check_defined(t, "unsqueeze");
  dim = wrap_dim(dim, t.dim() + 1, "unsqueeze");
  Shape sz = t.sizes().vec(), st = t.strides().vec();
  int64_t new_stride = dim < t.dim() ? sz[dim] * st[dim] : 1;
  sz.insert(sz.begin() + dim, 1);
  st.insert(st.begin() + dim, new_stride);
  return as_strided(t, sz, st, t.storage_offset());
}

Tensor squeeze(const Tensor& t) {
  check_defined(t, "squeeze");
  Shape sz, st;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) != 1) {
      sz.push_back(t.size(d));
      st.push_back(t.stride(d));
    }
  }
  return as_strided(t, sz, st, t.storage_offset());
}

Tensor squeeze(const Tensor& t, int64_t dim) {
  check_defined(t, "squeeze");
  if (t.dim() == 0) {
    wrap_dim(dim, 0, "squeeze");
    return as_strided(t, t.sizes(), t.strides(), t.storage_offset());
  }
  dim = wrap_dim(dim, t.dim(), "squeeze");
  if (t.size(dim) != 1) return as_strided(t, t.sizes(), t.strides(), t.storage_offset());
  Shape sz = t.sizes().vec(), st = t.strides().vec();
  sz.erase(sz.begin() + dim);
  st.erase(st.begin() + dim);
  return as_strided(t, sz, st, t.storage_offset());
}

Tensor flatten(const Tensor& t, int64_t start_dim, int64_t end_dim) {
  check_defined(t, "flatten");
  if (t.dim() == 0) return reshape(t, {1});
  start_dim = wrap_dim(start_dim, t.dim(), "flatten");
  end_dim = wrap_dim(end_dim, t.dim(), "flatten");
  TESSERA_CHECK(start_dim <= end_dim, ValueError, "flatten: start_dim ({}) cannot come after end_dim ({})", start_dim,
                end_dim);
  Shape sz;
  for (int64_t d = 0; d < start_dim; ++d) sz.push_back(t.size(d));
  int64_t m = 1;
  for (int64_t d = start_dim; d <= end_dim; ++d) m *= t.size(d);
  sz.push_back(m);
  for (int64_t d = end_dim + 1; d < t.dim(); ++d) sz.push_back(t.size(d));
  return reshape(t, sz);
}

Tensor unflatten(const Tensor& t, int64_t dim, IntArrayRef sizes) {
  check_defined(t, "unflatten");
  dim = wrap_dim(dim, t.dim(), "unflatten");
  Shape inner = infer_size(sizes, t.size(dim), "unflatten");
  Shape sz;
  for (int64_t d = 0; d < dim; ++d) sz.push_back(t.size(d));
  sz.insert(sz.end(), inner.begin(), inner.end());
  for (int64_t d = dim + 1; d < t.dim(); ++d) sz.push_back(t.size(d));
  return view(t, sz);
}

std::vector<Tensor> split_with_sizes(const Tensor& t, IntArrayRef sizes, int64_t dim) {
  check_defined(t, "split_with_sizes");
  dim = wrap_dim(dim, t.dim(), "split_with_sizes");
  int64_t total = 0;
  for (int64_t s : sizes) {
    TESSERA_CHECK(s >= 0, ValueError, "split_with_sizes: negative split size {}", s);
    total += s;
  }
  TESSERA_CHECK(total == t.size(dim), ShapeError,
                "split_with_sizes: expects split_sizes to sum exactly to {} (input tensor's size at dimension {}), "
                "but got split_sizes={}",
                t.size(dim), dim, shape_str(sizes));
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(t, dim, start, s));
    start += s;
  }
  return out;
}

std::vector<Tensor> split(const Tensor& t, int64_t split_size, int64_t dim) {
  check_defined(t, "split");
  dim = wrap_dim(dim, t.dim(), "split");
  TESSERA_CHECK(split_size > 0 || t.size(dim) == 0, ValueError, "split: split_size must be positive, got {}",
                split_size);
  Shape sizes;
  for (int64_t start = 0; start < t.size(dim); start += split_size)
    sizes.push_back(std::min(split_size, t.size(dim) - start));
  return split_with_sizes(t, sizes, dim);
}

std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t dim) {
  check_defined(t, "chunk");
  TESSERA_CHECK(chunks > 0, ValueError, "chunk: number of chunks must be positive, got {}", chunks);
  dim = wrap_dim(dim, t.dim(), "chunk");
  int64_t split_size = (t.size(dim) + chunks - 1) / chunks;
  if (split_size == 0) split_size = 1;
  return split(t, split_size, dim);
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  TESSERA_CHECK(!tensors.empty(), ValueError, "cat: expected a non-empty list of Tensors");
  const Tensor& ref = tensors[0];
  for (const auto& t : tensors) check_defined(t, "cat");
  dim = wrap_dim(dim, ref.dim(), "cat");
  DType dt = ref.dtype();
  int64_t total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    TESSERA_CHECK(t.device() == ref.device(), DeviceError,
                  "cat: expected all tensors to be on the same device, but tensor 0 is on {} and tensor {} on {}",
                  ref.device().str(), i, t.device().str());
    TESSERA_CHECK(t.dim() == ref.dim(), ShapeError,
                  "cat: tensors must have same number of dimensions: got {} and {} (tensor {})", ref.dim(), t.dim(), i);
    for (int64_t d = 0; d < ref.dim(); ++d) {
      TESSERA_CHECK(d == dim || t.size(d) == ref.size(d), ShapeError,
                    "cat: sizes of tensors must match except in dimension {}. Expected size {} but got size {} for "
                    "tensor number {} in the list (shapes {} and {})",
                    dim, ref.size(d), t.size(d), i, shape_str(ref.sizes()), shape_str(t.sizes()));
    }
    dt = promote_types(dt, t.dtype());
    total += t.size(dim);
  }
  Shape sz = ref.sizes().vec();
  sz[dim] = total;
  Tensor out = empty(sz, TensorOptions(dt).device(ref.device()));
  int64_t start = 0;
  for (const auto& t : tensors) {
    if (t.size(dim) > 0) copy_(narrow(out, dim, start, t.size(dim)), t);
    start += t.size(dim);
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  TESSERA_CHECK(!tensors.empty(), ValueError, "stack: expected a non-empty list of Tensors");
  for (size_t i = 0; i < tensors.size(); ++i) {
    check_defined(tensors[i], "stack");
    TESSERA_CHECK(tensors[i].sizes().equals(tensors[0].sizes()), ShapeError,
                  "stack: stack expects each tensor to be equal size, but got {} at entry 0 and {} at entry {}",
                  shape_str(tensors[0].sizes()), shape_str(tensors[i].sizes()), i);
  }
  dim = wrap_dim(dim, tensors[0].dim() + 1, "stack");
  std::vector<Tensor> us;
  us.reserve(tensors.size());
  for (const auto& t : tensors) us.push_back(unsqueeze(t, dim));
  return cat(us, dim);
}

}  // namespace tessera::raw
