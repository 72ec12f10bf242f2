// Row-wise kernels over contiguous [rows, n] data: softmax / log_softmax (+ backward), layer
// norm and RMS norm (+ backward), and the fused cross-entropy (+ backward). One block per row;
// 16-bit floats compute in float32 (A = acc type), statistics are float32 (float64 for float64).
#include "tessera/cuda/kernels/common.cuh"

namespace tessera::cuda::kern {

namespace {

template <typename T>
__global__ void softmax_kernel(T* out, const T* in, int64_t n, bool log_) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  const T* x = in + int64_t(blockIdx.x) * n;
  T* y = out + int64_t(blockIdx.x) * n;
  A m = -INFINITY;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) m = MaxOp{}(m, A(x[j]));
  m = block_reduce(m, MaxOp{}, shm);
  A s = 0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += exp(A(x[j]) - m);
  s = block_reduce(s, SumOp{}, shm);
  if (log_) {
    A ls = log(s);
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) y[j] = T(A(x[j]) - m - ls);
  } else {
    A inv = A(1) / s;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) y[j] = T(exp(A(x[j]) - m) * inv);
  }
}

template <typename T>
__global__ void softmax_backward_kernel(T* gi, const T* go, const T* out, int64_t n, bool log_) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  int64_t base = int64_t(blockIdx.x) * n;
  A s = 0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    s += log_ ? A(go[base + j]) : A(go[base + j]) * A(out[base + j]);
  }
  s = block_reduce(s, SumOp{}, shm);
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    A g = A(go[base + j]), y = A(out[base + j]);
    gi[base + j] = T(log_ ? g - exp(y) * s : y * (g - s));
  }
}

template <typename T>
__global__ void layer_norm_kernel(T* out, acc_t<T>* mean_o, acc_t<T>* rstd_o, const T* in, const T* w,
                                  const T* b, int64_t n, double eps) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  int64_t base = int64_t(blockIdx.x) * n;
  A s = 0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += A(in[base + j]);
  A mean = block_reduce(s, SumOp{}, shm) / A(n);
  A q = 0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    A d = A(in[base + j]) - mean;
    q += d * d;
  }
  A var = block_reduce(q, SumOp{}, shm) / A(n);
  A rstd = A(1) / sqrt(var + A(eps));
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    A v = (A(in[base + j]) - mean) * rstd;
    if (w) v *= A(w[j]);
    if (b) v += A(b[j]);
    out[base + j] = T(v);
  }
  if (threadIdx.x == 0) {
    mean_o[blockIdx.x] = mean;
    rstd_o[blockIdx.x] = rstd;
  }
}

// grad_in for layer norm (mean != null) or RMS norm (mean == null), one block per row.
template <typename T>
__global__ void norm_backward_input_kernel(T* gi, const T* go, const T* in, const acc_t<T>* mean_p,
                                           const acc_t<T>* rstd_p, const T* w, int64_t n) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  int64_t base = int64_t(blockIdx.x) * n;
  A mean = mean_p ? mean_p[blockIdx.x] : A(0);
  A rstd = rstd_p[blockIdx.x];
  A s1 = 0, s2 = 0;  // sum(g*w), sum(g*w*xhat)
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    A gw = A(go[base + j]) * (w ? A(w[j]) : A(1));
    A xh = (A(in[base + j]) - mean) * rstd;
    s1 += gw;
    s2 += gw * xh;
  }
  s1 = block_reduce(s1, SumOp{}, shm);
  s2 = block_reduce(s2, SumOp{}, shm);
  A m1 = mean_p ? s1 / A(n) : A(0), m2 = s2 / A(n);
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    A gw = A(go[base + j]) * (w ? A(w[j]) : A(1));
    A xh = (A(in[base + j]) - mean) * rstd;
    gi[base + j] = T(rstd * (gw - m1 - xh * m2));
  }
}

// grad_weight[j] = sum_r g[r,j] * xhat[r,j], grad_bias[j] = sum_r g[r,j]; one thread per column.
template <typename T>
__global__ void norm_backward_params_kernel(T* gw, T* gb, const T* go, const T* in, const acc_t<T>* mean_p,
                                            const acc_t<T>* rstd_p, int64_t rows, int64_t n) {
  using A = acc_t<T>;
  int64_t j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= n) return;
  A sw = 0, sb = 0;
  for (int64_t r = 0; r < rows; ++r) {
    A g = A(go[r * n + j]);
    A xh = (A(in[r * n + j]) - (mean_p ? mean_p[r] : A(0))) * rstd_p[r];
    sw += g * xh;
    sb += g;
  }
  if (gw) gw[j] = T(sw);
  if (gb) gb[j] = T(sb);
}

