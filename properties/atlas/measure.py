"""The atlas's measurements: every activation and row function, forward and backward, on every
implementation and dtype, over a dense grid of inputs, in ULPs against the suite's mpmath
references and with the suite's bounds.

The comparison is the suite's own (:mod:`properties.activation_checks`: the same references,
sensitivities and model of a backend that flushes subnormals; :func:`properties.checks.ulp_errors`
is :func:`properties.checks.check_ulps` per element), so a point over its bound is a point the
accuracy properties reject.

Inputs (:func:`grid`): evenly spaced over [-40, 40] (where the activations bend, and their tails
start), logarithmically spaced magnitudes of both signs from 1e-40 to 1e308 (subnormals, the
far tails, overflow), and the suite's edge points (``properties.cases.EDGE_POINTS``: the
framework kernels' known weak spots), each rounded to the dtype judged. A backward is judged
at ``grad_output = 1`` (so its error is f'(x)'s). The row functions take rows ``[x, 0]``; their
backward takes ``grad_output = [1, 0]``, the one-hot gradient of cross-entropy, whose ``1 - p``
at confident rows is where subtraction fails.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import mpmath
import numpy as np

from .. import activation_checks
from ..cases import EDGE_POINTS, ELEMENTWISE, ROWS
from ..checks import relative_errors
from ..implementations import (
    DEFAULT_DEVICE,
    Implementation,
    default_ids,
    installed,
    resolve,
)

ROW_PRIMITIVES = tuple(ROWS)
PRIMITIVES = tuple(c.id for c in ELEMENTWISE) + ROW_PRIMITIVES
"""Every primitive the atlas measures, by the suite's case ids (``gelu(none)``,
``softplus(2.0,5.0)``, ``softmax``, ...)."""

DIRECTIONS = ("forward", "backward")


class Curve(NamedTuple):
    """One implementation's errors on one primitive, direction and dtype, over the grid."""

    impl: str
    primitive: str
    direction: str
    dtype: str
    x: np.ndarray  # the inputs as the dtype holds them (the row's first entry for rows)
    # ULPs; inf for a wrong NaN or infinity. A row's: that of its entry with the largest error
    # relative to its bound (so a larger error under a looser bound may go unshown)
    errors: np.ndarray
    allowed: np.ndarray  # the suite's bound at each point (a row: at that entry)
    refs: tuple[str, ...]  # the mpmath reference at each point (10 digits), for the report
    got: np.ndarray  # the implementation's output at each point (a row: at its worst entry)

    @property
    def over(self) -> np.ndarray:
        """Where the error exceeds the bound: inputs the accuracy properties reject."""
        return self.errors > self.allowed

    @property
    def finite(self) -> np.ndarray:
        return np.isfinite(self.x)

    @property
    def max(self) -> float:
        """The largest error at a finite input (infinite inputs: :attr:`failing_infinities`)."""
        e = self.errors[self.finite]
        return float(e.max()) if e.size else 0.0

    @property
    def median(self) -> float:
        e = self.errors[self.finite]
        return float(np.median(e)) if e.size else 0.0

    @property
    def worst(self) -> int:
        """The finite input with the largest error relative to its bound (its index)."""
        ratio = np.where(self.finite, relative_errors(self.errors, self.allowed), -1.0)
        return int(np.argmax(ratio))

    @property
    def failing_infinities(self) -> list[tuple[float, str]]:
        """(x, the output's repr) at each infinite input whose output is over the bound."""
        at = np.flatnonzero(~self.finite & self.over)
        return sorted({(float(self.x[i]), repr(float(self.got[i]))) for i in at})


