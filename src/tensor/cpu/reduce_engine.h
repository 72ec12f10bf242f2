// The CPU reduction engine: reduces a strided tensor over a set of dims into a contiguous
// accumulator buffer (one value per output element, in acc_type), for any associative op given
// as a functor. Used by cpu/reduction.cpp (sum, prod, max, var, logsumexp, ...).
//
// Note [cpu reduction strategy]
// The input's dims are split into kept dims K and reduced dims R, size-1 dims dropped, each
// list ordered by input stride (innermost = smallest) and coalesced. Then:
//  - "inner" case (the smallest stride is a reduced dim, e.g. sum over the last dim): each output
//    reduces the flattened R index space pairwise (leaves of kLeaf elements accumulated in
//    kLanes independent lanes, so contiguous leaves vectorise). Few outputs and many elements:
//    each output's range is split across threads and the partials combined in a fixed order.
//  - "outer" case (the smallest stride is a kept dim, e.g. sum over dim 0 of a matrix): rows of
//    up to kCols outputs are accumulated together (acc[j] op= x[r][j], vectorised over j),
//    pairwise over the rows r, so a column sum over 1e7 rows keeps its accuracy.
// Results are deterministic for a given thread count. The pairwise structure keeps float32 sums
// of 1e7 elements within ~1e-7 relative error of the exact value.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/tensor.h"

