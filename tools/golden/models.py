#!/usr/bin/env python3
"""Writes tests/data/models_{gpt2,llama,vit}.safetensors: golden forward/backward values of
tessera's built-in models (src/models/) computed by an independent PyTorch reference written
here (plain tensor code, not torch.nn modules or any other project's model code).
tests/models/test_golden.cpp loads each file, builds the tessera model from the config in the
metadata, loads the weights, and checks the outputs, the loss and every parameter gradient.
Regenerate with `python3 tools/golden/models.py` (needs torch and the `safetensors` package;
neither is needed to build or test tessera).

Each file holds (all float32 unless noted):
  param.<name>       the model's weights under tessera's parameter names (random, biases and
                     norm weights included, so every parameter matters)
  input.*            ids (int64), padding_mask (bool), prefix, labels (int64), images, ...
  output.*           logits / features and the loss (0-d)
  grad.<name>        d loss / d param for every parameter; grad_input.* for inputs
and the metadata "config" (the model config as tessera's JSON) and "loss" (how the loss is formed).
The weights are float32; the reference computes in float64 from them (the exact result of the
float32 model, rounded once), so tessera's float32 error is the only difference the test sees."""
import json
import math
import pathlib

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

DATA = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data"
DT = torch.float64  # compute dtype


# ---------------------------------------------------------------- reference building blocks

def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    y = (x - mu) / torch.sqrt(var + eps) * w
    return y + b if b is not None else y


def rms_norm(x, w, eps):
    return x * torch.rsqrt((x * x).mean(-1, keepdim=True) + eps) * w


def linear(x, p, name, bias=True):
    y = x @ p[name + ".weight"].t()
    return y + p[name + ".bias"] if bias else y


