#!/usr/bin/env python3
"""Writes tests/data/nn_layers.json: PyTorch (CPU, float64) golden values for tessera's nn layers
(tests/nn/test_layers_golden.cpp). Regenerate with `python3 tools/golden/nn_layers.py`; PyTorch is
needed only here, never to build or test tessera.

Each case holds the parameters under tessera's dotted names, the inputs, an output gradient `gy`,
and the reference output `y` plus d(sum(y * gy))/d(input and every parameter). The reference
layers are written here from their published definitions (PyTorch's nn.functional ops; Llama's
rotate-half RoPE and repeat_kv as in Hugging Face transformers), not from tessera.
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
rng = np.random.default_rng(1234)


def rand(*shape, scale=1.0):
    return torch.tensor(rng.uniform(-1.0, 1.0, size=shape) * scale, requires_grad=True)


def enc(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": t.reshape(-1).tolist()}


def run(params, inputs, fn, extra=None):
    """Calls fn(params, inputs) -> y; returns the JSON case with y and all gradients. With a
    padding_mask input, gy is zero at padding positions (tessera leaves their outputs unspecified:
    Note [right padding takes the fused path]) and y is compared at real positions only."""
    y = fn(params, inputs)
    gy = torch.tensor(rng.uniform(-1.0, 1.0, size=tuple(y.shape)))
    if "padding_mask" in inputs:
        gy = gy * inputs["padding_mask"][..., None]
    leaves = {**{"param:" + k: v for k, v in params.items()}, **{"input:" + k: v for k, v in inputs.items()
                                                               if v.dtype == torch.float64}}
    grads = torch.autograd.grad((y * gy).sum(), list(leaves.values()), allow_unused=True)
    case = {
        "params": {k: enc(v) for k, v in params.items()},
        "inputs": {k: enc(v) if v.dtype == torch.float64 else {"shape": list(v.shape), "data": v.reshape(-1).tolist()}
                   for k, v in inputs.items()},
        "gy": enc(gy),
        "y": enc(y),
        "grads": {k: enc(g if g is not None else torch.zeros_like(leaves[k])) for k, g in zip(leaves, grads)},
    }
    if extra:
        case.update(extra)
    return case


def linear(x, p, prefix):
    b = p.get(prefix + ".bias")
    return F.linear(x, p[prefix + ".weight"], b)


def act(x, name):
    return {"gelu": lambda t: F.gelu(t), "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"), "silu": F.silu,
            "relu": F.relu}[name](x)


def mlp(x, p, prefix, name, gated):
    if gated:
        return linear(act(linear(x, p, prefix + "gate_proj"), name) * linear(x, p, prefix + "up_proj"), p,
                      prefix + "down_proj")
    return linear(act(linear(x, p, prefix + "fc1"), name), p, prefix + "fc2")


def rope(x, offset, theta):  # x [B, H, S, hd]; Hugging Face Llama (rotate_half)
    S, hd = x.shape[2], x.shape[3]
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    pos = torch.arange(offset, offset + S, dtype=torch.float64)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat([freqs, freqs], dim=-1)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * emb.cos() + torch.cat([-x2, x1], dim=-1) * emb.sin()


def attention(x, p, prefix, H, Hkv, use_rope, theta, causal, pad):
    B, S, D = x.shape
    hd = D // H
    qkv = linear(x, p, prefix + "qkv_proj")
    q, k, v = qkv.split([H * hd, Hkv * hd, Hkv * hd], dim=-1)
    q = q.view(B, S, H, hd).transpose(1, 2)
    k = k.view(B, S, Hkv, hd).transpose(1, 2)
    v = v.view(B, S, Hkv, hd).transpose(1, 2)
    if use_rope:
        q, k = rope(q, 0, theta), rope(k, 0, theta)
    k = k.repeat_interleave(H // Hkv, dim=1)  # == HF repeat_kv
    v = v.repeat_interleave(H // Hkv, dim=1)
    mask = torch.ones(S, S, dtype=torch.bool)
    if causal:
        mask = torch.tril(mask)
    mask = mask[None, None]
    if pad is not None:
        mask = mask & pad[:, None, None, :]
    if pad is not None and not bool(pad[:, 0].all()):
        # Left padding leaves some query rows with no key: Hugging Face's additive finfo.min mask
        # keeps them finite (their outputs are not compared, and get no gradient).
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
        scores = scores + (~mask).to(scores.dtype) * torch.finfo(scores.dtype).min
        o = scores.softmax(-1) @ v
    else:
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return linear(o.transpose(1, 2).reshape(B, S, H * hd), p, prefix + "o_proj")


def norm(x, p, prefix, kind, eps):
    if kind == "rms":
        return F.rms_norm(x, (x.shape[-1],), p[prefix + ".weight"], eps)
    return F.layer_norm(x, (x.shape[-1],), p[prefix + ".weight"], p[prefix + ".bias"], eps)


def block(x, p, cfg, pad):
    h = x + attention(norm(x, p, "input_layernorm", cfg["norm"], cfg["eps"]), p, "self_attn.", cfg["H"], cfg["Hkv"],
                      cfg["rope"], cfg["theta"], True, pad)
    return h + mlp(norm(h, p, "post_attention_layernorm", cfg["norm"], cfg["eps"]), p, "mlp.", cfg["act"],
                   cfg["gated"])


def block_params(D, H, Hkv, hidden, kind, gated, bias):
    hd = D // H
    p = {"input_layernorm.weight": rand(D) * 0.2 + 1.0}
    if kind == "layer":
        p["input_layernorm.bias"] = rand(D, scale=0.1)
    p["self_attn.qkv_proj.weight"] = rand((H + 2 * Hkv) * hd, D, scale=0.4)
    if bias:
        p["self_attn.qkv_proj.bias"] = rand((H + 2 * Hkv) * hd, scale=0.1)
    p["self_attn.o_proj.weight"] = rand(D, H * hd, scale=0.4)
    if bias:
        p["self_attn.o_proj.bias"] = rand(D, scale=0.1)
    p["post_attention_layernorm.weight"] = rand(D) * 0.2 + 1.0
    if kind == "layer":
        p["post_attention_layernorm.bias"] = rand(D, scale=0.1)
    names = [("gate_proj", hidden, D), ("up_proj", hidden, D), ("down_proj", D, hidden)] if gated else \
        [("fc1", hidden, D), ("fc2", D, hidden)]
    for n, o, i in names:
        p[f"mlp.{n}.weight"] = rand(o, i, scale=0.4)
        if bias:
            p[f"mlp.{n}.bias"] = rand(o, scale=0.1)
    return {k: v.detach().requires_grad_() for k, v in p.items()}


cases = {}

p = {"weight": rand(4, 5), "bias": rand(4)}
cases["linear"] = run(p, {"x": rand(2, 3, 5)}, lambda p, i: F.linear(i["x"], p["weight"], p["bias"]))

p = {"weight": rand(6), "bias": rand(6)}
cases["layer_norm"] = run(p, {"x": rand(2, 3, 6, scale=2.0)},
                          lambda p, i: F.layer_norm(i["x"], (6,), p["weight"], p["bias"], 1e-5), {"eps": 1e-5})
p = {"weight": rand(6)}
cases["rms_norm"] = run(p, {"x": rand(2, 3, 6, scale=2.0)}, lambda p, i: F.rms_norm(i["x"], (6,), p["weight"], 1e-6),
                        {"eps": 1e-6})

for name, gated, a in [("mlp_gelu", False, "gelu"), ("mlp_gelu_tanh", False, "gelu_tanh"), ("mlp_relu", False, "relu"),
                       ("mlp_swiglu", True, "silu")]:
    if gated:
        p = {"gate_proj.weight": rand(7, 4), "gate_proj.bias": rand(7), "up_proj.weight": rand(7, 4),
             "up_proj.bias": rand(7), "down_proj.weight": rand(4, 7), "down_proj.bias": rand(4)}
    else:
        p = {"fc1.weight": rand(7, 4), "fc1.bias": rand(7), "fc2.weight": rand(4, 7), "fc2.bias": rand(4)}
    cases[name] = run(p, {"x": rand(2, 3, 4, scale=2.0)}, lambda p, i, a=a, g=gated: mlp(i["x"], p, "", a, g),
                      {"act": a, "gated": gated})

cases["rope"] = run({}, {"x": rand(2, 3, 5, 8)}, lambda p, i: rope(i["x"], 7, 10000.0),
                    {"offset": 7, "theta": 10000.0})
cases["rope_big_offset"] = run({}, {"x": rand(1, 2, 3, 6)}, lambda p, i: rope(i["x"], 4093, 500000.0),
                               {"offset": 4093, "theta": 500000.0})

# Attention: GQA (4 query heads, 2 kv heads), rope, causal, right padding in the second sequence.
D, H, Hkv, S = 16, 4, 2, 5
hd = D // H
p = {"qkv_proj.weight": rand((H + 2 * Hkv) * hd, D, scale=0.5), "qkv_proj.bias": rand((H + 2 * Hkv) * hd, scale=0.1),
     "o_proj.weight": rand(D, D, scale=0.5), "o_proj.bias": rand(D, scale=0.1)}
pad = torch.tensor([[True] * 5, [True, True, True, False, False]])
cases["attention_gqa_rope_padded"] = run(
    p, {"x": rand(2, S, D), "padding_mask": pad},
    lambda p, i: attention(i["x"], p, "", H, Hkv, True, 10000.0, True, i["padding_mask"]),
    {"d_model": D, "n_heads": H, "n_kv_heads": Hkv, "rope": True, "causal": True})
# The same layer with left padding (the exact masked path in tessera).
pad = torch.tensor([[False, False, True, True, True], [True] * 5])
p = {k: v.detach().clone().requires_grad_() for k, v in p.items()}
cases["attention_gqa_rope_left_padded"] = run(
    p, {"x": rand(2, S, D), "padding_mask": pad},
    lambda p, i: attention(i["x"], p, "", H, Hkv, True, 10000.0, True, i["padding_mask"]),
    {"d_model": D, "n_heads": H, "n_kv_heads": Hkv, "rope": True, "causal": True})
p = {k: v.detach().clone().requires_grad_() for k, v in p.items()}
p["qkv_proj.weight"] = rand(3 * D, D, scale=0.5)
p["qkv_proj.bias"] = rand(3 * D, scale=0.1)
cases["attention_bidirectional"] = run(
    p, {"x": rand(2, S, D)}, lambda p, i: attention(i["x"], p, "", H, H, False, 0.0, False, None),
    {"d_model": D, "n_heads": H, "n_kv_heads": H, "rope": False, "causal": False})

llama = {"norm": "rms", "eps": 1e-6, "H": 4, "Hkv": 2, "rope": True, "theta": 10000.0, "act": "silu", "gated": True}
p = block_params(16, 4, 2, 24, "rms", True, False)
cases["block_llama"] = run(p, {"x": rand(2, 6, 16)}, lambda p, i: block(i["x"], p, llama, None),
                           {"cfg": llama, "hidden": 24, "bias": False})
gpt2 = {"norm": "layer", "eps": 1e-5, "H": 2, "Hkv": 2, "rope": False, "theta": 10000.0, "act": "gelu_tanh",
        "gated": False}
p = block_params(8, 2, 2, 32, "layer", False, True)
pad = torch.tensor([[True] * 6, [True, True, True, True, False, False]])
cases["block_gpt2_padded"] = run(p, {"x": rand(2, 6, 8), "padding_mask": pad},
                                 lambda p, i: block(i["x"], p, gpt2, i["padding_mask"]),
                                 {"cfg": gpt2, "hidden": 32, "bias": True})

# clip_grad_norm_: gradients of three parameters, several norm types.
clip = []
for norm_type, max_norm in [(2.0, 1.0), (1.0, 2.5), (float("inf"), 0.3), (3.0, 100.0)]:
    grads = [torch.tensor(rng.uniform(-1, 1, size=s)) for s in [(3, 4), (5,), (2, 2, 2)]]
    ps = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for q, g in zip(ps, grads):
        q.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
    clip.append({"norm_type": "inf" if math.isinf(norm_type) else norm_type, "max_norm": max_norm,
                 "grads": [enc(g) for g in grads], "total": total.item(), "clipped": [enc(q.grad) for q in ps]})
cases["clip_grad_norm"] = clip

out = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "nn_layers.json")
with open(out, "w") as f:
    json.dump(cases, f, separators=(",", ":"))
print("wrote", os.path.normpath(out), os.path.getsize(out), "bytes")
