"""The atlas's activations and row functions (softmax, log_softmax), forward and backward,
in ULPs against the suite's mpmath references and with the suite's bounds.

The comparison is the suite's own (:mod:`properties.activation_checks`: the same references,
sensitivities and model of a backend that flushes subnormals; :func:`properties.checks.ulp_errors`
is :func:`properties.checks.check_ulps` per element), so a point over its bound is a point the
accuracy properties reject. A backward is judged at ``grad_output = 1`` (so its error is
f'(x)'s). The row functions take rows ``[x, 0]``; their backward takes ``grad_output = [1, 0]``,
the one-hot gradient of cross-entropy, whose ``1 - p`` at confident rows is where subtraction
fails.
"""

from __future__ import annotations

import numpy as np

from .. import activation_checks
from ..cases import ELEMENTWISE, ROWS
from ..checks import relative_errors
from ..implementations import Implementation
from .curve import Curve, digits, distinct

ROW_PRIMITIVES = tuple(ROWS)
PRIMITIVES = tuple(c.id for c in ELEMENTWISE) + ROW_PRIMITIVES
"""By the suite's case ids (``gelu(none)``, ``softplus(2.0,5.0)``, ``softmax``, ...)."""


def curve(
    impl: Implementation, primitive: str, direction: str, dtype: str, x64: np.ndarray
) -> Curve:
    with np.errstate(over="ignore"):  # (the grid beyond the dtype's range: its infinities)
        x64 = distinct(impl.numpy(impl.array(x64, dtype)))  # the grid as the dtype holds it
    if primitive in ROW_PRIMITIVES:
        rows = np.stack([x64, np.zeros_like(x64)], axis=-1)
        g = np.zeros_like(rows)
        g[:, 0] = 1.0
        judged = activation_checks.row_judged(
            impl, primitive, dtype, rows, g if direction == "backward" else None
        )
        x = judged.inputs["x"][:, 0]
    else:
        case = next(c for c in ELEMENTWISE if c.id == primitive)
        if direction == "forward":
            judged = activation_checks.forward_judged(impl, case, dtype, x64)
        else:
            judged = activation_checks.backward_judged(impl, case, dtype, np.ones_like(x64), x64)
        x = judged.inputs["x"].ravel()
    errors, allowed = judged.errors()
    got = np.asarray(judged.got, dtype=np.float64).ravel()
    refs = [digits(r) for r in judged.refs]
    if primitive in ROW_PRIMITIVES:  # each row's worst entry
        n = 2
        ratio = relative_errors(errors, allowed).reshape(-1, n)
        at = np.arange(ratio.shape[0]) * n + np.argmax(ratio, axis=1)
        errors, allowed, got = errors[at], allowed[at], got[at]
        refs = [refs[i] for i in at]
    return Curve(impl.id, primitive, direction, dtype, x, errors, allowed, tuple(refs), got)
