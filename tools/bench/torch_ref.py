#!/usr/bin/env python3
"""PyTorch side of tessera-bench: times the same cases on this machine.

Usage: torch_ref.py SPEC.json  (written by tessera-bench). SPEC holds
  {"device": "cpu"|"cuda", "threads": N, "timing": {warmup, min_iters, max_iters, budget_s},
   "cases": [{"op": ..., "shapes": [[...], ...]}, ...]}
and this prints one JSON object on stdout:
  {"torch": version, "threads": N, "ms": [median milliseconds per case, in order]}
Timing follows tools/common/timing.h: warm-up runs, then as many runs as fit the budget (within
[min_iters, max_iters]), synchronising the device after each; the median is reported.
PyTorch is only a reference here, never a dependency of tessera.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def median_ms(fn, sync, warmup, min_iters, max_iters, budget_s):
    def once():
        t0 = time.perf_counter()
        fn()
        sync()
        return (time.perf_counter() - t0) * 1e3

    first = 0.0
    for _ in range(max(1, warmup)):
        first = once()
    iters = math.ceil(budget_s * 1e3 / max(first, 1e-3))
    iters = min(max(iters, min_iters), max_iters)
    return statistics.median(once() for _ in range(iters))


def make_runner(case, device):
    torch.manual_seed(0)
    x = [torch.randn(s, device=device) for s in case["shapes"]]
    op = case["op"]
    out = {}
    if op == "matmul":
        return lambda: out.__setitem__(0, torch.matmul(x[0], x[1]))
    if op == "softmax":
        return lambda: out.__setitem__(0, torch.softmax(x[0], -1))
    if op == "layer_norm":
        n = x[0].shape[-1]
        w = torch.ones(n, device=device)
        b = torch.zeros(n, device=device)
        return lambda: out.__setitem__(0, F.layer_norm(x[0], (n,), w, b, 1e-5))
    if op == "gelu":
        return lambda: out.__setitem__(0, F.gelu(x[0]))
    if op == "transpose_copy":
        return lambda: out.__setitem__(0, x[0].t().contiguous())
    if op == "add":
        return lambda: out.__setitem__(0, x[0] + x[1])
    if op == "sum":
        return lambda: out.__setitem__(0, x[0].sum(-1))
    raise ValueError(f"torch_ref.py: unknown op {op!r}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: torch_ref.py SPEC.json")
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    device = spec["device"]
    if spec.get("threads", 0) > 0:
        torch.set_num_threads(spec["threads"])
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            sys.exit("torch_ref.py: this PyTorch has no usable CUDA device")
        sync = torch.cuda.synchronize
    else:
        def sync():
            pass
    t = spec["timing"]
    ms = []
    with torch.no_grad():
        for case in spec["cases"]:
            ms.append(median_ms(make_runner(case, device), sync, t["warmup"], t["min_iters"],
                                t["max_iters"], t["budget_s"]))
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "ms": ms}))


if __name__ == "__main__":
    main()
