#!/usr/bin/env python3
"""Golden values for data::resize_bilinear (src/models/data/image_io.h): PyTorch's
interpolate(mode="bilinear", align_corners=False, antialias=False) on small 8-bit RGB images,
computed in float64 and rounded to bytes. Writes tests/data/resize_bilinear.json.
Usage: python3 tools/golden/resize_bilinear.py"""
import json
import os

import numpy as np
import torch

rng = np.random.default_rng(1234)
cases = []
for (h, w), (oh, ow) in [((4, 5), (7, 3)), ((6, 6), (3, 3)), ((3, 2), (8, 9)), ((5, 7), (5, 7))]:
    img = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    t = torch.from_numpy(img.astype(np.float64)).permute(2, 0, 1)[None]
    out = torch.nn.functional.interpolate(t, size=(oh, ow), mode="bilinear", align_corners=False, antialias=False)
    out = out[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()
    cases.append({"width": w, "height": h, "pixels": img.reshape(-1).tolist(),
                  "out_width": ow, "out_height": oh, "expected": out.reshape(-1).tolist()})
path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "resize_bilinear.json")
with open(path, "w") as f:
    json.dump({"generator": "tools/golden/resize_bilinear.py", "torch": torch.__version__, "cases": cases}, f)
print("wrote", os.path.normpath(path))
