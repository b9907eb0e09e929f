"""The atlas's losses, forward and backward, in ULPs against mpmath with the loss properties'
bounds (``properties.loss_cases``' ``loss_judged`` and ``backward_judged``: what
``test_losses.py``'s ``test_loss_ulps`` and ``test_backward_ulps`` judge, a few ULPs plus the
function's sensitivity to its inputs, ``properties.loss_ulps``).

Each grid point ``x`` (as the dtype holds it) is one element of a loss with ``reduction="none"``
(one row for the cross-entropy family), so one call measures the whole grid:

=================================  ===========================================================
loss                               the problem at x
=================================  ===========================================================
mse_loss, l1_loss                  prediction x, target 1
huber_loss                         prediction x, target 1, delta 1
binary_cross_entropy_with_logits   logit x, target 1 (the loss is softplus(-x))
binary_cross_entropy               probability sigmoid(x) (float64, then rounded to the
                                   dtype), target 1 (the loss is -log p)
cross_entropy                      logits [x, 0], class 0 (the loss is log(1 + e^-x))
cross_entropy(probabilities)       logits [x, 0], target probabilities [0.75, 0.25]
nll_loss                           log-probabilities [x, 0], class 0 (the loss is -x)
sequence_cross_entropy             the token [x, 0], class 0, every token real; backward only
                                   (its forward is one mean over the tokens, not a value per
                                   token; the per-token term is cross_entropy's)
contrastive_loss                   pair ([x], [0]), label 1, margin 1 (the hinge
                                   max(0, 1 - |x|)^2 / 2)
=================================  ===========================================================

The grid's finite points only: the loss properties draw finite inputs (what an infinite
prediction gives is ``test_nonfinite_grad_output_families.py``'s and the laws' business), and
the mpmath references take no limits (``inf - inf`` in a formula is NaN there, where the
function's limit may be a number).

The backward takes ``grad_output = 1`` per element (the sequence's mean: 1) and reports at each
point the entry, of every gradient the loss returns, with the largest error relative to its
bound.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import special

from ..checks import Judged, relative_errors
from ..implementations import Implementation, public
from ..loss_cases import CASE, Problem, backward_judged, loss_judged
from .curve import Curve, digits, distinct

_CE = {"axis": -1, "ignore_index": -100, "label_smoothing": 0.0}


def _pairs(x: np.ndarray) -> np.ndarray:
    return np.stack([x, np.zeros_like(x)], axis=-1)


def _class0(x: np.ndarray) -> np.ndarray:
    return np.zeros(x.size, np.int64)


PROBLEMS: dict[str, Callable[[np.ndarray], Problem]] = {
    "mse_loss": lambda x: Problem((x, np.ones_like(x)), {}, {}),
    "l1_loss": lambda x: Problem((x, np.ones_like(x)), {}, {}),
    "huber_loss": lambda x: Problem((x, np.ones_like(x)), {}, {"delta": 1.0}),
    "binary_cross_entropy_with_logits": lambda x: Problem((x, np.ones_like(x)), {}, {}),
    "binary_cross_entropy": lambda x: Problem((special.expit(x), np.ones_like(x)), {}, {}),
    "cross_entropy": lambda x: Problem((_pairs(x), _class0(x)), {}, dict(_CE)),
    "cross_entropy(probabilities)": lambda x: Problem(
        (_pairs(x), np.broadcast_to([0.75, 0.25], (x.size, 2)).copy()),
        {},
        {"axis": -1, "label_smoothing": 0.0},
    ),
    "nll_loss": lambda x: Problem((_pairs(x), _class0(x)), {}, {"axis": -1, "ignore_index": -100}),
    "sequence_cross_entropy": lambda x: Problem(
        (_pairs(x)[:, None, :], _class0(x)[:, None], np.ones((x.size, 1), bool)), {}, {}
    ),
    "contrastive_loss": lambda x: Problem(
        (x[:, None], np.zeros((x.size, 1)), np.ones(x.size, np.int64)), {}, {"margin": 1.0}
    ),
}
"""The problem of each loss over the grid's values ``x`` (float64, as the dtype holds them)."""

PRIMITIVES = tuple(PROBLEMS)

_NO_FORWARD = ("sequence_cross_entropy",)


def curve(
    impl: Implementation, primitive: str, direction: str, dtype: str, x64: np.ndarray
) -> Curve | None:
    """One loss's errors over the grid, or None where the implementation has no such loss (the
    frameworks' tables hold theirs, :mod:`properties.framework_losses`; a ``:generic`` id is
    the public API on the generic kernels, :func:`properties.implementations.public`) or the
    loss has no forward curve."""
    case = CASE[primitive]
    impl = public(impl)
    if not hasattr(impl.ops, case.name) or (direction == "forward" and primitive in _NO_FORWARD):
        return None
    with np.errstate(over="ignore"):  # (the grid beyond the dtype's range: its infinities)
        x = distinct(impl.numpy(impl.array(x64, dtype)))
    x = x[np.isfinite(x)]  # (see the module's docstring)
    with np.errstate(over="ignore", under="ignore"):
        problem = PROBLEMS[primitive](x)
    reduction = "mean" if primitive in _NO_FORWARD else "none"
    if direction == "forward":
        judged = [_quietly(loss_judged, impl, case, dtype, problem, reduction)]
    else:
        g = np.ones(()) if reduction == "mean" else np.ones(x.shape)
        judged = _quietly(backward_judged, impl, case, dtype, problem, reduction, g)
    return _worst_per_point(impl.id, primitive, direction, dtype, x, judged)


def _quietly(judge: Callable, *args):
    """``judge(*args)`` without NumPy's warnings for the grid's overflowing and cancelling
    points (the errors they cause are what the atlas measures)."""
    with np.errstate(all="ignore"):
        return judge(*args)


def _worst_per_point(
    impl: str, primitive: str, direction: str, dtype: str, x: np.ndarray, judged: list[Judged]
) -> Curve:
    """Per grid point: of every output element that belongs to it (a row's entries, each
    gradient's), the one with the largest error relative to its bound."""
    n = x.size
    errors, allowed, got, refs = [], [], [], []
    for j in judged:
        e, a = j.errors()
        errors.append(e.reshape(n, -1))
        allowed.append(a.reshape(n, -1))
        got.append(np.asarray(j.got, np.float64).reshape(n, -1))
        refs.append(np.asarray(j.refs, object).reshape(n, -1))
    errors, allowed, got, refs = (np.concatenate(v, axis=1) for v in (errors, allowed, got, refs))
    at = np.argmax(relative_errors(errors, allowed), axis=1)
    rows = np.arange(n)
    return Curve(
        impl,
        primitive,
        direction,
        dtype,
        x,
        errors[rows, at],
        allowed[rows, at],
        tuple(digits(r) for r in refs[rows, at]),
        got[rows, at],
    )
