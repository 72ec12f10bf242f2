#!/usr/bin/env python3
"""Writes tests/data/interop.safetensors (with Hugging Face's safetensors + PyTorch) and
tests/data/interop.json (the same tensors' dtype, shape and values as JSON) so that
tests/checkpoint/test_safetensors.cpp checks that tessera loads a file written by Python exactly.
Regenerate with `python3 tools/golden/safetensors_interop.py`; Python, torch and safetensors are
needed only here, never to build or test tessera.

Every dtype tessera supports is present, plus a 0-d tensor, an empty tensor, dotted names and
metadata. Python's writer orders tensors by dtype alignment and name, and writes no checksum:
tessera must accept both. Values are exactly representable in their dtype, so the JSON (floats
printed with repr) holds the stored values exactly."""
import json
import pathlib

import torch
from safetensors.torch import save_file

DATA = pathlib.Path(__file__).resolve().parents[2] / "tests" / "data"


def tensors():
    g = torch.Generator().manual_seed(4)
    return {
        "model.embed.weight": torch.randn(4, 3, generator=g, dtype=torch.float32),
        "model.layers.0.attn.qkv.weight": torch.randn(2, 3, generator=g, dtype=torch.float64),
        "model.layers.0.norm.weight": torch.randn(5, generator=g).to(torch.bfloat16),
        "model.layers.1.norm.weight": torch.randn(2, 2, generator=g).to(torch.float16),
        "ids": torch.tensor([[-7, 0, 2**31 - 1], [-(2**31), 5, 9]], dtype=torch.int32),
        "positions": torch.tensor([0, -1, 2**40 + 3, -(2**62)], dtype=torch.int64),
        "mask": torch.tensor([[True, False, True], [False, False, True]]),
        "optimizer.step": torch.tensor(17, dtype=torch.int64),          # 0-d
        "optimizer.lr": torch.tensor(3e-4, dtype=torch.float64),         # 0-d
        "empty": torch.zeros(0, 3, dtype=torch.float32),
    }


def main():
    ts = tensors()
    DATA.mkdir(parents=True, exist_ok=True)
    save_file(ts, str(DATA / "interop.safetensors"), metadata={"source": "python", "format": "pt"})
    out = {}
    for name, t in ts.items():
        values = t.float().flatten().tolist() if t.dtype in (torch.bfloat16, torch.float16) else t.flatten().tolist()
        out[name] = {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "values": values}
    (DATA / "interop.json").write_text(json.dumps({"metadata": {"source": "python", "format": "pt"},
                                                   "tensors": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
