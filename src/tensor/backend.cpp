// Backend registry, op names, the default "not implemented on this device" primitives, and the
// generic gemm_bias composition.
#include "tessera/tensor/backend.h"

#include "tessera/tensor/raw.h"

#include "tessera/tensor/error.h"

namespace tessera {

namespace {
Backend* g_backends[kNumDeviceTypes] = {nullptr, nullptr};
}

void register_backend(DeviceType type, Backend* backend) { g_backends[int(type)] = backend; }
bool has_backend(DeviceType type) { return g_backends[int(type)] != nullptr; }

Backend& cpu_backend_instance();  // cpu/cpu_backend.cpp

Backend& backend_for(Device device) {
  if (device.is_cpu()) return cpu_backend_instance();
  Backend* b = g_backends[int(device.type)];
  if (!b) {
    throw DeviceError(fmt::format("device {} is not available: tessera was built without the CUDA backend, "
                                  "or no CUDA device was found at start-up",
                                  device.str()));
  }
  return *b;
}

void Backend::not_implemented(std::string_view op) const {
  throw DeviceError(fmt::format("{}: not implemented for device type {}", op,
                                type_ == DeviceType::CPU ? "cpu" : "cuda"));
}

std::string_view unary_op_name(UnaryOp op) {
  static constexpr std::string_view names[] = {"neg",  "abs",     "exp",        "log",       "log1p",
                                               "sqrt", "rsqrt",   "square",     "reciprocal", "sign",
                                               "tanh", "sigmoid", "relu",       "gelu",       "gelu(tanh)",
                                               "silu", "sin",     "cos",        "logical_not"};
  return names[int(op)];
}
std::string_view binary_op_name(BinaryOp op) {
  static constexpr std::string_view names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq",
                                               "ne",  "lt",  "le",  "gt",  "ge",  "logical_and", "logical_or"};
  return names[int(op)];
}
std::string_view reduce_op_name(ReduceOp op) {
  static constexpr std::string_view names[] = {"sum", "mean", "prod", "max", "min"};
  return names[int(op)];
}

// Default primitives: a backend that does not override one says so.
void Backend::copy(const Tensor&, const Tensor&) { not_implemented("copy"); }
void Backend::fill(const Tensor&, Scalar) { not_implemented("fill"); }
void Backend::synchronize(Device) {}
void Backend::unary(UnaryOp op, const Tensor&, const Tensor&) { not_implemented(unary_op_name(op)); }
void Backend::binary(BinaryOp op, const Tensor&, const Tensor&, const Tensor&, Scalar) {
  not_implemented(binary_op_name(op));
}
void Backend::binary_scalar(BinaryOp op, const Tensor&, const Tensor&, Scalar, bool) {
  not_implemented(binary_op_name(op));
}
void Backend::where(const Tensor&, const Tensor&, const Tensor&, const Tensor&) { not_implemented("where"); }
void Backend::clamp(const Tensor&, const Tensor&, std::optional<Scalar>, std::optional<Scalar>) {
  not_implemented("clamp");
}
void Backend::masked_fill(const Tensor&, const Tensor&, Scalar) { not_implemented("masked_fill"); }
void Backend::unary_backward(UnaryOp op, const Tensor&, const Tensor&, const Tensor&) {
  not_implemented(fmt::format("{}_backward", unary_op_name(op)));
}
void Backend::random_uniform(const Tensor&, double, double, uint64_t, uint64_t) { not_implemented("rand"); }
void Backend::random_normal(const Tensor&, double, double, uint64_t, uint64_t) { not_implemented("randn"); }
void Backend::random_int(const Tensor&, int64_t, int64_t, uint64_t, uint64_t) { not_implemented("randint"); }
void Backend::dropout_mask(const Tensor&, double, uint64_t, uint64_t) { not_implemented("dropout"); }
void Backend::reduce(ReduceOp op, const Tensor&, const Tensor&, IntArrayRef) { not_implemented(reduce_op_name(op)); }
void Backend::arg_reduce(bool is_max, const Tensor&, const Tensor&, const Tensor&, int64_t) {
  not_implemented(is_max ? "max.dim" : "min.dim");
}
void Backend::var(const Tensor&, const Tensor&, IntArrayRef, int64_t) { not_implemented("var"); }
void Backend::logsumexp(const Tensor&, const Tensor&, IntArrayRef) { not_implemented("logsumexp"); }
void Backend::softmax(const Tensor&, const Tensor&, bool log) { not_implemented(log ? "log_softmax" : "softmax"); }
void Backend::softmax_backward(const Tensor&, const Tensor&, const Tensor&, bool log) {
  not_implemented(log ? "log_softmax_backward" : "softmax_backward");
}
void Backend::layer_norm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                         double) {
  not_implemented("layer_norm");
}
void Backend::layer_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                  const Tensor&, const Tensor&, const Tensor&) {
  not_implemented("layer_norm_backward");
}
void Backend::rms_norm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double) {
  not_implemented("rms_norm");
}
void Backend::rms_norm_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                const Tensor&) {
  not_implemented("rms_norm_backward");
}
void Backend::gemm(const Tensor&, const Tensor&, const Tensor&, double, double) { not_implemented("gemm"); }
void Backend::gemm_bias(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& bias, GemmActivation act,
                        const Tensor& pre_act) {
  const Tensor& acc = act == GemmActivation::None ? out : pre_act;
  copy(acc, raw::expand(bias, acc.sizes()));
  gemm(raw::unsqueeze(acc, 0), raw::unsqueeze(a, 0), raw::unsqueeze(b, 0), 1.0, 1.0);
  if (act == GemmActivation::GeluTanh) unary(UnaryOp::GeluTanh, out, acc);
}
void Backend::index_select(const Tensor&, const Tensor&, int64_t, const Tensor&) { not_implemented("index_select"); }
void Backend::index_add(const Tensor&, int64_t, const Tensor&, const Tensor&) { not_implemented("index_add"); }
void Backend::gather(const Tensor&, const Tensor&, int64_t, const Tensor&) { not_implemented("gather"); }
void Backend::scatter_add(const Tensor&, int64_t, const Tensor&, const Tensor&) { not_implemented("scatter_add"); }
void Backend::tril_triu(const Tensor&, const Tensor&, int64_t, bool upper) { not_implemented(upper ? "triu" : "tril"); }
void Backend::cross_entropy(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t, double) {
  not_implemented("cross_entropy");
}
void Backend::cross_entropy_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                     int64_t, double) {
  not_implemented("cross_entropy_backward");
}
void Backend::attention(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double) {
  not_implemented("scaled_dot_product_attention");
}
void Backend::attention_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                                 const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double) {
  not_implemented("scaled_dot_product_attention_backward");
}
void Backend::adamw_step(const std::vector<AdamWSlot>&, double, double, double) {
  not_implemented("adamw_step (multi-tensor AdamW)");
}

}  // namespace tessera
