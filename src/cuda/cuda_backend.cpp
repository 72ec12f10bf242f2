// CUDA backend registration (only when a device is present), the public tessera::cuda API, the
// Tensor -> launch-argument helpers, and the copy/fill/elementwise/random primitives.
#include "tessera/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <cstring>
#include <string>

#include "tessera/cuda/allocator.h"
#include "tessera/cuda/host_allocator.h"
#include "tessera/cuda/check.h"
#include "tessera/cuda/cuda.h"
#include "tessera/tensor/raw.h"

namespace tessera::cuda {

static_assert(int(kern::DT::F32) == int(DType::Float32) && int(kern::DT::F64) == int(DType::Float64) &&
              int(kern::DT::BF16) == int(DType::BFloat16) && int(kern::DT::F16) == int(DType::Float16) &&
              int(kern::DT::I32) == int(DType::Int32) && int(kern::DT::I64) == int(DType::Int64) &&
              int(kern::DT::Bool) == int(DType::Bool));
static_assert(sizeof(BFloat16) == 2 && sizeof(Half) == 2);

// ---------------------------------------------------------------------------------------------
// Registration. Note [cuda registration]: at library load, the backend and allocator register
// only if cudaGetDeviceCount succeeds with at least one device; otherwise nothing is registered
// (CPU-only use is unaffected) and unavailable_reason() keeps the runtime's words.
namespace {
struct Registration {
  int count = 0;
  std::string reason;
  Registration() {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    if (err != cudaSuccess) {
      reason = fmt::format("cudaGetDeviceCount failed: {} ({})", cudaGetErrorName(err), cudaGetErrorString(err));
      cudaGetLastError();
      return;
    }
    if (n < 1) {
      reason = "cudaGetDeviceCount reported 0 devices";
      return;
    }
    count = n;
    static CudaBackend backend;
    register_allocator(DeviceType::CUDA, &caching_allocator());
    register_pinned_allocator(&pinned_host_allocator());
    register_backend(DeviceType::CUDA, &backend);
  }
};
Registration& registration() {
  static Registration r;
  return r;
}
// Runs at load; registration() is also safe to call earlier from another static initialiser.
[[maybe_unused]] const bool g_registered = (registration(), true);
}  // namespace

bool is_available() { return registration().count > 0; }
int device_count() { return registration().count; }
std::string unavailable_reason() { return registration().reason; }

void synchronize(int device) {
  TESSERA_CHECK(is_available(), DeviceError, "cuda::synchronize: no CUDA device ({})", unavailable_reason());
  if (device < 0) {
    TESSERA_CUDA_CHECK(cudaDeviceSynchronize());
    return;
  }
  DeviceGuard g(device);
  TESSERA_CUDA_CHECK(cudaDeviceSynchronize());
}

MemoryStats memory_stats(int device) { return caching_allocator().stats(device); }
size_t memory_allocated(int device) { return memory_stats(device).allocated; }
size_t memory_reserved(int device) { return memory_stats(device).reserved; }
size_t max_memory_allocated(int device) { return memory_stats(device).peak_allocated; }
void reset_peak_memory_stats(int device) { caching_allocator().reset_peak(device); }
void empty_cache() {
  if (!is_available()) return;
  caching_allocator().empty_cache();
  pinned_host_allocator().empty_cache();
}
size_t pinned_memory_cached() { return is_available() ? pinned_host_allocator().cached_bytes() : 0; }

void record_stream(const Tensor& t, cudaStream_t stream) {
  TESSERA_CHECK(t.defined() && t.is_cuda(), DeviceError, "record_stream: expected a CUDA tensor, got {}",
                t.defined() ? t.device().str() : std::string("an undefined tensor"));
  caching_allocator().record_stream(t.storage()->data(), t.device().index, stream);
}

// ---------------------------------------------------------------------------------------------
// Helpers.
kern::DT kdt(DType t) { return kern::DT(int(t)); }

kern::KScalar kscalar(Scalar s) {
  kern::KScalar k;
  k.d = s.to_double();
  k.i = s.to_long();
  return k;
}

template <int N>
kern::Geo<N> make_geo(const std::array<const Tensor*, N>& ts, const char* op) {
  kern::Geo<N> g;
  const Tensor& ref = *ts[0];
  for (int k = 0; k < N; ++k) {
    g.data[k] = static_cast<char*>(ts[k]->data_ptr());
    g.dtype[k] = kdt(ts[k]->dtype());
  }
  g.numel = ref.numel();
  std::vector<int64_t> sz;
  std::array<std::vector<int64_t>, N> st;
  for (int64_t d = 0; d < ref.dim(); ++d) {
    if (ref.size(d) == 1) continue;
    int64_t size = ref.size(d);
    bool merge = !sz.empty();
    for (int k = 0; k < N && merge; ++k) merge = st[k].back() == ts[k]->stride(d) * size;
    if (merge) {
      sz.back() *= size;
      for (int k = 0; k < N; ++k) st[k].back() = ts[k]->stride(d);
    } else {
      sz.push_back(size);
      for (int k = 0; k < N; ++k) st[k].push_back(ts[k]->stride(d));
    }
  }
  if (sz.empty()) {
    sz.push_back(1);
    for (int k = 0; k < N; ++k) st[k].push_back(1);
  }
  if (int(sz.size()) > kern::kMaxDims) {
    throw RuntimeError(fmt::format("{}: the CUDA backend supports at most {} non-mergeable dims, got a tensor of "
                                   "shape {} ({} after merging); make it contiguous first",
                                   op, kern::kMaxDims, shape_str(ref.sizes()), sz.size()));
  }
  g.ndim = int(sz.size());
  bool contiguous = g.ndim == 1;
  for (int d = 0; d < g.ndim; ++d) {
    g.sizes[d] = sz[size_t(d)];
    for (int k = 0; k < N; ++k) {
      g.strides[k][d] = st[k][size_t(d)];
      contiguous &= st[k][size_t(d)] == 1;
    }
  }
  g.contiguous = contiguous;
  return g;
}
template kern::Geo<1> make_geo<1>(const std::array<const Tensor*, 1>&, const char*);
template kern::Geo<2> make_geo<2>(const std::array<const Tensor*, 2>&, const char*);
template kern::Geo<3> make_geo<3>(const std::array<const Tensor*, 3>&, const char*);
template kern::Geo<4> make_geo<4>(const std::array<const Tensor*, 4>&, const char*);

kern::TI make_ti(const Tensor& t, const char* op) {
  TESSERA_CHECK(t.dim() <= kern::kMaxDims, RuntimeError, "{}: the CUDA backend supports at most {} dims, got {}", op,
                kern::kMaxDims, shape_str(t.sizes()));
  kern::TI ti;
  ti.data = static_cast<char*>(t.data_ptr());
  ti.dtype = kdt(t.dtype());
  ti.ndim = int(t.dim());
  for (int d = 0; d < ti.ndim; ++d) {
    ti.sizes[d] = t.size(d);
    ti.strides[d] = t.stride(d);
  }
  return ti;
}

OutBuf::OutBuf(const Tensor& t) : target(t) {
  buf = t.is_contiguous() ? t : raw::empty(t.sizes(), t.options());
}
void OutBuf::finish() {
  if (!buf.is_same(target)) raw::copy_(target, buf);
}

Tensor contig(const Tensor& t) { return t.is_contiguous() ? t : raw::contiguous(t); }

namespace {
void check_device(const Tensor& t, const Tensor& ref, const char* op) {
  TESSERA_CHECK(t.device() == ref.device(), DeviceError, "{}: expected all tensors on {}, got one on {}", op,
                ref.device().str(), t.device().str());
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// copy and fill.
void CudaBackend::copy(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  if (dst.is_cuda() && src.is_cuda() && dst.device() == src.device()) {
    Ctx ctx(dst);
    if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
      if (dst.data_ptr() != src.data_ptr())
        TESSERA_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), dst.nbytes(), cudaMemcpyDeviceToDevice,
                                           ctx.stream));
      return;
    }
    TESSERA_CUDA_CHECK(kern::copy(make_geo<2>({&dst, &src}, "copy_"), ctx.stream));
    return;
  }
  if (dst.is_cuda() && src.is_cuda()) {  // across devices: stage src contiguously on dst's device
    Tensor s = contig(src);
    Tensor staged = raw::empty(s.sizes(), TensorOptions(s.dtype()).device(dst.device()));
    {
      Ctx sctx(s);
      TESSERA_CUDA_CHECK(cudaStreamSynchronize(sctx.stream));
    }
    Ctx ctx(dst);
    TESSERA_CUDA_CHECK(cudaMemcpyPeerAsync(staged.data_ptr(), dst.device().index, s.data_ptr(), s.device().index,
                                           s.nbytes(), ctx.stream));
    copy(dst, staged);
    return;
  }
  if (dst.is_cuda()) {  // host -> device
    TESSERA_CHECK(src.is_cpu(), DeviceError, "copy_: unsupported source device {}", src.device().str());
    Ctx ctx(dst);
    Tensor hs = src.is_contiguous() ? src : raw::contiguous(src);
    if (dst.dtype() == src.dtype() && dst.is_contiguous()) {
      TESSERA_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), hs.data_ptr(), dst.nbytes(), cudaMemcpyHostToDevice,
                                         ctx.stream));
      TESSERA_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
      return;
    }
    Tensor staged = raw::empty(hs.sizes(), TensorOptions(hs.dtype()).device(dst.device()));
    TESSERA_CUDA_CHECK(cudaMemcpyAsync(staged.data_ptr(), hs.data_ptr(), hs.nbytes(), cudaMemcpyHostToDevice,
                                       ctx.stream));
    TESSERA_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));  // hs may die when we return
    copy(dst, staged);
    return;
  }
  // device -> host
  TESSERA_CHECK(dst.is_cpu() && src.is_cuda(), DeviceError, "copy_: cuda backend got {} -> {}", src.device().str(),
                dst.device().str());
  Ctx ctx(src);
  Tensor ds = src;
  if (!(src.is_contiguous() && src.dtype() == dst.dtype())) {
    ds = raw::empty(src.sizes(), TensorOptions(dst.dtype()).device(src.device()));
    copy(ds, src);
  }
  if (dst.is_contiguous()) {
    TESSERA_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), ds.data_ptr(), dst.nbytes(), cudaMemcpyDeviceToHost, ctx.stream));
    TESSERA_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
    return;
  }
  Tensor host = raw::empty(ds.sizes(), TensorOptions(ds.dtype()));
  TESSERA_CUDA_CHECK(cudaMemcpyAsync(host.data_ptr(), ds.data_ptr(), ds.nbytes(), cudaMemcpyDeviceToHost, ctx.stream));
  TESSERA_CUDA_CHECK(cudaStreamSynchronize(ctx.stream));
  backend_for(Device::cpu()).copy(dst, host);
}

