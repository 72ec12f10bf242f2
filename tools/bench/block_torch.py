#!/usr/bin/env python3
"""PyTorch side of tools/bench/bench_block.cpp: the same transformer block stacks (same shapes,
same deterministic parameters and inputs, same loss), one training step (forward + backward) in
PyTorch eager, measured with the same protocol (one case per process; 2 warm-up steps, then the
median of `steps` timed steps, wall and process CPU time; peak RSS above the pre-step baseline, read from /proc/self/status
after resetting VmHWM). Prints "key value" lines: ms, cpu_ms, peak_mb, loss.

Usage: block_torch.py --case vit|llm|vlm [--threads N] [--steps N]
"""
import argparse
import math
import statistics
import time

import torch
import torch.nn.functional as F

B, IMG, PATCH, VIT_D, VIT_H, LLM_D, LLM_H, VOCAB, LAYERS = 16, 64, 48, 128, 4, 192, 6, 512, 4

_seed = 0


def det_param(shape, scale, requires_grad=True):
    """scale * sin(0.7 i + 1.3 seed), as bench_block.cpp's det_param (computed in float64)."""
    global _seed
    n = math.prod(shape)
    i = torch.arange(n, dtype=torch.float64)
    t = (scale * torch.sin(0.7 * i + 1.3 * _seed)).float().reshape(shape)
    _seed += 1
    return t.requires_grad_(requires_grad)


class Linear:
    def __init__(self, n_in, n_out, bias=True):
        self.w = det_param((n_out, n_in), 1.0 / math.sqrt(n_in))
        self.b = det_param((n_out,), 0.02) if bias else None

    def __call__(self, x):
        return F.linear(x, self.w, self.b)

    def params(self):
        return [self.w] + ([self.b] if self.b is not None else [])


class LayerNorm:
    def __init__(self, d):
        self.d = d
        self.w = (det_param((d,), 0.1) + 1.0).detach().requires_grad_()
        self.b = det_param((d,), 0.02)

    def __call__(self, x):
        return F.layer_norm(x, (self.d,), self.w, self.b)

    def params(self):
        return [self.w, self.b]


class Block:
    def __init__(self, d, heads, causal):
        self.d, self.heads, self.causal = d, heads, causal
        self.ln1 = LayerNorm(d)
        self.qkv = Linear(d, 3 * d)
        self.o = Linear(d, d)
        self.ln2 = LayerNorm(d)
        self.fc1 = Linear(d, 4 * d)
        self.fc2 = Linear(4 * d, d)

    def __call__(self, x):
        b, s, _ = x.shape
        hd = self.d // self.heads
        t = self.qkv(self.ln1(x)).view(b, s, 3, self.heads, hd).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(t[0], t[1], t[2], is_causal=self.causal)
        x = x + self.o(a.transpose(1, 2).reshape(b, s, self.d))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))

    def params(self):
        return [p for m in (self.ln1, self.qkv, self.o, self.ln2, self.fc1, self.fc2) for p in m.params()]


class Stack:
    def __init__(self, d, heads, causal):
        self.blocks = [Block(d, heads, causal) for _ in range(LAYERS)]
        self.ln_f = LayerNorm(d)

    def __call__(self, x):
        for blk in self.blocks:
            x = blk(x)
        return self.ln_f(x)

    def params(self):
        return [p for blk in self.blocks for p in blk.params()] + self.ln_f.params()


def patches_input():
    i = torch.arange(B * IMG * PATCH, dtype=torch.float64)
    return torch.sin(0.37 * i).float().reshape(B, IMG, PATCH)


def token_ids(seq, salt):
    i = torch.arange(B * seq, dtype=torch.int64)
    return ((i * 7919 + salt * 104729 + 13) % VOCAB).reshape(B, seq)


def make_case(name):
    global _seed
    _seed = 0
    if name == "vit":
        embed = Linear(PATCH, VIT_D)
        pos = det_param((IMG, VIT_D), 0.02)
        stack = Stack(VIT_D, VIT_H, False)
        probe = det_param((IMG, VIT_D), 1.0, requires_grad=False)
        x = patches_input()
        params = embed.params() + [pos] + stack.params()
        return params, lambda: (stack(embed(x) + pos) * probe).mean()
    if name == "llm":
        s = 2 * IMG
        wte = det_param((VOCAB, LLM_D), 0.02)
        wpe = det_param((s, LLM_D), 0.02)
        stack = Stack(LLM_D, LLM_H, True)
        head = Linear(LLM_D, VOCAB, bias=False)
        ids, targets = token_ids(s, 1), token_ids(s, 2)
        params = [wte, wpe] + stack.params() + head.params()

        def loss():
            h = stack(F.embedding(ids, wte) + wpe)
            return F.cross_entropy(head(h).view(-1, VOCAB), targets.view(-1))

        return params, loss
    if name == "vlm":
        t = IMG
        s = IMG + t
        embed = Linear(PATCH, VIT_D)
        vpos = det_param((IMG, VIT_D), 0.02)
        vit = Stack(VIT_D, VIT_H, False)
        proj1 = Linear(VIT_D, LLM_D)
        proj2 = Linear(LLM_D, LLM_D)
        wte = det_param((VOCAB, LLM_D), 0.02)
        wpe = det_param((s, LLM_D), 0.02)
        llm = Stack(LLM_D, LLM_H, True)
        head = Linear(LLM_D, VOCAB, bias=False)
        x, ids = patches_input(), token_ids(t, 1)
        targets = torch.cat([torch.full((B, IMG), -100, dtype=torch.int64), token_ids(t, 2)], 1)
        params = (embed.params() + [vpos] + vit.params() + proj1.params() + proj2.params() + [wte, wpe] +
                  llm.params() + head.params())

        def loss():
            img = proj2(F.gelu(proj1(vit(embed(x) + vpos))))
            h = torch.cat([img, F.embedding(ids, wte)], 1) + wpe
            return F.cross_entropy(head(llm(h)).view(-1, VOCAB), targets.view(-1))

        return params, loss
    raise SystemExit(f"block_torch.py: unknown case {name!r} (vit, llm, vlm)")


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params, loss_fn = make_case(args.case)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    base_kb = status_kb("VmRSS")
    last = [0.0]

    def step():
        for p in params:
            p.grad = None
        loss = loss_fn()
        loss.backward()
        last[0] = loss.item()

    step()
    step()
    ms, cpu_ms = [], []
    for _ in range(args.steps):
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        cpu_ms.append((time.process_time() - c0) * 1e3)
        ms.append((time.perf_counter() - t0) * 1e3)
    peak_kb = status_kb("VmHWM")
    print("ms", statistics.median(ms))
    print("cpu_ms", statistics.median(cpu_ms))
    print("peak_mb", (peak_kb - base_kb) / 1024.0)
    print("loss", last[0])


if __name__ == "__main__":
    main()