namespace tessera::cpu {

// Kept (k*) and reduced (r*) dims, outermost first, strides in elements. kout is the stride of
// a kept dim in the contiguous accumulator buffer.
struct ReduceGeometry {
  std::vector<int64_t> ksize, kin, kout;
  std::vector<int64_t> rsize, rin;
  int64_t n_out = 1;
  int64_t n_red = 1;
  // True when the smallest input stride belongs to a kept dim ("outer" case).
  bool outer_case() const { return !ksize.empty() && !rsize.empty() && kin.back() != 0 && kin.back() < rin.back(); }
};

// `reduced[d]` says whether dim d of `in` is reduced; the accumulator buffer is contiguous in
// the keepdim shape (reduced dims of size 1).
inline ReduceGeometry make_reduce_geometry(const Tensor& in, const std::vector<bool>& reduced) {
  ReduceGeometry g;
  const int64_t nd = in.dim();
  std::vector<int64_t> out_sizes(nd);
  for (int64_t d = 0; d < nd; ++d) out_sizes[d] = reduced[d] ? 1 : in.size(d);
  Shape out_strides = contiguous_strides(out_sizes);
  for (int64_t d = 0; d < nd; ++d) {
    if (reduced[d]) g.n_red *= in.size(d);
    else g.n_out *= in.size(d);
  }
  struct D { int64_t size, in, out; };
  std::vector<D> kd, rd;
  for (int64_t d = 0; d < nd; ++d) {
    if (in.size(d) == 1) continue;
    (reduced[d] ? rd : kd).push_back({in.size(d), in.stride(d), out_strides[d]});
  }
  // Outermost first: larger strides first; broadcast (stride 0) dims outermost of all.
  auto key = [](const D& d) { return d.in == 0 ? INT64_MAX : (d.in < 0 ? -d.in : d.in); };
  auto by_stride = [&](const D& a, const D& b) { return key(a) > key(b); };
  std::stable_sort(kd.begin(), kd.end(), by_stride);
  std::stable_sort(rd.begin(), rd.end(), by_stride);
  for (const D& d : kd) {
    if (!g.ksize.empty() && g.kin.back() == d.in * d.size && g.kout.back() == d.out * d.size) {
      g.ksize.back() *= d.size;
      g.kin.back() = d.in;
      g.kout.back() = d.out;
    } else {
      g.ksize.push_back(d.size);
      g.kin.push_back(d.in);
      g.kout.push_back(d.out);
    }
  }
  for (const D& d : rd) {
    if (!g.rsize.empty() && g.rin.back() == d.in * d.size) {
      g.rsize.back() *= d.size;
      g.rin.back() = d.in;
    } else {
      g.rsize.push_back(d.size);
      g.rin.push_back(d.in);
    }
  }
  return g;
}

// Element offset of linear index `i` over dims (sizes, strides), the last dim fastest.
inline int64_t offset_of(int64_t i, const int64_t* sizes, const int64_t* strides, int64_t nd) {
  int64_t off = 0;
  for (int64_t d = nd - 1; d >= 0; --d) {
    off += (i % sizes[d]) * strides[d];
    i /= sizes[d];
  }
  return off;
}

// Reduces `in` (element type T) into acc[n_out] (type A, contiguous in the keepdim shape) with
// the functor op: A identity(), A combine(A, A), A map(T x, A param), and optionally
// A contig(const T* p, int64_t n, A param) reducing a contiguous run (used instead of the lane
// loop when present). params (may be null) holds one A per output, passed to map (the mean for
// var, the max for logsumexp).
template <typename T, typename A, typename Op>
void reduce_into(const Tensor& in, const std::vector<bool>& reduced, A* acc, const A* params, const Op& op) {
  constexpr int kLanes = 32;
  constexpr int64_t kLeaf = 1024;
  constexpr int64_t kCols = 256;
  constexpr int64_t kLeafRows = 16;
  const ReduceGeometry g = make_reduce_geometry(in, reduced);
  if (g.n_out == 0) return;
  if (g.n_red == 0) {
    for (int64_t o = 0; o < g.n_out; ++o) acc[o] = op.identity();
    return;
  }
  const T* data = static_cast<const T*>(in.data_ptr());
  const int64_t nk = int64_t(g.ksize.size());
  const int64_t nr = int64_t(g.rsize.size());
  const int threads = num_threads();

  if (!g.outer_case()) {
    // ---- inner case: each output reduces a flattened R space [0, n_red) ----
    const int64_t n_i = nr ? g.rsize.back() : 1;
    const int64_t s_i = nr ? g.rin.back() : 0;
    auto leaf = [&](const T* base, A p, int64_t lo, int64_t hi) {
      A lanes[kLanes];
      for (int l = 0; l < kLanes; ++l) lanes[l] = op.identity();
      int64_t r = lo / n_i, i = lo % n_i;
      while (lo < hi) {
        int64_t seg = std::min(n_i - i, hi - lo);
        const T* ptr = base + (nr > 1 ? offset_of(r, g.rsize.data(), g.rin.data(), nr - 1) : 0) + i * s_i;
        int64_t j = 0;
        if constexpr (requires { op.contig(ptr, seg, p); }) {
          if (s_i == 1) {
            lanes[0] = op.combine(lanes[0], op.contig(ptr, seg, p));
            j = seg;
          }
        }
        if (s_i == 1) {
          for (; j + kLanes <= seg; j += kLanes)
            for (int l = 0; l < kLanes; ++l) lanes[l] = op.combine(lanes[l], op.map(ptr[j + l], p));
        } else {
          for (; j + kLanes <= seg; j += kLanes)
            for (int l = 0; l < kLanes; ++l) lanes[l] = op.combine(lanes[l], op.map(ptr[(j + l) * s_i], p));
        }
        for (int l = 0; j < seg; ++j, ++l) lanes[l] = op.combine(lanes[l], op.map(ptr[j * s_i], p));
        lo += seg;
        ++r;
        i = 0;
      }
      for (int w = kLanes / 2; w >= 1; w /= 2)
        for (int l = 0; l < w; ++l) lanes[l] = op.combine(lanes[l], lanes[l + w]);
      return lanes[0];
    };
    auto range = [&](auto&& self, const T* base, A p, int64_t lo, int64_t hi) -> A {
      int64_t n = hi - lo;
      if (n <= kLeaf) return leaf(base, p, lo, hi);
      int64_t half = ((n / kLeaf + 1) / 2) * kLeaf;
      A a = self(self, base, p, lo, lo + half);
      A b = self(self, base, p, lo + half, hi);
      return op.combine(a, b);
    };
    auto out_base = [&](int64_t o, int64_t* acc_off) {
      int64_t in_off = 0, a_off = 0;
      for (int64_t d = nk - 1; d >= 0; --d) {
        int64_t idx = o % g.ksize[d];
        o /= g.ksize[d];
        in_off += idx * g.kin[d];
        a_off += idx * g.kout[d];
      }
      *acc_off = a_off;
      return data + in_off;
    };
    // Split each output's range into `chunks` pieces when there are too few outputs to share.
    int64_t chunks = 1;
    if (g.n_out < threads && g.n_red >= 2 * kParallelGrain) chunks = threads;
    if (chunks == 1) {
      parallel_for(g.n_out, g.n_red, [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) {
          int64_t a_off;
          const T* base = out_base(o, &a_off);
          acc[a_off] = range(range, base, params ? params[a_off] : A(0), 0, g.n_red);
        }
      });
      return;
    }
    std::vector<A> partial(size_t(g.n_out * chunks));
    const int64_t per = (g.n_red + chunks - 1) / chunks;
    parallel_for(g.n_out * chunks, per, [&](int64_t b, int64_t e) {
      for (int64_t u = b; u < e; ++u) {
        int64_t o = u / chunks, c = u % chunks;
        int64_t a_off;
        const T* base = out_base(o, &a_off);
        int64_t lo = std::min(g.n_red, c * per), hi = std::min(g.n_red, lo + per);
        partial[u] = lo < hi ? range(range, base, params ? params[a_off] : A(0), lo, hi) : op.identity();
      }
    });
    for (int64_t o = 0; o < g.n_out; ++o) {
      int64_t a_off;
      out_base(o, &a_off);
      A v = partial[o * chunks];
      for (int64_t c = 1; c < chunks; ++c) v = op.combine(v, partial[o * chunks + c]);
      acc[a_off] = v;
    }
    return;
  }

