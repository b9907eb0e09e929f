"""What a reduced loss is: one type on every backend (a 0-d array of the prediction's library,
never a NumPy scalar type for some losses and a 0-d array for others), with the prediction's
dtype; the penalties likewise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import primitives as P

from . import loss_properties
from .implementations import Implementation
from .loss_cases import CASES, Run, reference, reference_grad

# the loss family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = loss_properties.IMPLEMENTATION_KINDS
DTYPES = loss_properties.DTYPES


def _array_type(impl: Implementation, dtype: str) -> type:
    return type(impl.array(np.zeros(2), dtype))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@settings(max_examples=3)
@given(data=st.data())
def test_reduced_loss_is_a_0d_array_of_the_backend(impl, dtype, case, data):
    run = Run(impl, case, data.draw(case.draw(dtype, True)), dtype)
    for reduction in case.reductions:
        if reduction == "none":
            continue
        out = run.forward(reduction)
        assert type(out) is _array_type(impl, dtype), (case.id, reduction, type(out))
        assert tuple(out.shape) == () and str(out.dtype).endswith(dtype), (case.id, out.dtype)


@pytest.mark.parametrize("name", ["l1_penalty", "l2_penalty"])
def test_penalty_is_a_0d_array_of_the_backend(impl, dtype, name):
    x = impl.array(np.linspace(-1.0, 1.0, 6), dtype)
    for params in (x, {"a": x, "b": x}):
        out = getattr(P, name)(params, 0.5)
        assert type(out) is _array_type(impl, dtype), (name, type(out))
        assert tuple(out.shape) == (), name


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@settings(max_examples=5)
@given(data=st.data())
def test_nan_prediction_gives_nan_exactly_where_the_reference_does(impl, dtype, case, data):
    """A NaN in a prediction is never turned into a number: the unreduced loss and the
    gradient are NaN exactly where the float64 reference's are (ignored rows and padded
    tokens stay finite there too)."""
    problem = data.draw(case.draw(dtype, True))
    preds = list(problem.arrays)
    first = preds[0].copy()
    first.flat[data.draw(st.integers(0, first.size - 1), label="nan at")] = np.nan
    preds[0] = first
    problem = problem._replace(arrays=tuple(preds))
    run = Run(impl, case, problem, dtype)
    reduction = "none" if "none" in case.reductions else case.reductions[0]
    expected = reference(case, run.seen, reduction)
    actual = impl.numpy(run.forward(reduction))
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), (case.id, actual, expected)
    g = np.ones(np.shape(expected))
    expected_grad = reference_grad(case, g, run.seen, reduction)
    for a, e in zip(run.backward(reduction, g), expected_grad, strict=True):
        a = impl.numpy(a)
        assert np.array_equal(np.isnan(a), np.isnan(e)), (case.id, a, e)
