"""The gradient ULP properties test themselves (issue 23): the textbook gradients, right on
paper, computed by subtraction — softmax minus one-hot for cross-entropy, g - y sum(g) for
log_softmax, y (g - <g, y>) for softmax — must be rejected by the very checks that accept the
library, on the issue's confident rows and on Hypothesis-drawn problems. (They are the
library's own kernels before the fix, and the frameworks' formulas.)"""

from __future__ import annotations

from types import SimpleNamespace

import mpmath
import numpy as np
import pytest
from scipy import special

import primitives as P
from primitives import _dispatch

from . import loss_gradient_checks as U
from .implementations import Implementation, resolve
from .mutants import drawn, rejects

_B = _dispatch.kernels("numpy").backend
_PUBLIC = {name: getattr(P, name) for name in P.__all__ if not name[0].isupper()}


def mutant(**overrides) -> Implementation:
    """The library on numpy with some public functions replaced by wrong ones."""
    return Implementation("mutant", _B, SimpleNamespace(**{**_PUBLIC, **overrides}), "mutant")


def _ce_by_subtraction(
    g, z, t, *, axis=-1, ignore_index=-100, label_smoothing=0.0, weight=None, reduction="mean"
):
    """k (T p - q) with p = softmax(z) and the subtraction done as written."""
    rows, classes = z.shape
    w = np.ones(classes, z.dtype) if weight is None else weight
    eps = label_smoothing
    if np.asarray(t).dtype.kind == "f":
        q = ((1 - eps) * t + eps / classes) * w
        denominator = rows
        kept = np.ones(rows, bool)
    else:
        kept = t != ignore_index
        safe = np.where(kept, t, 0)
        q = (1 - eps) * (np.eye(classes, dtype=z.dtype)[safe] * w[safe][:, None])
        q = q + eps * w / classes
        denominator = w[safe][kept].sum()
    k = np.broadcast_to(g / denominator if reduction == "mean" else g, (rows,))
    grad = (q.sum(1, keepdims=True) * special.softmax(z, axis=1) - q) * k[:, None]
    return np.where(kept[:, None], grad, 0.0).astype(z.dtype)


def _log_softmax_backward_by_subtraction(g, x, axis=-1):
    return (g - special.softmax(x, axis=axis) * g.sum(axis, keepdims=True)).astype(x.dtype)


def _softmax_backward_by_subtraction(g, x, axis=-1):
    y = special.softmax(x, axis=axis)
    return (y * (g - (g * y).sum(axis, keepdims=True))).astype(x.dtype)


CE_MUTANT = mutant(cross_entropy_backward=_ce_by_subtraction)
ROW_MUTANTS = {
    "log_softmax_backward": mutant(log_softmax_backward=_log_softmax_backward_by_subtraction),
    "softmax_backward": mutant(softmax_backward=_softmax_backward_by_subtraction),
}


@pytest.mark.parametrize("dtype", U.DTYPES)
def test_cross_entropy_by_subtraction_is_rejected_at_a_confident_row(dtype):
    z = U.rounded([[10.0, -5.0], [40.0, 0.0]], dtype)
    problem = {"z": z, "target": np.array([0, 0]), "weight": None, "label_smoothing": 0.0}
    problem.update(reduction="sum", g=np.float64(1.0))
    U.cross_entropy_gradient_ulps(resolve("numpy"), dtype, problem)  # the library passes
    rejects(lambda: U.cross_entropy_gradient_ulps(CE_MUTANT, dtype, problem))


@pytest.mark.parametrize("case", ["cross_entropy", "cross_entropy(probabilities)"])
@pytest.mark.parametrize("dtype", U.DTYPES)
def test_cross_entropy_by_subtraction_is_rejected_on_drawn_problems(case, dtype):
    drawn(U.problems(case, dtype), lambda p: U.cross_entropy_gradient_ulps(CE_MUTANT, dtype, p))


@pytest.mark.parametrize("name", U.ROW_BACKWARDS)
@pytest.mark.parametrize("dtype", U.DTYPES)
def test_row_backward_by_subtraction_is_rejected(name, dtype):
    wrong = ROW_MUTANTS[name]
    rejects(lambda: U.row_backward_ulps(wrong, name, dtype, U.CONFIDENT_ROW_X, U.CONFIDENT_ROW_G))
    drawn(
        U.row_problems(dtype),
        lambda xg: U.row_backward_ulps(wrong, name, dtype, *xg),
    )


def test_the_old_bound_let_the_subtraction_through():
    """Why the bound changed: the loss suite's former tolerance, LOSS_RTOL times the size of
    the subtracted terms (|p| + |one-hot|), accepts p - 1 at [10, -5] (17% off in float32)."""
    z = U.rounded([[10.0, -5.0]], "float32").astype(np.float32)
    wrong = _ce_by_subtraction(np.float32(1), z, np.array([0]), reduction="sum")
    truth = float(-1 / (1 + mpmath.exp(15)))  # -(1 - p_0) = -p_1
    former = 2e-6 * (abs(truth) + 1.0 + abs(truth))  # LOSS_RTOL["float32"] (|a| + terms)
    assert abs(float(wrong[0, 0]) - truth) <= former
    assert abs(float(wrong[0, 0]) - truth) > 0.1 * abs(truth)
