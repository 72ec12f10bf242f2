#!/usr/bin/env python3
"""Generates the polynomial coefficients of tessera's vectorised float32 normal CDF (used by gelu).

Phi(x) is computed as exp(-x^2/2) * H(|x|) for x < 0 and 1 minus that for x >= 0, with
H(a) = 0.5 * erfc(a / sqrt(2)) * exp(a^2 / 2). We approximate H(a) = t * G(u) where
t = 1 / (a + C), u maps t from [1/(A1+C), 1/(A0+C)] onto [-1, 1], and G is a polynomial fitted in
the relative (weighted least squares at Chebyshev nodes) sense. Prints C++ constants for
src/tensor/cpu/elementwise_math.h. Needs mpmath and numpy (reference tooling only).
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 40
A0, A1, C, DEG, NODES = 0.0, 15.0, 2.0, 11, 600


def h(a):
    a = mp.mpf(a)
    return 0.5 * mp.erfc(a / mp.sqrt(2)) * mp.exp(a * a / 2)


def main():
    t0, t1 = 1 / (A1 + C), 1 / (A0 + C)
    tm, th = (t0 + t1) / 2, (t1 - t0) / 2
    k = np.arange(NODES)
    u = np.cos(np.pi * (k + 0.5) / NODES)
    t = tm + u * th
    y = np.array([float(h(1 / ti - C)) for ti in t]) / t
    v = np.vander(u, DEG + 1, increasing=True)
    coef, *_ = np.linalg.lstsq(v / y[:, None], np.ones_like(y), rcond=None)
    print(f"constexpr float kCdfC = {C}f;")
    print(f"constexpr float kCdfTm = {float(np.float32(tm))!r}f;")
    print(f"constexpr float kCdfInvTh = {float(np.float32(1 / th))!r}f;")
    print("G coefficients (c0 first): " + ", ".join(f"{float(np.float32(c))!r}f" for c in coef))


if __name__ == "__main__":
    main()