def grid(points: int = 1200) -> np.ndarray:
    """The float64 inputs (sorted, distinct, -0.0 and 0.0 both, finite and infinite, no NaN):
    ``points // 2`` evenly over [-40, 40], ``points // 4`` magnitudes of each sign from 1e-40
    to 1e308, the edge points."""
    linear = np.linspace(-40.0, 40.0, max(points // 2, 2))
    magnitudes = np.logspace(-40.0, 308.0, max(points // 4, 2))
    edges = np.array([v for v in EDGE_POINTS if not math.isnan(v)])
    return _distinct(np.concatenate([linear, magnitudes, -magnitudes, edges]))


def implementation_ids(backends: Sequence[str] = ()) -> list[str]:
    """The built-in implementations whose framework is installed, then ``backends`` (module
    paths of third-party backends, or built-in ids)."""
    ids = [i for i, fw in default_ids() if fw is None or installed(fw)]
    return ids + [b for b in backends if b not in ids]


def measure(
    primitive: str,
    impl_ids: Sequence[str],
    dtypes: Sequence[str] | None = None,
    points: int = 1200,
    device: str = DEFAULT_DEVICE,
) -> list[Curve]:
    """Every curve of one primitive (forward and backward) on each implementation, in each of
    its dtypes (those in ``dtypes`` only, where given)."""
    x64 = grid(points)
    curves = []
    for impl_id in impl_ids:
        impl = resolve(impl_id, device)
        for dtype in impl.dtypes:
            if dtypes is not None and dtype not in dtypes:
                continue
            for direction in DIRECTIONS:
                curves.append(_curve(impl, primitive, direction, dtype, x64))
    return curves


def _curve(
    impl: Implementation, primitive: str, direction: str, dtype: str, x64: np.ndarray
) -> Curve:
    with np.errstate(over="ignore"):  # (the grid beyond the dtype's range: its infinities)
        x64 = _distinct(impl.numpy(impl.array(x64, dtype)))  # the grid as the dtype holds it
    if primitive in ROW_PRIMITIVES:
        rows = np.stack([x64, np.zeros_like(x64)], axis=-1)
        g = np.zeros_like(rows)
        g[:, 0] = 1.0
        judged = activation_checks.row_judged(
            impl, primitive, dtype, rows, g if direction == "backward" else None
        )
        x = judged.inputs["x"][:, 0]
    else:
        case = next(c for c in ELEMENTWISE if c.id == primitive)
        if direction == "forward":
            judged = activation_checks.forward_judged(impl, case, dtype, x64)
        else:
            judged = activation_checks.backward_judged(impl, case, dtype, np.ones_like(x64), x64)
        x = judged.inputs["x"].ravel()
    errors, allowed = judged.errors()
    got = np.asarray(judged.got, dtype=np.float64).ravel()
    refs = [_digits(r) for r in judged.refs]
    if primitive in ROW_PRIMITIVES:  # each row's worst entry
        n = 2
        ratio = relative_errors(errors, allowed).reshape(-1, n)
        at = np.arange(ratio.shape[0]) * n + np.argmax(ratio, axis=1)
        errors, allowed, got = errors[at], allowed[at], got[at]
        refs = [refs[i] for i in at]
    return Curve(impl.id, primitive, direction, dtype, x, errors, allowed, tuple(refs), got)


def _distinct(x: np.ndarray) -> np.ndarray:
    """The distinct values of ``x``, sorted, -0.0 and 0.0 both kept where present (np.unique
    holds them equal)."""
    values = np.unique(x)
    if (x == 0).any() and np.signbit(x[x == 0]).any() and (~np.signbit(x[x == 0])).any():
        at = int(np.searchsorted(values, 0.0))
        values = np.concatenate([values[:at], [-0.0], values[at:]])
        values[at + 1] = 0.0
    return values


def _digits(ref) -> str:
    """A reference to 10 digits; one far beyond any float format (the limits at +-1e400 that
    stand for infinite inputs) by its side of 2^+-4096, since writing such an exponent in
    decimal takes mpmath seconds."""
    if not mpmath.isfinite(ref) or ref == 0:
        return mpmath.nstr(ref, 10)
    man, exp = ref.man_exp
    magnitude = exp + abs(man).bit_length()
    if abs(magnitude) > 4096:
        sign = "-" if ref < 0 else ""
        return f"{sign}2^-(more than 4096)" if magnitude < 0 else f"{sign}2^(more than 4096)"
    return mpmath.nstr(ref, 10)