// Asynchronous host<->device copies between pinned host memory and contiguous device memory of
// one dtype (Note [pinned host memory]): queued on the device's current stream, no wait. Every
// other case is the blocking copy above (PyTorch's non_blocking is likewise a hint).
void CudaBackend::copy_non_blocking(const Tensor& dst, const Tensor& src) {
  const bool plain = dst.numel() > 0 && dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous();
  const bool upload = dst.is_cuda() && src.is_cpu(), download = dst.is_cpu() && src.is_cuda();
  const Tensor& host = upload ? src : dst;
  if (plain && (upload || download) && host.storage()->is_pinned()) {
    Ctx ctx(upload ? dst : src);
    TESSERA_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), dst.nbytes(),
                                       upload ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost, ctx.stream));
    pinned_host_allocator().record_use(host.storage()->data(), ctx.stream);
    return;
  }
  copy(dst, src);
}

void CudaBackend::fill(const Tensor& out, Scalar value) {
  if (out.numel() == 0) return;
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::fill(make_geo<1>({&out}, "fill_"), kscalar(value), ctx.stream));
}

void CudaBackend::synchronize(Device device) { cuda::synchronize(device.index); }

// ---------------------------------------------------------------------------------------------
// elementwise.
void CudaBackend::unary(UnaryOp op, const Tensor& out, const Tensor& in) {
  check_device(in, out, "unary");
  if (op == UnaryOp::LogicalNot) {
    TESSERA_CHECK(out.dtype() == kBool, DTypeError, "logical_not: expected a bool output, got {}",
                  dtype_name(out.dtype()));
  } else {
    TESSERA_CHECK(out.dtype() == in.dtype(), DTypeError, "{}: output dtype {} differs from input dtype {}",
                  unary_op_name(op), dtype_name(out.dtype()), dtype_name(in.dtype()));
  }
  if (out.numel() == 0) return;
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::unary(int(op), make_geo<2>({&out, &in}, "unary"), ctx.stream));
}

