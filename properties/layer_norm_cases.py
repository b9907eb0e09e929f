"""Layer norm's problems, references and bounds, and the comparison the properties judge with:
the support of ``test_layer_norm.py`` (which states the bound), shared with the accuracy atlas
(``properties.atlas.layers``), which must not import test modules.

Also the helpers the linear layer and the penalties share (``unit``, ``gamma``, ``within``,
``backend_arrays``): one comparison for every family of layers, per element
(:func:`within_elements`) for the atlas and asserting (:func:`within`) for the properties.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

from reference import layers as R

from . import tolerances
from .checks.bounds import assert_within
from .implementations import Implementation

# --- shared helpers (also used by the linear layer's and the penalties' properties) -----------


def unit(dtype: str) -> float:
    """Unit roundoff of the precision ``dtype`` is computed in plus that of float64 (the
    reference's own rounding)."""
    working = tolerances.working_dtype(dtype)
    return float(np.finfo(working).eps) / 2 + float(np.finfo(np.float64).eps) / 2


def gamma(k: int, dtype: str) -> float:
    """Higham's gamma_k (a sum or dot product of k terms, any order) in the precision ``dtype``
    is computed in, plus the float64 reference's, times ``DOT_PRODUCT_SLACK``."""
    u = float(np.finfo(tolerances.working_dtype(dtype)).eps) / 2
    u64 = float(np.finfo(np.float64).eps) / 2
    return tolerances.DOT_PRODUCT_SLACK * (R.gamma(k, u) + R.gamma(k, u64))


def dtype_name(x: Any) -> str:
    return str(x.dtype).rsplit(".", 1)[-1]


def within(what: str, dtype: str, actual, expected, allowed) -> None:
    """:func:`properties.checks.bounds.assert_within`: |actual - expected| <= allowed + tiny at
    every element (``expected`` may be 0-d, a law's constant)."""
    assert_within(what, dtype, actual, expected, allowed)


def backend_arrays(impl: Implementation, dtype: str, *arrays):
    """Backend arrays (None stays None) and the exact values they hold, read back."""
    out, exact = [], []
    for a in arrays:
        if a is None:
            out.append(None)
            exact.append(None)
        else:
            b = impl.array(np.asarray(a, np.float64), dtype)
            out.append(b)
            exact.append(impl.numpy(b))
    return out, exact


def check_unchanged(impl: Implementation, arrays, exact, what: str) -> None:
    for i, (a, e) in enumerate(zip(arrays, exact, strict=True)):
        if a is not None:
            assert np.array_equal(impl.numpy(a), e, equal_nan=True), f"{what}: input {i} changed"


# --- problems --------------------------------------------------------------------------------


class Problem(NamedTuple):
    x: np.ndarray
    k: int  # trailing axes normalized
    weight: np.ndarray | None
    bias: np.ndarray | None
    eps: float

    @property
    def normalized_shape(self) -> tuple[int, ...]:
        return self.x.shape[self.x.ndim - self.k :]


class Run:
    """A problem on one implementation: backend arrays and the exact values they hold."""

    def __init__(self, impl: Implementation, p: Problem, dtype: str):
        self.impl, self.dtype, self.p = impl, dtype, p
        self.args, exact = backend_arrays(impl, dtype, p.x, p.weight, p.bias)
        self.exact = Problem(exact[0], p.k, exact[1], exact[2], p.eps)

    def forward(self, x=None, weight=None, bias=None):
        x = self.args[0] if x is None else x
        w = self.args[1] if weight is None else weight
        b = self.args[2] if bias is None else bias
        return self.impl.ops.layer_norm(x, self.p.normalized_shape, w, b, self.p.eps)

    def backward(self, g: np.ndarray):
        ga = self.impl.array(g, self.dtype)
        x, w, b = self.args
        return self.impl.ops.layer_norm_backward(ga, x, self.p.normalized_shape, w, b, self.p.eps)

    def check_unchanged(self) -> None:
        e = self.exact
        check_unchanged(self.impl, self.args, [e.x, e.weight, e.bias], "layer_norm")


# --- the bounds ------------------------------------------------------------------------------


def _per_row(a: np.ndarray, p: Problem) -> np.ndarray:
    """A per-row value (rows,) broadcast back to x's shape."""
    lead = p.x.shape[: p.x.ndim - p.k]
    return np.broadcast_to(a.reshape(lead + (1,) * p.k), p.x.shape)


def _amplification(p: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x_hat, rstd, R) in x's shape: R = max_row |x| * rstd."""
    x_hat, rstd, _ = R.layer_norm_stats(p.x, p.k, p.eps)
    rows = x_hat.shape[0]
    big = np.max(np.abs(p.x.reshape(rows, -1)), axis=1)
    return x_hat.reshape(p.x.shape), _per_row(rstd, p), _per_row(big * rstd, p)


def sum_terms(p: Problem) -> int:
    n = math.prod(p.normalized_shape)
    return n + p.x.size // n


def forward_bound(p: Problem, dtype: str) -> np.ndarray:
    x_hat, _, amp = _amplification(p)
    w = 1.0 if p.weight is None else np.abs(p.weight)
    b = 0.0 if p.bias is None else np.abs(p.bias)
    mag = w * (np.abs(x_hat) + amp * (1 + np.abs(x_hat))) + b
    return tolerances.LAYER_NORM_ROUNDING * sum_terms(p) * unit(dtype) * mag


def grad_magnitudes(g: np.ndarray, p: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sizes that scale the rounding of (dx, dweight, dbias): the terms each is formed from,
    with x_hat's own rounding amplified by R."""
    x_hat, rstd, amp = _amplification(p)
    gw = np.abs(g) if p.weight is None else np.abs(g * p.weight)
    n = math.prod(p.normalized_shape)
    rows = p.x.size // n
    axes = tuple(range(p.x.ndim - p.k, p.x.ndim))
    mean_gw = np.mean(gw, axis=axes, keepdims=True)
    max_hat = np.max(np.abs(x_hat), axis=axes, keepdims=True)
    dx = rstd * (gw + mean_gw * (1 + np.abs(x_hat)) * (1 + max_hat)) * (1 + amp)
    flat = (rows, *p.normalized_shape)
    dw = np.sum((np.abs(g) * (np.abs(x_hat) + amp * (1 + np.abs(x_hat)))).reshape(flat), axis=0)
    db = np.sum(np.abs(g).reshape(flat), axis=0)
    return dx, dw, db


def grad_bounds(g: np.ndarray, p: Problem, dtype: str) -> tuple[np.ndarray, ...]:
    """The allowed errors of (dx, dweight, dbias) at the cotangent ``g`` (the values the
    implementation holds): :func:`grad_magnitudes` scaled as :func:`forward_bound` is."""
    scale = tolerances.LAYER_NORM_ROUNDING * sum_terms(p) * unit(dtype)
    return tuple(scale * mag for mag in grad_magnitudes(g, p))
