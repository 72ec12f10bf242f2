// CPU softmax / log_softmax (+ backward), layer_norm and rms_norm (+ backward). Inputs are
// contiguous and viewed as [rows, n] over the normalised (last) dims. Rows are split across
// threads and computed by the row kernels of norm_rows.h; 16-bit rows are converted to float32,
// computed, and rounded once on store.
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/cpu/norm_rows.h"
#include "tessera/tensor/cpu/vec_math.h"

namespace tessera::cpu {

// Note [avx-512 rows]
// The library is built for x86-64-v3 (AVX2, 8 float lanes). The float32 row kernels are also
// compiled for AVX-512 (16 lanes) and that copy is used when the CPU has it (the development
// machine and usual GPU hosts do): same source, same results up to the order of the lane sums.
// vec::set_avx512_rows_enabled(false) forces the baseline copy (the tests run both).
namespace {

using SoftmaxFn = void (*)(const float*, float*, int64_t, bool);
using SoftmaxBwdFn = void (*)(const float*, const float*, float*, int64_t, bool);
using LayerNormFn = void (*)(const float*, float*, const float*, const float*, int64_t, float, float*, float*);
using LayerNormBwdFn = void (*)(const float*, const float*, const float*, float, float, int64_t, float*, float*,
                                float*, double*, double*);
using RmsNormFn = void (*)(const float*, float*, const float*, int64_t, float, float*);
using RmsNormBwdFn = void (*)(const float*, const float*, const float*, float, int64_t, float*, float*, float*,
                              double*);

struct F32Rows {
  SoftmaxFn softmax;
  SoftmaxBwdFn softmax_backward;
  LayerNormFn layer_norm;
  LayerNormBwdFn layer_norm_backward;
  RmsNormFn rms_norm;
  RmsNormBwdFn rms_norm_backward;
};

#define TESSERA_F32_ROWS(ns, attr)                                                                              \
  namespace ns {                                                                                              \
  attr void softmax(const float* x, float* y, int64_t n, bool log) { rows::softmax<float>(x, y, n, log); }     \
  attr void softmax_backward(const float* g, const float* y, float* gi, int64_t n, bool log) {                 \
    rows::softmax_backward<float>(g, y, gi, n, log);                                                          \
  }                                                                                                           \
  attr void layer_norm(const float* x, float* y, const float* w, const float* b, int64_t n, float eps, float* m, \
                       float* r) {                                                                            \
    rows::layer_norm<float>(x, y, w, b, n, eps, m, r);                                                        \
  }                                                                                                           \
  attr void layer_norm_backward(const float* x, const float* g, const float* w, float mu, float rs, int64_t n,  \
                                float* xhat, float* gw, float* gi, double* dw, double* db) {                  \
    rows::layer_norm_backward<float>(x, g, w, mu, rs, n, xhat, gw, gi, dw, db);                               \
  }                                                                                                           \
  attr void rms_norm(const float* x, float* y, const float* w, int64_t n, float eps, float* r) {                \
    rows::rms_norm<float>(x, y, w, n, eps, r);                                                                \
  }                                                                                                           \
  attr void rms_norm_backward(const float* x, const float* g, const float* w, float rs, int64_t n, float* xhat, \
                              float* gw, float* gi, double* dw) {                                             \
    rows::rms_norm_backward<float>(x, g, w, rs, n, xhat, gw, gi, dw);                                         \
  }                                                                                                           \
  constexpr F32Rows table{softmax, softmax_backward, layer_norm, layer_norm_backward, rms_norm, rms_norm_backward}; \
  }

TESSERA_F32_ROWS(base_isa, )
#if defined(__x86_64__) && defined(__GNUC__)
#define TESSERA_HAVE_AVX512_ROWS 1
TESSERA_F32_ROWS(avx512_isa, __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"))))
#endif
#undef TESSERA_F32_ROWS

bool detect_avx512() {
#if TESSERA_HAVE_AVX512_ROWS
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
#else
  return false;
#endif
}

// -1: not decided yet (constant-initialised, so usable from other static initialisers).
std::atomic<int> g_avx512_rows{-1};

const F32Rows& f32_rows() {
#if TESSERA_HAVE_AVX512_ROWS
  if (vec::avx512_rows_enabled()) return avx512_isa::table;
#endif
  return base_isa::table;
}

// The row kernels for accumulation type A: float32 goes through the ISA table, float64 calls the
// templates directly.
template <typename A>
struct RowKernels;
template <>
struct RowKernels<float> {
  const F32Rows& t = f32_rows();
  void softmax(const float* x, float* y, int64_t n, bool log) const { t.softmax(x, y, n, log); }
  void softmax_backward(const float* g, const float* y, float* gi, int64_t n, bool log) const {
    t.softmax_backward(g, y, gi, n, log);
  }
  void layer_norm(const float* x, float* y, const float* w, const float* b, int64_t n, float eps, float* m,
                  float* r) const {
    t.layer_norm(x, y, w, b, n, eps, m, r);
  }
  void layer_norm_backward(const float* x, const float* g, const float* w, float mu, float rs, int64_t n,
                           float* xhat, float* gw, float* gi, double* dw, double* db) const {
    t.layer_norm_backward(x, g, w, mu, rs, n, xhat, gw, gi, dw, db);
  }
  void rms_norm(const float* x, float* y, const float* w, int64_t n, float eps, float* r) const {
    t.rms_norm(x, y, w, n, eps, r);
  }
  void rms_norm_backward(const float* x, const float* g, const float* w, float rs, int64_t n, float* xhat, float* gw,
                         float* gi, double* dw) const {
    t.rms_norm_backward(x, g, w, rs, n, xhat, gw, gi, dw);
  }
};
template <>
struct RowKernels<double> {
  void softmax(const double* x, double* y, int64_t n, bool log) const { rows::softmax<double>(x, y, n, log); }
  void softmax_backward(const double* g, const double* y, double* gi, int64_t n, bool log) const {
    rows::softmax_backward<double>(g, y, gi, n, log);
  }
  void layer_norm(const double* x, double* y, const double* w, const double* b, int64_t n, double eps, double* m,
                  double* r) const {
    rows::layer_norm<double>(x, y, w, b, n, eps, m, r);
  }
  void layer_norm_backward(const double* x, const double* g, const double* w, double mu, double rs, int64_t n,
                           double* xhat, double* gw, double* gi, double* dw, double* db) const {
    rows::layer_norm_backward<double>(x, g, w, mu, rs, n, xhat, gw, gi, dw, db);
  }
  void rms_norm(const double* x, double* y, const double* w, int64_t n, double eps, double* r) const {
    rows::rms_norm<double>(x, y, w, n, eps, r);
  }
  void rms_norm_backward(const double* x, const double* g, const double* w, double rs, int64_t n, double* xhat,
                         double* gw, double* gi, double* dw) const {
    rows::rms_norm_backward<double>(x, g, w, rs, n, xhat, gw, gi, dw);
  }
};

// Rows of a 16-bit tensor are staged in float32 buffers; float32/float64 rows are used in place.
template <typename T>
constexpr bool kStaged = !std::is_same_v<T, acc_type<T>>;

template <typename T, typename A>
inline const A* load_row(const T* p, int64_t n, A* buf) {
  if constexpr (std::is_same_v<T, A>) return p;
  else {
    for (int64_t i = 0; i < n; ++i) buf[i] = static_cast<A>(p[i]);
    return buf;
  }
}
template <typename T, typename A>
inline void store_row(T* dst, const A* src, int64_t n) {
  if constexpr (!std::is_same_v<T, A>) {
    for (int64_t i = 0; i < n; ++i) dst[i] = T(src[i]);
  }
}
// Where a row's result goes: straight into the output, or a staging buffer for 16-bit types.
template <typename T, typename A>
inline A* out_row(T* dst, A* buf) {
  if constexpr (std::is_same_v<T, A>) return dst;
  else return buf;
}

// Asks for a row two rows ahead while this one is computed: the kernels are bound by memory
// (a [4096, 768] layer_norm runs ~2x faster when its rows are in cache), and a software prefetch
// a few KB ahead measured ~10% faster than relying on the hardware prefetcher alone.
template <typename T>
inline void prefetch_row(const T* row, int64_t n) {
  for (int64_t q = 0; q < n; q += 64 / int64_t(sizeof(T))) __builtin_prefetch(row + q);
}

inline int64_t last_dim(const Tensor& t) { return t.dim() == 0 ? 1 : t.size(-1); }
inline int64_t rows_of(const Tensor& t, int64_t n) { return n == 0 ? 0 : t.numel() / n; }

// A weight (or bias) vector in the accumulation type: the tensor's data converted, or `fill`
// when the tensor is undefined.
template <typename T, typename A>
std::vector<A> param_vector(const Tensor& p, int64_t n, A fill) {
  std::vector<A> v(size_t(n), fill);
  if (p.defined()) {
    const T* d = static_cast<const T*>(p.data_ptr());
    for (int64_t i = 0; i < n; ++i) v[i] = static_cast<A>(d[i]);
  }
  return v;
}

// Splits [0, rows) into at most num_threads() blocks (for per-block partial weight gradients).
inline int64_t block_count(int64_t rows, int64_t n) {
  if (rows * n < kParallelGrain) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(rows, num_threads()));
}

// Sums per-block partials (double) into a [n] gradient tensor of type T.
template <typename T>
void sum_partials(const Tensor& t, const std::vector<double>& part, int64_t blocks, int64_t n) {
  T* d = static_cast<T*>(t.data_ptr());
  for (int64_t i = 0; i < n; ++i) {
    double s = 0;
    for (int64_t blk = 0; blk < blocks; ++blk) s += part[size_t(blk * n + i)];
    d[i] = T(static_cast<acc_type<T>>(s));
  }
}

template <typename T>
void softmax_kernel(const Tensor& out, const Tensor& in, bool log) {
  using A = acc_type<T>;
  const int64_t n = last_dim(in), rows = rows_of(in, n);
  const T* x = static_cast<const T*>(in.data_ptr());
  T* y = static_cast<T*>(out.data_ptr());
  const RowKernels<A> k;
  parallel_for(rows, n * 8, [&](int64_t b, int64_t e) {
    std::vector<A> xb(kStaged<T> ? size_t(n) : 0), yb(xb.size());
    for (int64_t r = b; r < e; ++r) {
      if (r + 2 < e) prefetch_row(x + (r + 2) * n, n);
      const A* xr = load_row<T, A>(x + r * n, n, xb.data());
      A* yr = out_row<T, A>(y + r * n, yb.data());
      k.softmax(xr, yr, n, log);
      store_row<T, A>(y + r * n, yr, n);
    }
  });
}

template <typename T>
void softmax_backward_kernel(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) {
  using A = acc_type<T>;
  const int64_t n = last_dim(out), rows = rows_of(out, n);
  const T* g = static_cast<const T*>(grad_out.data_ptr());
  const T* y = static_cast<const T*>(out.data_ptr());
  T* gi = static_cast<T*>(grad_in.data_ptr());
  const RowKernels<A> k;
  parallel_for(rows, n * 4, [&](int64_t b, int64_t e) {
    std::vector<A> gb(kStaged<T> ? size_t(n) : 0), yb(gb.size()), ib(gb.size());
    for (int64_t r = b; r < e; ++r) {
      const A* gr = load_row<T, A>(g + r * n, n, gb.data());
      const A* yr = load_row<T, A>(y + r * n, n, yb.data());
      A* ir = out_row<T, A>(gi + r * n, ib.data());
      k.softmax_backward(gr, yr, ir, n, log);
      store_row<T, A>(gi + r * n, ir, n);
    }
  });
}

template <typename T>
void layer_norm_kernel(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in,
                       const Tensor& weight, const Tensor& bias, double eps) {
  using A = acc_type<T>;
  const int64_t rows = mean.numel();
  const int64_t n = rows == 0 ? 0 : in.numel() / rows;
  const T* x = static_cast<const T*>(in.data_ptr());
  T* y = static_cast<T*>(out.data_ptr());
  A* mp = static_cast<A*>(mean.data_ptr());
  A* rp = static_cast<A*>(rstd.data_ptr());
  const std::vector<A> w = param_vector<T, A>(weight, n, A(1));
  const std::vector<A> bv = param_vector<T, A>(bias, n, A(0));
  const RowKernels<A> k;
  parallel_for(rows, n * 3, [&](int64_t b, int64_t e) {
    std::vector<A> xb(kStaged<T> ? size_t(n) : 0), yb(xb.size());
    for (int64_t r = b; r < e; ++r) {
      if (r + 2 < e) prefetch_row(x + (r + 2) * n, n);
      const A* xr = load_row<T, A>(x + r * n, n, xb.data());
      A* yr = out_row<T, A>(y + r * n, yb.data());
      k.layer_norm(xr, yr, w.data(), bv.data(), n, A(eps), mp + r, rp + r);
      store_row<T, A>(y + r * n, yr, n);
    }
  });
}

template <typename T>
void layer_norm_backward_kernel(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_bias,
                                const Tensor& grad_out, const Tensor& in, const Tensor& mean, const Tensor& rstd,
                                const Tensor& weight) {
  using A = acc_type<T>;
  const int64_t rows = mean.numel();
  const int64_t n = rows == 0 ? 0 : in.numel() / rows;
  const T* x = static_cast<const T*>(in.data_ptr());
  const T* g = static_cast<const T*>(grad_out.data_ptr());
  const A* mp = static_cast<const A*>(mean.data_ptr());
  const A* rp = static_cast<const A*>(rstd.data_ptr());
  T* gi = grad_in.defined() ? static_cast<T*>(grad_in.data_ptr()) : nullptr;
  const std::vector<A> w = param_vector<T, A>(weight, n, A(1));
  const bool need_w = grad_weight.defined(), need_b = grad_bias.defined();
  const int64_t blocks = block_count(rows, n);
  const int64_t per = (rows + blocks - 1) / blocks;
  // Per-block partial sums of g * xhat (weight) and g (bias), in double.
  std::vector<double> pw(need_w ? size_t(blocks * n) : 0, 0.0), pb(need_b ? size_t(blocks * n) : 0, 0.0);
  const RowKernels<A> k;
  parallel_for(blocks, per * n * 4, [&](int64_t bb, int64_t be) {
    std::vector<A> xb(kStaged<T> ? size_t(n) : 0), gb(xb.size()), ib(xb.size());
    std::vector<A> xhat(static_cast<size_t>(n)), gw(static_cast<size_t>(n));
    for (int64_t blk = bb; blk < be; ++blk) {
      double* dw = need_w ? pw.data() + blk * n : nullptr;
      double* db = need_b ? pb.data() + blk * n : nullptr;
      for (int64_t r = blk * per; r < std::min(rows, (blk + 1) * per); ++r) {
        const A* xr = load_row<T, A>(x + r * n, n, xb.data());
        const A* gr = load_row<T, A>(g + r * n, n, gb.data());
        A* ir = gi ? out_row<T, A>(gi + r * n, ib.data()) : nullptr;
        k.layer_norm_backward(xr, gr, w.data(), mp[r], rp[r], n, xhat.data(), gw.data(), ir, dw, db);
        if (gi) store_row<T, A>(gi + r * n, ir, n);
      }
    }
  });
  if (need_w) sum_partials<T>(grad_weight, pw, blocks, n);
  if (need_b) sum_partials<T>(grad_bias, pb, blocks, n);
}

template <typename T>
void rms_norm_kernel(const Tensor& out, const Tensor& rstd, const Tensor& in, const Tensor& weight, double eps) {
  using A = acc_type<T>;
  const int64_t rows = rstd.numel();
  const int64_t n = rows == 0 ? 0 : in.numel() / rows;
  const T* x = static_cast<const T*>(in.data_ptr());
  T* y = static_cast<T*>(out.data_ptr());
  A* rp = static_cast<A*>(rstd.data_ptr());
  const std::vector<A> w = param_vector<T, A>(weight, n, A(1));
  const RowKernels<A> k;
  parallel_for(rows, n * 2, [&](int64_t b, int64_t e) {
    std::vector<A> xb(kStaged<T> ? size_t(n) : 0), yb(xb.size());
    for (int64_t r = b; r < e; ++r) {
      if (r + 2 < e) prefetch_row(x + (r + 2) * n, n);
      const A* xr = load_row<T, A>(x + r * n, n, xb.data());
      A* yr = out_row<T, A>(y + r * n, yb.data());
      k.rms_norm(xr, yr, w.data(), n, A(eps), rp + r);
      store_row<T, A>(y + r * n, yr, n);
    }
  });
}

template <typename T>
void rms_norm_backward_kernel(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_out,
                              const Tensor& in, const Tensor& rstd, const Tensor& weight) {
  using A = acc_type<T>;
  const int64_t rows = rstd.numel();
  const int64_t n = rows == 0 ? 0 : in.numel() / rows;
  const T* x = static_cast<const T*>(in.data_ptr());
  const T* g = static_cast<const T*>(grad_out.data_ptr());
  const A* rp = static_cast<const A*>(rstd.data_ptr());
  T* gi = grad_in.defined() ? static_cast<T*>(grad_in.data_ptr()) : nullptr;
  const std::vector<A> w = param_vector<T, A>(weight, n, A(1));
  const bool need_w = grad_weight.defined();
  const int64_t blocks = block_count(rows, n);
  const int64_t per = (rows + blocks - 1) / blocks;
  std::vector<double> pw(need_w ? size_t(blocks * n) : 0, 0.0);
  const RowKernels<A> k;
  parallel_for(blocks, per * n * 4, [&](int64_t bb, int64_t be) {
    std::vector<A> xb(kStaged<T> ? size_t(n) : 0), gb(xb.size()), ib(xb.size());
    std::vector<A> xhat(static_cast<size_t>(n)), gw(static_cast<size_t>(n));
    for (int64_t blk = bb; blk < be; ++blk) {
      double* dw = need_w ? pw.data() + blk * n : nullptr;
      for (int64_t r = blk * per; r < std::min(rows, (blk + 1) * per); ++r) {
        const A* xr = load_row<T, A>(x + r * n, n, xb.data());
        const A* gr = load_row<T, A>(g + r * n, n, gb.data());
        A* ir = gi ? out_row<T, A>(gi + r * n, ib.data()) : nullptr;
        k.rms_norm_backward(xr, gr, w.data(), rp[r], n, xhat.data(), gw.data(), ir, dw);
        if (gi) store_row<T, A>(gi + r * n, ir, n);
      }
    }
  });
  if (need_w) sum_partials<T>(grad_weight, pw, blocks, n);
}

}  // namespace

namespace vec {
bool cpu_has_avx512() {
  static const bool has = detect_avx512();
  return has;
}
bool avx512_rows_enabled() {
  int v = g_avx512_rows.load(std::memory_order_relaxed);
  if (v < 0) {
    v = cpu_has_avx512() ? 1 : 0;
    g_avx512_rows.store(v, std::memory_order_relaxed);
  }
  return v == 1;
}
void set_avx512_rows_enabled(bool on) { g_avx512_rows.store(on && cpu_has_avx512() ? 1 : 0); }
}  // namespace vec

void CpuBackend::softmax(const Tensor& out, const Tensor& in, bool log) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), log ? "log_softmax" : "softmax",
                                  [&] { softmax_kernel<scalar_t>(out, in, log); });
}

