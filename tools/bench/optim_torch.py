#!/usr/bin/env python3
"""PyTorch side of tools/bench/bench_optim.cpp: one torch.optim.AdamW step over the same parameters
(three 1024x1024 matrices, three 1024 biases, gradients set), the same protocol (median wall time),
for the CPU default (single-tensor loop), foreach=True and fused=True. Prints "key value" lines.
Usage: optim_torch.py [threads]"""
import sys

import torch

from bench_timing import median_ms


def params():
    torch.manual_seed(0)
    ps = []
    for _ in range(3):
        ps.append(torch.randn(1024, 1024, requires_grad=True))
        ps.append(torch.randn(1024, requires_grad=True))
    for p in ps:
        p.grad = torch.randn_like(p) * 0.01
    return ps


def main():
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else 2)
    for key, kwargs in (("torch_default_ms", {}), ("torch_foreach_ms", {"foreach": True}),
                        ("torch_fused_ms", {"fused": True})):
        try:
            opt = torch.optim.AdamW(params(), lr=1e-3, weight_decay=0.01, **kwargs)
            print(key, median_ms(opt.step), flush=True)
        except Exception:  # a variant missing in this PyTorch build
            pass


if __name__ == "__main__":
    main()
