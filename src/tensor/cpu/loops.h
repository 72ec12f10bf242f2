// CPU loop machinery shared by all CPU kernels: iterate N same-shaped tensors with arbitrary
// strides (broadcast stride 0 included) as runs along a coalesced innermost dimension, split
// across threads with OpenMP above a size threshold. Elementwise kernels use cpu_map, which
// gives the compiler a unit-stride loop it can vectorise whenever all operands are contiguous.
#pragma once

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <utility>
#include <vector>

#include "tessera/tensor/tensor.h"

namespace tessera::cpu {

// Elements below which a loop runs on one thread (thread start-up costs ~1-2 us).
inline constexpr int64_t kParallelGrain = 32768;

// Threads the CPU backend uses (default: all cores; set_num_threads changes it).
int num_threads();
void set_num_threads(int n);

// Runs fn(begin, end) over [0, n) split into contiguous chunks, in parallel when n * cost_per_item
// is at least kParallelGrain.
template <typename F>
void parallel_for(int64_t n, int64_t cost_per_item, const F& fn) {
  if (n <= 0) return;
  int threads = num_threads();
  if (threads <= 1 || n * cost_per_item < kParallelGrain || n < 2 || omp_in_parallel()) {
    fn(int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    int nt = omp_get_num_threads();
    int tid = omp_get_thread_num();
    int64_t chunk = (n + nt - 1) / nt;
    int64_t b = tid * chunk;
    int64_t e = std::min(n, b + chunk);
    if (b < e) fn(b, e);
  }
}

// The geometry of N tensors iterated together: a shape with coalesced dims and byte strides.
template <int N>
struct StridedGeometry {
  std::vector<int64_t> sizes;                      // innermost last; at least one dim
  std::array<std::vector<int64_t>, N> strides;     // bytes
  std::array<char*, N> base;
  int64_t numel = 1;

  StridedGeometry(const std::array<const Tensor*, N>& ts) {
    const Tensor& ref = *ts[0];
    int64_t nd = ref.dim();
    for (int k = 0; k < N; ++k) base[k] = static_cast<char*>(ts[k]->data_ptr());
    // Drop size-1 dims, then merge dim i into i+1 when every tensor is contiguous across them.
    std::vector<int64_t> sz;
    std::array<std::vector<int64_t>, N> st;
    for (int64_t d = 0; d < nd; ++d) {
      if (ref.size(d) == 1) continue;
      sz.push_back(ref.size(d));
      for (int k = 0; k < N; ++k) st[k].push_back(ts[k]->stride(d) * int64_t(ts[k]->element_size()));
    }
    for (int64_t s : sz) numel *= s;
    if (sz.empty()) {
      sz.push_back(1);
      for (int k = 0; k < N; ++k) st[k].push_back(0);
    }
    sizes.push_back(sz[0]);
    for (int k = 0; k < N; ++k) strides[k].push_back(st[k][0]);
    for (size_t d = 1; d < sz.size(); ++d) {
      bool mergeable = true;
      for (int k = 0; k < N; ++k) mergeable &= strides[k].back() == st[k][d] * sz[d];
      if (mergeable) {
        sizes.back() *= sz[d];
        for (int k = 0; k < N; ++k) strides[k].back() = st[k][d];
      } else {
        sizes.push_back(sz[d]);
        for (int k = 0; k < N; ++k) strides[k].push_back(st[k][d]);
      }
    }
    if (ref.numel() == 0) numel = 0;
  }
};

// Calls inner(ptrs, inner_strides, n) for runs of n elements along the innermost dim, covering
// every element exactly once. ptrs[k] points at the run's first element of tensor k. Parallel
// over runs (and within a single long run) when large.
template <int N, typename Inner>
void for_each_run(const std::array<const Tensor*, N>& ts, const Inner& inner, int64_t cost_per_elem = 1) {
  StridedGeometry<N> g(ts);
  if (g.numel == 0) return;
  const int64_t nd = int64_t(g.sizes.size());
  const int64_t inner_n = g.sizes[nd - 1];
  std::array<int64_t, N> inner_st;
  for (int k = 0; k < N; ++k) inner_st[k] = g.strides[k][nd - 1];
  const int64_t runs = g.numel / inner_n;
  if (runs == 1) {
    parallel_for(inner_n, cost_per_elem, [&](int64_t b, int64_t e) {
      std::array<char*, N> p;
      for (int k = 0; k < N; ++k) p[k] = g.base[k] + b * inner_st[k];
      inner(p.data(), inner_st.data(), e - b);
    });
    return;
  }
  parallel_for(runs, inner_n * cost_per_elem, [&](int64_t rb, int64_t re) {
    // Decompose run index rb into a multi-index over the outer dims.
    std::vector<int64_t> idx(nd - 1, 0);
    int64_t r = rb;
    for (int64_t d = nd - 2; d >= 0; --d) {
      idx[d] = r % g.sizes[d];
      r /= g.sizes[d];
    }
    std::array<char*, N> p;
    for (int k = 0; k < N; ++k) {
      p[k] = g.base[k];
      for (int64_t d = 0; d < nd - 1; ++d) p[k] += idx[d] * g.strides[k][d];
    }
    for (int64_t run = rb; run < re; ++run) {
      inner(p.data(), inner_st.data(), inner_n);
      // advance the multi-index by one
      for (int64_t d = nd - 2; d >= 0; --d) {
        ++idx[d];
        for (int k = 0; k < N; ++k) p[k] += g.strides[k][d];
        if (idx[d] < g.sizes[d]) break;
        for (int k = 0; k < N; ++k) p[k] -= idx[d] * g.strides[k][d];
        idx[d] = 0;
      }
    }
  });
}

template <typename Out, typename... In, typename F, size_t... I>
inline void map_run(const F& f, char** p, const int64_t* st, int64_t n, std::index_sequence<I...>) {
  Out* o = reinterpret_cast<Out*>(p[0]);
  bool contiguous = st[0] == int64_t(sizeof(Out)) && ((st[I + 1] == int64_t(sizeof(In))) && ...);
  if (contiguous) {
    std::tuple<const In*...> in{reinterpret_cast<const In*>(p[I + 1])...};
    for (int64_t i = 0; i < n; ++i) o[i] = f(std::get<I>(in)[i]...);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    *reinterpret_cast<Out*>(p[0] + i * st[0]) = f(*reinterpret_cast<const In*>(p[I + 1] + i * st[I + 1])...);
  }
}


// Elementwise map: out[i] = f(in0[i], in1[i], ...), with Out/In the C++ element types. When all
// operands have unit stride in the run, the loop is a plain indexed
// loop the compiler vectorises.
template <typename Out, typename... In, typename F>
void cpu_map(const Tensor& out, const F& f, const std::array<const Tensor*, sizeof...(In)>& ins) {
  constexpr int N = 1 + int(sizeof...(In));
  std::array<const Tensor*, N> all;
  all[0] = &out;
  for (size_t k = 0; k < sizeof...(In); ++k) all[k + 1] = ins[k];
  for_each_run<N>(all, [&](char** p, const int64_t* st, int64_t n) {
    map_run<Out, In...>(f, p, st, n, std::index_sequence_for<In...>{});
  });
}

}  // namespace tessera::cpu
