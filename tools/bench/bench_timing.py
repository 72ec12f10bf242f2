"""Timing shared by the PyTorch reference scripts of tools/bench (autograd_torch.py, layers_torch.py,
optim_torch.py, gpt2_torch.py): the protocol of tools/common/timing.h's median_ms with its defaults — two
warm-up runs, then as many runs as fit a time budget (5 to 50), and their median in milliseconds. With
`iters`, exactly `warmup` warm-up runs and `iters` measured runs instead (TimingOptions with
min_iters = max_iters). `fn` synchronises the device itself when it queues GPU work."""
import statistics
import time


def _run_ms(fn):
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def median_ms(fn, budget_s=2.0, warmup=2, iters=None):
    for _ in range(max(1, warmup)):
        first = _run_ms(fn)
    if iters is None:
        iters = min(50, max(5, int(budget_s * 1e3 / max(first, 1e-3))))
    return statistics.median(_run_ms(fn) for _ in range(iters))
