// CPU reduction primitives: reduce (sum/mean/prod/max/min), arg_reduce (max/min with indices),
// var (two-pass) and logsumexp (max, then sum of exp). Built on the engine in reduce_engine.h
// (Note [cpu reduction strategy]); accumulation in acc_type (Note [reduced precision compute]).
#include <cmath>
#include <limits>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/cpu/reduce_engine.h"
#include "tessera/tensor/cpu/vec_math.h"
#include "tessera/tensor/raw.h"

namespace tessera::cpu {

namespace {

template <typename A, typename T>
inline A load(T x) {
  return cast_element<A>(x);
}

template <typename A>
struct SumOp {
  A identity() const { return A(0); }
  A combine(A a, A b) const { return a + b; }
  template <typename T>
  A map(T x, A) const { return load<A>(x); }
};
template <typename A>
struct ProdOp {
  A identity() const { return A(1); }
  A combine(A a, A b) const { return a * b; }
  template <typename T>
  A map(T x, A) const { return load<A>(x); }
};
// max/min propagate NaN: a NaN operand wins. contig() is the engine's fast path for a
// contiguous run: an `omp simd` max/min plus a NaN flag (a lane-array select loop does not vectorise).
template <typename A, bool IsMax>
struct ExtremeOp {
  A identity() const {
    if constexpr (std::numeric_limits<A>::has_infinity)
      return IsMax ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::infinity();
    else return IsMax ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
  }
  A combine(A a, A b) const {
    if constexpr (IsMax) return ((a > b) | (a != a)) ? a : b;
    else return ((a < b) | (a != a)) ? a : b;
  }
  template <typename T>
  A map(T x, A) const { return load<A>(x); }
  template <typename T>
  A contig(const T* p, int64_t n, A) const {
    A m = identity();
    int nan = 0;  // int, not bool: a bool reduction blocks vectorisation
    if constexpr (IsMax) {
#pragma omp simd reduction(max : m) reduction(| : nan)
      for (int64_t i = 0; i < n; ++i) {
        A v = load<A>(p[i]);
        m = v > m ? v : m;
        nan |= int(v != v);
      }
    } else {
#pragma omp simd reduction(min : m) reduction(| : nan)
      for (int64_t i = 0; i < n; ++i) {
        A v = load<A>(p[i]);
        m = v < m ? v : m;
        nan |= int(v != v);
      }
    }
    if constexpr (std::numeric_limits<A>::has_quiet_NaN) {
      if (nan) return std::numeric_limits<A>::quiet_NaN();
    }
    return m;
  }
};
template <typename A>
using MaxOp = ExtremeOp<A, true>;
template <typename A>
using MinOp = ExtremeOp<A, false>;
// Sum of squared deviations from the per-output mean (param).
template <typename A>
struct SqDevOp {
  A identity() const { return A(0); }
  A combine(A a, A b) const { return a + b; }
  template <typename T>
  A map(T x, A mean) const {
    A d = load<A>(x) - mean;
    return d * d;
  }
};
// Sum of exp(x - max) with the per-output max as param.
template <typename A>
struct SumExpOp {
  A identity() const { return A(0); }
  A combine(A a, A b) const { return a + b; }
  template <typename T>
  A map(T x, A m) const {
    if constexpr (std::is_same_v<A, float>) return vec::exp_f32(load<A>(x) - m);
    else return std::exp(load<A>(x) - m);
  }
};

std::vector<bool> reduced_mask(const Tensor& in, IntArrayRef dims) {
  std::vector<bool> mask(size_t(in.dim()), false);
  for (int64_t d : dims) mask[size_t(d)] = true;
  return mask;
}

// A contiguous accumulator in dtype `acc` shaped like `out` (the keepdim form): `out` itself
// when it already is one, else a new tensor that finish() copies (and casts) into `out`.
struct AccBuffer {
  Tensor out, buf;
  AccBuffer(const Tensor& o, DType acc) : out(o) {
    buf = (o.dtype() == acc && o.is_contiguous()) ? o : raw::empty(o.sizes(), TensorOptions(acc));
  }
  template <typename A>
  A* data() const { return static_cast<A*>(buf.data_ptr()); }
  void finish() const {
    if (!buf.is_same(out) && out.numel() > 0) backend_for(out).copy(out, buf);
  }
};

template <typename T>
void reduce_typed(ReduceOp op, const Tensor& out, const Tensor& in, IntArrayRef dims) {
  using A = acc_type<T>;
  AccBuffer acc(out, dtype_of<A>::value);
  A* a = acc.template data<A>();
  std::vector<bool> mask = reduced_mask(in, dims);
  switch (op) {
    case ReduceOp::Sum: reduce_into<T, A>(in, mask, a, nullptr, SumOp<A>{}); break;
    case ReduceOp::Mean: {
      reduce_into<T, A>(in, mask, a, nullptr, SumOp<A>{});
      int64_t n = 1;
      for (int64_t d : dims) n *= in.size(d);
      int64_t n_out = out.numel();
      if constexpr (std::is_floating_point_v<A>) {
        for (int64_t i = 0; i < n_out; ++i) a[i] = a[i] / A(n);
      } else {
        TESSERA_INTERNAL_ASSERT(false, "mean reached the kernel with an integer dtype");
      }
      break;
    }
    case ReduceOp::Prod: reduce_into<T, A>(in, mask, a, nullptr, ProdOp<A>{}); break;
    case ReduceOp::Max: reduce_into<T, A>(in, mask, a, nullptr, MaxOp<A>{}); break;
    case ReduceOp::Min: reduce_into<T, A>(in, mask, a, nullptr, MinOp<A>{}); break;
  }
  acc.finish();
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const Tensor& out, const Tensor& in, IntArrayRef dims) {
  TESSERA_DISPATCH_ALL_TYPES(in.dtype(), reduce_op_name(op), [&] { reduce_typed<scalar_t>(op, out, in, dims); });
}

void CpuBackend::var(const Tensor& out, const Tensor& in, IntArrayRef dims, int64_t correction) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), "var", [&] {
    using T = scalar_t;
    using A = acc_type<T>;
    AccBuffer acc(out, dtype_of<A>::value);
    A* a = acc.template data<A>();
    std::vector<bool> mask = reduced_mask(in, dims);
    const int64_t n_out = out.numel();
    int64_t n = 1;
    for (int64_t d : dims) n *= in.size(d);
    std::vector<A> mean(static_cast<size_t>(n_out));
    reduce_into<T, A>(in, mask, mean.data(), nullptr, SumOp<A>{});
    for (int64_t i = 0; i < n_out; ++i) mean[i] /= A(n);
    reduce_into<T, A>(in, mask, a, mean.data(), SqDevOp<A>{});
    // Divisor max(n - correction, 0), as PyTorch (0 gives inf or nan).
    A div = A(std::max<int64_t>(n - correction, 0));
    for (int64_t i = 0; i < n_out; ++i) a[i] = a[i] / div;
    acc.finish();
  });
}

