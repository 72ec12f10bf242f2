#!/usr/bin/env python3
"""PyTorch side of tools/bench/bench_tiny_vlm.cpp: the tiny-vlm preset of tessera (src/models/config.cpp)
written as an ordinary PyTorch eager model — ViT (patchify, Linear patch embedding, learned positions,
pre-norm blocks with a fused qkv projection and GELU MLP, final LayerNorm) -> projector (Linear, GELU,
Linear) -> GPT-2-style causal LLM (token + learned position embeddings, pre-norm blocks, final LayerNorm,
lm_head tied to the token embedding) over [64 image tokens, 64 text tokens]; the loss is the shifted
cross entropy over the text positions. One step = zero_grad, forward, loss, backward, AdamW step.

Prints "key value" lines (ms, cpu_ms, tokens, peak_mb, peak_total_mb, loss, params) with the protocol of
bench_tiny_vlm.cpp. Usage: tiny_vlm_torch.py [--threads N] [--steps N]
"""
import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

B, TEXT = 16, 64
VIT = dict(image_size=32, patch=4, d=128, layers=4, heads=4, mlp=512, eps=1e-6)
LLM = dict(vocab=512, d=192, layers=4, heads=6, mlp=768, max_seq=256, eps=1e-5)
PROJ_HIDDEN = 192


class Block(nn.Module):
    def __init__(self, d, heads, mlp, eps, causal):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(d, eps=eps)
        self.qkv_proj = nn.Linear(d, 3 * d)
        self.o_proj = nn.Linear(d, d)
        self.post_attention_layernorm = nn.LayerNorm(d, eps=eps)
        self.fc1 = nn.Linear(d, mlp)
        self.fc2 = nn.Linear(mlp, d)
        self.heads, self.causal = heads, causal

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = self.qkv_proj(self.input_layernorm(x)).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        x = x + self.o_proj(a.transpose(1, 2).reshape(b, s, d))
        return x + self.fc2(F.gelu(self.fc1(self.post_attention_layernorm(x))))


class TinyVLM(nn.Module):
    def __init__(self):
        super().__init__()
        p, n = VIT["patch"], (VIT["image_size"] // VIT["patch"]) ** 2
        self.patch_embed = nn.Linear(3 * p * p, VIT["d"])
        self.pos_embed = nn.Parameter(torch.randn(n, VIT["d"]) * 0.02)
        self.vit_layers = nn.ModuleList(
            [Block(VIT["d"], VIT["heads"], VIT["mlp"], VIT["eps"], False) for _ in range(VIT["layers"])])
        self.vit_norm = nn.LayerNorm(VIT["d"], eps=VIT["eps"])
        self.proj = nn.Sequential(nn.Linear(VIT["d"], PROJ_HIDDEN), nn.GELU(), nn.Linear(PROJ_HIDDEN, LLM["d"]))
        self.embed_tokens = nn.Embedding(LLM["vocab"], LLM["d"])
        self.embed_positions = nn.Embedding(LLM["max_seq"], LLM["d"])
        self.llm_layers = nn.ModuleList(
            [Block(LLM["d"], LLM["heads"], LLM["mlp"], LLM["eps"], True) for _ in range(LLM["layers"])])
        self.norm = nn.LayerNorm(LLM["d"], eps=LLM["eps"])
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, images, ids):
        b, p = images.shape[0], VIT["patch"]
        x = images.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).reshape(b, -1, 3 * p * p)
        x = self.patch_embed(x) + self.pos_embed
        for blk in self.vit_layers:
            x = blk(x)
        prefix = self.proj(self.vit_norm(x))
        h = torch.cat([prefix, self.embed_tokens(ids)], 1)
        h = h + self.embed_positions(torch.arange(h.shape[1]))
        for blk in self.llm_layers:
            h = blk(h)
        hidden = self.norm(h[:, prefix.shape[1]:])
        return hidden @ self.embed_tokens.weight.t()


def peak_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = TinyVLM()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    s = VIT["image_size"]
    images = torch.randn(B, 3, s, s)
    ids = torch.randint(0, 256, (B, TEXT))
    labels = ids.clone()
    tokens = B * ((s // VIT["patch"]) ** 2 + TEXT)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    base = peak_kb("VmRSS")
    loss_v = 0.0

    def step():
        nonlocal loss_v
        opt.zero_grad(set_to_none=True)
        logits = model(images, ids)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, LLM["vocab"]), labels[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
        loss_v = loss.item()

    step()
    step()
    ms, cpu = [], []
    for _ in range(a.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        cpu.append((time.process_time() - c0) * 1e3)
        ms.append((time.perf_counter() - t0) * 1e3)
    peak = peak_kb("VmHWM")
    print(f"ms {statistics.median(ms):.4f}\ncpu_ms {statistics.median(cpu):.4f}\ntokens {tokens}")
    print(f"peak_mb {(peak - base) / 1024:.2f}\npeak_total_mb {peak / 1024:.2f}\nloss {loss_v:.6f}")
    print(f"params {sum(p.numel() for p in model.parameters())}")


if __name__ == "__main__":
    main()