  // ---- outer case: accumulate rows of up to kCols outputs along the innermost kept dim ----
  const int64_t n_k = g.ksize.back(), sk = g.kin.back(), sko = g.kout.back();
  const int64_t n_ko = g.n_out / n_k;
  const int64_t col_blocks = (n_k + kCols - 1) / kCols;
  const int64_t items = n_ko * col_blocks;
  const int64_t n_rows = g.n_red;
  int64_t chunks = 1;
  if (items < threads && n_rows * std::min(n_k, kCols) >= 2 * kParallelGrain) chunks = threads;
  const int64_t per = (n_rows + chunks - 1) / chunks;

  // Accumulates rows [r0, r1) of the block starting at `base` (width w) into dst, pairwise.
  auto rows = [&](auto&& self, const T* base, const A* pc, int64_t w, int64_t r0, int64_t r1, A* dst) -> void {
    if (r1 - r0 <= kLeafRows) {
      for (int64_t r = r0; r < r1; ++r) {
        const T* row = base + offset_of(r, g.rsize.data(), g.rin.data(), nr);
        if (sk == 1) {
          for (int64_t j = 0; j < w; ++j) dst[j] = op.combine(dst[j], op.map(row[j], pc[j]));
        } else {
          for (int64_t j = 0; j < w; ++j) dst[j] = op.combine(dst[j], op.map(row[j * sk], pc[j]));
        }
      }
      return;
    }
    int64_t half = (((r1 - r0) / kLeafRows + 1) / 2) * kLeafRows;
    self(self, base, pc, w, r0, r0 + half, dst);
    A tmp[kCols];
    for (int64_t j = 0; j < w; ++j) tmp[j] = op.identity();
    self(self, base, pc, w, r0 + half, r1, tmp);
    for (int64_t j = 0; j < w; ++j) dst[j] = op.combine(dst[j], tmp[j]);
  };
  auto item_geometry = [&](int64_t it, int64_t* w, int64_t* a_off) {
    int64_t ko = it / col_blocks, cb = it % col_blocks;
    int64_t c0 = cb * kCols;
    *w = std::min(kCols, n_k - c0);
    int64_t in_off = offset_of(ko, g.ksize.data(), g.kin.data(), nk - 1) + c0 * sk;
    *a_off = offset_of(ko, g.ksize.data(), g.kout.data(), nk - 1) + c0 * sko;
    return data + in_off;
  };
  std::vector<A> partial(chunks > 1 ? size_t(items * chunks * kCols) : 0);
  parallel_for(items * chunks, per * std::min(n_k, kCols), [&](int64_t b, int64_t e) {
    A pc[kCols];
    A dst[kCols];
    for (int64_t u = b; u < e; ++u) {
      int64_t it = u / chunks, c = u % chunks;
      int64_t w, a_off;
      const T* base = item_geometry(it, &w, &a_off);
      for (int64_t j = 0; j < w; ++j) pc[j] = params ? params[a_off + j * sko] : A(0);
      for (int64_t j = 0; j < w; ++j) dst[j] = op.identity();
      int64_t r0 = std::min(n_rows, c * per), r1 = std::min(n_rows, r0 + per);
      if (r0 < r1) rows(rows, base, pc, w, r0, r1, dst);
      if (chunks == 1) {
        for (int64_t j = 0; j < w; ++j) acc[a_off + j * sko] = dst[j];
      } else {
        std::copy(dst, dst + w, partial.begin() + u * kCols);
      }
    }
  });
  if (chunks > 1) {
    for (int64_t it = 0; it < items; ++it) {
      int64_t w, a_off;
      item_geometry(it, &w, &a_off);
      for (int64_t j = 0; j < w; ++j) {
        A v = partial[size_t((it * chunks) * kCols + j)];
        for (int64_t c = 1; c < chunks; ++c) v = op.combine(v, partial[size_t((it * chunks + c) * kCols + j)]);
        acc[a_off + j * sko] = v;
      }
    }
  }
}

}  // namespace tessera::cpu
