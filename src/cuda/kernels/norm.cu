// Row-wise kernels over contiguous [rows, n] data: softmax / log_softmax (+ backward), layer
// norm and RMS norm (+ backward, weight/bias gradients by a two-stage column reduction), and the
// fused cross-entropy (+ backward). Rows go through the row engine of rowwise.cuh (Note [row
// kernels]: a warp per row up to 1024 elements, else a block; 16-byte vectors; the row held in
// registers). 16-bit floats compute in float32 (A = acc type); statistics are float32 (float64
// for float64 data).
#include <type_traits>

#include "tessera/cuda/kernels/rowwise.cuh"

namespace tessera::cuda::kern {

namespace {

template <typename A>
__device__ __forceinline__ A exp_(A v) {
  return exp(v);
}

// ---- softmax ----
template <typename T, int V, int R, bool WARP>
__global__ void TK_ROW_BOUNDS(WARP) softmax_kernel(T* out, const T* in, int64_t rows, int64_t n, bool log_) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  RowPos<WARP> p;
  if (p.row >= rows) return;
  const int64_t nvec = n / V;
  const T* x = in + p.row * n;
  T* y = out + p.row * n;
  RowCache<T, A, V, R> c;
  A m = -INFINITY;
  c.template pass<true>(x, nvec, p.lane, p.G, [&](A(&v)[V], int64_t) {
#pragma unroll
    for (int k = 0; k < V; ++k) m = MaxOp{}(m, v[k]);
  });
  m = group_reduce<WARP>(m, MaxOp{}, shm);
  A s = 0;
  c.template pass<false>(x, nvec, p.lane, p.G, [&](A(&v)[V], int64_t) {
#pragma unroll
    for (int k = 0; k < V; ++k) s += exp_(v[k] - m);
  });
  s = group_reduce<WARP>(s, SumOp{}, shm);
  if (log_) {
    A ls = log(s);
    c.template pass<false>(x, nvec, p.lane, p.G, [&](A(&v)[V], int64_t vi) {
      A o[V];
#pragma unroll
      for (int k = 0; k < V; ++k) o[k] = v[k] - m - ls;
      store_vec<V>(y, vi, o);
    });
  } else {
    A inv = A(1) / s;
    c.template pass<false>(x, nvec, p.lane, p.G, [&](A(&v)[V], int64_t vi) {
      A o[V];
#pragma unroll
      for (int k = 0; k < V; ++k) o[k] = exp_(v[k] - m) * inv;
      store_vec<V>(y, vi, o);
    });
  }
}

template <typename T, int V, int R, bool WARP>
__global__ void TK_ROW_BOUNDS(WARP) softmax_backward_kernel(T* gi, const T* go, const T* out, int64_t rows,
                                                            int64_t n, bool log_) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  RowPos<WARP> p;
  if (p.row >= rows) return;
  const int64_t nvec = n / V, base = p.row * n;
  RowCache2<T, A, V, R> c;
  A s = 0;
  c.template pass<true>(go + base, out + base, nvec, p.lane, p.G, [&](A(&g)[V], A(&y)[V], int64_t) {
#pragma unroll
    for (int k = 0; k < V; ++k) s += log_ ? g[k] : g[k] * y[k];
  });
  s = group_reduce<WARP>(s, SumOp{}, shm);
  c.template pass<false>(go + base, out + base, nvec, p.lane, p.G, [&](A(&g)[V], A(&y)[V], int64_t vi) {
    A o[V];
#pragma unroll
    for (int k = 0; k < V; ++k) o[k] = log_ ? g[k] - exp_(y[k]) * s : y[k] * (g[k] - s);
    store_vec<V>(gi + base, vi, o);
  });
}