void CudaBackend::binary(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b, Scalar alpha) {
  check_device(a, out, binary_op_name(op).data());
  check_device(b, out, binary_op_name(op).data());
  TESSERA_CHECK(a.dtype() == b.dtype(), DTypeError, "{}: operand dtypes differ ({} vs {})", binary_op_name(op),
                dtype_name(a.dtype()), dtype_name(b.dtype()));
  TESSERA_CHECK(is_comparison(op) ? out.dtype() == kBool : out.dtype() == a.dtype(), DTypeError,
                "{}: unexpected output dtype {} for inputs of dtype {}", binary_op_name(op), dtype_name(out.dtype()),
                dtype_name(a.dtype()));
  if (out.numel() == 0) return;
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::binary(int(op), make_geo<3>({&out, &a, &b}, "binary"), kscalar(alpha), ctx.stream));
}

void CudaBackend::binary_scalar(BinaryOp op, const Tensor& out, const Tensor& a, Scalar s, bool reverse) {
  check_device(a, out, binary_op_name(op).data());
  TESSERA_CHECK(is_comparison(op) ? out.dtype() == kBool : out.dtype() == a.dtype(), DTypeError,
                "{}: unexpected output dtype {} for input of dtype {}", binary_op_name(op), dtype_name(out.dtype()),
                dtype_name(a.dtype()));
  if (out.numel() == 0) return;
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::binary_scalar(int(op), make_geo<2>({&out, &a}, "binary"), kscalar(s), reverse, ctx.stream));
}

