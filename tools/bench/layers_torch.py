#!/usr/bin/env python3
"""PyTorch side of tools/bench/bench_layers.cpp: the same pre-norm blocks (written here with
torch.nn.functional), the same protocol (median wall time), printed as "key value" lines.
Usage: layers_torch.py [threads]"""
import sys

import torch
import torch.nn.functional as F

from bench_timing import median_ms

B, S, D, H = 4, 128, 256, 4


def p(*shape, scale=0.05):
    return (torch.randn(*shape) * scale).requires_grad_()


def rope(x, offset=0, theta=10000.0):
    hd = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    f = torch.outer(torch.arange(offset, offset + x.shape[2], dtype=torch.float64), inv)
    emb = torch.cat([f, f], -1)
    cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


class Block:
    def __init__(self, llama):
        self.llama = llama
        hkv = 2 if llama else H
        hd = D // H
        self.hkv, self.hd = hkv, hd
        self.n1, self.n2 = torch.ones(D, requires_grad=True), torch.ones(D, requires_grad=True)
        self.b1, self.b2 = torch.zeros(D, requires_grad=True), torch.zeros(D, requires_grad=True)
        self.wqkv = p((H + 2 * hkv) * hd, D)
        self.bqkv = None if llama else p((H + 2 * hkv) * hd)
        self.wo, self.bo = p(D, D), None if llama else p(D)
        if llama:
            self.wg, self.wu, self.wd = p(688, D), p(688, D), p(D, 688)
        else:
            self.w1, self.bb1, self.w2, self.bb2 = p(4 * D, D), p(4 * D), p(D, 4 * D), p(D)
        self.cache = None

    def norm(self, x, w, b):
        return F.rms_norm(x, (D,), w, 1e-6) if self.llama else F.layer_norm(x, (D,), w, b, 1e-5)

    def attn(self, x, mask=None, cache=None):
        b, s, _ = x.shape
        q, k, v = F.linear(x, self.wqkv, self.bqkv).split([H * self.hd, self.hkv * self.hd, self.hkv * self.hd], -1)
        q = q.view(b, s, H, self.hd).transpose(1, 2)
        k = k.view(b, s, self.hkv, self.hd).transpose(1, 2)
        v = v.view(b, s, self.hkv, self.hd).transpose(1, 2)
        past = 0 if cache is None else cache[0].shape[2]
        if self.llama:
            q, k = rope(q, past), rope(k, past)
        if cache is not None:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        if self.hkv != H:
            k, v = k.repeat_interleave(H // self.hkv, 1), v.repeat_interleave(H // self.hkv, 1)
        if mask is not None:
            m = torch.tril(torch.ones(s, s, dtype=torch.bool))[None, None] & mask[:, None, None, :]
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
        else:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=cache is None)
        return F.linear(o.transpose(1, 2).reshape(b, s, D), self.wo, self.bo)

    def mlp(self, x):
        if self.llama:
            return F.linear(F.silu(F.linear(x, self.wg)) * F.linear(x, self.wu), self.wd)
        return F.linear(F.gelu(F.linear(x, self.w1, self.bb1), approximate="tanh"), self.w2, self.bb2)

    def __call__(self, x, mask=None, cache=None):
        h = x + self.attn(self.norm(x, self.n1, self.b1), mask, cache)
        return h + self.mlp(self.norm(h, self.n2, self.b2))


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    torch.manual_seed(0)
    x = torch.randn(B, S, D)
    mask = torch.tensor([[s < S - 16 * b for s in range(S)] for b in range(B)])
    left = torch.tensor([[s >= 16 * b for s in range(S)] for b in range(B)])
    for llama in (False, True):
        blk = Block(llama)
        name = "llama" if llama else "gpt2"

        def fwd():
            with torch.no_grad():
                blk(x)
        print(f"{name}_fwd_ms", median_ms(fwd))
        print(f"{name}_fwdbwd_ms", median_ms(lambda: blk(x).sum().backward()))
        if llama:
            print("llama_padded_fwdbwd_ms", median_ms(lambda: blk(x, mask).sum().backward()))
            print("llama_leftpad_fwdbwd_ms", median_ms(lambda: blk(x, left).sum().backward()))
            hd = D // H
            cache = (torch.randn(B, 2, S - 1, hd), torch.randn(B, 2, S - 1, hd))
            tok = x[:, S - 1:]

            def dec():
                with torch.no_grad():
                    blk(tok, None, cache)
            print("llama_decode_ms", median_ms(dec))


if __name__ == "__main__":
    main()