// ---- layer norm / RMS norm ----
template <typename T, int V, int R, bool WARP>
__global__ void TK_ROW_BOUNDS(WARP) layer_norm_kernel(T* out, acc_t<T>* mean_o, acc_t<T>* rstd_o, const T* in,
                                                      const T* w, const T* b, int64_t rows, int64_t n,
                                                      double eps, bool rms) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  RowPos<WARP> p;
  if (p.row >= rows) return;
  const int64_t nvec = n / V;
  const T* x = in + p.row * n;
  T* y = out + p.row * n;
  RowCache<T, A, V, R> c;
  A mean = 0, var;
  if (!rms) {
    A s = 0;
    c.template pass<true>(x, nvec, p.lane, p.G, [&](A(&v)[V], int64_t) {
#pragma unroll
      for (int k = 0; k < V; ++k) s += v[k];
    });
    mean = group_reduce<WARP>(s, SumOp{}, shm) / A(n);
    A q = 0;
    c.template pass<false>(x, nvec, p.lane, p.G, [&](A(&v)[V], int64_t) {
#pragma unroll
      for (int k = 0; k < V; ++k) q += (v[k] - mean) * (v[k] - mean);
    });
    var = group_reduce<WARP>(q, SumOp{}, shm) / A(n);
  } else {
    A q = 0;
    c.template pass<true>(x, nvec, p.lane, p.G, [&](A(&v)[V], int64_t) {
#pragma unroll
      for (int k = 0; k < V; ++k) q += v[k] * v[k];
    });
    var = group_reduce<WARP>(q, SumOp{}, shm) / A(n);
  }
  A rstd = A(1) / sqrt(var + A(eps));
  c.template pass<false>(x, nvec, p.lane, p.G, [&](A(&v)[V], int64_t vi) {
    A o[V], t[V];
#pragma unroll
    for (int k = 0; k < V; ++k) o[k] = (v[k] - mean) * rstd;
    if (w) {
      load_vec<V>(w, vi, t);
#pragma unroll
      for (int k = 0; k < V; ++k) o[k] *= t[k];
    }
    if (b) {
      load_vec<V>(b, vi, t);
#pragma unroll
      for (int k = 0; k < V; ++k) o[k] += t[k];
    }
    store_vec<V>(y, vi, o);
  });
  if (p.lane == 0) {
    if (mean_o) mean_o[p.row] = mean;
    rstd_o[p.row] = rstd;
  }
}

// grad_in for layer norm (mean != null) or RMS norm (mean == null).
template <typename T, int V, int R, bool WARP>
__global__ void TK_ROW_BOUNDS(WARP) norm_backward_input_kernel(T* gi, const T* go, const T* in,
                                                               const acc_t<T>* mean_p, const acc_t<T>* rstd_p,
                                                               const T* w, int64_t rows, int64_t n) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  RowPos<WARP> p;
  if (p.row >= rows) return;
  const int64_t nvec = n / V, base = p.row * n;
  const A mean = mean_p ? mean_p[p.row] : A(0);
  const A rstd = rstd_p[p.row];
  RowCache2<T, A, V, R> c;
  A s1 = 0, s2 = 0;  // sum(g*w), sum(g*w*xhat)
  c.template pass<true>(go + base, in + base, nvec, p.lane, p.G, [&](A(&g)[V], A(&x)[V], int64_t vi) {
    A t[V];
    if (w) load_vec<V>(w, vi, t);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      A gw = w ? g[k] * t[k] : g[k];
      s1 += gw;
      s2 += gw * ((x[k] - mean) * rstd);
    }
  });
  s1 = group_reduce<WARP>(s1, SumOp{}, shm);
  s2 = group_reduce<WARP>(s2, SumOp{}, shm);
  const A m1 = mean_p ? s1 / A(n) : A(0), m2 = s2 / A(n);
  c.template pass<false>(go + base, in + base, nvec, p.lane, p.G, [&](A(&g)[V], A(&x)[V], int64_t vi) {
    A t[V], o[V];
    if (w) load_vec<V>(w, vi, t);
#pragma unroll
    for (int k = 0; k < V; ++k) {
      A gw = w ? g[k] * t[k] : g[k];
      o[k] = rstd * (gw - m1 - (x[k] - mean) * rstd * m2);
    }
    store_vec<V>(gi + base, vi, o);
  });
}

