"""The suite tests itself: deliberately wrong implementations must be rejected by the same
property functions that judge the real ones, on the same inputs (edge points and
Hypothesis-drawn arrays). A property that let one of these through would be too weak."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import strategies as st

from primitives import _dispatch
from primitives.kernels import activations as K

from . import activation_checks as checks
from . import strategies as S
from .activation_checks import KINK_CONVENTIONS
from .cases import EDGE_POINTS, ELEMENTWISE
from .implementations import Implementation
from .mutants import drawn, rejects

_B = _dispatch.kernels("numpy").backend
CASE = {c.id: c for c in ELEMENTWISE}


def mutant(**overrides) -> Implementation:
    """The numpy generic kernels with some replaced by wrong ones."""
    table = _dispatch.Kernels(_B, use_native=False)
    ops = SimpleNamespace(**{k: v for k, v in vars(table).items() if not k.startswith("_")})
    for name, fn in overrides.items():
        setattr(ops, name, fn)
    return Implementation("mutant", _B, ops, "mutant")


def _sigma(x):
    return 1.0 / (1.0 + np.exp(-x))


MUTANTS = {
    # sigma' written as s (1 + s) instead of s (1 - s)
    "sigmoid' = s(1+s)": mutant(sigmoid_backward=lambda g, x: g * _sigma(x) * (1 + _sigma(x))),
    # sigma' as s (1 - s): right on paper, 0 in float64 from x ~ 37 (a real framework bug)
    "sigmoid' = s(1-s), cancelling": mutant(
        sigmoid_backward=lambda g, x: g * _sigma(x) * (1 - _sigma(x))
    ),
    # GELU without the 1/2
    "gelu without 1/2": mutant(gelu=lambda x, a: x * K._phi_cdf(_B, x) * 2.0),
    # GELU as 0.5 x (1 + erf(x / sqrt 2)): cancels in the negative tail
    "gelu with 1 + erf": mutant(
        gelu=lambda x, a: 0.5 * x * (1.0 + _B.erf(x * np.sqrt(0.5)).astype(x.dtype))
    ),
    # tanh' off by one part in a million on the negative half-line only
    "tanh' off by 1e-6 for x < 0": mutant(
        tanh_backward=lambda g, x: K.tanh_backward(_B, g, x) * np.where(x < 0, 1 + 1e-6, 1.0)
    ),
    # softmax without subtracting the maximum: overflows for large logits
    "softmax without max": mutant(
        softmax=lambda x, axis: np.exp(x) / np.sum(np.exp(x), axis=axis, keepdims=True)
    ),
    # relu'(0) = 1 instead of the documented 0
    "relu'(0) = 1": mutant(relu_backward=lambda g, x: g * (x >= 0)),
    # relu' as a select: a NaN (or inf) grad_output becomes 0 where x <= 0
    "relu' drops a NaN gradient": mutant(relu_backward=lambda g, x: np.where(x > 0, g, 0.0)),
    # a backward that clips its incoming gradient to finite values
    "sigmoid' clips an infinite gradient": mutant(
        sigmoid_backward=lambda g, x: K.sigmoid_backward(_B, np.nan_to_num(g, nan=np.nan), x)
    ),
    # softmax' that zeroes the rows of a NaN gradient
    "softmax' zeroes NaN rows": mutant(
        softmax_backward=lambda g, x, axis: K.softmax_backward(_B, np.nan_to_num(g), x, axis)
    ),
    # softplus that ignores the threshold's test on the input (tests beta x >= threshold)
    "softplus threshold on the output": mutant(
        softplus_backward=lambda g, x, b, t: np.where(
            K.softplus(_B, x, b, t) > t, g, g * _sigma(b * x)
        )
    ),
}


EDGES = np.array([p for p in EDGE_POINTS if not np.isfinite(p) or abs(p) < 3e38])


def test_sigmoid_derivative_with_plus_sign_is_rejected():
    m = MUTANTS["sigmoid' = s(1+s)"]
    case = CASE["sigmoid"]
    rejects(lambda: checks.backward_ulps(m, case, "float32", np.ones_like(EDGES), EDGES))
    drawn(
        S.arrays("float32", 16),
        lambda x: checks.backward_ulps(m, case, "float32", np.ones_like(x), x),
    )
    rejects(
        lambda: checks.backward_finite_differences(
            m, "sigmoid", (), np.ones(4), np.array([-1.0, 0.3, 2.0, 5.0])
        )
    )


def test_cancelling_sigmoid_derivative_is_rejected_in_the_tail():
    m = MUTANTS["sigmoid' = s(1-s), cancelling"]
    rejects(
        lambda: checks.backward_ulps(m, CASE["sigmoid"], "float64", np.ones(1), np.array([37.43]))
    )


def test_gelu_without_half_is_rejected():
    m = MUTANTS["gelu without 1/2"]
    case = CASE["gelu(none)"]
    rejects(lambda: checks.forward_ulps(m, case, "float32", EDGES))
    drawn(S.arrays("float32", 16), lambda x: checks.forward_ulps(m, case, "float32", x))


def test_gelu_with_one_plus_erf_is_rejected_in_the_tail():
    m = MUTANTS["gelu with 1 + erf"]
    case = CASE["gelu(none)"]
    rejects(lambda: checks.forward_ulps(m, case, "float32", np.array([-5.0, -5.5, -6.0])))
    drawn(
        S.arrays("float32", 16, S.values("float32", -12, 0)),
        lambda x: checks.forward_ulps(m, case, "float32", x),
    )


def test_derivative_off_by_a_little_on_one_half_line_is_rejected():
    m = MUTANTS["tanh' off by 1e-6 for x < 0"]
    case = CASE["tanh"]
    drawn(
        S.arrays("float32", 16, S.values("float32", -4, 4)),
        lambda x: checks.backward_ulps(m, case, "float32", np.ones_like(x), x),
    )
    drawn(
        st.lists(S.off_kinks(()), min_size=6, max_size=6).map(np.array),
        lambda x: checks.backward_finite_differences(m, "tanh", (), np.ones(6), x),
    )


def test_softmax_without_max_subtraction_is_rejected():
    m = MUTANTS["softmax without max"]
    drawn(
        S.arrays("float32", (2, 5), S.values("float32", -1e3, 1e3)),
        lambda x: checks.row_ulps(m, "softmax", "float32", x, None),
    )


def test_wrong_kink_convention_is_rejected():
    m = MUTANTS["relu'(0) = 1"]
    case_id, x0, expected = KINK_CONVENTIONS[0]
    rejects(lambda: checks.derivative_at_kink(m, "float64", case_id, x0, expected))


def test_softplus_threshold_tested_on_the_output_is_rejected():
    m = MUTANTS["softplus threshold on the output"]
    case = CASE["softplus(2.0,5.0)"]
    # between the input threshold 2.5 and where the output passes 5 the branch differs
    rejects(lambda: checks.backward_ulps(m, case, "float64", np.ones(3), np.array([2.4, 2.6, 3.0])))


def test_dropped_or_clipped_nonfinite_gradients_are_rejected():
    """What the accuracy tests cannot see (they draw finite grad_output only)."""
    x = np.array([-2.0, -0.5, 0.0, 1.0, 3.0, 7.0])
    g = np.array([np.nan, np.inf, -np.inf, np.inf, -np.inf, np.nan])
    for m, case in (
        (MUTANTS["relu' drops a NaN gradient"], CASE["relu"]),
        (MUTANTS["sigmoid' clips an infinite gradient"], CASE["sigmoid"]),
    ):
        rejects(lambda m=m, case=case: checks.nonfinite_grad_output(m, case, "float32", g, x))
        drawn(
            st.tuples(
                S.arrays("float32", 16, S.grad_outputs("float32")),
                S.arrays("float32", 16, S.finite_x("float32")),
            ),
            lambda gx, m=m, case=case: checks.nonfinite_grad_output(m, case, "float32", *gx),
        )
    m = MUTANTS["softmax' zeroes NaN rows"]
    gr = np.array([[1.0, np.nan, 0.5], [0.25, -1.0, 2.0]])
    xr = np.array([[0.0, 1.0, 2.0], [3.0, -1.0, 0.5]])
    rejects(lambda: checks.row_nonfinite_grad_output(m, "softmax", "float32", xr, gr))


def test_every_mutant_is_exercised():
    """Each mutant above is rejected by some test in this module (kept in sync by name)."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for name in MUTANTS:
        assert source.count(f'MUTANTS["{name}"]') >= 1, name
