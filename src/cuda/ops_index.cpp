// Indexing primitives on CUDA (index_select, index_add, gather, scatter_add, tril/triu): the
// host checks dtypes and passes uncoalesced strided views to index.cu.
#include "tessera/cuda/check.h"
#include "tessera/cuda/cuda_backend.h"
#include "tessera/tensor/raw.h"

namespace tessera::cuda {

namespace {
kern::TI index_ti(const Tensor& index, const char* op) {
  TESSERA_CHECK(index.dtype() == kInt64 || index.dtype() == kInt32, DTypeError,
                "{}: expected an int64 or int32 index, got {}", op, dtype_name(index.dtype()));
  kern::TI ti = make_ti(index, op);
  if (index.dim() == 0) ti.strides[0] = 0;  // a 0-dim index read as a 1-element vector
  return ti;
}
void check_same(const Tensor& a, const Tensor& b, const char* op) {
  TESSERA_CHECK(a.dtype() == b.dtype(), DTypeError, "{}: expected the same dtype, got {} and {}", op,
                dtype_name(a.dtype()), dtype_name(b.dtype()));
}
void check_addable(const Tensor& t, const char* op) {
  TESSERA_CHECK(t.dtype() != kBool, DTypeError, "{}: not implemented for dtype bool on CUDA", op);
}
}  // namespace

void CudaBackend::index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  check_same(out, in, "index_select");
  if (out.numel() == 0) return;
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::index_select(make_ti(out, "index_select"), make_ti(in, "index_select"), int(dim),
                                        index_ti(index, "index_select"), ctx.stream));
}

void CudaBackend::index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source) {
  check_same(self, source, "index_add_");
  check_addable(self, "index_add_");
  if (source.numel() == 0) return;
  Ctx ctx(self);
  TESSERA_CUDA_CHECK(kern::index_add(make_ti(self, "index_add_"), int(dim), index_ti(index, "index_add_"),
                                     make_ti(source, "index_add_"), ctx.stream));
}

void CudaBackend::gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  check_same(out, in, "gather");
  if (out.numel() == 0) return;
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::gather(make_ti(out, "gather"), make_ti(in, "gather"), int(dim), index_ti(index, "gather"),
                                  ctx.stream));
}

void CudaBackend::scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  check_same(self, src, "scatter_add_");
  check_addable(self, "scatter_add_");
  if (index.numel() == 0) return;
  Ctx ctx(self);
  TESSERA_CUDA_CHECK(kern::scatter_add(make_ti(self, "scatter_add_"), int(dim), index_ti(index, "scatter_add_"),
                                       make_ti(src, "scatter_add_"), ctx.stream));
}

void CudaBackend::tril_triu(const Tensor& out, const Tensor& in, int64_t k, bool upper) {
  const char* op = upper ? "triu" : "tril";
  check_same(out, in, op);
  TESSERA_CHECK(out.dim() >= 2, ShapeError, "{}: input tensor must have at least 2 dimensions", op);
  if (out.numel() == 0) return;
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::tril_triu(make_ti(out, op), make_ti(in, op), k, upper, ctx.stream));
}

}  // namespace tessera::cuda
