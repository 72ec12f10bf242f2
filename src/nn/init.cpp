// nn::init: parameter initialisers drawn from the default Philox generator.
#include "tessera/nn/init.h"

#include <cmath>
#include <vector>

#include "tessera/autograd/grad_mode.h"
#include "tessera/tensor/error.h"
#include "tessera/tensor/factory.h"
#include "tessera/tensor/raw.h"

namespace tessera::nn::init {

namespace {

void check_float(const char* op, const Tensor& t) {
  TESSERA_CHECK(t.defined(), ValueError, "{}: the tensor is undefined", op);
  TESSERA_CHECK(t.is_floating_point(), DTypeError, "{}: expected a floating-point tensor, got {}", op,
                dtype_name(t.dtype()));
}

// Writes `values` (any dtype/device, t's shape) into t without recording a graph.
Tensor& assign(Tensor& t, const Tensor& values) {
  NoGradGuard guard;
  t.copy_(values);
  return t;
}

// Inverse error function: a rational first guess refined by Newton steps on std::erf.
double erfinv(double y) {
  if (y <= -1.0) return -INFINITY;
  if (y >= 1.0) return INFINITY;
  const double a = 0.147, ln = std::log(1.0 - y * y), t1 = 2.0 / (M_PI * a) + ln / 2.0;
  double x = std::copysign(std::sqrt(std::sqrt(t1 * t1 - ln / a) - t1), y);
  for (int i = 0; i < 3; ++i) {
    const double err = std::erf(x) - y;
    x -= err / (2.0 / std::sqrt(M_PI) * std::exp(-x * x));
  }
  return x;
}

double fan(const char* op, const Tensor& t, const std::string& mode) {
  TESSERA_CHECK(mode == "fan_in" || mode == "fan_out", ValueError, "{}: mode {} not supported, use fan_in or fan_out",
                op, mode);
  const int64_t f = mode == "fan_in" ? fan_in(t) : fan_out(t);
  TESSERA_CHECK(f > 0, ValueError, "{}: cannot initialise a tensor with zero elements ({})", op, shape_str(t.sizes()));
  return double(f);
}

}  // namespace

Tensor& zeros_(Tensor& t) { return constant_(t, 0.0); }
Tensor& ones_(Tensor& t) { return constant_(t, 1.0); }

Tensor& constant_(Tensor& t, double value) {
  TESSERA_CHECK(t.defined(), ValueError, "constant_: the tensor is undefined");
  NoGradGuard guard;
  t.fill_(value);
  return t;
}

Tensor& uniform_(Tensor& t, double a, double b) {
  check_float("uniform_", t);
  TESSERA_CHECK(a <= b, ValueError, "uniform_: expects a <= b, but got a={} and b={}", a, b);
  Tensor u = raw::rand(t.sizes(), TensorOptions(t.dtype()).device(t.device()));
  return assign(t, raw::binary(BinaryOp::Add, raw::binary(BinaryOp::Mul, u, Scalar(b - a)), Scalar(a)));
}

Tensor& normal_(Tensor& t, double mean, double std) {
  check_float("normal_", t);
  TESSERA_CHECK(std >= 0.0, ValueError, "normal_: expects std >= 0.0, but found std {}", std);
  Tensor z = raw::randn(t.sizes(), TensorOptions(t.dtype()).device(t.device()));
  return assign(t, raw::binary(BinaryOp::Add, raw::binary(BinaryOp::Mul, z, Scalar(std)), Scalar(mean)));
}

Tensor& trunc_normal_(Tensor& t, double mean, double std, double a, double b) {
  check_float("trunc_normal_", t);
  TESSERA_CHECK(std >= 0.0 && a < b, ValueError, "trunc_normal_: expects std >= 0 and a < b, got std={} a={} b={}", std,
                a, b);
  // u ~ U(cdf(alpha), cdf(beta)) in float64 (drawn on the CPU: the stream is device-independent),
  // x = mean + std * sqrt(2) * erfinv(2u - 1), clamped to [a, b].
  auto cdf = [](double x) { return 0.5 * (1.0 + std::erf(x / std::sqrt(2.0))); };
  const double lo = cdf((a - mean) / std), hi = cdf((b - mean) / std);
  Tensor u = raw::contiguous(raw::rand(t.sizes(), TensorOptions(kFloat64)));
  const double* up = u.data_ptr<double>();
  std::vector<double> vals(size_t(u.numel()));
  for (size_t i = 0; i < vals.size(); ++i) {
    const double w = 2.0 * (lo + (hi - lo) * up[i]) - 1.0;
    double x = mean + std * std::sqrt(2.0) * erfinv(w);
    vals[i] = std::min(std::max(x, a), b);
  }
  return assign(t, from_vector<double>(vals, t.sizes()));
}

int64_t fan_in(const Tensor& t) {
  TESSERA_CHECK(t.defined() && t.dim() >= 2, ShapeError,
                "fan_in: fan in and fan out can not be computed for tensor with fewer than 2 dimensions ({})",
                t.defined() ? shape_str(t.sizes()) : std::string("undefined"));
  return t.numel() / std::max<int64_t>(t.size(0), 1);
}

int64_t fan_out(const Tensor& t) {
  TESSERA_CHECK(t.defined() && t.dim() >= 2, ShapeError,
                "fan_out: fan in and fan out can not be computed for tensor with fewer than 2 dimensions ({})",
                t.defined() ? shape_str(t.sizes()) : std::string("undefined"));
  return t.numel() / std::max<int64_t>(t.size(1), 1);
}

double calculate_gain(const std::string& nl, double param) {
  if (nl == "linear" || nl == "sigmoid" || nl.rfind("conv", 0) == 0) return 1.0;
  if (nl == "tanh") return 5.0 / 3.0;
  if (nl == "relu") return std::sqrt(2.0);
  if (nl == "leaky_relu") return std::sqrt(2.0 / (1.0 + param * param));
  if (nl == "selu") return 3.0 / 4.0;
  throw ValueError(fmt::format("calculate_gain: unsupported nonlinearity {}", nl));
}

Tensor& kaiming_uniform_(Tensor& t, double a, const std::string& mode, const std::string& nonlinearity) {
  check_float("kaiming_uniform_", t);
  const double bound = calculate_gain(nonlinearity, a) * std::sqrt(3.0 / fan("kaiming_uniform_", t, mode));
  return uniform_(t, -bound, bound);
}

Tensor& kaiming_normal_(Tensor& t, double a, const std::string& mode, const std::string& nonlinearity) {
  check_float("kaiming_normal_", t);
  return normal_(t, 0.0, calculate_gain(nonlinearity, a) / std::sqrt(fan("kaiming_normal_", t, mode)));
}

Tensor& xavier_uniform_(Tensor& t, double gain) {
  check_float("xavier_uniform_", t);
  const double s = double(fan_in(t) + fan_out(t));
  TESSERA_CHECK(s > 0, ValueError, "xavier_uniform_: empty tensor {}", shape_str(t.sizes()));
  const double bound = gain * std::sqrt(6.0 / s);
  return uniform_(t, -bound, bound);
}

Tensor& xavier_normal_(Tensor& t, double gain) {
  check_float("xavier_normal_", t);
  const double s = double(fan_in(t) + fan_out(t));
  TESSERA_CHECK(s > 0, ValueError, "xavier_normal_: empty tensor {}", shape_str(t.sizes()));
  return normal_(t, 0.0, gain * std::sqrt(2.0 / s));
}

}  // namespace tessera::nn::init
