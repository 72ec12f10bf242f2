// CPU indexing primitives: index_select, index_add, gather, scatter_add and tril/triu. Index
// tensors are first made int64 and contiguous and checked serially (so no exception is thrown
// inside a parallel region); the kernels then run in parallel over work that never writes the
// same output element from two threads.
#include <cstring>
#include <vector>

#include "tessera/tensor/cpu/cpu_backend.h"
#include "tessera/tensor/cpu/loops.h"
#include "tessera/tensor/raw.h"

namespace tessera::cpu {

namespace {

Tensor contiguous_as(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype && t.is_contiguous()) return t;
  Tensor c = raw::empty(t.sizes(), TensorOptions(dtype));
  if (c.numel() > 0) backend_for(Device::cpu()).copy(c, t);
  return c;
}

// Index values as a contiguous int64 tensor, every value checked to be in [0, size).
template <typename Error>
Tensor checked_index(const Tensor& index, int64_t size, const Error& error) {
  Tensor idx = contiguous_as(index, DType::Int64);
  const int64_t* p = idx.data_ptr<int64_t>();
  for (int64_t i = 0; i < idx.numel(); ++i) {
    if (p[i] < 0 || p[i] >= size) error(p[i]);
  }
  return idx;
}

// product of sizes[b, e)
int64_t prod(IntArrayRef sizes, int64_t b, int64_t e) {
  int64_t p = 1;
  for (int64_t i = b; i < e; ++i) p *= sizes[size_t(i)];
  return p;
}

// Calls fn(offsets, coords) for each "line" of `shape` along `dim`: every coordinate with
// coords[dim] == 0, where offsets[k] = sum_d coords[d] * strides[k][d]. Lines run in parallel
// (line_cost elements each); two lines never share coordinates outside `dim`.
template <int N, typename F>
void for_each_line(IntArrayRef shape, int64_t dim, const std::array<IntArrayRef, N>& strides, int64_t line_cost,
                   const F& fn) {
  const int64_t nd = int64_t(shape.size());
  int64_t lines = 1;
  for (int64_t d = 0; d < nd; ++d) {
    if (d != dim) lines *= shape[size_t(d)];
  }
  if (lines == 0 || shape[size_t(dim)] == 0) return;
  parallel_for(lines, line_cost, [&](int64_t b, int64_t e) {
    std::vector<int64_t> coords(size_t(nd), 0);
    std::array<int64_t, N> offs{};
    int64_t r = b;
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (d == dim) continue;
      coords[size_t(d)] = r % shape[size_t(d)];
      r /= shape[size_t(d)];
      for (int k = 0; k < N; ++k) offs[k] += coords[size_t(d)] * strides[k][size_t(d)];
    }
    for (int64_t line = b; line < e; ++line) {
      fn(offs, coords);
      for (int64_t d = nd - 1; d >= 0; --d) {  // advance the odometer, skipping `dim`
        if (d == dim) continue;
        ++coords[size_t(d)];
        for (int k = 0; k < N; ++k) offs[k] += strides[k][size_t(d)];
        if (coords[size_t(d)] < shape[size_t(d)]) break;
        for (int k = 0; k < N; ++k) offs[k] -= coords[size_t(d)] * strides[k][size_t(d)];
        coords[size_t(d)] = 0;
      }
    }
  });
}

// Copies `n` elements of `bytes` bytes each (typed so short rows compile to moves, not calls).
template <typename U>
inline void copy_elems(char* dst, const char* src, int64_t n) {
  if (n == 1) {
    std::memcpy(dst, src, sizeof(U));
  } else {
    std::memcpy(dst, src, size_t(n) * sizeof(U));
  }
}

}  // namespace

void CpuBackend::index_select(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  const int64_t size = in.size(dim);
  Tensor idx = checked_index(index, size, [&](int64_t v) {
    throw IndexError(fmt::format("index_select: index out of range in self (index {} is not in [0, {}) for dimension {})",
                                 v, size, dim));
  });
  Tensor src = in.is_contiguous() ? in : contiguous_as(in, in.dtype());
  Tensor dst = out.is_contiguous() ? out : raw::empty(out.sizes(), out.options());
  const int64_t outer = prod(in.sizes(), 0, dim), inner = prod(in.sizes(), dim + 1, in.dim());
  const int64_t n = idx.numel();
  const int64_t es = int64_t(in.element_size());
  const int64_t* ip = idx.data_ptr<int64_t>();
  const char* sp = static_cast<const char*>(src.data_ptr());
  char* dp = static_cast<char*>(dst.data_ptr());
  parallel_for(outer * n, inner, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t o = r / n, j = r % n;
      char* d = dp + r * inner * es;
      const char* s = sp + (o * size + ip[j]) * inner * es;
      switch (es) {
        case 1: copy_elems<uint8_t>(d, s, inner); break;
        case 2: copy_elems<uint16_t>(d, s, inner); break;
        case 4: copy_elems<uint32_t>(d, s, inner); break;
        default: copy_elems<uint64_t>(d, s, inner); break;
      }
    }
  });
  if (!dst.is_same(out)) copy(out, dst);
}