template <typename T>
__global__ void rms_norm_kernel(T* out, acc_t<T>* rstd_o, const T* in, const T* w, int64_t n, double eps) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  int64_t base = int64_t(blockIdx.x) * n;
  A q = 0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    A v = A(in[base + j]);
    q += v * v;
  }
  A rstd = A(1) / sqrt(block_reduce(q, SumOp{}, shm) / A(n) + A(eps));
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    A v = A(in[base + j]) * rstd;
    if (w) v *= A(w[j]);
    out[base + j] = T(v);
  }
  if (threadIdx.x == 0) rstd_o[blockIdx.x] = rstd;
}

template <typename T, typename L>
__global__ void cross_entropy_kernel(L* loss, L* lse_o, const T* logits, const int64_t* target, int64_t C,
                                     int64_t ignore_index, double smoothing) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  const T* x = logits + int64_t(blockIdx.x) * C;
  A m = -INFINITY, sx = 0;
  for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
    A v = A(x[j]);
    m = MaxOp{}(m, v);
    sx += v;
  }
  m = block_reduce(m, MaxOp{}, shm);
  sx = block_reduce(sx, SumOp{}, shm);
  A s = 0;
  for (int64_t j = threadIdx.x; j < C; j += blockDim.x) s += exp(A(x[j]) - m);
  s = block_reduce(s, SumOp{}, shm);
  if (threadIdx.x == 0) {
    A lse = m + log(s);
    int64_t t = target[blockIdx.x];
    A l = 0;
    if (t != ignore_index) {
      A eps = A(smoothing);
      l = (A(1) - eps) * (lse - A(x[t])) + eps * (lse - sx / A(C));
    }
    loss[blockIdx.x] = L(l);
    lse_o[blockIdx.x] = L(lse);
  }
}

template <typename T, typename L>
__global__ void cross_entropy_backward_kernel(T* gl, const L* grad_loss, int64_t gstride, const T* logits,
                                              const L* lse_p, const int64_t* target, int64_t C,
                                              int64_t ignore_index, double smoothing) {
  using A = acc_t<T>;
  int64_t base = int64_t(blockIdx.x) * C;
  int64_t t = target[blockIdx.x];
  if (t == ignore_index) {
    for (int64_t j = threadIdx.x; j < C; j += blockDim.x) gl[base + j] = T(A(0));
    return;
  }
  A g = A(acc_t<L>(grad_loss[blockIdx.x * gstride]));
  A lse = A(acc_t<L>(lse_p[blockIdx.x]));
  A eps = A(smoothing);
  for (int64_t j = threadIdx.x; j < C; j += blockDim.x) {
    A p = exp(A(logits[base + j]) - lse);
    A d = p - eps / A(C) - (j == t ? A(1) - eps : A(0));
    gl[base + j] = T(g * d);
  }
}

}  // namespace

cudaError_t softmax(char* out, const char* in, DT dt, int64_t rows, int64_t n, bool log, cudaStream_t s) {
  if (rows == 0 || n == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    softmax_kernel<T><<<rows, row_threads(n), 0, s>>>(reinterpret_cast<T*>(out), reinterpret_cast<const T*>(in), n, log);
    err = cudaGetLastError();
  });
  return err;
}

cudaError_t softmax_backward(char* grad_in, const char* grad_out, const char* out, DT dt, int64_t rows, int64_t n,
                             bool log, cudaStream_t s) {
  if (rows == 0 || n == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    softmax_backward_kernel<T><<<rows, row_threads(n), 0, s>>>(
        reinterpret_cast<T*>(grad_in), reinterpret_cast<const T*>(grad_out), reinterpret_cast<const T*>(out), n, log);
    err = cudaGetLastError();
  });
  return err;
}