// Weight/bias gradients, stage 1: block (32, 8) sums rows [chunk*rpc, (chunk+1)*rpc) of 32
// columns: pw[chunk, j] = sum g * xhat, pb[chunk, j] = sum g.
template <typename T>
__global__ void norm_params_partial_kernel(acc_t<T>* pw, acc_t<T>* pb, const T* go, const T* in,
                                           const acc_t<T>* mean_p, const acc_t<T>* rstd_p, int64_t rows, int64_t n,
                                           int64_t rpc) {
  using A = acc_t<T>;
  __shared__ A sw[8][33], sb[8][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t j = int64_t(blockIdx.x) * 32 + tx;
  const int64_t r0 = int64_t(blockIdx.y) * rpc;
  const int64_t r1 = r0 + rpc < rows ? r0 + rpc : rows;
  A aw = 0, ab = 0;
  if (j < n) {
    for (int64_t r = r0 + ty; r < r1; r += 8) {
      A g = cast<A>(go[r * n + j]);
      A xh = (cast<A>(in[r * n + j]) - (mean_p ? mean_p[r] : A(0))) * rstd_p[r];
      aw += g * xh;
      ab += g;
    }
  }
  sw[ty][tx] = aw;
  sb[ty][tx] = ab;
  __syncthreads();
  if (ty == 0 && j < n) {
    for (int k = 1; k < 8; ++k) {
      aw += sw[k][tx];
      ab += sb[k][tx];
    }
    pw[int64_t(blockIdx.y) * n + j] = aw;
    pb[int64_t(blockIdx.y) * n + j] = ab;
  }
}

// Stage 2: one thread per column sums the chunks' partial results.
template <typename T>
__global__ void norm_params_final_kernel(T* gw, T* gb, const acc_t<T>* pw, const acc_t<T>* pb, int64_t chunks,
                                         int64_t n) {
  using A = acc_t<T>;
  int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= n) return;
  A aw = 0, ab = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    aw += pw[c * n + j];
    ab += pb[c * n + j];
  }
  if (gw) gw[j] = cast<T>(aw);
  if (gb) gb[j] = cast<T>(ab);
}

// ---- cross-entropy ----
// Per-row loss/lse values of a runtime float dtype.
__device__ __forceinline__ void store_scalar(char* p, DT dt, int64_t i, double v) {
  switch (dt) {
    case DT::F64: reinterpret_cast<double*>(p)[i] = v; break;
    case DT::BF16: reinterpret_cast<bf16*>(p)[i] = bf16(float(v)); break;
    case DT::F16: reinterpret_cast<f16*>(p)[i] = f16(float(v)); break;
    default: reinterpret_cast<float*>(p)[i] = float(v); break;
  }
}
__device__ __forceinline__ double load_scalar(const char* p, DT dt, int64_t i) {
  switch (dt) {
    case DT::F64: return reinterpret_cast<const double*>(p)[i];
    case DT::BF16: return float(reinterpret_cast<const bf16*>(p)[i]);
    case DT::F16: return float(reinterpret_cast<const f16*>(p)[i]);
    default: return reinterpret_cast<const float*>(p)[i];
  }
}

