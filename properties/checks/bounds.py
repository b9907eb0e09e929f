"""Element-wise verdicts against a float64 reference: an absolute bound (:func:`within_elements`:
layer norm, linear, penalties, optimizers) or a relative one (:func:`close_elements`: losses,
batch norm). The properties assert them; the accuracy atlas (``properties.atlas``) tabulates
them.

Both hold the same rules for what is not a number: NaN only against NaN, an infinity only
against the same infinity, that of the reference as the dtype holds it (a relative bound sizes
itself by the finite values only; it would otherwise be infinite and pass any infinity), unless
the property's own bound is infinite (an ill-conditioned step it does not judge); and a result
equal to the reference, or to its rounding to the dtype, passes. In float16 and bfloat16
(computed in float32 and rounded once) a result must be the correct rounding of a value within
the float32 bound of the reference (:func:`~properties.checks.rounding.rounds_once_within`);
the bound and ``tiny`` (the smallest normal number: a subnormal result may be flushed to 0)
are the working precision's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .. import tolerances
from .rounding import round_to, rounds_once_within


class Verdict(NamedTuple):
    """A comparison per element: ``good`` where it passes, the absolute error, the absolute
    bound it was held to and the value it was compared with (arrays of the result's shape)."""

    good: np.ndarray
    err: np.ndarray
    bound: np.ndarray
    expected: np.ndarray


def within_elements(dtype: str, actual, expected, allowed) -> Verdict:
    """|actual - expected| <= allowed + tiny, elementwise. ``expected`` has ``actual``'s shape
    or is 0-d (a law's constant)."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    if expected.ndim and expected.shape != actual.shape:
        raise ValueError(f"expected has shape {expected.shape}, the result {actual.shape}")
    expected = np.broadcast_to(expected, actual.shape)
    tiny = float(np.finfo(tolerances.working_dtype(dtype)).tiny)
    with np.errstate(invalid="ignore"):
        err = np.abs(actual - expected)
        bound = np.broadcast_to(np.asarray(allowed, np.float64) + tiny, err.shape)
        good = _good(dtype, actual, expected, expected, err, bound)
    return Verdict(good, err, bound, expected)


def close_elements(
    dtype: str, actual, expected, rtol: float, terms=0.0, flushed: float = 1
) -> Verdict:
    """|actual - expected| <= rtol (max(|actual|, |expected|) + terms) + flushed * tiny,
    elementwise, with ``expected`` (a float64 value) first rounded to ``dtype`` (so an
    overflowing true value expects inf; the verdict's ``expected`` is that rounding);
    ``flushed`` counts the terms of a sum that may each have been flushed. |actual| and
    |expected| count where they are finite only: an infinity does not widen its own bound."""
    working = tolerances.working_dtype(dtype)
    actual = np.asarray(actual, np.float64)
    raw = np.asarray(expected, np.float64)
    with np.errstate(over="ignore"):
        rounded = round_to(raw, dtype) if working != dtype else raw.astype(dtype).astype(float)
    rounded = np.broadcast_to(rounded, actual.shape)
    tiny = float(np.finfo(working).tiny)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(actual - rounded)
        size = np.maximum(_finite(actual), _finite(rounded))
        bound = rtol * (size + terms) + flushed * tiny
        bound = np.broadcast_to(bound, err.shape)
        good = _good(dtype, actual, rounded, np.broadcast_to(raw, actual.shape), err, bound)
    return Verdict(good, err, bound, rounded)


def _good(dtype, actual, expected, raw, err, bound) -> np.ndarray:
    """The shared rules (module docstring): ``expected`` as the dtype holds it, ``raw`` the
    float64 reference (what a low-precision result must round from)."""
    if tolerances.working_dtype(dtype) != dtype:
        good = rounds_once_within(actual, raw, bound, dtype)
    else:
        good = err <= bound
    with np.errstate(over="ignore"):  # (the reference as the dtype holds it: inf past its range)
        if tolerances.working_dtype(dtype) != dtype:
            held = round_to(raw, dtype)
        else:
            held = np.asarray(raw).astype(dtype).astype(np.float64)
    good = good | (actual == expected) | (actual == held) | (np.isnan(actual) & np.isnan(expected))
    return np.asarray(good, bool)


def _finite(a: np.ndarray) -> np.ndarray:
    """|a| where finite, else 0: the sizes a relative bound scales with (an infinite result or
    reference would make it infinite and pass anything)."""
    return np.where(np.isfinite(a), np.abs(a), 0.0)


def assert_within(what: str, dtype: str, actual, expected, allowed) -> None:
    """:func:`within_elements` at every element, or an AssertionError naming the first failure."""
    actual = np.asarray(actual, np.float64)
    if np.ndim(expected) != 0:
        shape = np.shape(expected)
        assert actual.shape == shape, f"{what}: shape {actual.shape} != {shape}"
    require(what, dtype, actual, within_elements(dtype, actual, expected, allowed))


def assert_close(
    what: str, dtype: str, actual, expected, rtol: float, terms=0.0, flushed: float = 1
) -> None:
    """:func:`close_elements` at every element, or an AssertionError naming the first failure."""
    actual = np.asarray(actual, np.float64)
    shape = np.shape(expected)
    assert actual.shape == shape, f"{what}: shape {actual.shape} != {shape}"
    verdict = close_elements(dtype, actual, expected, rtol, terms, flushed)
    require(what, dtype, actual, verdict, lambda i: f", rtol {rtol:g}")


def require(
    what: str, dtype: str, actual: np.ndarray, v: Verdict, note: Callable[[int], str] | None = None
) -> None:
    """An AssertionError naming the first element ``v`` rejects (``note(i)`` appended to its
    bound, at flat index i), if any."""
    if not v.good.all():
        i = int(np.argmin(v.good.ravel()))
        raise AssertionError(
            f"{what} [{dtype}]: {int((~v.good).sum())} of {v.good.size} element(s) out of "
            f"bound; first at flat index {i}: expected {v.expected.ravel()[i]!r}, got "
            f"{actual.ravel()[i]!r}, abs error {v.err.ravel()[i]:.3g} (allowed "
            f"{v.bound.ravel()[i]:.3g}{note(i) if note else ''})"
        )
