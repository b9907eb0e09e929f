"""Batch normalization's problems, references and tolerance terms, and the comparison its
properties judge with: the support of ``test_batch_norm.py`` (which states the tolerance),
shared with the accuracy atlas (``properties.atlas.layers``), which must not import test
modules. :func:`close_elements` is the comparison per element (the atlas's), :func:`close`
asserts it (the properties').
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from reference import batch_norm as R

from . import tolerances
from .checks import bounds
from .checks.bounds import Verdict
from .implementations import Implementation

# --- problems --------------------------------------------------------------------------------


class Problem(NamedTuple):
    """One batch-norm call; arrays are float64 holding values of the dtype under test."""

    x: np.ndarray
    running_mean: np.ndarray | None
    running_var: np.ndarray | None
    weight: np.ndarray | None
    bias: np.ndarray | None
    training: bool
    momentum: float
    eps: float
    axis: int

    @property
    def channel_axis(self) -> int:
        return self.axis % self.x.ndim

    @property
    def per_channel(self) -> int:
        return self.x.size // self.x.shape[self.channel_axis]

    def kwargs(self) -> dict[str, Any]:
        return {"training": self.training, "momentum": self.momentum, "eps": self.eps}


def along(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """A (C,) array shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    shape = [1] * ndim
    shape[axis] = -1
    return np.reshape(v, shape)


def others(p: Problem) -> tuple[int, ...]:
    return tuple(i for i in range(p.x.ndim) if i != p.channel_axis)


def rounded(a: np.ndarray, dtype: str) -> np.ndarray:
    return np.asarray(a, dtype=dtype).astype(np.float64)


# --- running an implementation ---------------------------------------------------------------

_ARRAYS = ("x", "running_mean", "running_var", "weight", "bias")


class Run:
    """A problem on one implementation: its backend arrays, the exact values the arithmetic
    sees (XLA on the CPU flushes subnormals), and a check that calls leave them unchanged."""

    def __init__(self, impl: Implementation, problem: Problem, dtype: str):
        self.impl, self.p, self.dtype = impl, problem, dtype
        self.arrays = {
            k: None if getattr(problem, k) is None else impl.array(getattr(problem, k), dtype)
            for k in _ARRAYS
        }
        seen = {
            k: None if v is None else self.as_computed(impl.numpy(v))
            for k, v in self.arrays.items()
        }
        self.seen = problem._replace(**seen)

    def as_computed(self, a: np.ndarray) -> np.ndarray:
        if not self.impl.flushes_subnormals:
            return a
        tiny = np.finfo(tolerances.working_dtype(self.dtype)).tiny  # (where it computes)
        return np.where(np.abs(a) < tiny, np.copysign(0.0, a), a)

    def forward(self, **arrays) -> tuple[Any, Any, Any]:
        a = {**self.arrays, **arrays}
        return self.impl.ops.batch_norm(
            a["x"], a["running_mean"], a["running_var"], a["weight"], a["bias"],
            axis=self.p.axis, **self.p.kwargs(),
        )  # fmt: skip

    def backward(self, g: Any) -> tuple[Any, Any, Any]:
        a = self.arrays
        return self.impl.ops.batch_norm_backward(
            g, a["x"], a["weight"], a["running_mean"], a["running_var"],
            training=self.p.training, eps=self.p.eps, axis=self.p.axis,
        )  # fmt: skip

    def g(self, g: np.ndarray) -> tuple[Any, np.ndarray]:
        """grad_output as a backend array and the values it holds."""
        ga = self.impl.array(g, self.dtype)
        return ga, self.as_computed(self.impl.numpy(ga))

    def check_unchanged(self) -> None:
        for k, a in self.arrays.items():
            if a is not None:
                before = getattr(self.p, k)
                after = self.impl.numpy(a)
                assert np.array_equal(after, rounded(before, self.dtype)), (
                    f"batch_norm on {self.impl.id}: input {k} was modified"
                )


# --- the comparison --------------------------------------------------------------------------


def close_elements(dtype: str, actual, expected, terms=0.0) -> Verdict:
    """:func:`properties.checks.bounds.close_elements` with batch norm's ``BATCH_NORM_RTOL``
    (the working precision's)."""
    rtol = tolerances.BATCH_NORM_RTOL[tolerances.working_dtype(dtype)]
    return bounds.close_elements(dtype, actual, expected, rtol, terms)


