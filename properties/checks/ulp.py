"""Error in units in the last place (ULPs), measured against an exact (mpmath) reference.

    ulp_T(y) = 2^(max(floor(log2 |y|), emin) - p + 1)

with (p, emin) per format: float64 (53, -1022), float32 (24, -126), float16 (11, -14),
bfloat16 (8, -126). floor(log2 |y|) is read exactly from mpmath's frexp, so exact powers of two
are right. error = |out - y| / ulp_T(y), computed exactly in mpmath. A NaN is right only where
the reference is NaN; an infinity only where the reference is the same infinity or rounds to
it; a finite output where the reference is infinite (or vice versa) is an infinite error.
Signed zeros compare equal (mpmath has no negative zero).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import mpmath
import numpy as np
from mpmath import mpf

from .. import tolerances


class Format(NamedTuple):
    precision: int  # significand bits p, the implicit bit included
    emin: int

    @property
    def unit_roundoff(self) -> mpf:
        return mpf(2) ** -self.precision

    @property
    def max_finite(self) -> mpf:
        emax = 1 - self.emin
        return (2 - mpf(2) ** (1 - self.precision)) * mpf(2) ** emax


# Every measurement runs at this precision, whatever mpmath's global setting: 256 bits hold any
# float64 difference exactly.
_PREC = 256

FORMATS: dict[str, Format] = {
    "float64": Format(53, -1022),
    "float32": Format(24, -126),
    "float16": Format(11, -14),
    "bfloat16": Format(8, -126),
}


def ulp(y, dtype: str) -> mpf:
    """The spacing of ``dtype`` numbers at the exact (finite) value ``y`` (subnormal spacing
    near 0)."""
    fmt = FORMATS[dtype]
    if not isinstance(y, mpf):
        with mpmath.workprec(_PREC):
            y = mpf(y)
    man, exp = y.man_exp  # y = man 2^exp exactly, so floor(log2 |y|) = exp + bits(man) - 1
    exponent = fmt.emin if man == 0 else max(exp + abs(man).bit_length() - 1, fmt.emin)
    return mpf((1, exponent - fmt.precision + 1))  # 2^(exponent - p + 1), exactly


@functools.cache
def _overflow(dtype: str) -> mpf:
    """The magnitude from which a value rounds to infinity in ``dtype``."""
    fmt = FORMATS[dtype]
    with mpmath.workprec(_PREC):
        return fmt.max_finite + ulp(fmt.max_finite, dtype) / 2


def ulp_error(out: float, ref, dtype: str) -> float:
    """|out - ref| in ULPs of ``dtype`` at ``ref`` (0.0 when both are the same NaN/inf)."""
    with mpmath.workprec(_PREC):
        return _ulp_error(out, mpf(ref), dtype)


def _ulp_error(out: float, ref, dtype: str) -> float:
    out_nan, ref_nan = math.isnan(out), mpmath.isnan(ref)
    if out_nan or ref_nan:
        return 0.0 if out_nan and ref_nan else math.inf
    if mpmath.isinf(ref) or abs(ref) >= _overflow(dtype):  # (rounds to inf from there on)
        return 0.0 if math.isinf(out) and (out > 0) == (ref > 0) else math.inf
    if math.isinf(out):
        return math.inf
    return float(min(abs(mpf(out) - ref) / ulp(ref, dtype), mpf(1e300)))


def _fmt(v) -> str:
    return mpmath.nstr(v, 10) if isinstance(v, mpmath.mpf) else repr(v)


class UlpReport(NamedTuple):
    """Result of :func:`check_ulps`: ``ok`` and a message naming the worst element."""

    ok: bool
    worst_index: tuple[int, ...]
    worst_ulps: float
    allowed_ulps: float
    message: str


def check_ulps(
    label: str,
    dtype: str,
    out: np.ndarray,
    ref: Sequence,
    inputs: Mapping[str, np.ndarray],
    sensitivity: Sequence | None = None,
    tolerance: tolerances.UlpTolerance | None = None,
    zero_below: Sequence[float] | None = None,
    alternative: Sequence | None = None,
    abs_floor: Sequence[float] | None = None,
) -> UlpReport:
    """Compare ``out`` (any shape) with exact references ``ref`` (flat, C order) in ULPs.

    The bound per element is the tolerance table's (:mod:`properties.tolerances`):
    ``ulps + condition_ulps * u * sensitivity / ulp(ref)``. ``inputs`` are shown in the
    message at the worst index (each array has the shape of ``out``). ``zero_below``: per
    element, a magnitude below which an output of exactly 0 is accepted (for arithmetic that
    flushes subnormals to zero). ``alternative``: a second exact reference per element (the
    result for flushed inputs); an element passes if it is close to either. ``abs_floor``: per
    element, an absolute error accepted whatever the output (arithmetic that flushes a
    subnormal intermediate, such as exp(-88) in float32, which a later factor scales up).
    """
    with mpmath.workprec(_PREC):
        return _check_ulps(
            label,
            dtype,
            out,
            ref,
            inputs,
            sensitivity,
            tolerance,
            zero_below,
            alternative,
            abs_floor,
        )


class UlpErrors(NamedTuple):
    """Per element (flat, C order): the error in ULPs and the bound it is held to."""

    errors: np.ndarray
    allowed: np.ndarray


def ulps_between(actual, expected, dtype: str) -> np.ndarray:
    """|actual - expected| in ULPs of ``dtype`` at ``expected`` (:func:`ulp`'s spacing,
    vectorized, for float64 references): 0 where both are NaN or the same infinity, or equal;
    inf where only one is NaN or infinite. The atlas uses it for the families judged against a
    float64 reference with an absolute bound (``allowed / spacing`` is that bound in ULPs)."""
    a = np.asarray(actual, np.float64)
    e = np.asarray(expected, np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(a - e) / spacing(e, dtype)
        same = (a == e) | (np.isnan(a) & np.isnan(e))
        err = np.where(same, 0.0, np.where(np.isfinite(a) & np.isfinite(e), err, np.inf))
    return np.minimum(np.nan_to_num(err, nan=np.inf), 1e300)


def spacing(y, dtype: str) -> np.ndarray:
    """:func:`ulp` of float64 values, vectorized: 2^(max(floor(log2 |y|), emin) - p + 1)
    (1 where y is not finite)."""
    fmt = FORMATS[dtype]
    y = np.asarray(y, np.float64)
    _, e = np.frexp(np.where(np.isfinite(y), y, 1.0))  # |y| = m 2^e, 0.5 <= m < 1
    exponent = np.where(y == 0, fmt.emin, np.maximum(e - 1, fmt.emin))
    return np.ldexp(1.0, exponent - fmt.precision + 1)


def ulp_errors(
    dtype: str,
    out: np.ndarray,
    ref: Sequence,
    sensitivity: Sequence | None = None,
    tolerance: tolerances.UlpTolerance | None = None,
    zero_below: Sequence[float] | None = None,
    alternative: Sequence | None = None,
    abs_floor: Sequence[float] | None = None,
) -> UlpErrors:
    """Every element's ULP error and its bound, as :func:`check_ulps` judges them (the same
    arguments); the accuracy atlas (``properties.atlas``) tabulates them. An error may be
    infinite (a wrong infinity or NaN); a bound is capped at 1e300."""
    with mpmath.workprec(_PREC):
        return _ulp_errors(
            dtype, out, ref, sensitivity, tolerance, zero_below, alternative, abs_floor
        )


def _ulp_errors(dtype, out, ref, sensitivity, tolerance, zero_below, alternative, abs_floor):
    tol = tolerance or tolerances.ULP[dtype]
    u = FORMATS[tolerances.working_dtype(dtype)].unit_roundoff
    flat = np.asarray(out, dtype=np.float64).ravel()
    errors = np.empty(flat.size)
    bounds = np.empty(flat.size)
    ulps = mpf(tol.ulps)
    cap = mpf(1e300)
    for i, (o, y) in enumerate(zip(flat.tolist(), ref, strict=True)):
        y = mpf(y)
        err = _ulp_error(o, y, dtype)
        if alternative is not None:
            y_alt = mpf(alternative[i])
            err_alt = _ulp_error(o, y_alt, dtype)
            if err_alt < err:
                err, y = err_alt, y_alt
        if zero_below is not None and o == 0 and abs(y) < zero_below[i]:
            err = 0.0
        if abs_floor is not None and math.isfinite(o) and abs(mpf(o) - y) <= abs_floor[i]:
            err = 0.0
        allowed = ulps
        if sensitivity is not None and tol.condition_ulps and mpmath.isfinite(y):
            allowed = ulps + tol.condition_ulps * u * mpf(sensitivity[i]) / ulp(y, dtype)
        errors[i] = err
        bounds[i] = float(min(allowed, cap))
    return UlpErrors(errors, bounds)


class Judged(NamedTuple):
    """One call measured against mpmath: what :func:`check_ulps` compares (the accuracy
    properties judge its :meth:`report`; the accuracy atlas, ``properties.atlas``, tabulates
    its :meth:`errors`)."""

    label: str
    dtype: str
    got: np.ndarray
    refs: list
    inputs: dict
    sensitivity: list
    zero_below: list | None = None
    alternative: list | None = None
    abs_floor: list | None = None

    def report(self) -> UlpReport:
        return check_ulps(
            self.label,
            self.dtype,
            self.got,
            self.refs,
            self.inputs,
            self.sensitivity,
            zero_below=self.zero_below,
            alternative=self.alternative,
            abs_floor=self.abs_floor,
        )

    def errors(self) -> UlpErrors:
        return ulp_errors(
            self.dtype,
            self.got,
            self.refs,
            self.sensitivity,
            zero_below=self.zero_below,
            alternative=self.alternative,
            abs_floor=self.abs_floor,
        )


def relative_errors(errors: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Each error over its bound (:func:`ulp_errors`): 0 where the error is 0, at most 1e300
    (an infinite error, or an undefined ratio); above 1 is a failure."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratios = np.where(errors != 0, np.minimum(errors / allowed, 1e300), 0.0)
    return np.nan_to_num(ratios, nan=1e300)


def _check_ulps(
    label, dtype, out, ref, inputs, sensitivity, tolerance, zero_below, alternative, abs_floor
):
    errors, bounds = _ulp_errors(
        dtype, out, ref, sensitivity, tolerance, zero_below, alternative, abs_floor
    )
    flat = np.asarray(out, dtype=np.float64).ravel()
    ratios = relative_errors(errors, bounds)
    worst = int(np.argmax(ratios))
    worst_ratio, worst_err, worst_allowed = (float(a[worst]) for a in (ratios, errors, bounds))
    index = np.unravel_index(worst, np.shape(out)) if np.ndim(out) else ()
    index = tuple(int(i) for i in index)
    o, y = flat[worst], mpf(ref[worst])
    shown = ", ".join(
        f"{k}={np.asarray(v, dtype=np.float64).ravel()[worst]!r}" for k, v in inputs.items()
    )
    abs_err = abs(mpf(o) - y) if math.isfinite(o) and mpmath.isfinite(y) else math.inf
    rel_err = abs_err / abs(y) if y != 0 and abs_err != math.inf else abs_err
    ok = worst_ratio <= 1.0
    message = (
        f"{label} [{dtype}]: {'within' if ok else 'exceeds'} the ULP bound; worst element "
        f"index {index}: {shown}; expected {_fmt(y)}, got {o!r}; abs error {_fmt(abs_err)}, "
        f"rel error {_fmt(rel_err)}, {worst_err:.4g} ULPs (allowed {worst_allowed:.4g})"
    )
    return UlpReport(ok, index, worst_err, worst_allowed, message)
