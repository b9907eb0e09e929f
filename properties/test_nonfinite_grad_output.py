"""NaN and infinite incoming gradients through every activation's backward, on every
implementation and dtype: a NaN gives NaN whatever x (never quietly a number, relu' = 0
included), an infinity gives the infinity of sign g f'(x) (NaN where f'(x) = 0 exactly), and
neither spreads to the other elements. The accuracy tests draw finite grad_output only, so a
backward that zeroes, clips or drops a non-finite gradient passed them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import activation_checks as checks
from . import strategies as S
from .cases import ELEMENTWISE, ROWS

ids = [c.id for c in ELEMENTWISE]
N = 16  # one jax compilation per (case, dtype), as the accuracy tests


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
@given(data=st.data())
def test_nan_and_inf_grad_output(impl, dtype, case, data):
    x = data.draw(S.arrays(dtype, N, S.finite_x(dtype)), label="x")
    g = data.draw(S.arrays(dtype, N, S.grad_outputs(dtype)), label="grad_output")
    checks.nonfinite_grad_output(impl, case, dtype, g, x)


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
def test_nan_and_inf_grad_output_at_fixed_points(impl, dtype, case):
    """x where f' is 0, tiny, negative and positive, each with g NaN, inf, -inf and 1."""
    x = np.repeat([-30.0, -1.0, -0.0, 0.0, 0.5, 3.0, 40.0], 4)
    g = np.resize([np.nan, np.inf, -np.inf, 1.0], x.shape)
    checks.nonfinite_grad_output(impl, case, dtype, g, x)


@pytest.mark.parametrize("name", ROWS)
@given(data=st.data())
def test_row_function_nan_and_inf_grad_output(impl, dtype, name, data):
    """Rows of 5: the first with a NaN, the second with an infinity, the third finite."""
    x = data.draw(S.arrays(dtype, (3, 5), S.values(dtype, -1e3, 1e3)), label="x")
    g = data.draw(S.arrays(dtype, (3, 5), S.values(dtype, -4.0, 4.0)), label="grad_output")
    j, k = (
        data.draw(st.integers(0, 4), label="nan at"),
        data.draw(st.integers(0, 4), label="inf at"),
    )
    g[0, j] = np.nan
    g[1, k] = data.draw(st.sampled_from([np.inf, -np.inf]), label="infinity")
    checks.row_nonfinite_grad_output(impl, name, dtype, x, g)