template <typename T, int V, int R, bool WARP>
__global__ void TK_ROW_BOUNDS(WARP) cross_entropy_kernel(char* loss, char* lse_o, DT ldt, const T* logits,
                                                         const int64_t* target, int64_t N, int64_t C,
                                                         int64_t ignore_index, double smoothing) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  RowPos<WARP> p;
  if (p.row >= N) return;
  const int64_t nvec = C / V;
  const T* x = logits + p.row * C;
  RowCache<T, A, V, R> c;
  A m = -INFINITY, sx = 0;
  c.template pass<true>(x, nvec, p.lane, p.G, [&](A(&v)[V], int64_t) {
#pragma unroll
    for (int k = 0; k < V; ++k) {
      m = MaxOp{}(m, v[k]);
      sx += v[k];
    }
  });
  m = group_reduce<WARP>(m, MaxOp{}, shm);
  sx = group_reduce<WARP>(sx, SumOp{}, shm);
  A s = 0;
  c.template pass<false>(x, nvec, p.lane, p.G, [&](A(&v)[V], int64_t) {
#pragma unroll
    for (int k = 0; k < V; ++k) s += exp_(v[k] - m);
  });
  s = group_reduce<WARP>(s, SumOp{}, shm);
  if (p.lane == 0) {
    A lse = m + log(s);
    int64_t t = target[p.row];
    A l = 0;
    if (t != ignore_index) {
      A eps = A(smoothing);
      l = (A(1) - eps) * (lse - cast<A>(x[t])) + eps * (lse - sx / A(C));
    }
    store_scalar(loss, ldt, p.row, double(l));
    store_scalar(lse_o, ldt, p.row, double(lse));
  }
}

template <typename T, int V, int R, bool WARP>
__global__ void TK_ROW_BOUNDS(WARP) cross_entropy_backward_kernel(T* gl, const char* grad_loss, int64_t gstride,
                                                                  DT ldt, const T* logits, const char* lse_p,
                                                                  const int64_t* target, int64_t N, int64_t C,
                                                                  int64_t ignore_index, double smoothing) {
  using A = acc_t<T>;
  RowPos<WARP> p;
  if (p.row >= N) return;
  const int64_t nvec = C / V, base = p.row * C;
  const int64_t t = target[p.row];
  const bool ignored = t == ignore_index;
  const A g = ignored ? A(0) : A(load_scalar(grad_loss, ldt, p.row * gstride));
  const A lse = A(load_scalar(lse_p, ldt, p.row));
  const A eps = A(smoothing);
  RowCache<T, A, V, R> c;
  c.template pass<true>(logits + base, nvec, p.lane, p.G, [&](A(&v)[V], int64_t vi) {
    A o[V];
#pragma unroll
    for (int k = 0; k < V; ++k) {
      int64_t j = vi * V + k;
      A d = exp_(v[k] - lse) - eps / A(C) - (j == t ? A(1) - eps : A(0));
      o[k] = ignored ? A(0) : g * d;
    }
    store_vec<V>(gl + base, vi, o);
  });
}

// ---- launch plumbing ----
// Calls f(integral_constant<int, V>, integral_constant<bool, WARP>) for the row engine's choice:
// V = 16 / sizeof(T) when `vec_ok` and n % V == 0, else 1; a warp per row when n <= 1024.
template <typename T, typename F>
void row_dispatch(int64_t n, bool vec_ok, F&& f) {
  constexpr int VV = int(16 / sizeof(T));
  const bool warp = n <= 1024;
  if (vec_ok && n % VV == 0) {
    if (warp) f(std::integral_constant<int, VV>{}, std::true_type{});
    else f(std::integral_constant<int, VV>{}, std::false_type{});
  } else {
    if (warp) f(std::integral_constant<int, 1>{}, std::true_type{});
    else f(std::integral_constant<int, 1>{}, std::false_type{});
  }
}
// Registers per thread for the cached row(s), in elements: 32 (16 for double), halved for two rows.
template <typename T, int V, int ROWS>
constexpr int row_regs() {
  constexpr int e = (std::is_same_v<T, double> ? 16 : 32) / ROWS;
  return e / V > 0 ? e / V : 1;
}
template <bool WARP>
dim3 row_grid(int64_t rows) {
  return WARP ? dim3(unsigned((rows + kRowWarpBlock / 32 - 1) / (kRowWarpBlock / 32))) : dim3(unsigned(rows));
}
template <bool WARP>
dim3 row_block(int64_t nvec, int R) {
  return WARP ? dim3(kRowWarpBlock) : dim3(row_block_threads(nvec, R));
}

}  // namespace

