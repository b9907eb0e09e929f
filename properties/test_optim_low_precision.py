"""Each optimizer step in float16 and bfloat16, on each backend that lists them.

The library (as torch.optim) computes a low-precision step in float32 and keeps the state in
the parameter's dtype. ``test_optim.py``'s step-by-step judge, from the reference's state
rounded to the dtype (params and every slot), runs here with the low-precision criterion of
its ``close_values``: the new params and every new slot must be the correct rounding to the
dtype of a value within the float32 bound of the float64 reference step
(:func:`properties.checks.rounding.rounds_once_within`). A step computed in float16 or
bfloat16 arithmetic (each moment's products and sums rounded to 11 or 8 bits; a squared
gradient that underflows to 0 and leaves m / (sqrt(v) + eps) huge) lands off that rounding.

Gradients are drawn over |g| in [2^-12, 64]: their squares reach float16's subnormals (where
an update divided by sqrt(v) depends on v having been computed in float32) and stay below its
largest value over a few steps (an accumulator that overflows is inf in both the reference's
rounded state and the step, and judges nothing).
"""

from __future__ import annotations

import pytest
from hypothesis import given

from .checks.rounding import LOW_PRECISION
from .implementations import PUBLIC_API
from .optim_cases import each_step_from_the_reference_state
from .optim_strategies import RULES, problems

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = LOW_PRECISION
LOW_PRECISION_GRADIENTS = (2.0**-12, 64.0)


@pytest.mark.parametrize("rule", RULES)
def test_low_precision_step_rounds_the_float32_step_once(impl, dtype, rule):

    @given(problems(rule, dtype, gradients=LOW_PRECISION_GRADIENTS))
    def check(problem):
        each_step_from_the_reference_state(impl.ops, impl, rule, problem, dtype)

    check()