def rope(x, theta):
    """Rotate-half rotary embedding of x [B, H, S, hd] at positions 0..S-1."""
    hd, S = x.shape[-1], x.shape[-2]
    half = hd // 2
    inv = torch.tensor([theta ** (-2.0 * i / hd) for i in range(half)], dtype=DT)
    ang = torch.arange(S, dtype=DT)[:, None] * inv[None, :]
    cos = torch.cat([ang.cos(), ang.cos()], -1)
    sin = torch.cat([ang.sin(), ang.sin()], -1)
    x1, x2 = x[..., :half], x[..., half:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def attention(x, p, pre, H, Hkv, causal, use_rope, theta, key_mask, bias):
    B, S, D = x.shape
    hd = D // H
    qkv = linear(x, p, pre + "qkv_proj", bias)
    q, k, v = qkv.split([H * hd, Hkv * hd, Hkv * hd], -1)
    q = q.reshape(B, S, H, hd).transpose(1, 2)
    k = k.reshape(B, S, Hkv, hd).transpose(1, 2)
    v = v.reshape(B, S, Hkv, hd).transpose(1, 2)
    if use_rope:
        q, k = rope(q, theta), rope(k, theta)
    # grouped-query: query head h reads key/value head h // (H / Hkv)
    k = k.repeat_interleave(H // Hkv, dim=1)
    v = v.repeat_interleave(H // Hkv, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
    allowed = torch.ones(S, S, dtype=torch.bool)
    if causal:
        allowed = torch.tril(allowed)
    allowed = allowed[None, None].expand(B, 1, S, S)
    if key_mask is not None:
        allowed = allowed & key_mask[:, None, None, :]
    scores = scores.masked_fill(~allowed, float("-inf"))
    out = scores.softmax(-1) @ v
    return linear(out.transpose(1, 2).reshape(B, S, H * hd), p, pre + "o_proj", bias)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def block(x, p, pre, cfg, kind, key_mask):
    """Pre-norm block; kind is 'gpt2', 'llama' or 'vit'."""
    if kind == "llama":
        norm = lambda t, n: rms_norm(t, p[pre + n + ".weight"], cfg["norm_eps"])
    else:
        norm = lambda t, n: layer_norm(t, p[pre + n + ".weight"], p[pre + n + ".bias"], cfg["norm_eps"])
    H = cfg["n_heads"]
    Hkv = cfg.get("n_kv_heads", H)
    bias = kind != "llama"
    h = x + attention(norm(x, "input_layernorm"), p, pre + "self_attn.", H, Hkv, causal=kind != "vit",
                      use_rope=kind == "llama", theta=cfg.get("rope_theta", 1e4), key_mask=key_mask, bias=bias)
    y = norm(h, "post_attention_layernorm")
    if kind == "llama":
        m = linear(F.silu(linear(y, p, pre + "mlp.gate_proj", False)) * linear(y, p, pre + "mlp.up_proj", False),
                   p, pre + "mlp.down_proj", False)
    else:
        act = gelu_tanh if kind == "gpt2" else gelu_erf
        m = linear(act(linear(y, p, pre + "mlp.fc1")), p, pre + "mlp.fc2")
    return h + m


def llm_forward(p, cfg, ids, key_mask, prefix):
    kind = cfg["style"]
    x = p["embed_tokens.weight"][ids]
    if prefix is not None:
        x = torch.cat([prefix, x], 1)
    S = x.shape[1]
    if kind == "gpt2":
        x = x + p["embed_positions.weight"][:S]
    if key_mask is not None and prefix is not None:
        key_mask = torch.cat([torch.ones(ids.shape[0], prefix.shape[1], dtype=torch.bool), key_mask], 1)
    for i in range(cfg["n_layers"]):
        x = block(x, p, f"layers.{i}.", cfg, kind, key_mask)
    if kind == "llama":
        x = rms_norm(x, p["norm.weight"], cfg["norm_eps"])
    else:
        x = layer_norm(x, p["norm.weight"], p["norm.bias"], cfg["norm_eps"])
    head = p["embed_tokens.weight"] if cfg["tie_embeddings"] else p["lm_head.weight"]
    return x @ head.t()


def shifted_loss(logits, labels):
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)


def patchify(img, ps):
    B, C, H, W = img.shape
    return (img.reshape(B, C, H // ps, ps, W // ps, ps).permute(0, 2, 4, 1, 3, 5)
            .reshape(B, (H // ps) * (W // ps), C * ps * ps))


def vit_forward(p, cfg, images):
    x = linear(patchify(images, cfg["patch_size"]), p, "patch_embed.proj")
    if cfg["cls_token"]:
        x = torch.cat([p["cls_token"].expand(x.shape[0], 1, -1), x], 1)
    x = x + p["pos_embed"]
    for i in range(cfg["n_layers"]):
        x = block(x, p, f"layers.{i}.", cfg, "vit", None)
    return layer_norm(x, p["norm.weight"], p["norm.bias"], cfg["norm_eps"])


# ---------------------------------------------------------------- parameters

def llm_shapes(cfg):
    d, V, hd = cfg["d_model"], cfg["vocab_size"], cfg["d_model"] // cfg["n_heads"]
    H, Hkv, h = cfg["n_heads"], cfg["n_kv_heads"], cfg["mlp_hidden"]
    gpt2 = cfg["style"] == "gpt2"
    s = {"embed_tokens.weight": (V, d)}
    if gpt2:
        s["embed_positions.weight"] = (cfg["max_seq_len"], d)
    for i in range(cfg["n_layers"]):
        pre = f"layers.{i}."
        s[pre + "input_layernorm.weight"] = (d,)
        if gpt2:
            s[pre + "input_layernorm.bias"] = (d,)
        s[pre + "self_attn.qkv_proj.weight"] = ((H + 2 * Hkv) * hd, d)
        if gpt2:
            s[pre + "self_attn.qkv_proj.bias"] = ((H + 2 * Hkv) * hd,)
        s[pre + "self_attn.o_proj.weight"] = (d, H * hd)
        if gpt2:
            s[pre + "self_attn.o_proj.bias"] = (d,)
        s[pre + "post_attention_layernorm.weight"] = (d,)
        if gpt2:
            s[pre + "post_attention_layernorm.bias"] = (d,)
            s[pre + "mlp.fc1.weight"] = (h, d)
            s[pre + "mlp.fc1.bias"] = (h,)
            s[pre + "mlp.fc2.weight"] = (d, h)
            s[pre + "mlp.fc2.bias"] = (d,)
        else:
            s[pre + "mlp.gate_proj.weight"] = (h, d)
            s[pre + "mlp.up_proj.weight"] = (h, d)
            s[pre + "mlp.down_proj.weight"] = (d, h)
    s["norm.weight"] = (d,)
    if gpt2:
        s["norm.bias"] = (d,)
    if not cfg["tie_embeddings"]:
        s["lm_head.weight"] = (V, d)
    return s


def vit_shapes(cfg):
    d, h = cfg["d_model"], cfg["mlp_hidden"]
    n = (cfg["image_size"] // cfg["patch_size"]) ** 2 + (1 if cfg["cls_token"] else 0)
    s = {}
    if cfg["cls_token"]:
        s["cls_token"] = (1, 1, d)
    s["pos_embed"] = (1, n, d)
    s["patch_embed.proj.weight"] = (d, cfg["in_channels"] * cfg["patch_size"] ** 2)
    s["patch_embed.proj.bias"] = (d,)
    for i in range(cfg["n_layers"]):
        pre = f"layers.{i}."
        for nm in ("input_layernorm", "post_attention_layernorm"):
            s[pre + nm + ".weight"] = (d,)
            s[pre + nm + ".bias"] = (d,)
        s[pre + "self_attn.qkv_proj.weight"] = (3 * d, d)
        s[pre + "self_attn.qkv_proj.bias"] = (3 * d,)
        s[pre + "self_attn.o_proj.weight"] = (d, d)
        s[pre + "self_attn.o_proj.bias"] = (d,)
        s[pre + "mlp.fc1.weight"] = (h, d)
        s[pre + "mlp.fc1.bias"] = (h,)
        s[pre + "mlp.fc2.weight"] = (d, h)
        s[pre + "mlp.fc2.bias"] = (d,)
    s["norm.weight"] = (d,)
    s["norm.bias"] = (d,)
    return s


def make_params(shapes, g):
    """float32 weights: matrices ~ N(0, 1/fan_in), embeddings ~ N(0, 0.5), norm weights ~ 1 + N(0, 0.1),
    biases ~ N(0, 0.1)."""
    out = {}
    for name, shape in shapes.items():
        if len(shape) == 1 and name.endswith(".weight"):
            t = 1.0 + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:
            t = 0.1 * torch.randn(shape, generator=g)
        elif "embed" in name or name in ("cls_token", "pos_embed"):
            t = 0.5 * torch.randn(shape, generator=g)
        else:
            t = torch.randn(shape, generator=g) / math.sqrt(shape[-1])
        out[name] = t.float()
    return out


def run(params32, fn):
    """Computes fn(params) in float64 from the float32 weights; returns (loss, outputs, grads)."""
    p = {k: v.to(DT).requires_grad_(True) for k, v in params32.items()}
    loss, outputs, inputs = fn(p)
    loss.backward()
    grads = {k: v.grad.float() for k, v in p.items()}
    in_grads = {k: v.grad.float() for k, v in inputs.items()}
    return loss.detach().float(), {k: v.detach().float() for k, v in outputs.items()}, grads, in_grads


def write(name, cfg, params32, inputs, outputs, loss, grads, in_grads, loss_doc):
    t = {}
    for k, v in params32.items():
        t["param." + k] = v.contiguous()
    for k, v in inputs.items():
        t["input." + k] = v.contiguous()
    for k, v in outputs.items():
        t["output." + k] = v.contiguous()
    t["output.loss"] = loss.reshape(())
    for k, v in grads.items():
        t["grad." + k] = v.contiguous()
    for k, v in in_grads.items():
        t["grad_input." + k] = v.contiguous()
    path = DATA / f"models_{name}.safetensors"
    save_file(t, str(path), metadata={"config": json.dumps(cfg), "loss": loss_doc,
                                      "generator": "tools/golden/models.py", "torch_version": torch.__version__})
    print(f"wrote {path} ({path.stat().st_size} bytes, {len(params32)} parameters)")


# ---------------------------------------------------------------- cases

def llm_case(name, cfg, seed):
    g = torch.Generator().manual_seed(seed)
    params = make_params(llm_shapes(cfg), g)
    B, T, P, d = 2, 7, 2, cfg["d_model"]
    ids = torch.randint(0, cfg["vocab_size"], (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 4:] = False  # the second sequence has 3 padding tokens at its tail
    prefix32 = (0.5 * torch.randn(B, P, d, generator=g)).float()
    labels = torch.cat([torch.full((B, P), -100), ids], 1)  # no loss on the prefix
    labels[:, P:][~mask] = -100  # nor on padding

    def fn(p):
        prefix = prefix32.to(DT).requires_grad_(True)
        logits = llm_forward(p, cfg, ids, mask, prefix)
        return shifted_loss(logits, labels), {"logits": logits}, {"prefix": prefix}

    loss, outputs, grads, in_grads = run(params, fn)
    inputs = {"ids": ids, "padding_mask": mask, "prefix": prefix32, "labels": labels}
    write(name, cfg, params, inputs, outputs, loss, grads, in_grads,
          "LLM::loss(forward(ids, padding_mask, prefix), labels): shifted mean cross entropy")


def vit_case(name, cfg, seed):
    g = torch.Generator().manual_seed(seed)
    params = make_params(vit_shapes(cfg), g)
    B = 2
    images32 = torch.randn(B, cfg["in_channels"], cfg["image_size"], cfg["image_size"], generator=g).float()
    n = (cfg["image_size"] // cfg["patch_size"]) ** 2 + (1 if cfg["cls_token"] else 0)
    weights = torch.randn(B, n, cfg["d_model"], generator=g).float()  # loss = sum(features * weights)

    def fn(p):
        images = images32.to(DT).requires_grad_(True)
        feats = vit_forward(p, cfg, images)
        return (feats * weights.to(DT)).sum(), {"features": feats}, {"images": images}

    loss, outputs, grads, in_grads = run(params, fn)
    write(name, cfg, params, {"images": images32, "loss_weights": weights}, outputs, loss, grads, in_grads,
          "sum(ViT.forward(images) * loss_weights)")


def main():
    gpt2 = {"model_type": "tessera-llm", "style": "gpt2", "vocab_size": 48, "d_model": 32, "n_layers": 2,
            "n_heads": 4, "n_kv_heads": 4, "mlp_hidden": 64, "max_seq_len": 12, "tie_embeddings": True,
            "rope_theta": 10000.0, "norm_eps": 1e-5, "dropout": 0.0}
    llama = {"model_type": "tessera-llm", "style": "llama", "vocab_size": 48, "d_model": 32, "n_layers": 2,
             "n_heads": 4, "n_kv_heads": 2, "mlp_hidden": 48, "max_seq_len": 12, "tie_embeddings": False,
             "rope_theta": 500.0, "norm_eps": 1e-6, "dropout": 0.0}
    vit = {"model_type": "tessera-vit", "image_size": 8, "patch_size": 4, "in_channels": 3, "d_model": 32,
           "n_layers": 2, "n_heads": 4, "mlp_hidden": 64, "cls_token": True, "norm_eps": 1e-6, "dropout": 0.0}
    llm_case("gpt2", gpt2, seed=1)
    llm_case("llama", llama, seed=2)
    vit_case("vit", vit, seed=3)


if __name__ == "__main__":
    main()
