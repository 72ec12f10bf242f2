#!/usr/bin/env python3
"""Golden data for tests/autograd/test_golden.cpp: small autograd programs run in PyTorch (CPU,
float64) and the texts of PyTorch's autograd error messages. Writes tests/data/autograd_api.json.

    python3 tools/golden/autograd_api.py

Inputs are fixed lists (not random) so that the C++ tests build the same tensors.
"""
import json
import os

import torch

torch.set_default_dtype(torch.float64)

X23 = [[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]]
W32 = [[0.7, -0.1], [0.2, 0.3], [-0.5, 0.9]]
G23 = [[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]]


def t(v, rg=False):
    return torch.tensor(v, requires_grad=rg)


def L(x):
    return None if x is None else x.detach().tolist()


def err(fn):
    try:
        fn()
    except RuntimeError as e:
        return str(e)
    raise AssertionError("expected an error")


out = {"inputs": {"X23": X23, "W32": W32, "G23": G23}, "values": {}, "errors": {}}
V, E = out["values"], out["errors"]

# non-scalar backward with a supplied gradient
x = t(X23, True)
y = x.exp() * 2
y.backward(t(G23))
V["nonscalar_backward"] = {"x_grad": L(x.grad)}

# several outputs: VJPs summed; an undefined gradient for a scalar output means 1
x = t(X23, True)
y1 = x.sin()
y2 = (x * x).sum()
torch.autograd.backward([y1, y2], [t(G23), None])
V["multi_backward"] = {"x_grad": L(x.grad)}

# grad with allow_unused, .grad untouched
a = t(X23, True)
b = t(W32, True)
y = (a * a).sum()
ga, gb = torch.autograd.grad(y, [a, b], allow_unused=True)
V["grad_allow_unused"] = {"a_grad": L(ga), "b_is_none": gb is None, "a_dot_grad_is_none": a.grad is None}

# matmul chain through autograd.grad of a non-leaf
x = t(X23, True)
w = t(W32, True)
h = x.matmul(w)
z = h.tanh().sum()
(gh,) = torch.autograd.grad(z, [h], retain_graph=True)
z.backward()
V["matmul_chain"] = {"h_grad": L(gh), "x_grad": L(x.grad), "w_grad": L(w.grad)}

# hooks replacing gradients: non-leaf and leaf
x = t(X23, True)
h = x * 2
h.register_hook(lambda g: g * 3)
x.register_hook(lambda g: g + 1)
y = (h * h).sum()
y.backward()
V["hooks_replace"] = {"x_grad": L(x.grad)}

# accumulation across backward calls and retain_graph
x = t(X23, True)
y = (x * x).sum()
y.backward(retain_graph=True)
y.backward()
(x.exp()).sum().backward()
V["accumulate"] = {"x_grad": L(x.grad)}

# retain_grad on a non-leaf
x = t(X23, True)
h = x.sigmoid()
h.retain_grad()
(h * h).sum().backward()
V["retain_grad"] = {"h_grad": L(h.grad), "x_grad": L(x.grad)}

# in-place on a view of a non-leaf (CopySlices)
x = t(X23, True)
base = x * 1
base[0].mul_(2)
base.narrow(1, 1, 2).exp_()
(base * t(G23)).sum().backward()
V["inplace_view"] = {"x_grad": L(x.grad), "base": L(base)}

# double backward
x = t(X23, True)
y = (x * x * x).sum()
(g,) = torch.autograd.grad(y, [x], create_graph=True)
g.sum().backward()
V["double_backward"] = {"g": L(g), "x_grad": L(x.grad)}

# softmax / layer_norm double backward (gradient of the gradient norm)
x = t(X23, True)
s = torch.softmax(x, -1)
(gs,) = torch.autograd.grad((s * t(G23)).sum(), [x], create_graph=True)
(gs * gs).sum().backward()
V["softmax_double_backward"] = {"gs": L(gs), "x_grad": L(x.grad)}

x = t(X23, True)
wln = t([1.5, -0.5, 2.0], True)
bln = t([0.1, 0.2, 0.3], True)
yln = torch.nn.functional.layer_norm(x, [3], wln, bln, 1e-5)
(gx, gw) = torch.autograd.grad((yln * t(G23)).sum(), [x, wln], create_graph=True)
((gx * gx).sum() + (gw * gw).sum()).backward()
V["layer_norm_double_backward"] = {"gx": L(gx), "gw": L(gw), "x_grad": L(x.grad), "w_grad": L(wln.grad),
                                   "b_grad": None if bln.grad is None else L(bln.grad)}

# ---- error messages ----
x = t(X23, True)
E["nonscalar_implicit"] = err(lambda: x.exp().backward())
E["count_mismatch"] = err(lambda: torch.autograd.backward([x.exp(), x.exp()], [t(G23)]))
E["allow_unused"] = err(lambda: torch.autograd.grad((x * x).sum(), [x, t(W32, True)]))
E["not_require_grad"] = err(lambda: torch.autograd.grad((x * x).sum(), [t(W32)]))
E["no_grad_fn"] = err(lambda: t(X23).sum().backward())
y = (x.exp()).sum()
y.backward()
E["second_backward"] = err(lambda: y.backward())
E["leaf_inplace"] = err(lambda: t(X23, True).add_(1))
E["view_of_leaf_inplace"] = err(lambda: t(X23, True)[0].add_(1))
E["shape_mismatch"] = err(lambda: x.exp().backward(t([1.0, 2.0, 3.0])))


def version_error():
    x = t(X23, True)
    y = x.exp()
    y.add_(1)
    y.sum().backward()


E["version_output"] = err(version_error)


def version_error_input():
    a = t(X23, True)
    h = a * 1
    z = h.sin()
    h.mul_(2)
    z.sum().backward()


E["version_input"] = err(version_error_input)

path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "autograd_api.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)
    f.write("\n")
print("wrote", os.path.normpath(path))
