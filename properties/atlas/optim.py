"""The atlas's optimizers: each update rule's step, in ULPs against the float64 references of
``reference/optim.py`` and with the bound of the optimizer properties, by their own judge
(:func:`properties.optim_cases.step_verdicts`, the per-element verdicts that
``test_optim.py::test_each_step_from_the_reference_state`` and
``test_optim_low_precision.py`` assert on).

Each grid point ``g`` (as the dtype holds it) is the gradient of one parameter element, every
parameter 1.0, so one call steps the whole grid. Two steps with the same gradient ``g``, each
judged alone as the property judges it: the first from ``init``'s state, the second from the
reference's state after the first, rounded to the dtype (so the recurrences too are measured:
momentum, the decayed moments, AMSGrad's maximum, the centred average, a bias correction at
t = 2). The hyperparameters are torch.optim's defaults, spelt out (the library's rules take
them; ``lr`` where the rule has no default is torch's):

=================  ====================================================================
primitive          rule and hyperparameters
=================  ====================================================================
sgd                sgd, lr 1e-3
sgd(momentum)      sgd, lr 1e-3, momentum 0.9
sgd(nesterov)      sgd, lr 1e-3, momentum 0.9, nesterov
heavy_ball         heavy_ball, lr 1e-3, momentum 0.9
rmsprop            rmsprop, lr 1e-2, alpha 0.99, eps 1e-8
rmsprop(centered)  rmsprop, the same, centered, momentum 0.9
adam               adam, lr 1e-3, betas (0.9, 0.999), eps 1e-8
adam(amsgrad)      adam, the same, amsgrad
adamw              adamw, the same, weight decay 0.01
adagrad            adagrad, lr 1e-2, eps 1e-10, initial accumulator 0
=================  ====================================================================

The grid is kept where the property's reference and bound are defined (every other point is
measured, then dropped): at each output of both steps the reference value is a finite value of
the dtype (not beyond its largest: a state no implementation can hold in the dtype, such as
float32 Adam's (1 - b2) g^2 past 3.4e38, or float64's own g^2 overflowing past 1.3e154, where
the float64 reference is no longer the step) and the bound is a finite number (RMSProp at
g = 0, whose condition number the reference leaves 0/0; the infinite gradients). Everything
else is measured as the property judges it, far outside the |g| in [1/16, 16] (float16 and
bfloat16: [2^-12, 64]) that it draws: a point over its bound is an input that
``each_step_from_the_reference_state`` rejects.

"forward" is the new parameter and the new state: at each point, of the two steps' parameter
and every slot (``exp_avg``, ...; each slot's bound is twice a parameter's, as the property's),
the output with the largest error relative to its bound; the point is over its bound where the
property rejects any of them. An optimizer has no backward (None). The implementations are
those the optimizer properties judge, the library's public API and third-party backends
(``IMPLEMENTATION_KINDS = PUBLIC_API``), and the frameworks' own optimizers where their table
has them (``ops.optim``, :mod:`properties.framework_optim`: torch.optim's for ``torch-native``,
optax's for ``jax-native``, each one step from the library's state mapped to the framework's),
and the ``:generic`` ids (the public API on the generic update kernels), in every dtype they
list. A rule the framework does not have (heavy ball) or whose hyperparameters it cannot
express (optax: AMSGrad in torch's form, Adagrad's eps outside the root) is None.

Errors are ULPs of the dtype at the float64 reference (:func:`properties.checks.ulps_between`);
the bound is the property's absolute bound ``rtol · scale + tiny`` in those ULPs. In float16
and bfloat16 the property asks for the correct rounding of a value within the float32 bound of
the reference (:func:`properties.checks.rounding.rounds_once_within`): the bound shown is the
distance, on the output's side, from the reference to the farthest such rounding, so that the
error is over it exactly where the property rejects the output.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..checks import relative_errors, spacing, ulps_between
from ..checks.rounding import LOW_PRECISION, round_to
from ..implementations import Implementation, public
from ..optim_cases import Problem, Verdict, construct, step_verdicts
from .curve import Curve, distinct

_SGD = {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0}
_RMSPROP = {
    "lr": 1e-2,
    "alpha": 0.99,
    "eps": 1e-8,
    "centered": False,
    "momentum": 0.0,
    "eps_in_sqrt": False,
    "weight_decay": 0.0,
    "bias_correction": False,
}
_ADAM = {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "eps_root": 0.0, "amsgrad": False}

RULES: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("sgd", {"lr": 1e-3, **_SGD}),
    "sgd(momentum)": ("sgd", {"lr": 1e-3, **_SGD, "momentum": 0.9}),
    "sgd(nesterov)": ("sgd", {"lr": 1e-3, **_SGD, "momentum": 0.9, "nesterov": True}),
    "heavy_ball": ("heavy_ball", {"lr": 1e-3, "momentum": 0.9}),
    "rmsprop": ("rmsprop", _RMSPROP),
    "rmsprop(centered)": ("rmsprop", {**_RMSPROP, "centered": True, "momentum": 0.9}),
    "adam": ("adam", {**_ADAM, "weight_decay": 0.0}),
    "adam(amsgrad)": ("adam", {**_ADAM, "weight_decay": 0.0, "amsgrad": True}),
    "adamw": ("adamw", {**_ADAM, "weight_decay": 0.01}),
    "adagrad": ("adagrad", {"lr": 1e-2, "eps": 1e-10, "initial_accumulator_value": 0.0}),
}
"""Each primitive's rule (``primitives.optim``, ``reference.optim``) and hyperparameters."""