void CpuBackend::logsumexp(const Tensor& out, const Tensor& in, IntArrayRef dims) {
  TESSERA_DISPATCH_FLOATING_TYPES(in.dtype(), "logsumexp", [&] {
    using T = scalar_t;
    using A = acc_type<T>;
    AccBuffer acc(out, dtype_of<A>::value);
    A* a = acc.template data<A>();
    std::vector<bool> mask = reduced_mask(in, dims);
    const int64_t n_out = out.numel();
    std::vector<A> mx(static_cast<size_t>(n_out));
    reduce_into<T, A>(in, mask, mx.data(), nullptr, MaxOp<A>{});
    reduce_into<T, A>(in, mask, a, mx.data(), SumExpOp<A>{});
    // An infinite or NaN max decides the result (all -inf -> -inf, any +inf -> +inf).
    for (int64_t i = 0; i < n_out; ++i) a[i] = std::isfinite(mx[i]) ? mx[i] + std::log(a[i]) : mx[i];
    acc.finish();
  });
}

// ---- arg_reduce ----

namespace {

// True when v should replace the current best b (first occurrence wins ties; the first NaN wins
// and is never replaced).
template <bool IsMax, typename A>
inline bool better(A v, A b) {
  if (b != b) return false;
  if (v != v) return true;
  return IsMax ? v > b : v < b;
}

// max/min with NaN propagation (vectorisable selects).
template <bool IsMax, typename A>
inline A extreme(A a, A b) {
  if constexpr (IsMax) return ((a > b) | (a != a)) ? a : b;
  else return ((a < b) | (a != a)) ? a : b;
}

template <typename T, bool IsMax>
void arg_reduce_typed(const Tensor& values, const Tensor& indices, const Tensor& in, int64_t dim) {
  using A = acc_type<T>;
  AccBuffer vbuf(values, values.dtype());
  AccBuffer ibuf(indices, kInt64);
  T* vals = vbuf.template data<T>();
  int64_t* idxs = ibuf.template data<int64_t>();
  std::vector<bool> mask(size_t(in.dim()), false);
  if (in.dim() > 0) mask[size_t(dim)] = true;
  const ReduceGeometry g = make_reduce_geometry(in, mask);
  const T* data = static_cast<const T*>(in.data_ptr());
  const int64_t n = g.n_red;  // > 0, checked by the caller
  const int64_t nk = int64_t(g.ksize.size());
  const int64_t rs = g.rsize.empty() ? 0 : g.rin.back();
  if (g.n_out > 0 && !g.outer_case()) {
    // Per output: the extreme value by a vectorised lane reduction, then the first index that
    // holds it (the first NaN when the extreme is NaN).
    parallel_for(g.n_out, n, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        int64_t in_off = offset_of(o, g.ksize.data(), g.kin.data(), nk);
        int64_t a_off = offset_of(o, g.ksize.data(), g.kout.data(), nk);
        const T* p = data + in_off;
        A best;
        if (rs == 1) {
          best = ExtremeOp<A, IsMax>{}.contig(p, n, A(0));
        } else {
          best = load<A>(p[0]);
          for (int64_t r = 1; r < n; ++r) best = extreme<IsMax>(best, load<A>(p[r * rs]));
        }
        int64_t bi = 0;
        if (best != best) {
          while (!(load<A>(p[bi * rs]) != load<A>(p[bi * rs]))) ++bi;
        } else {
          while (!(load<A>(p[bi * rs]) == best)) ++bi;
        }
        vals[a_off] = cast_element<T>(best);
        idxs[a_off] = bi;
      }
    });
  } else if (g.n_out > 0) {
    // Rows of outputs along the innermost kept dim, updated row by row.
    constexpr int64_t kCols = 256;
    const int64_t n_k = g.ksize.back(), sk = g.kin.back(), sko = g.kout.back();
    const int64_t col_blocks = (n_k + kCols - 1) / kCols;
    const int64_t items = (g.n_out / n_k) * col_blocks;
    parallel_for(items, n * std::min(n_k, kCols), [&](int64_t b, int64_t e) {
      A best[kCols];
      int64_t bi[kCols];
      for (int64_t it = b; it < e; ++it) {
        int64_t ko = it / col_blocks, c0 = (it % col_blocks) * kCols;
        int64_t w = std::min(kCols, n_k - c0);
        const T* base = data + offset_of(ko, g.ksize.data(), g.kin.data(), nk - 1) + c0 * sk;
        int64_t a_off = offset_of(ko, g.ksize.data(), g.kout.data(), nk - 1) + c0 * sko;
        for (int64_t j = 0; j < w; ++j) {
          best[j] = load<A>(base[j * sk]);
          bi[j] = 0;
        }
        for (int64_t r = 1; r < n; ++r) {
          const T* row = base + r * rs;
          for (int64_t j = 0; j < w; ++j) {
            A v = load<A>(row[j * sk]);
            bool take = better<IsMax>(v, best[j]);
            best[j] = take ? v : best[j];
            bi[j] = take ? r : bi[j];
          }
        }
        for (int64_t j = 0; j < w; ++j) {
          vals[a_off + j * sko] = cast_element<T>(best[j]);
          idxs[a_off + j * sko] = bi[j];
        }
      }
    });
  }
  vbuf.finish();
  ibuf.finish();
}

}  // namespace

void CpuBackend::arg_reduce(bool is_max, const Tensor& values, const Tensor& indices, const Tensor& in,
                            int64_t dim) {
  TESSERA_DISPATCH_ALL_TYPES(in.dtype(), is_max ? "max" : "min", [&] {
    if (is_max) arg_reduce_typed<scalar_t, true>(values, indices, in, dim);
    else arg_reduce_typed<scalar_t, false>(values, indices, in, dim);
  });
}

}  // namespace tessera::cpu
