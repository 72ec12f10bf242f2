// Raw fused cross-entropy over class logits (log-softmax + NLL, with ignore_index and label
// smoothing) and its backward. The per-row work is one backend primitive; the reduction over
// rows is described in Note [cross-entropy reduction].
#include <limits>

#include "tessera/tensor/error.h"
#include "tessera/tensor/raw.h"

namespace tessera::raw {

// Note [cross-entropy reduction]
// Per row i (target t, C classes, eps = label_smoothing, lse = logsumexp of the row):
//   loss_i = (1 - eps) * (lse - x_t) + eps * mean_c(lse - x_c),  0 for rows with t == ignore_index.
// Mean divides the sum by the number of rows that are not ignored (PyTorch's weight sum without
// class weights; 0 / 0 = nan when every row is ignored). That count is read from the target on
// the host (one synchronisation for device tensors). The sum over rows, and the broadcast of the
// incoming gradient back to rows, are 1-row/1-column GEMMs with the scale as alpha, so they run
// on the tensor's device with no other primitive. Losses are float32 (float64 for float64
// logits), also for 16-bit logits.

namespace {

struct Rows {
  Tensor logits;  // [N, C], contiguous
  Tensor target;  // [N], int64
  DType loss_dtype;
};

Rows check_inputs(const char* op, const Tensor& logits, const Tensor& target, double label_smoothing) {
  TESSERA_CHECK(logits.defined() && target.defined(), ValueError, "{}: expected defined logits and target", op);
  TESSERA_CHECK(is_floating_point(logits.dtype()), DTypeError, "{}: expected floating point logits, got {}", op,
                dtype_name(logits.dtype()));
  TESSERA_CHECK(target.dtype() == DType::Int64, DTypeError,
                "{}: expected target dtype to be int64 (class indices), but got {}", op, dtype_name(target.dtype()));
  TESSERA_CHECK(logits.device() == target.device(), DeviceError,
                "{}: expected all tensors to be on the same device, but found at least two devices, {} and {}", op,
                logits.device().str(), target.device().str());
  TESSERA_CHECK(logits.dim() == 1 || logits.dim() == 2, ShapeError,
                "{}: expected logits of shape [N, C] or [C], got shape {}", op, shape_str(logits.sizes()));
  TESSERA_CHECK(label_smoothing >= 0.0 && label_smoothing <= 1.0, ValueError,
                "{}: label_smoothing must be between 0.0 and 1.0. Got: {}", op, label_smoothing);
  TESSERA_CHECK(logits.size(-1) > 0, ShapeError, "{}: logits of shape {} have no classes", op,
                shape_str(logits.sizes()));
  Rows r;
  if (logits.dim() == 1) {
    TESSERA_CHECK(target.dim() == 0, ShapeError,
                  "{}: for logits of shape [C] = {} the target must be 0-dim, got shape {}", op,
                  shape_str(logits.sizes()), shape_str(target.sizes()));
    r.logits = contiguous(view(logits, {1, logits.size(0)}));
    r.target = view(target, {1});
  } else {
    TESSERA_CHECK(target.dim() == 1, ShapeError, "{}: expected a target of shape [N] for logits {}, got shape {}",
                  op, shape_str(logits.sizes()), shape_str(target.sizes()));
    TESSERA_CHECK(target.size(0) == logits.size(0), ValueError,
                  "{}: Expected input batch_size ({}) to match target batch_size ({}).", op, logits.size(0),
                  target.size(0));
    r.logits = contiguous(logits);
    r.target = target;
  }
  r.loss_dtype = logits.dtype() == DType::Float64 ? DType::Float64 : DType::Float32;
  return r;
}

int64_t count_not_ignored(const Tensor& target, int64_t ignore_index) {
  Tensor host = contiguous(to(target, Device::cpu(), DType::Int64));
  const int64_t* p = host.data_ptr<int64_t>();
  int64_t n = 0;
  for (int64_t i = 0; i < host.numel(); ++i) n += p[i] != ignore_index;
  return n;
}

// scale * sum(rows) as a 0-dim tensor (rows is [N], contiguous).
Tensor scaled_sum(const Tensor& rows, double scale) {
  const int64_t n = rows.numel();
  Tensor out = empty({1, 1, 1}, rows.options());
  if (n == 0) {
    fill_(out, 0);
  } else {
    Tensor ones = full({1, n, 1}, 1, rows.options());
    backend_for(rows).gemm(out, view(rows, {1, 1, n}), ones, scale, 0.0);
  }
  return view(out, {});
}

// scale * g broadcast to [n] (g is 0-dim).
Tensor scaled_broadcast(const Tensor& g, int64_t n, double scale) {
  Tensor out = empty({1, n, 1}, g.options());
  if (n == 0) return view(out, {0});
  Tensor ones = full({1, n, 1}, 1, g.options());
  backend_for(g).gemm(out, ones, contiguous(view(g, {1, 1, 1})), scale, 0.0);
  return view(out, {n});
}

}  // namespace

std::tuple<Tensor, Tensor> cross_entropy(const Tensor& logits, const Tensor& target, int64_t ignore_index,
                                         double label_smoothing, Reduction reduction) {
  Rows r = check_inputs("cross_entropy", logits, target, label_smoothing);
  const int64_t n = r.logits.size(0);
  TensorOptions opts = TensorOptions(r.loss_dtype).device(logits.device());
  Tensor loss = empty({n}, opts), lse = empty({n}, opts);
  if (n > 0) {
    backend_for(logits).cross_entropy(loss, lse, r.logits, r.target, ignore_index, label_smoothing);
  }
  switch (reduction) {
    case Reduction::None:
      return {logits.dim() == 1 ? view(loss, {}) : loss, lse};
    case Reduction::Sum:
      return {scaled_sum(loss, 1.0), lse};
    case Reduction::Mean: {
      int64_t count = count_not_ignored(r.target, ignore_index);
      if (count == 0) return {full({}, std::numeric_limits<double>::quiet_NaN(), opts), lse};
      return {scaled_sum(loss, 1.0 / double(count)), lse};
    }
  }
  throw ValueError("cross_entropy: unknown reduction");
}

Tensor cross_entropy_backward(const Tensor& grad_loss, const Tensor& logits, const Tensor& lse, const Tensor& target,
                              int64_t ignore_index, double label_smoothing, Reduction reduction) {
  Rows r = check_inputs("cross_entropy_backward", logits, target, label_smoothing);
  const int64_t n = r.logits.size(0);
  TESSERA_CHECK(grad_loss.defined() && lse.defined(), ValueError,
                "cross_entropy_backward: expected defined grad_loss and lse");
  TESSERA_CHECK(lse.dim() == 1 && lse.size(0) == n && lse.dtype() == r.loss_dtype, ShapeError,
                "cross_entropy_backward: expected lse of shape [{}] and dtype {}, got {} {}", n,
                dtype_name(r.loss_dtype), shape_str(lse.sizes()), dtype_name(lse.dtype()));
  Tensor g = to(grad_loss, logits.device(), r.loss_dtype);
  Tensor g_rows;
  if (reduction == Reduction::None) {
    TESSERA_CHECK(g.numel() == n && g.dim() == (logits.dim() == 1 ? 0 : 1), ShapeError,
                  "cross_entropy_backward: expected grad_loss of the unreduced loss's shape ({}), got {}",
                  logits.dim() == 1 ? "[]" : shape_str({n}), shape_str(g.sizes()));
    g_rows = reshape(g, {n});
  } else {
    TESSERA_CHECK(g.dim() == 0, ShapeError,
                  "cross_entropy_backward: expected a 0-dim grad_loss for a reduced loss, got shape {}",
                  shape_str(g.sizes()));
    double scale = 1.0;
    if (reduction == Reduction::Mean) {
      int64_t count = count_not_ignored(r.target, ignore_index);
      scale = count > 0 ? 1.0 / double(count) : 0.0;  // every row ignored: every gradient is 0
    }
    g_rows = scaled_broadcast(g, n, scale);
  }
  Tensor grad = empty(r.logits.sizes(), logits.options());
  if (n > 0) {
    backend_for(logits).cross_entropy_backward(grad, g_rows, r.logits, lse, r.target, ignore_index, label_smoothing);
  }
  return view(grad, logits.sizes());
}

}  // namespace tessera::raw
