// Reductions, softmax, layer/RMS norm and cross-entropy on CUDA: the host side permutes the
// reduced dims last and makes the input contiguous (no copy when it already is), then the row
// kernels of reduce.cu / norm.cu run (Note [row kernels] in kernels/rowwise.cuh for the norms);
// results go through a contiguous temporary when needed.
#include "tessera/cuda/check.h"
#include "tessera/cuda/cuda_backend.h"
#include "tessera/tensor/raw.h"

namespace tessera::cuda {

namespace {
// in viewed as [rows, n] with the reduced dims last (contiguous), and rows / n.
struct Rows {
  Tensor data;
  int64_t rows = 0, n = 0;
};
Rows rows_of(const Tensor& in, IntArrayRef dims) {
  std::vector<bool> red(size_t(in.dim()), false);
  for (int64_t d : dims) red[size_t(d)] = true;
  if (dims.empty()) std::fill(red.begin(), red.end(), true);
  std::vector<int64_t> perm;
  int64_t n = 1;
  for (int64_t d = 0; d < in.dim(); ++d)
    if (!red[size_t(d)]) perm.push_back(d);
  for (int64_t d = 0; d < in.dim(); ++d)
    if (red[size_t(d)]) {
      perm.push_back(d);
      n *= in.size(d);
    }
  Rows r;
  r.data = in.dim() == 0 ? in : contig(raw::permute(in, perm));
  r.n = n;
  r.rows = n == 0 ? 0 : in.numel() / n;
  if (n == 0) {
    r.rows = 1;
    for (int64_t d = 0; d < in.dim(); ++d)
      if (!red[size_t(d)]) r.rows *= in.size(d);
  }
  return r;
}
DType acc_dtype(DType t) {
  if (t == kFloat64) return kFloat64;
  if (is_floating_point(t)) return kFloat32;
  return kInt64;
}
DType stat_dtype(DType t) { return t == kFloat64 ? kFloat64 : kFloat32; }
void check_float(const Tensor& t, const char* op) {
  TESSERA_CHECK(is_floating_point(t.dtype()), DTypeError, "{}: not implemented for dtype {}", op,
                dtype_name(t.dtype()));
}
// Writes the per-row results `tmp` ([rows]) into `out` (any shape with rows elements).
void store_rows(const Tensor& out, const Tensor& tmp) { raw::copy_(out, raw::view(tmp, out.sizes())); }
}  // namespace

void CudaBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& in, IntArrayRef dims) {
  if (out.numel() == 0) return;
  Ctx ctx(in);
  Rows r = rows_of(in, dims);
  DType adt = acc_dtype(in.dtype());
  Tensor tmp = raw::empty({r.rows}, TensorOptions(adt).device(in.device()));
  // Few long rows: one block per row would leave most SMs idle, so split each row into `chunks`
  // equal pieces (when its length allows), reduce the pieces, then reduce the partial results.
  int64_t chunks = 1;
  if (r.rows < 128 && r.n >= (int64_t(1) << 16))
    while (chunks < 1024 && r.n % (chunks * 2) == 0 && r.n / (chunks * 2) >= 4096) chunks *= 2;
  if (chunks > 1) {
    kern::RedOp first = op == ReduceOp::Mean ? kern::RedOp::Sum : kern::RedOp(int(op));
    Tensor part = raw::empty({r.rows * chunks}, TensorOptions(adt).device(in.device()));
    TESSERA_CUDA_CHECK(kern::reduce_rows(first, mptr(part), cptr(r.data), kdt(in.dtype()), r.rows * chunks,
                                         r.n / chunks, ctx.stream));
    TESSERA_CUDA_CHECK(kern::reduce_rows(first, mptr(tmp), cptr(part), kdt(adt), r.rows, chunks, ctx.stream));
    if (op == ReduceOp::Mean) binary_scalar(BinaryOp::Div, tmp, tmp, Scalar(double(r.n)), false);
  } else {
    TESSERA_CUDA_CHECK(kern::reduce_rows(kern::RedOp(int(op)), mptr(tmp), cptr(r.data), kdt(in.dtype()), r.rows,
                                         r.n, ctx.stream));
  }
  store_rows(out, tmp);
}

void CudaBackend::arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim) {
  if (values.numel() == 0) return;
  TESSERA_CHECK(in.dim() == 0 || in.size(dim) > 0, IndexError,
                "{}: cannot compute over an empty dimension {} of shape {}", is_max ? "max" : "min", dim,
                shape_str(in.sizes()));
  Ctx ctx(in);
  Rows r = in.dim() == 0 ? rows_of(in, {}) : rows_of(in, IntArrayRef(dim));
  Tensor tv = raw::empty({r.rows}, TensorOptions(in.dtype()).device(in.device()));
  Tensor ti = raw::empty({r.rows}, TensorOptions(kInt64).device(in.device()));
  TESSERA_CUDA_CHECK(kern::arg_reduce_rows(is_max, mptr(tv), ti.data_ptr<int64_t>(), cptr(r.data), kdt(in.dtype()),
                                           r.rows, r.n, ctx.stream));
  if (values.defined()) store_rows(values, tv);
  if (indices.defined()) store_rows(indices, ti);
}