void CudaBackend::where(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  TESSERA_CHECK(cond.dtype() == kBool && a.dtype() == out.dtype() && b.dtype() == out.dtype(), DTypeError,
                "where: expected a bool condition and values of the output dtype {}, got {}, {}, {}",
                dtype_name(out.dtype()), dtype_name(cond.dtype()), dtype_name(a.dtype()), dtype_name(b.dtype()));
  if (out.numel() == 0) return;
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::where(make_geo<4>({&out, &cond, &a, &b}, "where"), ctx.stream));
}

void CudaBackend::clamp(const Tensor& out, const Tensor& in, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  TESSERA_CHECK(out.dtype() == in.dtype(), DTypeError, "clamp: output dtype {} differs from input dtype {}",
                dtype_name(out.dtype()), dtype_name(in.dtype()));
  if (out.numel() == 0) return;
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::clamp(make_geo<2>({&out, &in}, "clamp"), lo.has_value(), kscalar(lo.value_or(0)),
                                 hi.has_value(), kscalar(hi.value_or(0)), ctx.stream));
}

void CudaBackend::masked_fill(const Tensor& self, const Tensor& mask, Scalar value) {
  TESSERA_CHECK(mask.dtype() == kBool, DTypeError, "masked_fill: expected a bool mask, got {}",
                dtype_name(mask.dtype()));
  if (self.numel() == 0) return;
  Ctx ctx(self);
  TESSERA_CUDA_CHECK(kern::masked_fill(make_geo<2>({&self, &mask}, "masked_fill"), kscalar(value), ctx.stream));
}

void CudaBackend::unary_backward(UnaryOp op, const Tensor& grad_in, const Tensor& grad_out, const Tensor& x) {
  TESSERA_CHECK(is_floating_point(grad_in.dtype()) && grad_out.dtype() == grad_in.dtype() &&
                    x.dtype() == grad_in.dtype(),
                DTypeError, "{}_backward: expected floating tensors of one dtype, got {}, {}, {}", unary_op_name(op),
                dtype_name(grad_in.dtype()), dtype_name(grad_out.dtype()), dtype_name(x.dtype()));
  TESSERA_CHECK(op != UnaryOp::LogicalNot, ValueError, "logical_not_backward: logical_not is not differentiable");
  if (grad_in.numel() == 0) return;
  Ctx ctx(grad_in);
  TESSERA_CUDA_CHECK(
      kern::unary_backward(int(op), make_geo<3>({&grad_in, &grad_out, &x}, "unary_backward"), ctx.stream));
}

// ---------------------------------------------------------------------------------------------
// random (Note [philox stream]).
void CudaBackend::random_uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) {
  TESSERA_CHECK(is_floating_point(out.dtype()), DTypeError, "rand: expected a floating dtype, got {}",
                dtype_name(out.dtype()));
  OutBuf o(out);
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::random_uniform(o.ptr(), kdt(out.dtype()), out.numel(), low, high, seed, offset, ctx.stream));
  o.finish();
}
void CudaBackend::random_normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  TESSERA_CHECK(is_floating_point(out.dtype()), DTypeError, "randn: expected a floating dtype, got {}",
                dtype_name(out.dtype()));
  OutBuf o(out);
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::random_normal(o.ptr(), kdt(out.dtype()), out.numel(), mean, std, seed, offset, ctx.stream));
  o.finish();
}
void CudaBackend::random_int(const Tensor& out, int64_t low, int64_t high, uint64_t seed, uint64_t offset) {
  TESSERA_CHECK(out.dtype() != kBool, DTypeError, "randint: not implemented for dtype bool");
  TESSERA_CHECK(high > low, ValueError, "randint: expected low < high, got low={} high={}", low, high);
  OutBuf o(out);
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::random_int(o.ptr(), kdt(out.dtype()), out.numel(), low, high, seed, offset, ctx.stream));
  o.finish();
}
void CudaBackend::dropout_mask(const Tensor& out, double p, uint64_t seed, uint64_t offset) {
  TESSERA_CHECK(out.dtype() == kBool, DTypeError, "dropout: expected a bool mask, got {}", dtype_name(out.dtype()));
  OutBuf o(out);
  Ctx ctx(out);
  TESSERA_CUDA_CHECK(kern::dropout_mask(reinterpret_cast<bool*>(o.ptr()), out.numel(), p, seed, offset, ctx.stream));
  o.finish();
}

}  // namespace tessera::cuda
