"""Every loss and every loss gradient in float16 and bfloat16, on each backend that lists them.

The same properties as ``test_losses.py``'s ``test_loss_ulps`` and ``test_backward_ulps``
(ULPs against mpmath from the exact inputs the implementation holds, bounded by the function's
own sensitivity), with the tolerance table's low-precision row: ``1 + 4 u32 S / ulp(y)`` ULPs
of the float16/bfloat16 result, ``u32`` float32's unit roundoff. That admits a loss computed in
float32 and rounded once (half an ULP, plus what float32 loses where the loss is ill
conditioned) and rejects one computed in float16 or bfloat16 arithmetic, whose every
intermediate is rounded to 11 or 8 bits (a squared difference alone is then up to 1.5 ULPs
off). The reductions' sums are judged too: their sensitivity term grows with the number of
terms, in float32 units, so it does not admit float16 partial sums either.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .checks.rounding import LOW_PRECISION
from .implementations import PUBLIC_API
from .loss_cases import CASES, draw_g, ids
from .loss_properties import backward_ulps, loss_shape, loss_ulps

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = LOW_PRECISION


@pytest.mark.parametrize("case", CASES, ids=ids)
@given(data=st.data())
def test_low_precision_loss_ulps(impl, dtype, case, data):
    problem = data.draw(case.draw(dtype, False), label="problem")
    reduction = data.draw(st.sampled_from(case.reductions), label="reduction")
    loss_ulps(impl, case, dtype, problem, reduction)


@pytest.mark.parametrize("case", CASES, ids=ids)
@given(data=st.data())
def test_low_precision_backward_ulps(impl, dtype, case, data):
    problem = data.draw(case.draw(dtype, False), label="problem")
    reduction = data.draw(st.sampled_from(case.reductions), label="reduction")
    g = draw_g(data, loss_shape(case, problem, reduction), reduction)
    backward_ulps(impl, case, dtype, problem, reduction, g)