void CudaBackend::var(const Tensor& out, const Tensor& in, IntArrayRef dims, int64_t correction) {
  check_float(in, "var");
  if (out.numel() == 0) return;
  Ctx ctx(in);
  Rows r = rows_of(in, dims);
  Tensor tmp = raw::empty({r.rows}, TensorOptions(kFloat64).device(in.device()));
  TESSERA_CUDA_CHECK(kern::var_rows(tmp.data_ptr<double>(), cptr(r.data), kdt(in.dtype()), r.rows, r.n, correction,
                                    ctx.stream));
  store_rows(out, tmp);
}

void CudaBackend::logsumexp(const Tensor& out, const Tensor& in, IntArrayRef dims) {
  check_float(in, "logsumexp");
  if (out.numel() == 0) return;
  Ctx ctx(in);
  Rows r = rows_of(in, dims);
  Tensor tmp = raw::empty({r.rows}, TensorOptions(stat_dtype(in.dtype())).device(in.device()));
  TESSERA_CUDA_CHECK(kern::logsumexp_rows(mptr(tmp), cptr(r.data), kdt(in.dtype()), r.rows, r.n, ctx.stream));
  store_rows(out, tmp);
}

// ---- softmax and norms: [rows, n] over the last dim ----
namespace {
int64_t last_dim(const Tensor& t) { return t.dim() == 0 ? 1 : t.size(t.dim() - 1); }
int64_t rows_for(const Tensor& t) {
  int64_t n = last_dim(t);
  return n == 0 ? 0 : t.numel() / n;
}
}  // namespace

void CudaBackend::softmax(const Tensor& out, const Tensor& in, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  check_float(in, op);
  TESSERA_CHECK(out.dtype() == in.dtype(), DTypeError, "{}: output dtype {} differs from input dtype {}", op,
                dtype_name(out.dtype()), dtype_name(in.dtype()));
  Ctx ctx(in);
  Tensor x = contig(in);
  OutBuf o(out);
  TESSERA_CUDA_CHECK(kern::softmax(o.ptr(), cptr(x), kdt(in.dtype()), rows_for(in), last_dim(in), log, ctx.stream));
  o.finish();
}

void CudaBackend::softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) {
  check_float(out, log ? "log_softmax_backward" : "softmax_backward");
  Ctx ctx(out);
  Tensor g = contig(grad_out), y = contig(out);
  OutBuf o(grad_in);
  TESSERA_CUDA_CHECK(kern::softmax_backward(o.ptr(), cptr(g), cptr(y), kdt(out.dtype()), rows_for(out), last_dim(out),
                                            log, ctx.stream));
  o.finish();
}

void CudaBackend::layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in,
                             const Tensor& weight, const Tensor& bias, double eps) {
  check_float(in, "layer_norm");
  Ctx ctx(in);
  int64_t rows = mean.numel();
  int64_t n = rows == 0 ? 0 : in.numel() / rows;
  Tensor x = contig(in), w = weight.defined() ? contig(weight) : weight, b = bias.defined() ? contig(bias) : bias;
  OutBuf o(out), m(mean), r(rstd);
  TESSERA_CHECK(mean.dtype() == stat_dtype(in.dtype()) && rstd.dtype() == mean.dtype(), DTypeError,
                "layer_norm: mean/rstd must be {}, got {}", dtype_name(stat_dtype(in.dtype())),
                dtype_name(mean.dtype()));
  TESSERA_CUDA_CHECK(kern::layer_norm(o.ptr(), m.ptr(), r.ptr(), cptr(x), cptr(w), cptr(b), kdt(in.dtype()), rows, n,
                                      eps, ctx.stream));
  o.finish();
  m.finish();
  r.finish();
}

