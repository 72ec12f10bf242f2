#!/usr/bin/env python3
"""PyTorch side of tools/bench/bench_autograd.cpp: the same graphs, the same protocol (median
wall time), printed as "key value" lines. Usage: autograd_torch.py [threads]"""
import sys

import torch

from bench_timing import median_ms

LAYERS, BATCH, WIDTH, CHAIN = 12, 64, 512, 10000


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    torch.manual_seed(0)
    w = [(torch.randn(WIDTH, WIDTH) / WIDTH ** 0.5).requires_grad_() for _ in range(LAYERS)]
    b = [torch.zeros(WIDTH, requires_grad=True) for _ in range(LAYERS)]
    x = torch.randn(BATCH, WIDTH)

    def mlp():
        h = x
        for i in range(LAYERS):
            h = torch.nn.functional.gelu(h @ w[i] + b[i])
        return h.sum()

    def mlp_nograd():
        with torch.no_grad():
            mlp()

    fwd = median_ms(mlp_nograd)
    total = median_ms(lambda: mlp().backward())
    print("mlp_fwd_ms", fwd)
    print("mlp_bwd_ms", total - fwd)

    c = torch.randn(16, requires_grad=True)

    def chain():
        y = c
        for _ in range(CHAIN):
            y = y * 1.0001
        return y.sum()

    cf = median_ms(chain)
    ct = median_ms(lambda: chain().backward())
    print("chain_fwd_us", cf * 1e3 / CHAIN)
    print("chain_bwd_us", (ct - cf) * 1e3 / CHAIN)


if __name__ == "__main__":
    main()
