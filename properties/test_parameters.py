"""The parametrized activations with their parameters drawn over the whole documented domain,
on every implementation and dtype, in ULPs against mpmath.

The other tests use a few fixed parameters (leaky_relu's slope 0.01 and 0.2, elu's alpha 1
and 0.5, softplus's (beta, threshold) (1, 20), (2, 5), (1, inf)), so a kernel that rounds,
truncates or ignores a parameter elsewhere in its domain passed them. Domains (the public
functions' checks): leaky_relu's ``negative_slope`` and elu's ``alpha`` any finite number;
softplus's ``beta`` > 0 and ``threshold`` > -inf (inf: no threshold).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from . import activation_checks as checks
from . import strategies as S
from .cases import ActivationCase

N = 8


def _signed(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.builds(lambda s, m: s * m, st.sampled_from([1.0, -1.0]), S.magnitudes(lo, hi))


@st.composite
def cases(draw, name: str) -> ActivationCase:
    if name == "leaky_relu":
        return ActivationCase(name, (draw(_signed(1e-4, 1e2) | st.just(0.0)),), (0.0,))
    if name == "elu":
        return ActivationCase(name, (draw(_signed(1e-3, 1e2) | st.just(0.0)),), (0.0,))
    beta = draw(S.magnitudes(1e-2, 1e2))
    # thresholds on a grid of 1/64 (representable in every dtype): the library compares beta x
    # with the threshold rounded to x's dtype, so a threshold between two representable values
    # (-1e-269 in float32) picks the other branch at beta x = its rounding (a known limit)
    threshold = draw(st.integers(-30 * 64, 30 * 64).map(lambda k: k / 64) | st.just(math.inf))
    kink = threshold / beta
    return ActivationCase(name, (beta, threshold), (kink,) if math.isfinite(kink) else ())


@pytest.mark.parametrize("name", ["leaky_relu", "elu", "softplus"])
@settings(max_examples=6)  # jax compiles each drawn parameter anew
@given(data=st.data())
def test_parameters_over_their_domain(impl, dtype, name, data):
    case = data.draw(cases(name), label="case")
    x = data.draw(S.arrays(dtype, N, S.values(dtype, -1e4, 1e4)), label="x")
    g = data.draw(S.arrays(dtype, N, S.values(dtype, -4.0, 4.0)), label="grad_output")
    checks.forward_ulps(impl, case, dtype, x)
    checks.backward_ulps(impl, case, dtype, g, x)


def test_a_kernel_that_rounds_its_parameter_is_rejected():
    """leaky_relu with the slope rounded to 2 decimals: right at 0.01 and 0.2, the fixed
    parameters of the other tests; wrong at a drawn slope."""
    from types import SimpleNamespace

    import primitives as P

    from .implementations import resolve
    from .mutants import drawn

    public = {n: getattr(P, n) for n in P.__all__ if not n[0].isupper()}
    wrong = resolve("numpy")._replace(
        id="mutant",
        ops=SimpleNamespace(
            **{**public, "leaky_relu": lambda x, s=0.01: P.leaky_relu(x, round(s, 2))}
        ),
    )
    for fixed in (0.01, 0.2):  # what the other tests use: accepted
        checks.forward_ulps(wrong, ActivationCase("leaky_relu", (fixed,)), "float32", -np.ones(4))
    drawn(
        cases("leaky_relu"),
        lambda case: checks.forward_ulps(wrong, case, "float32", np.array([-1.0, -3.5, 2.0])),
    )
