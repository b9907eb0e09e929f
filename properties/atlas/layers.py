"""The atlas's layers: layer norm, batch norm (training and evaluation), the linear layer and
the L1/L2 penalties, forward and backward, against the suite's float64 references and with
the suite's bounds.

Everything a point is judged with is the family's own: the problems and runs
(:mod:`properties.layer_norm_cases`, :mod:`properties.batch_norm_cases`,
:mod:`properties.linear_cases`, :mod:`properties.penalty_cases`), the references
(:mod:`reference.layers`, :mod:`reference.batch_norm`, :mod:`reference.penalties`), the bounds
(``forward_bound``, ``grad_bounds``, ``output_terms``, ``running_terms``, ``grad_terms``,
``backward_bound``) and the comparison per element (``within_elements``; batch norm's
``close_elements``), which is the one the properties assert. So ``rejected`` is exactly where the
accuracy property (``test_layer_norm.py``, ``test_batch_norm.py``, ``test_linear.py``,
``test_penalties.py``; float16/bfloat16: ``test_layers_low_precision.py``, whose criterion,
``rounds_once_within``, the same comparison applies in those dtypes) rejects the problem. A point
may produce several elements; the curve shows the one with the largest error relative to its
bound (``properties.checks.relative_errors``; a rejected element first) and ``rejected`` says
whether any element of the point's problem is rejected. Errors and bounds are in ULPs of the
dtype at the value compared with (``ulps_between``; bound / ``spacing``). In float16 and
bfloat16 the bound is float32's slack, a small fraction of an ULP of the dtype, and the
criterion is "the correct rounding of a value within it": a correctly rounded result is up to
half an ULP over ``allowed`` and passes, so there ``rejected``, not errors > allowed, is the
verdict (as :attr:`Curve.over` reads it).

How the grid value x (rounded to the dtype) becomes a problem (every constant is exact in every
dtype, and in the range the properties draw from):

* ``layer_norm``: the row ``[x, 0, 1]`` (``normalized_shape = (3,)``), weight
  ``[1.5, -0.5, 2]``, bias ``[0.25, -1, 0.5]``, eps 1e-5. One call on all the rows; each row is
  judged as the one-row problem it is (the bound's ``m = n + rows`` counts one row, as if the
  row were normalized alone: layer norm is row by row). Backward: grad_output
  ``[1, -0.5, 0.25]``, judged on dx (dweight and dbias sum over the rows, so they are not one
  point's).
* ``batch_norm`` (training) and ``batch_norm(eval)``: x of shape (3, C), channels on axis 1,
  one channel per grid point holding the batch ``[x, 0, 1]``; weight 1.5, bias -0.25, running
  mean 0.5 and variance 2, momentum 0.25, eps 1e-5 in every channel. Forward: the channel's
  three outputs and, in training, its new running mean and variance. Backward (grad_output
  ``[1, -0.5, 0.25]`` down each channel): the worst of the channel's dx (three), dweight and
  dbias. Every channel is its own problem (each bound is per channel).
* ``linear``: forward, the row ``[x, 0.5, -1.25]`` of x (one row per point), weight
  ``[[0.75, -1.5, 0.25], [-2, 0.5, 1]]``, bias ``[0.5, -0.25]``: the point's two outputs.
  Backward: one sample whose features are the grid (x of shape (1, N)), weight columns
  ``[0.75, -2]``, bias ``[0.5, -0.25]``, grad_output ``[1, -0.5]``: the point is feature i,
  judged on the worst of dweight[:, i] (``g x_i``, where x enters) and dx[i] (``g W[:, i]``);
  dbias (= grad_output, one for all points) is not a point's.
* ``l1_penalty``, ``l2_penalty``: params the array ``[x, 0.5, -1.25]``, lam 0.01. Forward: one
  call per point (a penalty sums all its params). Backward (grad_output -0.5): one call with
  one row per point in a single (N, 3) array (the gradient is elementwise, its bound per
  element).

The grid is restricted to where the references and the comparison are defined: finite x
(``reference.batch_norm`` takes exact rationals of the inputs; a penalty's or a linear
output's infinite reference meets an infinite result as NaN in ``within``); for layer norm
``|x| <= 1e150``, where the float64 reference's variance (about 2 x^2 / 9) is finite; for
batch norm ``|x| <= 1e100``, where its reference gradient is right (:data:`BN_LARGEST`); for
the linear forward and the penalties' forward, the points whose reference, and the linear
bound's magnitude ``sum |x| |W| + |b|``, are below the dtype's largest finite value (an
overflowing true value; ``within`` has no overflow). The properties themselves draw |x| up to
about 1e3; the rest of the grid is measured with the same bound.

Implementations: those the properties judge (``IMPLEMENTATION_KINDS = PUBLIC_API``: the library
on each backend and third-party backends) and the frameworks' own layers
(:mod:`properties.framework_layers`: torch's layer norm, batch norm and linear, flax's layer
norm and dense layer), and ``:generic`` ids, the public API on the generic kernels
(:func:`properties.implementations.public`), in every dtype they list.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from reference import batch_norm as RB
from reference import layers as RL

from .. import batch_norm_cases as BN
from .. import layer_norm_cases as LN
from .. import linear_cases as LIN
from .. import penalty_cases as PEN
from ..checks import FORMATS, relative_errors, spacing, ulps_between
from ..checks.bounds import Verdict, within_elements
from ..checks.rounding import LOW_PRECISION
from ..implementations import Implementation, public
from .curve import Curve, distinct

PRIMITIVES = (
    "layer_norm",
    "batch_norm",
    "batch_norm(eval)",
    "linear",
    "l1_penalty",
    "l2_penalty",
)
"""Atlas ids: ``batch_norm`` is training mode, ``batch_norm(eval)`` evaluation."""

DTYPES = ("float32", "float64", *LOW_PRECISION)
"""The dtypes the properties judge (float16/bfloat16 in ``test_layers_low_precision.py``)."""

LN_LARGEST = 1e150
"""Layer norm: the largest |x| measured (the float64 reference's variance of the row, about
2 x^2 / 9, is finite up to about 1e154)."""
BN_LARGEST = 1e100
"""Batch norm: the largest |x| measured. ``reference.batch_norm.batch_norm_grad`` forms
``(var + eps) ** -1.5``, which underflows (subnormal from |x| of about 1e102, 0 from 4e107) and
makes its training dx wrong: at x = 1.39e109 it gives ``[1.7e-109, -1.7e-109, 0]`` for the
channel ``[x, 0, 1]`` where the gradient is ``[~0, -8.6e-110, 8.6e-110]`` (the library's
answer; the reference's own value at the input scaled by 2^-340, scaled back)."""

_OPS = {
    "layer_norm": ("layer_norm", "layer_norm_backward"),
    "batch_norm": ("batch_norm", "batch_norm_backward"),
    "batch_norm(eval)": ("batch_norm", "batch_norm_backward"),
    "linear": ("linear", "linear_backward"),
    "l1_penalty": ("l1_penalty", "l1_penalty_backward"),
    "l2_penalty": ("l2_penalty", "l2_penalty_backward"),
}

# the fixed parts of each problem (exact in float16 and bfloat16 too)
LN_WEIGHT = np.array([1.5, -0.5, 2.0])
LN_BIAS = np.array([0.25, -1.0, 0.5])
LN_EPS = 1e-5
ROW = np.array([0.0, 1.0])  # the rest of a layer-norm row and of a batch-norm channel
G_ROW = np.array([1.0, -0.5, 0.25])  # layer norm's and batch norm's grad_output pattern
BN_WEIGHT, BN_BIAS, BN_MEAN, BN_VAR = 1.5, -0.25, 0.5, 2.0
BN_MOMENTUM, BN_EPS = 0.25, 1e-5
LIN_REST = np.array([0.5, -1.25])  # the rest of a linear row
LIN_WEIGHT = np.array([[0.75, -1.5, 0.25], [-2.0, 0.5, 1.0]])
LIN_BIAS = np.array([0.5, -0.25])
LIN_G = np.array([1.0, -0.5])
PEN_REST = np.array([0.5, -1.25])
PEN_LAM = 0.01
PEN_G = -0.5


class Part(NamedTuple):
    """Elements judged at each point: arrays (points, elements per point)."""

    got: np.ndarray
    verdict: Verdict
    reference: np.ndarray  # the float64 reference (for the report)


def curve(
    impl: Implementation, primitive: str, direction: str, dtype: str, x64: np.ndarray
) -> Curve | None:
    forward, backward = _OPS[primitive]
    impl = public(impl)
    if (
        dtype not in DTYPES
        or dtype not in impl.dtypes
        or not hasattr(impl.ops, forward if direction == "forward" else backward)
    ):
        return None
    with np.errstate(over="ignore"):  # (the grid beyond the dtype's range: its infinities)
        x = distinct(impl.numpy(impl.array(x64, dtype)))  # the grid as the dtype holds it
    x = x[np.isfinite(x)]
    measure = _MEASURES[primitive, direction]
    x, parts = measure(impl, dtype, x)
    return _worst(impl, primitive, direction, dtype, x, parts)


def _worst(impl, primitive, direction, dtype, x, parts: list[Part]) -> Curve:
    got = np.concatenate([p.got for p in parts], axis=1)
    good = np.concatenate([p.verdict.good for p in parts], axis=1)
    compared = np.concatenate([p.verdict.expected for p in parts], axis=1)
    bound = np.concatenate([p.verdict.bound for p in parts], axis=1)
    reference = np.concatenate([p.reference for p in parts], axis=1)
    errors = ulps_between(got, compared, dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        allowed = np.minimum(bound / spacing(compared, dtype), 1e300)
    allowed = np.nan_to_num(allowed, nan=0.0)
    ratio = relative_errors(errors, allowed) + np.where(good, 0.0, 2e300)  # rejected first
    at = np.argmax(ratio, axis=1)
    rows = np.arange(len(x))
    refs = tuple(repr(float(v)) for v in reference[rows, at])
    return Curve(
        impl.id,
        primitive,
        direction,
        dtype,
        x,
        errors[rows, at],
        allowed[rows, at],
        refs,
        got[rows, at],
        ~good.all(axis=1),
    )


def _columns(a) -> np.ndarray:
    """A per-point array as (points, 1)."""
    return np.asarray(a, np.float64).reshape(-1, 1)


# --- layer norm ------------------------------------------------------------------------------


def _layer_norm_run(impl, dtype, x):
    x = x[np.abs(x) <= LN_LARGEST]
    rows = np.column_stack([x, np.broadcast_to(ROW, (len(x), 2))])
    p = LN.Problem(rows, 1, LN_WEIGHT, LN_BIAS, LN_EPS)
    return x, LN.Run(impl, p, dtype)


def _one_row(e: LN.Problem, i: int) -> LN.Problem:
    return e._replace(x=e.x[i : i + 1])


def _layer_norm_forward(impl, dtype, x):
    x, run = _layer_norm_run(impl, dtype, x)
    got = impl.numpy(run.forward())
    e = run.exact
    expected = RL.layer_norm(e.x, e.k, e.weight, e.bias, e.eps)
    bound = np.vstack([LN.forward_bound(_one_row(e, i), dtype) for i in range(len(x))])
    return x, [Part(got, within_elements(dtype, got, expected, bound), expected)]


def _layer_norm_backward(impl, dtype, x):
    x, run = _layer_norm_run(impl, dtype, x)
    g = np.broadcast_to(G_ROW, run.p.x.shape).copy()
    dx = impl.numpy(run.backward(g)[0])
    e = run.exact
    g_seen = impl.numpy(impl.array(g, dtype))
    expected = RL.layer_norm_grad(g_seen, e.x, e.k, e.weight, e.bias, e.eps)[0]
    bound = np.vstack(
        [LN.grad_bounds(g_seen[i : i + 1], _one_row(e, i), dtype)[0] for i in range(len(x))]
    )
    return x, [Part(dx, within_elements(dtype, dx, expected, bound), expected)]


# --- batch norm ------------------------------------------------------------------------------


def _batch_norm_run(impl, dtype, x, training: bool):
    x = x[np.abs(x) <= BN_LARGEST]
    c = len(x)
    batch = np.vstack([x, np.broadcast_to(ROW[:, None], (2, c))])  # (3, C): channel j [x_j, 0, 1]
    full = lambda v: np.full(c, v)  # noqa: E731
    p = BN.Problem(
        batch, full(BN_MEAN), full(BN_VAR), full(BN_WEIGHT), full(BN_BIAS),
        training, BN_MOMENTUM, BN_EPS, 1,
    )  # fmt: skip
    return x, BN.Run(impl, p, dtype)


def _per_channel(a: np.ndarray) -> np.ndarray:
    """(3, C) -> (C, 3); (C,) -> (C, 1)."""
    a = np.asarray(a, np.float64)
    return a.T if a.ndim == 2 else a.reshape(-1, 1)


def _bn_part(dtype, got, expected, terms) -> Part:
    got, expected = np.asarray(got, np.float64), np.asarray(expected, np.float64)
    v = BN.close_elements(dtype, got, expected, terms)
    v = Verdict(*(_per_channel(np.broadcast_to(a, got.shape)) for a in v))
    return Part(_per_channel(got), v, _per_channel(expected))


def _batch_norm_forward(impl, dtype, x, training: bool = True):
    x, run = _batch_norm_run(impl, dtype, x, training)
    out, rm, rv = run.forward()
    s, p = run.seen, run.p
    ref_out, ref_rm, ref_rv = RB.batch_norm(
        s.x, s.running_mean, s.running_var, s.weight, s.bias, axis=p.axis, **p.kwargs()
    )
    parts = [_bn_part(dtype, impl.numpy(out), ref_out, BN.output_terms(s))]
    if training:
        t_mean, t_var = BN.running_terms(s)
        parts.append(_bn_part(dtype, impl.numpy(rm), ref_rm, t_mean))
        parts.append(_bn_part(dtype, impl.numpy(rv), ref_rv, t_var))
    return x, parts


def _batch_norm_backward(impl, dtype, x, training: bool = True):
    x, run = _batch_norm_run(impl, dtype, x, training)
    ga, g_seen = run.g(np.broadcast_to(G_ROW[:, None], run.p.x.shape).copy())
    grads = run.backward(ga)
    s, p = run.seen, run.p
    expected = RB.batch_norm_grad(
        g_seen, s.x, s.weight, s.running_mean, s.running_var, p.training, p.eps, p.axis
    )
    terms = BN.grad_terms(s, g_seen)
    parts = [
        _bn_part(dtype, impl.numpy(a), e, t) for a, e, t in zip(grads, expected, terms, strict=True)
    ]
    return x, parts


# --- linear ----------------------------------------------------------------------------------


def _below_max(dtype: str, *arrays) -> np.ndarray:
    """Points (rows) where every value is finite and at most the dtype's largest."""
    big = float(FORMATS[dtype].max_finite)
    ok = True
    for a in arrays:
        a = np.asarray(a, np.float64).reshape(len(a), -1)
        ok = ok & (np.abs(a) <= big).all(axis=1)
    return ok


def _linear_forward(impl, dtype, x):
    rows = np.column_stack([x, np.broadcast_to(LIN_REST, (len(x), 2))])
    with np.errstate(over="ignore"):
        keep = _below_max(dtype, RL.linear(rows, LIN_WEIGHT, LIN_BIAS))
        keep &= _below_max(dtype, RL.linear_magnitude(rows, LIN_WEIGHT, LIN_BIAS))
    x, rows = x[keep], rows[keep]
    run = LIN.Run(impl, LIN.Problem(rows, LIN_WEIGHT, LIN_BIAS), dtype)
    got = impl.numpy(run.forward())
    e = run.exact
    expected = RL.linear(e.x, e.weight, e.bias)
    verdict = within_elements(dtype, got, expected, LIN.forward_bound(e, dtype))
    return x, [Part(got, verdict, expected)]


def _linear_backward(impl, dtype, x):
    n = len(x)
    weight = np.repeat(LIN_WEIGHT[:, :1], n, axis=1)  # every column [0.75, -2]
    run = LIN.Run(impl, LIN.Problem(x.reshape(1, n), weight, LIN_BIAS), dtype)
    g = LIN_G.reshape(1, 2)
    dx, dw, _ = (impl.numpy(a) for a in run.backward(g))
    e = run.exact
    g_seen = impl.numpy(impl.array(g, dtype))
    ex, ew, _ = RL.linear_grad(g_seen, e.x, e.weight, e.bias)
    bx, bw, _ = LIN.grad_bounds(g_seen, e, dtype)
    parts = []
    for got, expected, bound in ((dw, ew, bw), (dx, ex, bx)):  # (2, N) and (1, N): per column
        v = within_elements(dtype, got, expected, bound)
        parts.append(Part(got.T, Verdict(*(a.T for a in v)), expected.T))
    return x, parts


# --- penalties -------------------------------------------------------------------------------


def _penalty_params(x: np.ndarray) -> np.ndarray:
    return np.column_stack([x, np.broadcast_to(PEN_REST, (len(x), 2))])


def _penalty_forward(name: str) -> Callable:
    def measure(impl, dtype, x):
        params = _penalty_params(x)
        with np.errstate(over="ignore"):
            refs = np.array([PEN.REFERENCE[name]([row], PEN_LAM) for row in params])
        keep = _below_max(dtype, refs)
        got, expected, bound = [], [], []
        for row in params[keep]:
            run = PEN.Run(impl, PEN.Problem("array", (row,), PEN_LAM), dtype)
            got.append(float(impl.numpy(run.forward(name))))
            e = PEN.REFERENCE[name](run.exact, PEN_LAM)
            expected.append(e)
            bound.append(PEN.forward_bound(run.exact, e, dtype))
        got, expected = _columns(got), _columns(expected)
        verdict = within_elements(dtype, got, expected, _columns(bound))
        return x[keep], [Part(got, verdict, expected)]

    return measure


def _penalty_backward(name: str) -> Callable:
    def measure(impl, dtype, x):
        run = PEN.Run(impl, PEN.Problem("array", (_penalty_params(x),), PEN_LAM), dtype)
        (grad,) = PEN.flatten(run.backward(name, PEN_G))
        got = impl.numpy(grad)
        g_seen = float(impl.numpy(impl.array(np.float64(PEN_G), dtype)))
        (expected,) = PEN.REFERENCE_GRAD[name](g_seen, run.exact, PEN_LAM)
        verdict = within_elements(dtype, got, expected, PEN.backward_bound(expected, dtype))
        return x, [Part(got, verdict, expected)]

    return measure


_MEASURES: dict[tuple[str, str], Callable] = {
    ("layer_norm", "forward"): _layer_norm_forward,
    ("layer_norm", "backward"): _layer_norm_backward,
    ("batch_norm", "forward"): _batch_norm_forward,
    ("batch_norm", "backward"): _batch_norm_backward,
    ("batch_norm(eval)", "forward"): lambda i, d, x: _batch_norm_forward(i, d, x, False),
    ("batch_norm(eval)", "backward"): lambda i, d, x: _batch_norm_backward(i, d, x, False),
    ("linear", "forward"): _linear_forward,
    ("linear", "backward"): _linear_backward,
    **{(n, "forward"): _penalty_forward(n) for n in PEN.NAMES},
    **{(n, "backward"): _penalty_backward(n) for n in PEN.NAMES},
}
