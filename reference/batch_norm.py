"""float64 batch normalization and its gradients, written from the definitions (Ioffe &
Szegedy 2015, "Batch Normalization", ICML, Algorithm 1 and section 3; running statistics as
torch ``BatchNorm``: ``(1 - m) r + m batch`` with the unbiased batch variance) with no code
shared with ``primitives``.

Channels are moved to the last axis and flattened to ``(n, C)``. The statistics are exact
(rational arithmetic on the float64 inputs: ``fractions.Fraction``), and so is the centring
``x - mean`` before its one rounding, so the references are accurate to a few float64 ulps
(and exactly 0 where a channel is constant) and judge float32 and float64 results.
The gradient of the training output is written as the chain rule through mean and variance
(the textbook per-step form), deliberately not the compact form the library uses.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np


def _columns(x: np.ndarray, axis: int) -> np.ndarray:
    """x as ``(n, C)`` float64, channels last."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    return x.reshape(-1, x.shape[-1])


def _back(cols: np.ndarray, shape: tuple[int, ...], axis: int) -> np.ndarray:
    moved = np.moveaxis(np.empty(shape), axis, -1).shape
    return np.moveaxis(cols.reshape(moved), -1, axis)


def _fsum(cols: np.ndarray) -> np.ndarray:
    """Per-channel sums, correctly rounded."""
    return np.array(
        [float(sum(map(Fraction, cols[:, c]), Fraction(0))) for c in range(cols.shape[1])]
    )


def _exact_stats(cols: np.ndarray) -> list[tuple[Fraction, Fraction]]:
    """Per channel: the exact mean and biased variance of the float64 values."""
    n = cols.shape[0]
    out = []
    for c in range(cols.shape[1]):
        values = [Fraction(v) for v in cols[:, c]]
        mean = sum(values, Fraction(0)) / n
        out.append((mean, sum(((v - mean) ** 2 for v in values), Fraction(0)) / n))
    return out


def _centered(cols: np.ndarray) -> np.ndarray:
    """x - mean per channel, computed exactly and rounded once."""
    means = [m for m, _ in _exact_stats(cols)]
    return np.array([[float(Fraction(v) - means[c]) for c, v in enumerate(row)] for row in cols])


def centered(x: np.ndarray, axis: int = 1) -> np.ndarray:
    """x - (its channel's mean), computed exactly and rounded once, in x's shape."""
    return _back(_centered(_columns(x, axis)), np.shape(x), axis)


def batch_stats(x: np.ndarray, axis: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel (mean, biased variance), each correctly rounded to float64."""
    stats = _exact_stats(_columns(x, axis))
    return np.array([float(m) for m, _ in stats]), np.array([float(v) for _, v in stats])


def _affine(x_hat, weight, bias):
    c = x_hat.shape[1]
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    b = np.zeros(c) if bias is None else np.asarray(bias, dtype=np.float64)
    return x_hat * w + b


def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=True,
               momentum=0.1, eps=1e-5, axis=1):  # fmt: skip
    """(out, new_running_mean, new_running_var), float64 (running ones None if not given)."""
    cols = _columns(x, axis)
    n = cols.shape[0]
    if training:
        mean, var = batch_stats(x, axis)
        centered = _centered(cols)
        new_rm = (
            None
            if running_mean is None
            else (1 - momentum) * np.float64(running_mean) + (momentum * mean)
        )
        new_rv = (
            None
            if running_var is None
            else (1 - momentum) * np.float64(running_var) + (momentum * var * n / (n - 1))
        )
    else:
        var = np.float64(running_var)
        centered = cols - np.float64(running_mean)
        new_rm, new_rv = running_mean, running_var
    out = _affine(centered / np.sqrt(var + eps), weight, bias)
    return _back(out, np.shape(x), axis), new_rm, new_rv


def batch_norm_grad(g, x, weight=None, running_mean=None, running_var=None, training=True,
                    eps=1e-5, axis=1):  # fmt: skip
    """(dx, dweight, dbias) float64, by the chain rule of Algorithm 1 (training) or with the
    running statistics fixed (evaluation)."""
    cols, gc = _columns(x, axis), _columns(g, axis)
    n, c = cols.shape
    w = np.ones(c) if weight is None else np.asarray(weight, dtype=np.float64)
    if training:
        _, var = batch_stats(x, axis)
        centered = _centered(cols)
    else:
        var = np.float64(running_var)
        centered = cols - np.float64(running_mean)
    sigma = np.sqrt(var + eps)
    x_hat = centered / sigma
    dbias, dweight = _fsum(gc), _fsum(gc * x_hat)
    d_xhat = gc * w
    if not training:
        return _back(d_xhat / sigma, np.shape(x), axis), dweight, dbias
    d_var = _fsum(d_xhat * centered) * -0.5 * (var + eps) ** -1.5
    d_mean = -_fsum(d_xhat) / sigma + d_var * -2.0 * _fsum(centered) / n
    dx = d_xhat / sigma + d_var * 2.0 * centered / n + d_mean / n
    return _back(dx, np.shape(x), axis), dweight, dbias
