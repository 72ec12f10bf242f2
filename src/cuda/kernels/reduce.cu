// Row reductions over a contiguous [rows, n] input (the host permutes reduced dims last and
// makes the input contiguous first): sum/mean/prod/max/min, arg max/min, var, logsumexp.
// One block per row; accumulation types follow Note [reduced precision compute].
#include "tessera/cuda/kernels/common.cuh"

namespace tessera::cuda::kern {

namespace {
struct ProdOp {
  template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a * b; }
};
struct MinOp {  // NaN wins
  template <typename T> __device__ __forceinline__ T operator()(T a, T b) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (a != a) return a;
      if (b != b) return b;
    }
    return a < b ? a : b;
  }
};

template <typename T, typename A, typename Op>
__global__ void reduce_rows_kernel(A* out, const T* in, int64_t n, A init, Op op, bool mean) {
  __shared__ A shm[32];
  const T* row = in + int64_t(blockIdx.x) * n;
  A acc = init;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) acc = op(acc, A(cast<acc_t<T>>(row[j])));
  acc = block_reduce(acc, op, shm);
  if (threadIdx.x == 0) {
    if (mean) acc = A(acc / A(n));
    out[blockIdx.x] = acc;
  }
}

template <typename T>
__global__ void arg_rows_kernel(T* values, int64_t* indices, const T* in, int64_t n, bool is_max) {
  using C = std::conditional_t<std::is_same_v<T, bool>, int, compute_t<T>>;
  __shared__ C sv[32];
  __shared__ int64_t si[32];
  const T* row = in + int64_t(blockIdx.x) * n;
  C best = cast<C>(row[0]);
  int64_t bi = 0;
  // better(a, ia) than (b, ib): NaN wins, then the larger (smaller) value, then the lower index.
  auto better = [is_max](C a, int64_t ia, C b, int64_t ib) {
    bool an = a != a, bn = b != b;
    if (an || bn) return an && (!bn || ia < ib);
    if (a == b) return ia < ib;
    return is_max ? a > b : a < b;
  };
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    C v = cast<C>(row[j]);
    if (better(v, j, best, bi)) { best = v; bi = j; }
  }
  for (int o = 16; o > 0; o >>= 1) {
    C ov = __shfl_xor_sync(0xffffffffu, best, o);
    int64_t oi = __shfl_xor_sync(0xffffffffu, bi, o);
    if (better(ov, oi, best, bi)) { best = ov; bi = oi; }
  }
  int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) { sv[warp] = best; si[warp] = bi; }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < int(blockDim.x >> 5); ++w)
      if (better(sv[w], si[w], best, bi)) { best = sv[w]; bi = si[w]; }
    values[blockIdx.x] = cast<T>(best);
    indices[blockIdx.x] = bi;
  }
}

template <typename T>
__global__ void var_rows_kernel(double* out, const T* in, int64_t n, int64_t correction) {
  __shared__ double shm[32];
  const T* row = in + int64_t(blockIdx.x) * n;
  double s = 0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += double(cast<acc_t<T>>(row[j]));
  double mean = block_reduce(s, SumOp{}, shm) / double(n);
  double q = 0;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    double d = double(cast<acc_t<T>>(row[j])) - mean;
    q += d * d;
  }
  q = block_reduce(q, SumOp{}, shm);
  if (threadIdx.x == 0) {
    double denom = double(n - correction);
    out[blockIdx.x] = denom > 0 ? q / denom : (denom == 0 && q == 0 ? NAN : q / denom);
  }
}

template <typename T>
__global__ void lse_rows_kernel(acc_t<T>* out, const T* in, int64_t n) {
  using A = acc_t<T>;
  __shared__ A shm[32];
  const T* row = in + int64_t(blockIdx.x) * n;
  A m = -INFINITY;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) m = MaxOp{}(m, A(row[j]));
  m = block_reduce(m, MaxOp{}, shm);
  A s = 0;
  if (m == m && !isinf(m)) {
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) s += exp(A(row[j]) - m);
    s = block_reduce(s, SumOp{}, shm);
  }
  if (threadIdx.x == 0) out[blockIdx.x] = (m != m || isinf(m)) ? m : m + log(s);
}
}  // namespace

cudaError_t reduce_rows(RedOp op, char* out, const char* in, DT in_dt, int64_t rows, int64_t n, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  int threads = row_threads(n);
  cudaError_t err = cudaSuccess;
  dispatch_all(in_dt, [&](auto iv) {
    using T = decltype(iv);
    using A = acc_t<T>;
    A* o = reinterpret_cast<A*>(out);
    const T* x = reinterpret_cast<const T*>(in);
    switch (op) {
      case RedOp::Sum: reduce_rows_kernel<<<rows, threads, 0, s>>>(o, x, n, A(0), SumOp{}, false); break;
      case RedOp::Mean: reduce_rows_kernel<<<rows, threads, 0, s>>>(o, x, n, A(0), SumOp{}, true); break;
      case RedOp::Prod: reduce_rows_kernel<<<rows, threads, 0, s>>>(o, x, n, A(1), ProdOp{}, false); break;
      case RedOp::Max: {
        A init = std::is_floating_point_v<A> ? A(-INFINITY) : A(INT64_MIN);
        if constexpr (std::is_same_v<T, int32_t>) init = A(INT32_MIN);
        if constexpr (std::is_same_v<T, bool>) init = A(0);
        reduce_rows_kernel<<<rows, threads, 0, s>>>(o, x, n, init, MaxOp{}, false);
        break;
      }
      case RedOp::Min: {
        A init = std::is_floating_point_v<A> ? A(INFINITY) : A(INT64_MAX);
        if constexpr (std::is_same_v<T, int32_t>) init = A(INT32_MAX);
        if constexpr (std::is_same_v<T, bool>) init = A(1);
        reduce_rows_kernel<<<rows, threads, 0, s>>>(o, x, n, init, MinOp{}, false);
        break;
      }
    }
    err = cudaGetLastError();
  });
  return err;
}

cudaError_t arg_reduce_rows(bool is_max, char* values, int64_t* indices, const char* in, DT in_dt, int64_t rows,
                            int64_t n, cudaStream_t s) {
  if (rows == 0 || n == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  dispatch_all(in_dt, [&](auto iv) {
    using T = decltype(iv);
    arg_rows_kernel<T><<<rows, row_threads(n), 0, s>>>(reinterpret_cast<T*>(values), indices,
                                                       reinterpret_cast<const T*>(in), n, is_max);
    err = cudaGetLastError();
  });
  return err;
}

cudaError_t var_rows(double* out, const char* in, DT in_dt, int64_t rows, int64_t n, int64_t correction,
                     cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  dispatch_float(in_dt, [&](auto iv) {
    using T = decltype(iv);
    var_rows_kernel<T><<<rows, row_threads(n), 0, s>>>(out, reinterpret_cast<const T*>(in), n, correction);
    err = cudaGetLastError();
  });
  return err;
}

cudaError_t logsumexp_rows(char* out, const char* in, DT in_dt, int64_t rows, int64_t n, cudaStream_t s) {
  if (rows == 0) return cudaSuccess;
  cudaError_t err = cudaSuccess;
  dispatch_float(in_dt, [&](auto iv) {
    using T = decltype(iv);
    lse_rows_kernel<T><<<rows, row_threads(n), 0, s>>>(reinterpret_cast<acc_t<T>*>(out),
                                                       reinterpret_cast<const T*>(in), n);
    err = cudaGetLastError();
  });
  return err;
}

}  // namespace tessera::cuda::kern
