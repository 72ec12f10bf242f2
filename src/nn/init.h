// nn::init: in-place parameter initialisers (torch.nn.init). Each runs under no-grad, fills `t`
// whatever its device, dtype or strides, draws from the default Philox generator
// (Note [philox stream]) and returns `t`. The same seed gives the same values on every device.
#pragma once

#include <string>

#include "tessera/tensor/tensor.h"

namespace tessera::nn::init {

Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
Tensor& constant_(Tensor& t, double value);
// Uniform in [a, b).
Tensor& uniform_(Tensor& t, double a = 0.0, double b = 1.0);
// Normal(mean, std^2).
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0);
// Normal(mean, std^2) truncated to [a, b] (inverse-CDF method, values drawn in float64).
Tensor& trunc_normal_(Tensor& t, double mean = 0.0, double std = 1.0, double a = -2.0, double b = 2.0);

// fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (t.dim() >= 2).
int64_t fan_in(const Tensor& t);
int64_t fan_out(const Tensor& t);
// torch.nn.init.calculate_gain for "linear", "conv*", "sigmoid", "tanh", "relu", "leaky_relu", "selu".
double calculate_gain(const std::string& nonlinearity, double param = 0.01);
// Uniform(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a),
// fan = fan_in or fan_out per mode. PyTorch's Linear uses a = sqrt(5): bound = 1 / sqrt(fan_in).
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                         const std::string& nonlinearity = "leaky_relu");
Tensor& kaiming_normal_(Tensor& t, double a = 0.0, const std::string& mode = "fan_in",
                        const std::string& nonlinearity = "leaky_relu");
// Uniform(-b, b), b = gain * sqrt(6 / (fan_in + fan_out)).
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0);
Tensor& xavier_normal_(Tensor& t, double gain = 1.0);

}  // namespace tessera::nn::init
