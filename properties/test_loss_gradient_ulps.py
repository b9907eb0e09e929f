"""Gradients of the cross-entropy family and the softmax/log_softmax row backwards, judged in
ULPs against mpmath by the function's own condition (issue 23).

Every gradient here is, per row, ``v_c = k (T p_c - q_c)``: ``p = softmax(z)`` of the row's
logits, ``q`` the weighted, smoothed target distribution (class or probability targets),
``T = sum_c q_c`` and ``k`` grad_output over the mean's denominator. The bound is the tolerance
table's (:data:`properties.tolerances.ULP`), ``ulps + condition_ulps * u * S / ulp(v)``, with
``S`` the sensitivity of ``v`` to its inputs in closed form
(``reference.mp.cross_entropy_row_sensitivity``): to the logits through the Jacobian of
softmax, ``diag(p) - p p^T``, to each ``q_j`` and to ``k``. It is never the size of the terms
one formula subtracts: where the prediction is confident and right (``p_t = 1 - d``), ``S`` at
the target is of the size of ``d``, so the bound is relative to the gradient itself, and
``p - one_hot`` by subtraction (which keeps only the ulps of 1 that ``d`` is made of) fails.

Logits are drawn with a gap added to one class (the target or another), from 1/16 up to past
the log of the dtype's largest number (where the other probabilities underflow); the rows
hold at most 5 classes (mpmath is slow). The references take the exact values the
implementation holds. The frameworks' own gradients (torch's ``F.cross_entropy``, optax's
``softmax_cross_entropy_with_integer_labels``) fail the same bound on the issue's rows: they
are known deviations (``properties/known_deviations.py``), and the worst of their relative
errors is reported beside the library's.

The checks, their mpmath references and the strategies of their problems are in
``properties/loss_gradient_checks.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mpmath import mpf

from reference import mp as ref_mp

from . import tolerances
from .implementations import PUBLIC_API, resolve
from .loss_gradient_checks import (
    CHECKS,
    CONFIDENT_ROW_G,
    CONFIDENT_ROW_X,
    DTYPES,
    REDUCTIONS,
    ROW_BACKWARDS,
    class_q,
    cross_entropy_gradient_ulps,
    exact_values,
    judge_cross_entropy_gradient,
    judge_rows,
    nll_of_log_softmax_gradient_ulps,
    problems,
    rounded,
    row_backward_ulps,
    row_problems,
)

IMPLEMENTATION_KINDS = PUBLIC_API  # (and DTYPES, loss_gradient_checks')
CASES = (
    "cross_entropy",
    "cross_entropy(probabilities)",
    "nll_loss(log_softmax)",
    "sequence_cross_entropy",
)

# The rows: (logits, target), all confident and right.
CONFIDENT_ROWS = (([10.0, -5.0], 0), ([15.0, 0.0, -3.0], 0), ([16.5, 0.3], 0), ([40.0, 0.0], 0))


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
@given(data=st.data())
def test_loss_gradient_ulps(impl, dtype, case, data):
    CHECKS[case](impl, dtype, data.draw(problems(case, dtype), label="problem"))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("row", CONFIDENT_ROWS, ids=lambda r: str(r[0]))
def test_cross_entropy_gradient_of_confident_rows(impl, dtype, row, reduction):
    """The issue's rows: -3.0590e-07 at [10, -5] (17% off by subtraction in float32), and in
    float64 4.2e-18 at [40, 0] (0 by subtraction); with a class weight and an ignored row."""
    z_row, t = row
    z = rounded(np.array([z_row, z_row, z_row[::-1]]), dtype)
    targets = np.array([t, -100, len(z_row) - 1 - t])
    g = np.array([1.0, 2.0, 0.5]) if reduction == "none" else np.float64(1.0)
    for weight in (None, rounded(np.linspace(0.5, 1.5, len(z_row)), dtype)):
        for eps in (0.0, 1e-3):
            problem = {"z": z, "target": targets, "weight": weight, "label_smoothing": eps}
            problem.update(reduction=reduction, g=g)
            cross_entropy_gradient_ulps(impl, dtype, problem)
            nll_of_log_softmax_gradient_ulps(impl, dtype, problem)


def autodiff_gradient(framework: str, z: np.ndarray, t: np.ndarray, dtype: str, composed: bool):
    """d/dz of this library's summed cross_entropy (or nll_loss of log_softmax, ``composed``)
    through the framework's autodiff: torch.autograd (the Functions' backwards) or jax.grad
    (the custom_vjps)."""
    import primitives as P

    def loss(v, target):
        if composed:
            return P.nll_loss(P.log_softmax(v, -1), target, reduction="sum")
        return P.cross_entropy(v, target, reduction="sum")

    if framework == "torch":
        import torch

        zt = torch.tensor(z, dtype=getattr(torch, dtype), requires_grad=True)
        loss(zt, torch.tensor(t)).backward()
        return zt.grad.double().numpy()
    import jax
    import jax.numpy as jnp

    grad = jax.grad(lambda v: loss(v, jnp.asarray(t)))(jnp.asarray(z, dtype=dtype))
    return np.asarray(grad, np.float64)


@pytest.mark.parametrize(
    "composed",
    [False, True],
    ids=["cross_entropy", "nll(log_softmax)"],
)
@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_confident_rows_under_autodiff(framework, dtype, composed):
    """loss.backward() and jax.grad use the hand-written backwards (Backend.wrap and
    wrap_function), so they are as accurate as the explicit ones: differentiating
    cross_entropy's forward operations would sum the maximum's O(1) contributions (p_t - 1
    again, 17% off at [10, -5] in float32, 0 for -4.2e-18 at [40, 0] in float64)."""
    rows = [r for r, _ in CONFIDENT_ROWS]
    n = max(len(r) for r in rows)
    z = rounded([r + [-30.0] * (n - len(r)) for r in rows], dtype)
    t = np.array([c for _, c in CONFIDENT_ROWS])
    out = autodiff_gradient(framework, z, t, dtype, composed)
    problem = {"z": z, "target": t, "weight": None, "label_smoothing": 0.0}
    problem.update(reduction="sum", g=np.float64(1.0))
    judge_cross_entropy_gradient(f"autodiff on {framework}", dtype, _MayFlush, out, problem)


# --- the row backwards -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ROW_BACKWARDS)
@given(data=st.data())
def test_row_backward_ulps_with_confident_rows(impl, dtype, name, data):
    x, g = data.draw(row_problems(dtype), label="x, g")
    row_backward_ulps(impl, name, dtype, x, g)


@pytest.mark.parametrize("name", ROW_BACKWARDS)
def test_row_backward_ulps_at_confident_rows(impl, dtype, name):
    """log_softmax_backward(one-hot, [10, -5]) is 17% off by subtraction in float32 (as
    torch's), and [1, 0] at [40, 0] is 0 in float64 where the truth is 4.2e-18."""
    row_backward_ulps(impl, name, dtype, CONFIDENT_ROW_X, CONFIDENT_ROW_G)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ROW_BACKWARDS)
