// The multi-tensor AdamW step (Note [multi-tensor adamw] in tessera/tensor/adamw_step.h): one launch
// updates the chunks of up to 32 tensors (Note [adamw launch packing] in kernel_api.h), one block per
// chunk of 64K elements. Per element the arithmetic is the CPU fused kernel's (Note [fused adamw]) with
// every operation explicitly rounded (__fmul_rn, ...) so that nvcc cannot contract it, and one fmaf for
// the lerp, as ATen and the CPU kernel do.
#include "tessera/cuda/kernels/common.cuh"

namespace tessera::cuda::kern {

namespace {

constexpr int kThreads = 512;

// One element: p (the parameter, or its float32 master), g, m, v in float32; updates p, m, v.
__device__ __forceinline__ void adamw_element(float& p, float g, float& m, float& v, const AdamWTensor& t,
                                              const AdamWShared& sh) {
  const float pi = __fmul_rn(p, t.decay);
  const float mi = fmaf(sh.lerp_coeff, __fsub_rn(g, m), sh.lerp_from_self ? m : g);
  const float vi = __fadd_rn(__fmul_rn(v, sh.beta2), __fmul_rn(__fmul_rn(sh.c2, g), g));
  const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), t.bc2_sqrt), sh.eps);
  p = __fadd_rn(pi, __fdiv_rn(__fmul_rn(t.neg_step, mi), denom));
  m = mi;
  v = vi;
}

// Four elements of P as one aligned load/store (float4 for float, 8 bytes for the 16-bit types).
template <typename P> struct Vec4 { using type = float4; };
template <> struct Vec4<bf16> { using type = uint2; };
template <> struct Vec4<f16> { using type = uint2; };

template <typename P>
__device__ __forceinline__ void load4(const P* ptr, float out[4]) {
  using V = typename Vec4<P>::type;
  static_assert(sizeof(V) == 4 * sizeof(P));
  const V raw = *reinterpret_cast<const V*>(ptr);
  P e[4];
  memcpy(e, &raw, sizeof(V));
#pragma unroll
  for (int k = 0; k < 4; ++k) out[k] = cast<float>(e[k]);
}
template <typename P>
__device__ __forceinline__ void store4(P* ptr, const float in[4]) {
  using V = typename Vec4<P>::type;
  P e[4];
#pragma unroll
  for (int k = 0; k < 4; ++k) e[k] = cast<P>(in[k]);
  V raw;
  memcpy(&raw, e, sizeof(V));
  *reinterpret_cast<V*>(ptr) = raw;
}

__device__ __forceinline__ bool aligned(const void* ptr, unsigned bytes) {
  return reinterpret_cast<uintptr_t>(ptr) % bytes == 0;
}

// Block b updates chunk block_chunk[b] of tensor block_tensor[b]. When every pointer of the tensor is
// aligned for 4-element vectors (chunk starts are multiples of 4 elements), the chunk goes 4 elements
// per thread step and its last len % 4 elements one at a time; otherwise (e.g. a storage offset) every
// element is scalar.
template <typename P>
__global__ void __launch_bounds__(kThreads) adamw_kernel(const __grid_constant__ AdamWLaunch l, const AdamWShared sh) {
  const AdamWTensor t = l.tensors[l.block_tensor[blockIdx.x]];  // (__grid_constant__: no local copy of l)
  const int64_t start = int64_t(l.block_chunk[blockIdx.x]) * kAdamWChunk;
  const int64_t rest = t.n - start;
  const int64_t len = rest < kAdamWChunk ? rest : kAdamWChunk;
  P* p = reinterpret_cast<P*>(t.param) + start;
  const P* g = reinterpret_cast<const P*>(t.grad) + start;
  float* m = t.exp_avg + start;
  float* v = t.exp_avg_sq + start;
  float* master = t.master ? t.master + start : nullptr;

  int64_t scalar_from = 0;
  const bool vec = aligned(p, 4 * sizeof(P)) && aligned(g, 4 * sizeof(P)) && aligned(m, 16) && aligned(v, 16) &&
                   (master == nullptr || aligned(master, 16));
  if (vec) {
    const int64_t nvec = len / 4;
    for (int64_t j = threadIdx.x; j < nvec; j += kThreads) {
      const int64_t i = j * 4;
      float pf[4], gf[4], mf[4], vf[4];
      if (master) {
        load4<float>(master + i, pf);
      } else {
        load4<P>(p + i, pf);
      }
      load4<P>(g + i, gf);
      load4<float>(m + i, mf);
      load4<float>(v + i, vf);
#pragma unroll
      for (int k = 0; k < 4; ++k) adamw_element(pf[k], gf[k], mf[k], vf[k], t, sh);
      store4<float>(m + i, mf);
      store4<float>(v + i, vf);
      if (master) store4<float>(master + i, pf);
      store4<P>(p + i, pf);
    }
    scalar_from = nvec * 4;
  }
  for (int64_t i = scalar_from + threadIdx.x; i < len; i += kThreads) {
    float pf = master ? master[i] : cast<float>(p[i]);
    float mf = m[i], vf = v[i];
    adamw_element(pf, cast<float>(g[i]), mf, vf, t, sh);
    m[i] = mf;
    v[i] = vf;
    if (master) master[i] = pf;
    p[i] = cast<P>(pf);
  }
}

template <typename P>
cudaError_t adamw_launches(const AdamWTensor* tensors, int64_t count, const AdamWShared& sh, cudaStream_t s) {
  return adamw_for_each_launch(tensors, count, [&](const AdamWLaunch& l) {
    adamw_kernel<P><<<unsigned(l.num_blocks), kThreads, 0, s>>>(l, sh);
    return cudaGetLastError();
  });
}

}  // namespace

cudaError_t adamw_multi_tensor(const AdamWTensor* tensors, int64_t count, DT dt, const AdamWShared& shared,
                               cudaStream_t s) {
  switch (dt) {
    case DT::F32: return adamw_launches<float>(tensors, count, shared, s);
    case DT::BF16: return adamw_launches<bf16>(tensors, count, shared, s);
    case DT::F16: return adamw_launches<f16>(tensors, count, shared, s);
    default: throw std::invalid_argument("tessera cuda kernel adamw_multi_tensor: expected F32, BF16 or F16 params");
  }
}

}  // namespace tessera::cuda::kern
