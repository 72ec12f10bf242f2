#!/usr/bin/env python3
"""PyTorch reference numbers for tessera-gpu-bench's attention rows (run on the GPU machine).

Times torch.nn.functional.scaled_dot_product_attention forward and backward (bf16, the shapes
tessera-gpu-bench uses: 16k tokens per batch at S=4096, hidden 2048) with CUDA events, median
of several runs, and prints TFLOP/s in flash-attention's convention (fwd 4*B*S^2*H*D, halved if
causal; bwd 2.5x fwd). A benchmark reference only: PyTorch is never a tessera dependency.
Usage: python3 tools/bench/torch_sdpa_ref.py [--quick]
"""
import statistics
import sys


def main() -> int:
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001
        print(f"torch_sdpa_ref: no PyTorch: {e}")
        return 77
    if not torch.cuda.is_available():
        print("torch_sdpa_ref: torch.cuda.is_available() is False")
        return 77
    quick = "--quick" in sys.argv
    dev = torch.device("cuda")
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    backend = "default backend choice"
    print(f"{'attention (torch sdpa, ' + backend + ')':<44} {'fwd ms':>10} {'fwd TF/s':>10} {'bwd ms':>10} {'bwd TF/s':>10}")

    def timed(fn, reps):
        times = []
        for _ in range(reps):
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
        return statistics.median(times)

    for d, causal in [(128, False), (128, True), (64, False), (64, True)]:
        s = 4096
        b = 1 if quick else 16384 // s
        h = 2048 // d
        q, k, v = (torch.randn(b, h, s, d, device=dev, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
        go = torch.randn(b, h, s, d, device=dev, dtype=torch.bfloat16)

        def fwd():
            with torch.no_grad():
                F.scaled_dot_product_attention(q, k, v, is_causal=causal)

        out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)

        def bwd():
            torch.autograd.grad(out, (q, k, v), go, retain_graph=True)

        for _ in range(3):
            fwd()
            bwd()
        torch.cuda.synchronize()
        f_ms = timed(fwd, 10)
        b_ms = timed(bwd, 10)
        flop = 4.0 * b * s * s * h * d * (0.5 if causal else 1.0)
        name = f"attn bf16 B{b} H{h} S{s} D{d}{' causal' if causal else ''}"
        print(f"{name:<44} {f_ms:10.3f} {flop / (f_ms * 1e-3) / 1e12:10.1f} {b_ms:10.3f} "
              f"{2.5 * flop / (b_ms * 1e-3) / 1e12:10.1f}", flush=True)
        del q, k, v, go, out
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