cudaError_t softmax(char* out, const char* in, DT dt, int64_t rows, int64_t n, bool log, cudaStream_t s) {
  if (rows == 0 || n == 0) return cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    row_dispatch<T>(n, aligned16(out) && aligned16(in), [&](auto vc, auto wc) {
      constexpr int V = decltype(vc)::value;
      constexpr bool W = decltype(wc)::value;
      constexpr int R = row_regs<T, V, 1>();
      softmax_kernel<T, V, R, W><<<row_grid<W>(rows), row_block<W>(n / V, R), 0, s>>>(
          reinterpret_cast<T*>(out), reinterpret_cast<const T*>(in), rows, n, log);
    });
  });
  return cudaGetLastError();
}

cudaError_t softmax_backward(char* grad_in, const char* grad_out, const char* out, DT dt, int64_t rows, int64_t n,
                             bool log, cudaStream_t s) {
  if (rows == 0 || n == 0) return cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    row_dispatch<T>(n, aligned16(grad_in) && aligned16(grad_out) && aligned16(out), [&](auto vc, auto wc) {
      constexpr int V = decltype(vc)::value;
      constexpr bool W = decltype(wc)::value;
      // float4 rows in warp mode cache 3 vectors per row, not 4: with 4, sm_80 spills
      // (Note [row kernel registers]).
      constexpr int R = std::is_same_v<T, float> && V == 4 && W ? 3 : row_regs<T, V, 2>();
      softmax_backward_kernel<T, V, R, W><<<row_grid<W>(rows), row_block<W>(n / V, R), 0, s>>>(
          reinterpret_cast<T*>(grad_in), reinterpret_cast<const T*>(grad_out), reinterpret_cast<const T*>(out), rows,
          n, log);
    });
  });
  return cudaGetLastError();
}

namespace {
cudaError_t norm_forward(char* out, char* mean, char* rstd, const char* in, const char* weight, const char* bias,
                         DT dt, int64_t rows, int64_t n, double eps, bool rms, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    using A = acc_t<T>;
    bool vec_ok = aligned16(out) && aligned16(in) && aligned16(weight) && aligned16(bias);
    row_dispatch<T>(n, vec_ok, [&](auto vc, auto wc) {
      constexpr int V = decltype(vc)::value;
      constexpr bool W = decltype(wc)::value;
      constexpr int R = row_regs<T, V, 1>();
      layer_norm_kernel<T, V, R, W><<<row_grid<W>(rows), row_block<W>(n / V, R), 0, s>>>(
          reinterpret_cast<T*>(out), reinterpret_cast<A*>(mean), reinterpret_cast<A*>(rstd),
          reinterpret_cast<const T*>(in), reinterpret_cast<const T*>(weight), reinterpret_cast<const T*>(bias), rows,
          n, eps, rms);
    });
  });
  return cudaGetLastError();
}
}  // namespace

cudaError_t layer_norm(char* out, char* mean, char* rstd, const char* in, const char* weight, const char* bias,
                       DT dt, int64_t rows, int64_t n, double eps, cudaStream_t s) {
  return norm_forward(out, mean, rstd, in, weight, bias, dt, rows, n, eps, false, s);
}

cudaError_t rms_norm(char* out, char* rstd, const char* in, const char* weight, DT dt, int64_t rows, int64_t n,
                     double eps, cudaStream_t s) {
  return norm_forward(out, nullptr, rstd, in, weight, nullptr, dt, rows, n, eps, true, s);
}

