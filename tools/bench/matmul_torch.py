#!/usr/bin/env python3
"""PyTorch CPU reference for tools/bench/bench_matmul: GFLOP/s of torch.matmul on the same shapes.
   python3 tools/bench/matmul_torch.py [threads] [reps]"""
import sys
import time

import torch

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
torch.set_num_threads(threads)
print(f"threads {threads}, torch {torch.__version__}")
for m, k, n, dt in [(1024, 1024, 1024, torch.float32), (4096, 768, 3072, torch.float32),
                    (1024, 1024, 1024, torch.float64), (1024, 1024, 1024, torch.bfloat16)]:
    a = torch.full((m, k), 0.5, dtype=dt)
    b = torch.full((k, n), 0.25, dtype=dt)
    torch.matmul(a, b)
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t0)
    print(f"{str(dt).replace('torch.', ''):8s} {m:5d}x{k:5d}x{n:5d}  torch {2 * m * n * k / best * 1e-9:7.1f} GFLOP/s")
