"""Hypothesis strategies for the suite's inputs.

Contracts:

* :func:`values` draws floats exactly representable in ``dtype`` (bfloat16 values are drawn as
  float32 and rounded by the backend; tests always read the input back from the backend array,
  so references see the exact value that was computed on).
* :func:`off_kinks` keeps every value at least ``1e-3 max(1, |k|)`` away from each kink ``k``
  by construction (u -> k + sign(u) (margin + |u|)), never by filtering.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from .checks import FORMATS

_WIDTH = {"float16": 16, "bfloat16": 32, "float32": 32, "float64": 64}
_NUMPY_DTYPE = {
    "float16": np.float16,
    "bfloat16": np.float32,
    "float32": np.float32,
    "float64": np.float64,
}


# bfloat16 is drawn as float32; float32 values above its largest finite value (but below
# float32's) would round to an infinity in the backend's bfloat16 array
_LARGEST = {"bfloat16": float(np.float32(np.uint32(0x7F7F0000).view(np.float32)))}


def values(dtype: str, min_value: float | None = None, max_value: float | None = None):
    """Finite floats of ``dtype`` (subnormals and signed zeros included): finite also once a
    backend rounds them to ``dtype`` (bfloat16's range is bounded by its largest finite
    value, 3.3895e38)."""
    largest = _LARGEST.get(dtype)
    if largest is not None:
        min_value = -largest if min_value is None else max(min_value, -largest)
        max_value = largest if max_value is None else min(max_value, largest)
    return st.floats(
        min_value=min_value,
        max_value=max_value,
        width=_WIDTH[dtype],
        allow_nan=False,
        allow_infinity=False,
    )


def arrays(dtype: str, shape, elements=None):
    """numpy arrays (float64 holding values of ``dtype``) of the given shape."""
    return hnp.arrays(
        _NUMPY_DTYPE[dtype], shape, elements=elements if elements is not None else values(dtype)
    ).map(lambda a: a.astype(np.float64))


def off_kinks(kinks: tuple[float, ...], radius: float = 30.0):
    """float64 values in about [-radius, radius] (around each kink) that keep off the kinks."""
    if not kinks:
        return st.floats(-radius, radius, allow_nan=False)
    anchors = st.sampled_from(kinks)
    offsets = st.floats(-radius, radius, allow_nan=False)

    def place(k: float, u: float) -> float:
        margin = 1e-3 * max(1.0, abs(k))
        return k + float(np.copysign(margin + abs(u), u))

    return st.builds(place, anchors, offsets)


def magnitudes(lo: float, hi: float):
    """A parameter over its domain: log-uniform in [lo, hi], rounded to 6 significant digits
    (not to a few decimals: a kernel that rounds the parameter must not be handed values it
    keeps exactly)."""
    return st.floats(math.log10(lo), math.log10(hi)).map(lambda e: float(f"{10.0**e:.6g}"))


def fractions():
    """A parameter in [0, 1] (momentum, label smoothing): its ends, or uniform rounded to 6
    significant digits."""
    return st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0).map(lambda f: float(f"{f:.6g}"))


def finite_x(dtype: str) -> st.SearchStrategy:
    """Finite x over the dtype's range, subnormals as 0 (a flushing backend's f'(tiny) would
    otherwise be f'(0): relu's 1 against 0 decides between inf and NaN)."""
    tiny = 2.0 ** FORMATS[dtype].emin
    return values(dtype).map(lambda v: 0.0 if abs(v) < tiny else v)


def grad_outputs(dtype: str) -> st.SearchStrategy:
    """Finite values in [-4, 4] mixed with NaN and both infinities."""
    return values(dtype, -4.0, 4.0) | st.sampled_from([np.nan, np.inf, -np.inf])