void CpuBackend::softmax_backward(const Tensor& grad_in, const Tensor& grad_out, const Tensor& out, bool log) {
  TESSERA_DISPATCH_FLOATING_TYPES(out.dtype(), log ? "log_softmax_backward" : "softmax_backward",
                                  [&] { softmax_backward_kernel<scalar_t>(grad_in, grad_out, out, log); });
}

void CpuBackend::layer_norm(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& in,
                            const Tensor& weight, const Tensor& bias, double eps) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), "layer_norm",
                                  [&] { layer_norm_kernel<scalar_t>(out, mean, rstd, in, weight, bias, eps); });
}

void CpuBackend::layer_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_bias,
                                     const Tensor& grad_out, const Tensor& in, const Tensor& mean,
                                     const Tensor& rstd, const Tensor& weight) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), "layer_norm_backward", [&] {
    layer_norm_backward_kernel<scalar_t>(grad_in, grad_weight, grad_bias, grad_out, in, mean, rstd, weight);
  });
}

void CpuBackend::rms_norm(const Tensor& out, const Tensor& rstd, const Tensor& in, const Tensor& weight, double eps) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), "rms_norm",
                                  [&] { rms_norm_kernel<scalar_t>(out, rstd, in, weight, eps); });
}

void CpuBackend::rms_norm_backward(const Tensor& grad_in, const Tensor& grad_weight, const Tensor& grad_out,
                                   const Tensor& in, const Tensor& rstd, const Tensor& weight) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), "rms_norm_backward", [&] {
    rms_norm_backward_kernel<scalar_t>(grad_in, grad_weight, grad_out, in, rstd, weight);
  });
}

}  // namespace tessera::cpu
