"""Accuracy: every activation and derivative, every implementation and dtype, in ULPs against
mpmath, on Hypothesis-drawn inputs over the whole finite range and on a fixed set of edge
points (tails where frameworks slip, extremes, signed zeros, infinities, NaN)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import activation_checks as checks
from . import strategies as S
from .cases import EDGE_POINTS, ELEMENTWISE, ROWS

ids = [c.id for c in ELEMENTWISE]
N = 16  # a fixed length: one jax compilation per (case, dtype)


def _representable(points: list[float], dtype: str) -> np.ndarray:
    """The edge points that are finite in ``dtype`` (or deliberately inf/NaN)."""
    big = {"float16": 6e4, "bfloat16": 3e38, "float32": 3e38, "float64": 1.7e308}[dtype]
    keep = [p for p in points if not np.isfinite(p) or abs(p) <= big]
    return np.array(keep, dtype=np.float64)


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
def test_forward_ulps_at_edge_points(impl, dtype, case):
    checks.forward_ulps(impl, case, dtype, _representable(EDGE_POINTS, dtype))


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
def test_backward_ulps_at_edge_points(impl, dtype, case):
    x = _representable(EDGE_POINTS, dtype)
    g = np.resize([1.0, -0.5, 2.0, 0.75], x.shape)
    checks.backward_ulps(impl, case, dtype, g, x)


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
@given(data=st.data())
def test_forward_ulps(impl, dtype, case, data):
    x = data.draw(S.arrays(dtype, N), label="x")
    checks.forward_ulps(impl, case, dtype, x)


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
@given(data=st.data())
def test_backward_ulps(impl, dtype, case, data):
    x = data.draw(S.arrays(dtype, N), label="x")
    g = data.draw(S.arrays(dtype, N, S.values(dtype, -4.0, 4.0)), label="grad_output")
    checks.backward_ulps(impl, case, dtype, g, x)


@pytest.mark.parametrize("name", ROWS)
@given(data=st.data())
def test_row_function_ulps(impl, dtype, name, data):
    x = data.draw(S.arrays(dtype, (2, 5), S.values(dtype, -1e3, 1e3)), label="x")
    checks.row_ulps(impl, name, dtype, x, None)


@pytest.mark.parametrize("name", ROWS)
@given(data=st.data())
def test_row_function_backward_ulps(impl, dtype, name, data):
    x = data.draw(S.arrays(dtype, (2, 5), S.values(dtype, -1e3, 1e3)), label="x")
    g = data.draw(S.arrays(dtype, (2, 5), S.values(dtype, -4.0, 4.0)), label="grad_output")
    checks.row_ulps(impl, name, dtype, x, g)


@pytest.mark.parametrize("name", ROWS)
@pytest.mark.parametrize("n", [1000, 2048, 8192])
def test_long_rows_of_alike_entries(impl, dtype, name, n):
    """A row of n - 1 zeros and one 3, forward and backward: a sum of many alike terms, which
    a running sum per vector lane (torch's fused softmax kernels, XLA's reductions) rounds
    the same way each time: torch.softmax is 100 ULPs off at 8192 entries in float32."""
    x = np.zeros((1, n))
    x[0, 7] = 3.0
    g = np.resize(np.array([1.0, -0.5, 0.25, 2.0]), (1, n))
    checks.row_ulps(impl, name, dtype, x, None, closed_form=True)
    checks.row_ulps(impl, name, dtype, x, g, closed_form=True)


ROW_EDGES = np.array(
    [
        [1e4, -1e4, 0.0, 1.0, 2.0],
        [-1e4, -1e4, -1e4, -1e4, -1e4],  # all equal: uniform
        [np.inf, 0.0, np.inf, -np.inf, 5.0],  # +inf entries share the mass
        [-np.inf, -np.inf, -np.inf, -np.inf, -np.inf],  # all -inf: uniform
        [-np.inf, 0.0, 1.0, -np.inf, 3.0],
        [np.nan, 0.0, 1.0, 2.0, 3.0],  # NaN poisons its row only
    ]
)


@pytest.mark.parametrize("name", ROWS)
def test_row_function_ulps_at_edge_rows(impl, dtype, name):
    x = ROW_EDGES if dtype not in ("float16",) else np.clip(ROW_EDGES, -6e4, 6e4)
    checks.row_ulps(impl, name, dtype, x, None)
