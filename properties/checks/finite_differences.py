"""A finite-difference checker for vector-Jacobian products, with steps scaled to each input.

For every coordinate i of x the checker differentiates phi(t) = <g, f(x + t e_i)>, whose
derivative at 0 is (J^T g)_i, the quantity a backward pass returns:

* central differences D(h) = (phi(h) - phi(-h)) / 2h evaluated in float64, with
  h = 2^round(log2(cbrt(eps) max(1, |x_i|))) (a power of two, so x_i +- h are exact);
* Richardson extrapolation R = (4 D(h/2) - D(h)) / 3, whose error is O(h^4);
* the difference's own error estimated as |D(h) - D(h/2)| (truncation) plus
  (eps * max|g_k f_k| + tiny * max|g_k|) summed over outputs / h (rounding of phi: relative
  for normal f_k, and at least the smallest subnormal, tiny, absolutely: a forward that
  underflows to 0 has a difference quotient of 0, whatever its exact derivative);
* pass when |analytic - R| <= estimate_factor * estimate + rtol * max(|R|, |analytic|).

Unlike torch's gradcheck (one absolute step, float64 only, whole tensors printed) and jax's
check_grads (one step for every dtype, one random direction), the step follows |x_i| and the
failure message names the worst coordinate, its input, both values and the errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .. import tolerances

_EPS = float(np.finfo(np.float64).eps)
_TINY = float(np.finfo(np.float64).smallest_subnormal)


def _step(x: float) -> float:
    return 2.0 ** round(math.log2(_EPS ** (1 / 3) * max(1.0, abs(x))))


class GradientReport(NamedTuple):
    """Result of :func:`check_vjp`: the numeric VJP, its error estimate and a message."""

    ok: bool
    numeric: np.ndarray
    estimate: np.ndarray
    worst_index: tuple[int, ...]
    message: str


def finite_difference_vjp(
    f: Callable[[np.ndarray], np.ndarray], g: np.ndarray, x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(R, estimate): Richardson-extrapolated J^T g of ``f`` at ``x`` and its error estimate.

    ``f`` maps a float64 array of x's shape to a float64 array of g's shape.
    """
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(g, dtype=np.float64)
    if not (np.isfinite(x).all() and np.isfinite(g).all()):
        raise ValueError("finite differences need finite x and g")
    numeric = np.empty_like(x)
    estimate = np.empty_like(x)
    g_max = float(np.max(np.abs(g), initial=0.0))

    def phi(i: int, t: float) -> tuple[float, float]:
        moved = x.copy()
        moved.flat[i] += t
        terms = g * np.asarray(f(moved), dtype=np.float64)
        scale = _EPS * float(np.max(np.abs(terms), initial=0.0)) + _TINY * g_max
        return float(np.sum(terms)), scale * terms.size

    for i in range(x.size):
        h = _step(float(x.flat[i]))
        (p1, s1), (m1, s2) = phi(i, h), phi(i, -h)
        (p2, s3), (m2, s4) = phi(i, h / 2), phi(i, -h / 2)
        d_h, d_h2 = (p1 - m1) / (2 * h), (p2 - m2) / h
        numeric.flat[i] = (4 * d_h2 - d_h) / 3
        roundoff = max(s1, s2, s3, s4) / h
        estimate.flat[i] = abs(d_h - d_h2) + roundoff
    return numeric, estimate


def check_vjp(
    label: str,
    f: Callable[[np.ndarray], np.ndarray],
    analytic: np.ndarray,
    g: np.ndarray,
    x: np.ndarray,
    tolerance: tolerances.FiniteDifferenceTolerance | None = None,
) -> GradientReport:
    """Check ``analytic`` (a backward pass's J^T g) against finite differences of ``f`` at x."""
    tol = tolerance or tolerances.FINITE_DIFFERENCES
    numeric, estimate = finite_difference_vjp(f, g, x)
    analytic = np.asarray(analytic, dtype=np.float64)
    if analytic.shape != numeric.shape:
        raise ValueError(f"{label}: gradient shape {analytic.shape} != input shape {x.shape}")
    err = np.abs(analytic - numeric)
    allowed = tol.estimate_factor * estimate + tol.rtol * np.maximum(
        np.abs(numeric), np.abs(analytic)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(err == 0, 0.0, err / allowed)
    ratio = np.where(np.isnan(ratio), np.inf, ratio)
    worst = int(np.argmax(ratio)) if ratio.size else 0
    index = tuple(int(i) for i in np.unravel_index(worst, x.shape)) if x.ndim else ()
    ok = bool(np.all(ratio <= 1.0))
    a, n = analytic.flat[worst], numeric.flat[worst]
    rel = err.flat[worst] / max(abs(a), abs(n)) if max(abs(a), abs(n)) > 0 else err.flat[worst]
    message = (
        f"{label}: backward {'agrees' if ok else 'disagrees'} with finite differences; worst "
        f"index {index}: x={np.asarray(x).flat[worst]!r}, g={np.asarray(g).flat[worst]!r}; "
        f"analytic {a!r}, numeric {n!r}; abs error {err.flat[worst]:.3g}, rel error "
        f"{rel:.3g} (allowed abs {allowed.flat[worst]:.3g}; difference error estimate "
        f"{estimate.flat[worst]:.3g})"
    )
    return GradientReport(ok, numeric, estimate, index, message)


def fold_cotangent(f: Callable, g, x: np.ndarray) -> tuple[Callable, np.ndarray]:
    """(f', ones) with <ones, f'(v)> = <g, f(v)> and f' of x's shape, for the checker, which
    wants a cotangent of the input's shape: f'(v) holds the products g_k f_k(v) (the terms whose
    size sets its rounding estimate), padded with zeros (a loss has no more outputs than
    inputs)."""
    g = np.asarray(g, np.float64)

    def folded(v: np.ndarray) -> np.ndarray:
        out = np.zeros(x.size)
        out[: g.size] = (g * np.asarray(f(v), np.float64)).ravel()
        return out.reshape(x.shape)

    return folded, np.ones(x.shape)
