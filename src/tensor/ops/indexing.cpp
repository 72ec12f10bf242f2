// Raw indexing ops: index_select, index_add, gather, scatter_add, embedding (+ backward),
// one_hot, tril/triu. Shapes, dtypes and devices are checked here; index values are checked by
// the backend primitive while it reads them (they may live on the device).
#include <algorithm>
#include <string>

#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::raw {

namespace {

void check_defined(const char* op, const Tensor& t, const char* what) {
  TESSERA_CHECK(t.defined(), ValueError, "{}: expected a defined tensor for {}", op, what);
}

void check_index_tensor(const char* op, const Tensor& index) {
  check_defined(op, index, "index");
  TESSERA_CHECK(index.dtype() == DType::Int64 || index.dtype() == DType::Int32, DTypeError,
                "{}: Expected dtype int32 or int64 for index, got {}", op, dtype_name(index.dtype()));
}

void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  TESSERA_CHECK(a.device() == b.device(), DeviceError,
                "{}: expected all tensors to be on the same device, but found at least two devices, {} and {}", op,
                a.device().str(), b.device().str());
}

// A 0-dim tensor as a 1-D one of size 1 (PyTorch treats scalars as vectors in these ops).
Tensor at_least_1d(const Tensor& t) { return t.dim() == 0 ? view(t, {1}) : t; }

// Checks the index-vector ops' (index_select, index_add) index and returns it as 1-D.
Tensor index_vector(const char* op, const Tensor& index) {
  check_index_tensor(op, index);
  TESSERA_CHECK(index.dim() <= 1, IndexError, "{}: Index is supposed to be a vector, got a {}-D index of shape {}",
                op, index.dim(), shape_str(index.sizes()));
  return at_least_1d(index);
}

// gather/scatter: same rank for index and self; index no larger than self except along dim.
void check_gather_shapes(const char* op, const Tensor& self, int64_t dim, const Tensor& index) {
  TESSERA_CHECK(index.dim() == self.dim(), ShapeError,
                "{}: Index tensor must have the same number of dimensions as input tensor ({}-D index {}, {}-D input {})",
                op, index.dim(), shape_str(index.sizes()), self.dim(), shape_str(self.sizes()));
  for (int64_t d = 0; d < self.dim(); ++d) {
    TESSERA_CHECK(d == dim || index.size(d) <= self.size(d), ShapeError,
                  "{}: Size does not match at dimension {} expected index {} to be smaller than self {} apart from "
                  "dimension {}",
                  op, d, shape_str(index.sizes()), shape_str(self.sizes()), dim);
  }
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("index_select", x, "self");
  Tensor idx = index_vector("index_select", index);
  check_same_device("index_select", x, index);
  Tensor x1 = at_least_1d(x);
  dim = wrap_dim(dim, x1.dim(), "index_select");
  Shape shape = x1.sizes().vec();
  shape[size_t(dim)] = idx.numel();
  Tensor out = empty(shape, x.options());
  if (idx.numel() > 0) backend_for(x).index_select(out, x1, dim, idx);
  return x.dim() == 0 && index.dim() == 0 ? view(out, {}) : out;
}

Tensor index_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& source) {
  check_defined("index_add", x, "self");
  check_defined("index_add", source, "source");
  Tensor idx = index_vector("index_add", index);
  check_same_device("index_add", x, index);
  check_same_device("index_add", x, source);
  TESSERA_CHECK(x.dtype() == source.dtype(), DTypeError,
                "index_add: self ({}) and source ({}) must have the same scalar type", dtype_name(x.dtype()),
                dtype_name(source.dtype()));
  Tensor x1 = at_least_1d(x), s1 = at_least_1d(source);
  dim = wrap_dim(dim, x1.dim(), "index_add");
  TESSERA_CHECK(s1.dim() == x1.dim(), ShapeError,
                "index_add: source ({}) and self ({}) must have the same number of dimensions",
                shape_str(source.sizes()), shape_str(x.sizes()));
  TESSERA_CHECK(s1.size(dim) == idx.numel(), ShapeError,
                "index_add: Number of indices ({}) should be equal to source.size(dim): ({}), for dim: {}", idx.numel(),
                s1.size(dim), dim);
  for (int64_t d = 0; d < x1.dim(); ++d) {
    TESSERA_CHECK(d == dim || s1.size(d) == x1.size(d), ShapeError,
                  "index_add: source shape {} must match self shape {} apart from dimension {}",
                  shape_str(source.sizes()), shape_str(x.sizes()), dim);
  }
  Tensor out = clone(x);
  if (idx.numel() > 0) backend_for(x).index_add(at_least_1d(out), dim, idx, s1);
  return out;
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  check_defined("gather", x, "self");
  check_index_tensor("gather", index);
  check_same_device("gather", x, index);
  Tensor x1 = at_least_1d(x), i1 = at_least_1d(index);
  dim = wrap_dim(dim, x1.dim(), "gather");
  check_gather_shapes("gather", x1, dim, i1);
  Tensor out = empty(index.sizes(), x.options());
  if (out.numel() > 0) backend_for(x).gather(at_least_1d(out), x1, dim, i1);
  return out;
}