@pytest.mark.parametrize("impl_id", ["torch-native", "jax-native"])
def test_framework_row_backward_at_confident_rows(impl_id, name, dtype):
    """The frameworks' autodiff of softmax/log_softmax on the same rows, by the same bound (a
    known deviation: both subtract)."""
    row_backward_ulps(resolve(impl_id), name, dtype, CONFIDENT_ROW_X, CONFIDENT_ROW_G)


# --- the frameworks' own gradients -----------------------------------------------------------


def worst_relative_error(out: np.ndarray, z: np.ndarray, t: np.ndarray) -> float:
    """max |out - v| / |v| over the elements, v the mpmath gradient of the summed loss."""
    worst = 0.0
    for row, o, c in zip(z, out, t, strict=True):
        q = class_q(int(c), len(row), 0.0, None)
        for a, v in zip(
            o, ref_mp.cross_entropy_row_grad(exact_values(row), q, mpf(1)), strict=True
        ):
            worst = max(worst, float(abs(mpf(float(a)) - v) / abs(v)) if v else float(a != 0))
    return worst


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("impl_id", ["torch-native", "jax-native", "numpy", "torch", "jax"])
@pytest.mark.parametrize("case_id", ["cross_entropy"])  # (what known_deviations matches)
def test_framework_cross_entropy_gradient_of_confident_rows(case_id, impl_id, dtype):
    """The frameworks' cross-entropy gradients on the issue's rows, by the same bound as the
    library's (a known deviation for torch-native and jax-native: p - 1 by subtraction; the
    message gives their worst relative error beside the library's)."""
    rows = [r for r, _ in CONFIDENT_ROWS]
    n = max(len(r) for r in rows)
    z = rounded([r + [-30.0] * (n - len(r)) for r in rows], dtype)
    t = np.array([c for _, c in CONFIDENT_ROWS])
    impl = resolve(impl_id)  # (the frameworks': autograd of F.cross_entropy, jax.vjp of optax's)
    g = impl.array(np.float64(1.0), dtype)
    out = impl.numpy(
        impl.ops.cross_entropy_backward(g, impl.array(z, dtype), impl.exact(t), reduction="sum")
    )
    worst = worst_relative_error(out, z, t)
    qs = [class_q(int(c), n, 0.0, None) for c in t]
    try:
        judge_rows(
            f"d cross_entropy on {impl_id}", dtype, _MayFlush, out, z, qs, [mpf(1)] * len(t), 1
        )
    except AssertionError as e:
        raise AssertionError(
            f"{e}\nworst relative error {worst:.2g} on {impl_id} [{dtype}]"
        ) from None


class _MayFlush:
    """A framework on the CPU may flush subnormal results (XLA does): accepted for all."""

    flushes_subnormals = True


def test_tolerance_is_the_table():
    """The bounds above are the one table's."""
    assert tolerances.ULP["float32"].ulps >= 1 and tolerances.ULP["float64"].condition_ulps >= 1
