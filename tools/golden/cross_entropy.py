#!/usr/bin/env python3
"""Writes tests/data/cross_entropy.json: PyTorch (CPU) golden values for tessera's fused
cross_entropy and its gradient. Regenerate with `python3 tools/golden/cross_entropy.py`; PyTorch
is needed only here, never to build or test tessera.

Each case holds float64 logits [N, C] (or [C]), int64 targets, ignore_index, label_smoothing,
reduction, and torch.nn.functional.cross_entropy's loss and d(sum(loss))/d(logits) in float64."""
import json
import pathlib

import torch
import torch.nn.functional as F


def case(name, n, c, ignore_index=-100, label_smoothing=0.0, reduction="mean", ignored_rows=(), scale=3.0,
         one_d=False, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, c, generator=g, dtype=torch.float64) * scale)
    target = torch.randint(0, c, (n,), generator=g)
    for r in ignored_rows:
        target[r] = ignore_index
    if one_d:
        logits, target = logits[0], target[0]
    x = logits.clone().requires_grad_(True)
    loss = F.cross_entropy(x, target, ignore_index=ignore_index, label_smoothing=label_smoothing,
                           reduction=reduction)
    loss.sum().backward()
    return {
        "name": name,
        "logits_shape": list(logits.shape),
        "logits": logits.flatten().tolist(),
        "target_shape": list(target.shape),
        "target": target.flatten().tolist(),
        "ignore_index": ignore_index,
        "label_smoothing": label_smoothing,
        "reduction": reduction,
        "loss": loss.detach().flatten().tolist(),
        "grad": x.grad.flatten().tolist(),
    }


def main():
    cases = [
        case("mean", 6, 5, seed=1),
        case("sum", 4, 9, reduction="sum", seed=2),
        case("none", 5, 4, reduction="none", seed=3),
        case("ignore_mean", 7, 6, ignored_rows=(1, 4), seed=4),
        case("ignore_custom_index", 5, 6, ignore_index=2, reduction="mean", seed=5),
        case("smoothing_mean", 6, 8, label_smoothing=0.1, seed=6),
        case("smoothing_ignore_sum", 6, 8, label_smoothing=0.25, ignored_rows=(0, 3), reduction="sum", seed=7),
        case("smoothing_none", 3, 5, label_smoothing=0.3, ignored_rows=(2,), reduction="none", seed=8),
        case("large_logits", 4, 7, scale=400.0, seed=9),
        case("one_d", 1, 11, one_d=True, seed=10),
        case("all_ignored_sum", 3, 4, ignored_rows=(0, 1, 2), reduction="sum", seed=11),
    ]
    out = {"generator": "tools/golden/cross_entropy.py", "torch_version": torch.__version__, "cases": cases}
    path = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "cross_entropy.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