void scatter_add_(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined("scatter_add", x, "self");
  check_defined("scatter_add", src, "src");
  check_index_tensor("scatter_add", index);
  check_same_device("scatter_add", x, index);
  check_same_device("scatter_add", x, src);
  TESSERA_CHECK(x.dtype() == src.dtype(), DTypeError,
                "scatter_add: Expected self.dtype to be equal to src.dtype (self {}, src {})", dtype_name(x.dtype()),
                dtype_name(src.dtype()));
  Tensor x1 = at_least_1d(x), i1 = at_least_1d(index), s1 = at_least_1d(src);
  dim = wrap_dim(dim, x1.dim(), "scatter_add");
  check_gather_shapes("scatter_add", x1, dim, i1);
  TESSERA_CHECK(s1.dim() == i1.dim(), ShapeError,
                "scatter_add: Index tensor must have the same number of dimensions as src tensor ({} vs {})",
                shape_str(index.sizes()), shape_str(src.sizes()));
  for (int64_t d = 0; d < i1.dim(); ++d) {
    TESSERA_CHECK(i1.size(d) <= s1.size(d), ShapeError,
                  "scatter_add: Expected index {} to be smaller than src {} at dimension {}", shape_str(index.sizes()),
                  shape_str(src.sizes()), d);
  }
  if (i1.numel() > 0) backend_for(x).scatter_add(x1, dim, i1, s1);
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  check_defined("scatter_add", x, "self");
  Tensor out = clone(x);
  scatter_add_(out, dim, index, src);
  return out;
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  check_defined("embedding", weight, "weight");
  check_index_tensor("embedding", indices);
  check_same_device("embedding", weight, indices);
  TESSERA_CHECK(weight.dim() == 2, ShapeError,
                "embedding: weight must be 2-D [num_embeddings, embedding_dim], got shape {}",
                shape_str(weight.sizes()));
  Shape shape = indices.sizes().vec();
  shape.push_back(weight.size(1));
  Tensor out;
  try {
    out = index_select(weight, 0, reshape(indices, {-1}));
  } catch (const IndexError& e) {
    // Report it as embedding's error (the backend names the primitive it ran).
    std::string msg = e.what();
    const std::string prefix = "index_select: ";
    if (msg.rfind(prefix, 0) == 0) msg = msg.substr(prefix.size());
    throw IndexError("embedding: " + msg);
  }
  return view(out, shape);
}

Tensor embedding_backward(const Tensor& grad_out, const Tensor& indices, int64_t num_weights) {
  check_defined("embedding_backward", grad_out, "grad_out");
  check_index_tensor("embedding_backward", indices);
  check_same_device("embedding_backward", grad_out, indices);
  TESSERA_CHECK(grad_out.dim() == indices.dim() + 1 &&
                    IntArrayRef(grad_out.sizes().data(), size_t(indices.dim())).equals(indices.sizes()),
                ShapeError, "embedding_backward: grad_out of shape {} does not match indices of shape {} + [dim]",
                shape_str(grad_out.sizes()), shape_str(indices.sizes()));
  TESSERA_CHECK(num_weights >= 0, ValueError, "embedding_backward: num_weights must be non-negative, got {}",
                num_weights);
  const int64_t D = grad_out.size(-1);
  Tensor grad_weight = full({num_weights, D}, 0, grad_out.options());
  Tensor flat = reshape(indices, {-1});
  if (flat.numel() > 0 && D > 0) {
    backend_for(grad_out).index_add(grad_weight, 0, flat, reshape(grad_out, {flat.numel(), D}));
  }
  return grad_weight;
}

Tensor one_hot(const Tensor& indices, int64_t num_classes) {
  check_defined("one_hot", indices, "self");
  TESSERA_CHECK(indices.dtype() == DType::Int64, DTypeError,
                "one_hot: one_hot is only applicable to index tensor of type LongTensor (int64), got {}",
                dtype_name(indices.dtype()));
  // The classes are validated (and counted) on the host, as PyTorch does.
  Tensor host = contiguous(to(indices, Device::cpu(), DType::Int64));
  const int64_t* p = host.data_ptr<int64_t>();
  const int64_t n = host.numel();
  int64_t lo = 0, hi = -1;
  if (n > 0) {
    lo = *std::min_element(p, p + n);
    hi = *std::max_element(p, p + n);
  }
  if (num_classes == -1) {
    TESSERA_CHECK(n > 0, ValueError, "one_hot: Can not infer total number of classes from empty tensor.");
    num_classes = hi + 1;
  }
  TESSERA_CHECK(num_classes >= 0, ValueError, "one_hot: num_classes must be -1 or non-negative, got {}",
                num_classes);
  TESSERA_CHECK(lo >= 0, ValueError, "one_hot: Class values must be non-negative (got {}).", lo);
  TESSERA_CHECK(hi < num_classes, ValueError,
                "one_hot: Class values must be smaller than num_classes (got {}, num_classes {}).", hi, num_classes);
  Shape shape = indices.sizes().vec();
  shape.push_back(num_classes);
  Tensor out = full(shape, 0, indices.options());
  if (n > 0) {
    Tensor index = unsqueeze(indices, -1);
    Tensor ones = expand(scalar_tensor(1, indices.options()), index.sizes());
    backend_for(out).scatter_add(out, out.dim() - 1, index, ones);
  }
  return out;
}

namespace {
Tensor tril_triu(const char* op, const Tensor& x, int64_t k, bool upper) {
  check_defined(op, x, "self");
  TESSERA_CHECK(x.dim() >= 2, ShapeError, "{}: input tensor must have at least 2 dimensions, got shape {}", op,
                shape_str(x.sizes()));
  Tensor out = empty(x.sizes(), x.options());
  if (out.numel() > 0) backend_for(x).tril_triu(out, x, k, upper);
  return out;
}
}  // namespace

Tensor tril(const Tensor& x, int64_t k) { return tril_triu("tril", x, k, false); }
Tensor triu(const Tensor& x, int64_t k) { return tril_triu("triu", x, k, true); }

}  // namespace tessera::raw
