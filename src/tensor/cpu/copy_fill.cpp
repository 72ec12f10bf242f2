// CPU copy (any strides, any dtype pair) and fill, plus the backend's registration and threads.
#include <omp.h>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/loops.h"

namespace tessera {

Backend& cpu_backend_instance() {
  static cpu::CpuBackend backend;
  return backend;
}

namespace cpu {

namespace {
int g_num_threads = 0;  // 0 = not set yet: all cores
}

int num_threads() {
  if (g_num_threads <= 0) g_num_threads = omp_get_num_procs();
  return g_num_threads;
}
void set_num_threads(int n) { g_num_threads = n > 0 ? n : omp_get_num_procs(); }

void CpuBackend::copy(const Tensor& dst, const Tensor& src) {
  TESSERA_CHECK(src.is_cpu() && dst.is_cpu(), DeviceError, "copy_: cpu backend got {} -> {}", src.device().str(),
                dst.device().str());
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    const char* s = static_cast<const char*>(src.data_ptr());
    char* d = static_cast<char*>(dst.data_ptr());
    if (s == d) return;
    int64_t n = int64_t(dst.nbytes());
    parallel_for(n, 1, [&](int64_t b, int64_t e) { std::memmove(d + b, s + b, size_t(e - b)); });
    return;
  }
  TESSERA_DISPATCH_ALL_TYPES(dst.dtype(), "copy_", [&] {
    using dst_t = scalar_t;
    TESSERA_DISPATCH_ALL_TYPES(src.dtype(), "copy_", [&] {
      using src_t = scalar_t;
      cpu_map<dst_t, src_t>(dst, [](src_t v) { return cast_element<dst_t>(v); }, {&src});
    });
  });
}

void CpuBackend::fill(const Tensor& out, Scalar value) {
  TESSERA_DISPATCH_ALL_TYPES(out.dtype(), "fill_", [&] {
    scalar_t v = value.to<scalar_t>();
    cpu_map<scalar_t>(out, [v]() { return v; }, {});
  });
}

}  // namespace cpu
}  // namespace tessera