cudaError_t layer_norm(char* out, char* mean, char* rstd, const char* in, const char* weight, const char* bias,
                       DT dt, int64_t rows, int64_t n, double eps, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    using A = acc_t<T>;
    layer_norm_kernel<T><<<rows, row_threads(n), 0, s>>>(
        reinterpret_cast<T*>(out), reinterpret_cast<A*>(mean), reinterpret_cast<A*>(rstd),
        reinterpret_cast<const T*>(in), reinterpret_cast<const T*>(weight), reinterpret_cast<const T*>(bias), n, eps);
    err = cudaGetLastError();
  });
  return err;
}

cudaError_t layer_norm_backward(char* grad_in, char* grad_weight, char* grad_bias, const char* grad_out,
                                const char* in, const char* mean, const char* rstd, const char* weight, DT dt,
                                int64_t rows, int64_t n, cudaStream_t s) {
  cudaError_t err = cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    using A = acc_t<T>;
    const T* go = reinterpret_cast<const T*>(grad_out);
    const T* x = reinterpret_cast<const T*>(in);
    const A* mp = reinterpret_cast<const A*>(mean);
    const A* rp = reinterpret_cast<const A*>(rstd);
    if (grad_in && rows > 0 && n > 0) {
      norm_backward_input_kernel<T><<<rows, row_threads(n), 0, s>>>(reinterpret_cast<T*>(grad_in), go, x, mp, rp,
                                                                    reinterpret_cast<const T*>(weight), n);
      if ((err = cudaGetLastError()) != cudaSuccess) return;
    }
    if ((grad_weight || grad_bias) && n > 0) {
      norm_backward_params_kernel<T><<<blocks_for(n), 256, 0, s>>>(
          reinterpret_cast<T*>(grad_weight), reinterpret_cast<T*>(grad_bias), go, x, mp, rp, rows, n);
      err = cudaGetLastError();
    }
  });
  return err;
}

cudaError_t rms_norm(char* out, char* rstd, const char* in, const char* weight, DT dt, int64_t rows, int64_t n,
                     double eps, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    rms_norm_kernel<T><<<rows, row_threads(n), 0, s>>>(reinterpret_cast<T*>(out), reinterpret_cast<acc_t<T>*>(rstd),
                                                       reinterpret_cast<const T*>(in),
                                                       reinterpret_cast<const T*>(weight), n, eps);
    err = cudaGetLastError();
  });
  return err;
}

cudaError_t rms_norm_backward(char* grad_in, char* grad_weight, const char* grad_out, const char* in,
                              const char* rstd, const char* weight, DT dt, int64_t rows, int64_t n, cudaStream_t s) {
  return layer_norm_backward(grad_in, grad_weight, nullptr, grad_out, in, nullptr, rstd, weight, dt, rows, n, s);
}

cudaError_t cross_entropy(char* loss, char* lse, DT loss_dt, const char* logits, DT dt, const int64_t* target,
                          int64_t N, int64_t C, int64_t ignore_index, double smoothing, cudaStream_t s) {
  if (N == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    dispatch_float(loss_dt, [&](auto lv) {
      using L = decltype(lv);
      cross_entropy_kernel<T, L><<<N, row_threads(C), 0, s>>>(reinterpret_cast<L*>(loss), reinterpret_cast<L*>(lse),
                                                              reinterpret_cast<const T*>(logits), target, C,
                                                              ignore_index, smoothing);
      err = cudaGetLastError();
    });
  });
  return err;
}

cudaError_t cross_entropy_backward(char* grad_logits, const char* grad_loss, int64_t grad_loss_stride,
                                   DT loss_dt, const char* logits, const char* lse, DT dt,
                                   const int64_t* target, int64_t N, int64_t C, int64_t ignore_index,
                                   double smoothing, cudaStream_t s) {
  if (N == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  dispatch_float(dt, [&](auto iv) {
    using T = decltype(iv);
    dispatch_float(loss_dt, [&](auto lv) {
      using L = decltype(lv);
      cross_entropy_backward_kernel<T, L><<<N, row_threads(C), 0, s>>>(
          reinterpret_cast<T*>(grad_logits), reinterpret_cast<const L*>(grad_loss), grad_loss_stride,
          reinterpret_cast<const T*>(logits), reinterpret_cast<const L*>(lse), target, C, ignore_index, smoothing);
      err = cudaGetLastError();
    });
  });
  return err;
}

}  // namespace tessera::cuda::kern
