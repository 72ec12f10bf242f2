// nn::functional: the stateless layer functions the modules call (torch.nn.functional names):
// linear, dropout (Philox mask), rotary position embeddings and scaled-dot-product attention with
// an optional mask and grouped-query heads.
#pragma once

#include <optional>

#include "tessera/tensor/tensor.h"

namespace tessera::nn::functional {

// x [..., in] @ weight[out, in]^T + bias[out] -> [..., out].
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = {});
// gelu(linear(x, weight, bias), approximate="tanh"), with bias and GELU in the GEMM's epilogue
// (cuBLASLt on CUDA); the same values and gradients as the two ops.
Tensor linear_gelu_tanh(const Tensor& x, const Tensor& weight, const Tensor& bias = {});

// Zeroes each element with probability p and scales the rest by 1/(1-p) when training.
Tensor dropout(const Tensor& x, double p, bool training = true);

// Rotary position embeddings, rotate-half layout (HF Llama), x [B, H, S, hd].
Tensor apply_rope(const Tensor& x, int64_t position_offset = 0, double theta = 10000.0);

// softmax(q k^T * scale + mask) v; q [B, H, Sq, hd], k/v [B, Hkv, Sk, hd] (H % Hkv == 0).
// attn_mask: bool (true = attend) or floating (added), broadcastable to [B, H, Sq, Sk].
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask = {},
                                    bool is_causal = false, double dropout_p = 0.0,
                                    std::optional<double> scale = std::nullopt);

}  // namespace tessera::nn::functional
