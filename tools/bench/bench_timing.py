"""Timing shared by the PyTorch reference scripts of tools/bench (autograd_torch.py, layers_torch.py,
optim_torch.py): the protocol of tools/common/timing.h's median_ms with its defaults — two warm-up
runs, then as many runs as fit a time budget (5 to 50), and their median in milliseconds."""
import statistics
import time


def median_ms(fn, budget_s=2.0):
    fn()
    fn()
    t0 = time.perf_counter()
    fn()
    first = max(time.perf_counter() - t0, 1e-6)
    iters = min(50, max(5, int(budget_s / first)))
    ms = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)
