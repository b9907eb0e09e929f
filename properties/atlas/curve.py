"""What the atlas measures, whatever the family: one implementation's errors on one
primitive, direction and dtype over a grid of inputs (:class:`Curve`), and the grid
(:func:`grid`)."""

from __future__ import annotations

import math
from typing import NamedTuple

import mpmath
import numpy as np

from ..cases import EDGE_POINTS
from ..checks import relative_errors


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
    # where the family's property rejects the output, where its criterion is not "errors over
    # allowed" (float16/bfloat16 against a float64 reference: rounds_once_within); None: that
    rejected: np.ndarray | None = None

    @property
    def over(self) -> np.ndarray:
        """Where the error exceeds the bound: inputs the accuracy properties reject."""
        return self.errors > self.allowed if self.rejected is None else self.rejected

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
    return distinct(np.concatenate([linear, magnitudes, -magnitudes, edges]))


def distinct(x: np.ndarray) -> np.ndarray:
    """The distinct values of ``x``, sorted, -0.0 and 0.0 both kept where present (np.unique
    holds them equal)."""
    values = np.unique(x)
    if (x == 0).any() and np.signbit(x[x == 0]).any() and (~np.signbit(x[x == 0])).any():
        at = int(np.searchsorted(values, 0.0))
        values = np.concatenate([values[:at], [-0.0], values[at:]])
        values[at + 1] = 0.0
    return values


def digits(ref) -> str:
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