void CudaBackend::layer_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_bias,
                                      const Tensor& grad_out, const Tensor& in, const Tensor& mean,
                                      const Tensor& rstd, const Tensor& weight) {
  check_float(in, "layer_norm_backward");
  Ctx ctx(in);
  int64_t rows = rstd.numel();
  int64_t n = rows == 0 ? 0 : in.numel() / rows;
  Tensor x = contig(in), g = contig(grad_out), w = weight.defined() ? contig(weight) : weight;
  Tensor mu = mean.defined() ? contig(mean) : mean, rs = contig(rstd);
  std::optional<OutBuf> gi, gw, gb;
  if (grad_in.defined()) gi.emplace(grad_in);
  if (grad_weight.defined()) gw.emplace(grad_weight);
  if (grad_bias.defined()) gb.emplace(grad_bias);
  Tensor ws;  // partial column sums of the two-stage weight/bias reduction
  if (gw || gb) {
    kern::NormParamsPlan plan = kern::norm_params_plan(rows, n);
    ws = raw::empty({2 * plan.chunks * n}, TensorOptions(stat_dtype(in.dtype())).device(in.device()));
  }
  TESSERA_CUDA_CHECK(kern::layer_norm_backward(gi ? gi->ptr() : nullptr, gw ? gw->ptr() : nullptr,
                                               gb ? gb->ptr() : nullptr, cptr(g), cptr(x), cptr(mu), cptr(rs), cptr(w),
                                               mptr(ws), kdt(in.dtype()), rows, n, ctx.stream));
  if (gi) gi->finish();
  if (gw) gw->finish();
  if (gb) gb->finish();
}

void CudaBackend::rms_norm(const Tensor& out, const Tensor& rstd, const Tensor& in, const Tensor& weight, double eps) {
  check_float(in, "rms_norm");
  Ctx ctx(in);
  int64_t rows = rstd.numel();
  int64_t n = rows == 0 ? 0 : in.numel() / rows;
  TESSERA_CHECK(rstd.dtype() == stat_dtype(in.dtype()), DTypeError, "rms_norm: rstd must be {}, got {}",
                dtype_name(stat_dtype(in.dtype())), dtype_name(rstd.dtype()));
  Tensor x = contig(in), w = weight.defined() ? contig(weight) : weight;
  OutBuf o(out), r(rstd);
  TESSERA_CUDA_CHECK(kern::rms_norm(o.ptr(), r.ptr(), cptr(x), cptr(w), kdt(in.dtype()), rows, n, eps, ctx.stream));
  o.finish();
  r.finish();
}

void CudaBackend::rms_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_out,
                                    const Tensor& in, const Tensor& rstd, const Tensor& weight) {
  layer_norm_backward(grad_in, grad_weight, Tensor(), grad_out, in, Tensor(), rstd, weight);
}

void CudaBackend::cross_entropy(const Tensor& loss, const Tensor& lse, const Tensor& logits, const Tensor& target,
                                int64_t ignore_index, double label_smoothing) {
  check_float(logits, "cross_entropy");
  TESSERA_CHECK(loss.dtype() == lse.dtype() && is_floating_point(loss.dtype()), DTypeError,
                "cross_entropy: loss and lse must share a floating dtype, got {} and {}", dtype_name(loss.dtype()),
                dtype_name(lse.dtype()));
  Ctx ctx(logits);
  int64_t N = target.numel();
  int64_t C = N == 0 ? 0 : logits.numel() / N;
  Tensor x = contig(logits), t = contig(raw::to(target, target.device(), kInt64));
  OutBuf l(loss), s(lse);
  TESSERA_CUDA_CHECK(kern::cross_entropy(l.ptr(), s.ptr(), kdt(loss.dtype()), cptr(x), kdt(logits.dtype()),
                                         t.data_ptr<int64_t>(), N, C, ignore_index, label_smoothing, ctx.stream));
  l.finish();
  s.finish();
}

void CudaBackend::cross_entropy_backward(const Tensor& grad_logits, const Tensor& grad_loss, const Tensor& logits,
                                         const Tensor& lse, const Tensor& target, int64_t ignore_index,
                                         double label_smoothing) {
  check_float(logits, "cross_entropy_backward");
  Ctx ctx(logits);
  int64_t N = target.numel();
  int64_t C = N == 0 ? 0 : logits.numel() / N;
  Tensor x = contig(logits), t = contig(raw::to(target, target.device(), kInt64)), s = contig(lse);
  Tensor g = grad_loss;
  if (g.dtype() != s.dtype()) g = raw::to(g, g.device(), s.dtype());
  int64_t gstride = 0;
  if (g.numel() == 1) gstride = 0;
  else if (g.dim() == 1) gstride = g.stride(0);
  else {
    g = contig(g);
    gstride = 1;
  }
  OutBuf o(grad_logits);
  TESSERA_CUDA_CHECK(kern::cross_entropy_backward(o.ptr(), cptr(g), gstride, kdt(s.dtype()), cptr(x), cptr(s),
                                                  kdt(logits.dtype()), t.data_ptr<int64_t>(), N, C, ignore_index,
                                                  label_smoothing, ctx.stream));
  o.finish();
}

}  // namespace tessera::cuda
