"""Batch norm, layer norm, linear and the penalties in float16 and bfloat16, on each backend
that lists them.

Each family's reference properties (those of ``test_batch_norm.py``, ``test_layer_norm.py``,
``test_linear.py``, ``test_penalties.py``, in ``properties.*_properties``: outputs, running
statistics and gradients against the float64 references on the exact inputs the implementation
holds) run here in the low precisions. Their bounds are computed with the working precision's
unit roundoff (float32, as the library and torch compute these dtypes), and the comparison
becomes "the correct rounding to the dtype of a value within that float32 bound of the
reference" (:func:`properties.checks.rounding.rounds_once_within`): a result computed in
float32 and rounded once passes; one whose sums, centring or products are rounded to 11 or 8
bits along the way does not.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import batch_norm_properties as BN
from . import layer_norm_properties as LN
from . import linear_properties as LIN
from . import penalty_properties as PEN
from .checks.rounding import LOW_PRECISION
from .implementations import PUBLIC_API
from .layer_properties import cotangents
from .penalty_cases import NAMES

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = LOW_PRECISION


@given(data=st.data())
def test_low_precision_batch_norm(impl, dtype, data):
    BN.batch_norm_matches_reference(impl, dtype, data.draw(BN.problems(dtype), label="problem"))


@given(data=st.data())
def test_low_precision_batch_norm_backward(impl, dtype, data):
    p = data.draw(BN.problems(dtype), label="problem")
    BN.backward_matches_reference(impl, dtype, p, BN.draw_g(data, p.x.shape))


@given(data=st.data())
def test_low_precision_layer_norm(impl, dtype, data):
    LN.forward_matches_reference(impl, dtype, data.draw(LN.problems(dtype), label="problem"))


@given(data=st.data())
def test_low_precision_layer_norm_backward(impl, dtype, data):
    p = data.draw(LN.problems(dtype), label="problem")
    LN.backward_matches_reference(impl, dtype, p, cotangents(data, p.x.shape))


@given(data=st.data())
def test_low_precision_linear(impl, dtype, data):
    LIN.forward_matches_reference(impl, dtype, data.draw(LIN.problems(dtype), label="problem"))


@given(data=st.data())
def test_low_precision_linear_backward(impl, dtype, data):
    p = data.draw(LIN.problems(dtype), label="problem")
    LIN.backward_matches_reference(impl, dtype, p, cotangents(data, LIN.output_shape(p)))


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_low_precision_penalty(impl, dtype, name, data):
    p = data.draw(PEN.problems(dtype), label="problem")
    PEN.forward_matches_reference(impl, name, dtype, p)


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_low_precision_penalty_backward(impl, dtype, name, data):
    p = data.draw(PEN.problems(dtype), label="problem")
    PEN.backward_matches_reference(impl, name, dtype, p, PEN.draw_grad_output(data))
