"""What the layer families' properties share (layer norm, the linear layer, the penalties, and
early stopping's collection filter): the implementations and dtypes they judge, the finite
values their problems are drawn from, and the cotangents of their backward properties.

The comparison and the helpers they also share (``unit``, ``gamma``, ``within``,
``backend_arrays``) are in :mod:`properties.layer_norm_cases`, shared with the accuracy atlas.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from . import strategies as S
from .implementations import PUBLIC_API

DTYPES = ("float32", "float64")
# judged through the public API (torch's native kernels included; the frameworks' own layers
# are measured by the atlas and compared in test_framework_tables.py),
# in float32 and float64 (float16/bfloat16 run, computed in float32, but are not judged)
IMPLEMENTATION_KINDS = PUBLIC_API


def finite_values(dtype: str, lo: float, hi: float):
    """Finite floats of ``dtype`` in [lo, hi], with magnitudes below 1e-3 replaced by exact
    zeros: no products in the underflow range, where XLA flushes subnormal results to zero and
    implementations legitimately differ by the smallest normal number (these layers are judged
    on their arithmetic, not on gradual underflow)."""
    width = 32 if dtype == "float32" else 64
    return st.floats(lo, hi, width=width).map(lambda v: 0.0 if abs(v) < 1e-3 else v)


def cotangents(data, shape) -> np.ndarray:
    values = st.floats(-2, 2).map(lambda v: 0.0 if abs(v) < 1e-3 else v)
    return data.draw(S.arrays("float64", shape, values), label="g")
