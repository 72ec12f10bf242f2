// Host side of the fused attention primitives on CUDA (kernels/attention.cu): checks what the
// kernels support, allocates the backward's D_i workspace, launches.
#include "tessera/cuda/check.h"
#include "tessera/cuda/cuda_backend.h"
#include "tessera/tensor/raw.h"

namespace tessera::cuda {

namespace {
void check_supported(const char* op, const Tensor& q, const Tensor& lse) {
  TESSERA_CHECK(kern::attention_supported(kdt(q.dtype()), q.size(3)), ValueError,
                "{}: the CUDA kernel supports bfloat16/float16 with head dim 64 or 128, got {} with q {}", op,
                dtype_name(q.dtype()), shape_str(q.sizes()));
  TESSERA_CHECK(lse.dtype() == kFloat32 && lse.is_contiguous(), DTypeError, "{}: lse must be contiguous float32, got {}",
                op, dtype_name(lse.dtype()));
}
}  // namespace

void CudaBackend::attention(const Tensor& out, const Tensor& lse, const Tensor& q, const Tensor& k, const Tensor& v,
                            bool causal, double scale) {
  const char* op = "scaled_dot_product_attention";
  check_supported(op, q, lse);
  Ctx ctx(q);
  Tensor qc = contig(q), kc = contig(k), vc = contig(v);
  OutBuf o(out);
  TESSERA_CUDA_CHECK(kern::attention_forward(o.ptr(), lse.data_ptr<float>(), cptr(qc), cptr(kc), cptr(vc),
                                             kdt(q.dtype()), q.size(0) * q.size(1), q.size(2), k.size(2), q.size(3),
                                             causal, scale, ctx.stream));
  o.finish();
}

void CudaBackend::attention_backward(const Tensor& dq, const Tensor& dk, const Tensor& dv, const Tensor& dout,
                                     const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out,
                                     const Tensor& lse, bool causal, double scale) {
  const char* op = "scaled_dot_product_attention_backward";
  Tensor ls = contig(lse);
  check_supported(op, q, ls);
  Ctx ctx(q);
  Tensor qc = contig(q), kc = contig(k), vc = contig(v), gc = contig(dout), oc = contig(out);
  int64_t bh = q.size(0) * q.size(1);
  Tensor di = raw::empty({bh * q.size(2)}, TensorOptions(kFloat32).device(q.device()));
  OutBuf bq(dq), bk(dk), bv(dv);
  TESSERA_CUDA_CHECK(kern::attention_backward(bq.ptr(), bk.ptr(), bv.ptr(), cptr(gc), cptr(qc), cptr(kc), cptr(vc),
                                              cptr(oc), ls.data_ptr<float>(), di.data_ptr<float>(), kdt(q.dtype()),
                                              bh, q.size(2), k.size(2), q.size(3), causal, scale, ctx.stream));
  bq.finish();
  bk.finish();
  bv.finish();
}

}  // namespace tessera::cuda