cudaError_t layer_norm_backward(char* grad_in, char* grad_weight, char* grad_bias, const char* grad_out,
                                const char* in, const char* mean, const char* rstd, const char* weight,
                                char* workspace, DT dt, int64_t rows, int64_t n, cudaStream_t s) {
  cudaError_t err = cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    using A = acc_t<T>;
    const T* go = reinterpret_cast<const T*>(grad_out);
    const T* x = reinterpret_cast<const T*>(in);
    const A* mp = reinterpret_cast<const A*>(mean);
    const A* rp = reinterpret_cast<const A*>(rstd);
    if (grad_in && rows > 0 && n > 0) {
      bool vec_ok = aligned16(grad_in) && aligned16(grad_out) && aligned16(in) && aligned16(weight);
      row_dispatch<T>(n, vec_ok, [&](auto vc, auto wc) {
        constexpr int V = decltype(vc)::value;
        constexpr bool W = decltype(wc)::value;
        constexpr int R = row_regs<T, V, 2>();
        norm_backward_input_kernel<T, V, R, W><<<row_grid<W>(rows), row_block<W>(n / V, R), 0, s>>>(
            reinterpret_cast<T*>(grad_in), go, x, mp, rp, reinterpret_cast<const T*>(weight), rows, n);
      });
      if ((err = cudaGetLastError()) != cudaSuccess) return;
    }
    if ((grad_weight || grad_bias) && n > 0) {
      NormParamsPlan plan = norm_params_plan(rows, n);
      A* pw = reinterpret_cast<A*>(workspace);
      A* pb = pw + plan.chunks * n;
      dim3 grid(unsigned((n + 31) / 32), unsigned(plan.chunks));
      norm_params_partial_kernel<T><<<grid, dim3(32, 8), 0, s>>>(pw, pb, go, x, mp, rp, rows, n,
                                                                  plan.rows_per_chunk);
      if ((err = cudaGetLastError()) != cudaSuccess) return;
      norm_params_final_kernel<T><<<blocks_for(n), 256, 0, s>>>(
          reinterpret_cast<T*>(grad_weight), reinterpret_cast<T*>(grad_bias), pw, pb, plan.chunks, n);
      err = cudaGetLastError();
    }
  });
  return err;
}

cudaError_t rms_norm_backward(char* grad_in, char* grad_weight, const char* grad_out, const char* in,
                              const char* rstd, const char* weight, char* workspace, DT dt, int64_t rows, int64_t n,
                              cudaStream_t s) {
  return layer_norm_backward(grad_in, grad_weight, nullptr, grad_out, in, nullptr, rstd, weight, workspace, dt, rows,
                             n, s);
}

cudaError_t cross_entropy(char* loss, char* lse, DT loss_dt, const char* logits, DT dt, const int64_t* target,
                          int64_t N, int64_t C, int64_t ignore_index, double smoothing, cudaStream_t s) {
  if (N == 0) return cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    row_dispatch<T>(C, aligned16(logits), [&](auto vc, auto wc) {
      constexpr int V = decltype(vc)::value;
      constexpr bool W = decltype(wc)::value;
      constexpr int R = row_regs<T, V, 1>();
      cross_entropy_kernel<T, V, R, W><<<row_grid<W>(N), row_block<W>(C / V, R), 0, s>>>(
          loss, lse, loss_dt, reinterpret_cast<const T*>(logits), target, N, C, ignore_index, smoothing);
    });
  });
  return cudaGetLastError();
}

cudaError_t cross_entropy_backward(char* grad_logits, const char* grad_loss, int64_t grad_loss_stride,
                                   DT loss_dt, const char* logits, const char* lse, DT dt,
                                   const int64_t* target, int64_t N, int64_t C, int64_t ignore_index,
                                   double smoothing, cudaStream_t s) {
  if (N == 0) return cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    row_dispatch<T>(C, aligned16(grad_logits) && aligned16(logits), [&](auto vc, auto wc) {
      constexpr int V = decltype(vc)::value;
      constexpr bool W = decltype(wc)::value;
      cross_entropy_backward_kernel<T, V, 1, W><<<row_grid<W>(N), row_block<W>(C / V, 4), 0, s>>>(
          reinterpret_cast<T*>(grad_logits), grad_loss, grad_loss_stride, loss_dt,
          reinterpret_cast<const T*>(logits), lse, target, N, C, ignore_index, smoothing);
    });
  });
  return cudaGetLastError();
}

}  // namespace tessera::cuda::kern
