// Optimizer primitives on CUDA: the multi-tensor AdamW step (Note [multi-tensor adamw]). The host
// checks every slot (device, dtype, shape, contiguity), turns each into a kern::AdamWTensor with its
// own scalars (make_adamw_scalars, the same rounding as the CPU kernel) and calls adamw.cu, which
// packs the list into launches (Note [adamw launch packing]).
#include <fmt/format.h>

#include <string>
#include <vector>

#include "tessera/cuda/check.h"
#include "tessera/cuda/cuda_backend.h"

namespace tessera::cuda {

namespace {

constexpr const char* kOp = "adamw_step";

std::string describe(const Tensor& t) {
  return fmt::format("{} {} on {}{}", dtype_name(t.dtype()), shape_str(t.sizes()), t.device().str(),
                     t.is_contiguous() ? "" : " (non-contiguous)");
}

// `what` of slot i must be a contiguous tensor of dtype dt shaped like the slot's param, on `dev`.
void check_operand(const Tensor& t, const Tensor& param, DType dt, Device dev, size_t i, const char* what) {
  TESSERA_CHECK(t.defined(), ValueError, "{}: slot {} has no {}", kOp, i, what);
  TESSERA_CHECK(t.device() == dev, DeviceError, "{}: slot {}'s {} is {} but the step runs on {}", kOp, i, what,
                describe(t), dev.str());
  TESSERA_CHECK(t.dtype() == dt, DTypeError, "{}: slot {}'s {} is {}; expected dtype {} (param is {})", kOp, i, what,
                describe(t), dtype_name(dt), describe(param));
  TESSERA_CHECK(t.sizes().equals(param.sizes()), ShapeError, "{}: slot {}'s {} is {} but its param is {}", kOp, i,
                what, describe(t), describe(param));
  TESSERA_CHECK(t.is_contiguous(), ValueError, "{}: slot {}'s {} is {}; the multi-tensor step needs contiguous tensors",
                kOp, i, what, describe(t));
}

}  // namespace

void CudaBackend::adamw_step(const std::vector<AdamWSlot>& slots, double beta1, double beta2, double eps) {
  if (slots.empty()) return;
  const Tensor& first = slots[0].param;
  TESSERA_CHECK(first.defined() && first.is_cuda(), DeviceError, "{}: slot 0's param must be a CUDA tensor, got {}",
                kOp, first.defined() ? describe(first) : std::string("an undefined tensor"));
  const DType dt = first.dtype();
  const Device dev = first.device();
  TESSERA_CHECK(dt == kFloat32 || dt == kBFloat16 || dt == kFloat16, DTypeError,
                "{}: params must be float32, bfloat16 or float16 on CUDA, got {} (float64 uses the composite path)",
                kOp, describe(first));
  std::vector<kern::AdamWTensor> tensors;
  tensors.reserve(slots.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    const AdamWSlot& s = slots[i];
    check_operand(s.param, first, dt, dev, i, "param");
    check_operand(s.grad, s.param, dt, dev, i, "grad");
    check_operand(s.exp_avg, s.param, kFloat32, dev, i, "exp_avg");
    check_operand(s.exp_avg_sq, s.param, kFloat32, dev, i, "exp_avg_sq");
    if (s.master.defined()) {
      TESSERA_CHECK(dt != kFloat32, DTypeError,
                    "{}: slot {} has a master copy but its param is {}; master weights are for bfloat16/float16 params",
                    kOp, i, describe(s.param));
      check_operand(s.master, s.param, kFloat32, dev, i, "master");
    }
    TESSERA_CHECK(s.step >= 1, ValueError, "{}: slot {} has step {}; steps start at 1", kOp, i, s.step);
    const AdamWScalars<float> sc = make_adamw_scalars<float>(s.lr, s.weight_decay, beta1, beta2, eps, s.step);
    kern::AdamWTensor t;
    t.param = mptr(s.param);
    t.grad = cptr(s.grad);
    t.exp_avg = reinterpret_cast<float*>(mptr(s.exp_avg));
    t.exp_avg_sq = reinterpret_cast<float*>(mptr(s.exp_avg_sq));
    t.master = s.master.defined() ? reinterpret_cast<float*>(mptr(s.master)) : nullptr;
    t.n = s.param.numel();
    t.decay = sc.decay;
    t.neg_step = sc.neg_step;
    t.bc2_sqrt = sc.bc2_sqrt;
    tensors.push_back(t);
  }
  const AdamWScalars<float> sc = make_adamw_scalars<float>(0.0, 0.0, beta1, beta2, eps, 1);
  kern::AdamWShared shared;
  shared.lerp_coeff = sc.lerp_coeff();
  shared.lerp_from_self = sc.w1_small;
  shared.beta2 = sc.beta2;
  shared.c2 = sc.c2;
  shared.eps = sc.eps;
  Ctx ctx(first);
  TESSERA_CUDA_CHECK(kern::adamw_multi_tensor(tensors.data(), int64_t(tensors.size()), kdt(dt), shared, ctx.stream));
}

}  // namespace tessera::cuda