void CpuBackend::index_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& source) {
  const int64_t size = self.size(dim);
  Tensor idx = checked_index(index, size, [&](int64_t v) {
    throw IndexError(fmt::format("index_add: index out of range in self (index {} is not in [0, {}) for dimension {})",
                                 v, size, dim));
  });
  Tensor dst = self.is_contiguous() ? self : contiguous_as(self, self.dtype());
  Tensor src = contiguous_as(source, source.dtype());
  const int64_t outer = prod(self.sizes(), 0, dim), inner = prod(self.sizes(), dim + 1, self.dim());
  const int64_t n = idx.numel();
  const int64_t* ip = idx.data_ptr<int64_t>();
  TESSERA_DISPATCH_NUMERIC_TYPES(self.dtype(), "index_add", [&] {
    using T = scalar_t;
    using A = acc_type<T>;
    T* dp = dst.data_ptr<T>();
    const T* sp = src.data_ptr<T>();
    // Adds columns [c0, c1) of every source row of outer block o into its target row.
    auto add_rows = [&](int64_t o, int64_t c0, int64_t c1) {
      for (int64_t j = 0; j < n; ++j) {
        T* d = dp + (o * size + ip[j]) * inner;
        const T* s = sp + (o * n + j) * inner;
        for (int64_t c = c0; c < c1; ++c) d[c] = cast_element<T>(A(cast_element<A>(d[c]) + cast_element<A>(s[c])));
      }
    };
    // Threads own disjoint outer blocks, or disjoint column ranges: never the same element.
    if (outer >= inner) {
      parallel_for(outer, n * inner, [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) add_rows(o, 0, inner);
      });
    } else {
      parallel_for(inner, n * outer, [&](int64_t b, int64_t e) {
        for (int64_t o = 0; o < outer; ++o) add_rows(o, b, e);
      });
    }
  });
  if (!dst.is_same(self)) copy(self, dst);
}

void CpuBackend::gather(const Tensor& out, const Tensor& in, int64_t dim, const Tensor& index) {
  const int64_t size = in.size(dim);
  Tensor idx = checked_index(index, size, [&](int64_t v) {
    throw IndexError(fmt::format("gather: index {} is out of bounds for dimension {} with size {}", v, dim, size));
  });
  const int64_t len = index.size(dim);
  TESSERA_DISPATCH_ALL_TYPES(in.dtype(), "gather", [&] {
    using T = scalar_t;
    T* op = out.data_ptr<T>();
    const T* inp = in.data_ptr<T>();
    const int64_t* ip = idx.data_ptr<int64_t>();
    const int64_t os = out.stride(dim), is = idx.stride(dim), ins = in.stride(dim);
    for_each_line<3>(index.sizes(), dim, {out.strides(), idx.strides(), in.strides()}, len,
                     [&](const std::array<int64_t, 3>& o, const std::vector<int64_t>&) {
                       for (int64_t j = 0; j < len; ++j) op[o[0] + j * os] = inp[o[2] + ip[o[1] + j * is] * ins];
                     });
  });
}

void CpuBackend::scatter_add(const Tensor& self, int64_t dim, const Tensor& index, const Tensor& src) {
  const int64_t size = self.size(dim);
  Tensor idx = checked_index(index, size, [&](int64_t v) {
    throw IndexError(fmt::format("scatter_add: index {} is out of bounds for dimension {} with size {}", v, dim, size));
  });
  const int64_t len = index.size(dim);
  TESSERA_DISPATCH_NUMERIC_TYPES(self.dtype(), "scatter_add", [&] {
    using T = scalar_t;
    using A = acc_type<T>;
    T* sp = self.data_ptr<T>();
    const T* srcp = src.data_ptr<T>();
    const int64_t* ip = idx.data_ptr<int64_t>();
    const int64_t ss = self.stride(dim), is = idx.stride(dim), srs = src.stride(dim);
    // A line writes only self elements sharing its coordinates outside `dim`: lines are disjoint.
    for_each_line<3>(index.sizes(), dim, {self.strides(), idx.strides(), src.strides()}, len,
                     [&](const std::array<int64_t, 3>& o, const std::vector<int64_t>&) {
                       for (int64_t j = 0; j < len; ++j) {
                         T& d = sp[o[0] + ip[o[1] + j * is] * ss];
                         d = cast_element<T>(A(cast_element<A>(d) + cast_element<A>(srcp[o[2] + j * srs])));
                       }
                     });
  });
}

void CpuBackend::tril_triu(const Tensor& out, const Tensor& in, int64_t k, bool upper) {
  const int64_t nd = out.dim(), cols = out.size(-1);
  TESSERA_DISPATCH_ALL_TYPES(in.dtype(), upper ? "triu" : "tril", [&] {
    using T = scalar_t;
    T* op = out.data_ptr<T>();
    const T* ip = in.data_ptr<T>();
    const int64_t os = out.stride(-1), is = in.stride(-1);
    for_each_line<2>(out.sizes(), nd - 1, {out.strides(), in.strides()}, cols,
                     [&](const std::array<int64_t, 2>& o, const std::vector<int64_t>& coords) {
                       const int64_t row = coords[size_t(nd - 2)];
                       for (int64_t j = 0; j < cols; ++j) {
                         const bool keep = upper ? j - row >= k : j - row <= k;
                         op[o[0] + j * os] = keep ? ip[o[1] + j * is] : T(0);
                       }
                     });
  });
}

}  // namespace tessera::cpu