def close(what: str, dtype: str, actual, expected, terms=0.0) -> None:
    """Asserts :func:`close_elements` (with ``BATCH_NORM_RTOL``) at every element."""
    rtol = tolerances.BATCH_NORM_RTOL[tolerances.working_dtype(dtype)]
    bounds.assert_close(what, dtype, actual, expected, rtol, terms)


# --- tolerance terms -------------------------------------------------------------------------


class Stats(NamedTuple):
    """Per-channel statistics the output is normalized with, broadcastable to x."""

    center: np.ndarray  # batch mean (training) or running mean
    sigma: np.ndarray  # sqrt(var + eps)
    spread: np.ndarray  # largest |x - center| of the channel (training) or |x| + |center|
    x_hat: np.ndarray


def stats(p: Problem, unshifted: bool = False) -> Stats:
    """``unshifted``: for implementations that centre x - mean without a shift (torch, flax):
    centring then loses an ulp of |x| + |mean| rather than of the channel's spread."""
    ax, nd = p.channel_axis, p.x.ndim
    if p.training and not unshifted:
        mean, var = R.batch_stats(p.x, ax)
        center = along(mean, ax, nd)
        spread = np.max(np.abs(p.x - center), axis=others(p), keepdims=True)
    elif p.training:
        mean, var = R.batch_stats(p.x, ax)
        center = along(mean, ax, nd)
        spread = np.abs(p.x) + np.abs(center)
    else:
        center, var = along(p.running_mean, ax, nd), p.running_var
        spread = np.abs(p.x) + np.abs(center)
    sigma = np.sqrt(along(var, ax, nd) + p.eps)
    d = R.centered(p.x, ax) if p.training else p.x - center
    return Stats(center, sigma, spread, d / sigma)


def abs_weight(p: Problem) -> np.ndarray:
    c = p.x.shape[p.channel_axis]
    w = np.ones(c) if p.weight is None else p.weight
    return along(np.abs(w), p.channel_axis, p.x.ndim)


def output_terms(p: Problem, unshifted: bool = False) -> np.ndarray:
    """|weight| (|x_hat| + spread / sigma) + |bias|: centring loses an absolute ulp of the
    spread, which the division by sigma carries into x_hat."""
    s = stats(p, unshifted)
    b = 0.0 if p.bias is None else along(np.abs(p.bias), p.channel_axis, p.x.ndim)
    return abs_weight(p) * (np.abs(s.x_hat) + s.spread / s.sigma) + b


def running_terms(p: Problem, unshifted: bool = False, u: float = 0.0):
    """Terms of (1 - m) r + m batch: the batch mean loses an ulp of the spread, the batch
    variance (a mean of squares of centred values d, each off by du = an ulp of the spread)
    2 |d| du + du^2: spread * (sigma_batch + u spread), u the unit roundoff (the second-order
    term matters only where the variance is 0 and the centring is inexact: ``unshifted``)."""
    mean, var = R.batch_stats(p.x, p.channel_axis)
    spread = np.max(np.abs(p.x - along(mean, p.channel_axis, p.x.ndim)), axis=others(p))
    if unshifted:
        spread = np.max(np.abs(p.x), axis=others(p)) + np.abs(mean)
    n, m = p.per_channel, p.momentum
    t_mean = np.abs((1 - m) * p.running_mean) + m * (np.abs(mean) + spread)
    t_var = np.abs((1 - m) * p.running_var) + m * n / (n - 1) * (
        var + spread * (np.sqrt(var) + u * spread)
    )
    return t_mean, t_var


def grad_terms(
    p: Problem, g: np.ndarray, unshifted: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sizes of what dx, dweight and dbias are computed from (see the module docstring)."""
    s = stats(p, unshifted)
    dims = others(p)
    ag = np.abs(g)
    rel = np.abs(s.x_hat) + s.spread / s.sigma  # x_hat and its rounding scale
    g_hat = ag * abs_weight(p)
    if p.training:
        mean_g = np.mean(g_hat, axis=dims, keepdims=True)
        mean_gx = np.mean(g_hat * rel, axis=dims, keepdims=True)
        t_dx = (g_hat + mean_g + rel * mean_gx) / s.sigma
    else:
        t_dx = g_hat / s.sigma
    return t_dx, np.sum(ag * rel, axis=dims), np.sum(ag, axis=dims)