PRIMITIVES = tuple(RULES)

STEPS = 2
"""Steps with the same gradient, each judged from the reference's state before it."""

PARAM = 1.0
"""Every parameter element's value before the first step."""


def problem(primitive: str, g: np.ndarray) -> Problem:
    """The property's problem for the gradients ``g`` (one parameter element each)."""
    _, hyper = RULES[primitive]
    return Problem(np.full(g.shape, PARAM), (g,) * STEPS, dict(hyper))


def curve(
    impl: Implementation, primitive: str, direction: str, dtype: str, x64: np.ndarray
) -> Curve | None:
    """One rule's errors over the grid of gradients, or None where the implementation has no
    such optimizer (neither the library's public API nor a framework table with ``optim``; a
    framework that cannot express the rule's hyperparameters: ``NotImplementedError``), or for
    the backward (an optimizer has none). A ``:generic`` id is the public API on the generic
    kernels (:func:`properties.implementations.public`)."""
    impl = public(impl)
    if direction != "forward" or not hasattr(impl.ops, "optim"):
        return None
    with np.errstate(over="ignore"):  # (the grid beyond the dtype's range: its infinities)
        g = distinct(impl.numpy(impl.array(x64, dtype)))
    rule, _ = RULES[primitive]
    try:
        construct(impl.ops, rule, problem(primitive, g))
    except NotImplementedError:  # (the framework has no such rule: the cell stays empty)
        return None
    with np.errstate(all="ignore"):  # (the overflowing points are measured, then dropped)
        verdicts = [v for _, v in step_verdicts(impl.ops, impl, rule, problem(primitive, g), dtype)]
        expected = np.stack([v.expected for v in verdicts], axis=1)
        defined = np.stack([np.isfinite(v.allowed) for v in verdicts], axis=1)
        defined &= np.isfinite(_rounded(expected, dtype))
        errors, allowed = zip(*(_ulps(v, dtype) for v in verdicts), strict=True)
    keep = defined.all(axis=1)
    errors, allowed = np.stack(errors, axis=1)[keep], np.stack(allowed, axis=1)[keep]
    got = np.stack([v.actual for v in verdicts], axis=1)[keep]
    expected = expected[keep]
    rejected = ~np.stack([v.good for v in verdicts], axis=1)[keep]
    ratio = relative_errors(errors, allowed)  # (where the property rejects some: of those)
    at = np.argmax(np.where(rejected.any(axis=1, keepdims=True) & ~rejected, -1.0, ratio), axis=1)
    rows = np.arange(at.size)
    return Curve(
        impl.id,
        primitive,
        direction,
        dtype,
        g[keep],
        errors[rows, at],
        allowed[rows, at],
        tuple(repr(float(e)) for e in expected[rows, at]),
        got[rows, at],
        rejected.any(axis=1),
    )


def _rounded(a: np.ndarray, dtype: str) -> np.ndarray:
    """``a`` rounded to ``dtype`` (inf beyond its range)."""
    return round_to(a, dtype) if dtype in LOW_PRECISION else a.astype(dtype).astype(np.float64)


def _ulps(v: Verdict, dtype: str) -> tuple[np.ndarray, np.ndarray]:
    """The verdict's error and bound in ULPs of ``dtype`` at the reference."""
    errors = ulps_between(v.actual, v.expected, dtype)
    unit = spacing(v.expected, dtype)
    if dtype not in LOW_PRECISION:
        return errors, np.asarray(v.allowed, np.float64) / unit
    # the farthest correct rounding of a value within the slack, on the output's side
    up = v.actual >= v.expected
    end = round_to(np.where(up, v.expected + v.allowed, v.expected - v.allowed), dtype)
    return errors, np.abs(end - v.expected) / unit
