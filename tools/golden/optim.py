#!/usr/bin/env python3
"""Writes tests/data/optim.json: PyTorch (CPU) golden values for tessera's optimizers and LR schedule.
Regenerate with `python3 tools/golden/optim.py`; PyTorch is needed only here, never to build or test.

Each optimizer case holds the float32 initial parameters, the gradient fed at every step (None: the
parameter has no gradient at that step, so it is skipped), the parameter groups (indices, lr,
weight_decay), the options, and the parameters after every step of torch.optim.SGD /
torch.optim.AdamW(foreach=False). Schedule cases hold LambdaLR's get_last_lr() with the
WarmupCosineLR formula, after construction and after every step."""
import json
import math
import pathlib

import torch


def f32list(t):
    """float32 values as short decimals (9 significant digits round-trip float32 exactly)."""
    return [float("%.9g" % v) for v in t.flatten().tolist()]


def rand(g, *shape, scale=1.0):
    return (torch.randn(*shape, generator=g, dtype=torch.float32) * scale)


def opt_case(name, kind, shapes, groups, options, steps, seed, missing=()):
    """missing: (step, param) pairs without a gradient; a param index listed with step -1 never has one."""
    g = torch.Generator().manual_seed(seed)
    params = [rand(g, *s).requires_grad_(True) for s in shapes]
    init = [p.detach().clone() for p in params]
    never = {p for (s, p) in missing if s == -1}
    torch_groups = [{"params": [params[i] for i in gr["params"]], "lr": gr["lr"], "weight_decay": gr["weight_decay"]}
                    for gr in groups]
    if kind == "sgd":
        opt = torch.optim.SGD(torch_groups, lr=options["lr"], momentum=options["momentum"],
                              dampening=options["dampening"], weight_decay=options["weight_decay"],
                              nesterov=options["nesterov"], foreach=False)
    else:
        opt = torch.optim.AdamW(torch_groups, lr=options["lr"], betas=(options["beta1"], options["beta2"]),
                                eps=options["eps"], weight_decay=options["weight_decay"], foreach=False)
    grads, after = [], []
    for step in range(steps):
        step_grads = []
        for i, p in enumerate(params):
            if i in never or (step, i) in missing:
                p.grad = None
                step_grads.append(None)
            else:
                gr = rand(g, *p.shape, scale=0.5 + 0.1 * step)
                p.grad = gr.clone()
                step_grads.append(f32list(gr))
        opt.step()
        grads.append(step_grads)
        after.append([f32list(p.detach()) for p in params])
    return {"name": name, "kind": kind, "shapes": [list(s) for s in shapes], "groups": groups, "options": options,
            "init": [f32list(t) for t in init], "grads": grads, "after": after}


def warmup_cosine(warmup, total, min_ratio):
    def f(s):
        if s < warmup:
            return s / warmup
        if s >= total:
            return min_ratio
        progress = (s - warmup) / (total - warmup)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return f


def sched_case(name, base_lrs, warmup, total, min_ratio, steps):
    ps = [torch.nn.Parameter(torch.zeros(1)) for _ in base_lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(ps, base_lrs)], lr=base_lrs[0])
    sch = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(warmup, total, min_ratio))
    lrs = [list(sch.get_last_lr())]
    for _ in range(steps):
        opt.step()
        sch.step()
        lrs.append(list(sch.get_last_lr()))
    return {"name": name, "base_lrs": base_lrs, "warmup": warmup, "total": total, "min_ratio": min_ratio,
            "lrs": lrs}


def main():
    shapes = [(3, 4), (5,), (2, 3), (4,)]
    one_group = [{"params": [0, 1, 2, 3], "lr": 0.05, "weight_decay": 0.0}]
    sgd = [
        opt_case("sgd_plain", "sgd", shapes, one_group,
                 {"lr": 0.05, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False}, 20, 1),
        opt_case("sgd_momentum_dampening_wd", "sgd", shapes,
                 [{"params": [0, 1, 2, 3], "lr": 0.05, "weight_decay": 0.01}],
                 {"lr": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.01, "nesterov": False}, 20, 2,
                 missing=((3, 1), (7, 2))),
        opt_case("sgd_nesterov_two_groups", "sgd", shapes,
                 [{"params": [0, 2], "lr": 0.1, "weight_decay": 0.05}, {"params": [1, 3], "lr": 0.01,
                                                                      "weight_decay": 0.0}],
                 {"lr": 0.1, "momentum": 0.8, "dampening": 0.0, "weight_decay": 0.05, "nesterov": True}, 20, 3,
                 missing=((-1, 3),)),
    ]
    adamw = [
        opt_case("adamw_two_groups", "adamw", shapes,
                 [{"params": [0, 1], "lr": 1e-2, "weight_decay": 0.1}, {"params": [2, 3], "lr": 3e-3,
                                                                     "weight_decay": 0.0}],
                 {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.1}, 20, 4,
                 missing=((-1, 3), (5, 0), (6, 0), (11, 2))),
        opt_case("adamw_large_lerp_weight", "adamw", shapes,
                 [{"params": [0, 1, 2, 3], "lr": 2e-2, "weight_decay": 0.01}],
                 {"lr": 2e-2, "beta1": 0.3, "beta2": 0.95, "eps": 1e-6, "weight_decay": 0.01}, 20, 5),
    ]
    scheds = [
        sched_case("warmup_cosine", [0.1, 0.01], 5, 20, 0.1, 25),
        sched_case("no_warmup_to_zero", [3e-4], 0, 12, 0.0, 15),
        sched_case("warmup_equals_total", [1.0], 4, 4, 0.25, 6),
    ]
    out = {"torch_version": torch.__version__, "optimizers": sgd + adamw, "schedules": scheds}
    path = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data" / "optim.json"
    path.write_text(json.dumps(out, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
