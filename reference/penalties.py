"""float64 references for the L1 and L2 penalties (NumPy + ``math.fsum``), written from the
definitions with no code shared with ``primitives``.

``params`` is a list of arrays (the test flattens the structures). Conventions (Tibshirani
1996 for the lasso; the 1/2 of the L2 penalty makes its gradient ``lam * x``, torch's SGD
``weight_decay``): l1 = lam * sum |x|, l2 = lam / 2 * sum x^2; the L1 subgradient at 0 is 0.
Sums use ``math.fsum`` (correctly rounded), so the reference's own error is one rounding.
"""

from __future__ import annotations

import math

import numpy as np


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def l1_penalty(params: list, lam: float) -> np.float64:
    """lam * sum |x| over every entry."""
    return np.float64(lam * math.fsum(abs(v) for p in params for v in _f64(p).ravel()))


def l2_penalty(params: list, lam: float) -> np.float64:
    """lam / 2 * sum x^2 over every entry (each square exact in double-double via fsum of the
    float64 products of float32 inputs; one rounding per product for float64 inputs)."""
    return np.float64(0.5 * lam * math.fsum(v * v for p in params for v in _f64(p).ravel()))


def l1_penalty_grad(g: float, params: list, lam: float) -> list[np.ndarray]:
    """g * lam * sign(x), sign(0) = 0, NaN at NaN."""
    return [g * lam * np.sign(_f64(p)) for p in params]


def l2_penalty_grad(g: float, params: list, lam: float) -> list[np.ndarray]:
    """g * lam * x."""
    return [g * lam * _f64(p) for p in params]
