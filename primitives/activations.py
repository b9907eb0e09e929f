"""Activation functions and their derivatives, on NumPy, PyTorch and JAX arrays alike.

Names and defaults follow ``torch.nn.functional``. Every function keeps the input's framework,
device, dtype and shape, never mutates its input, and propagates NaN. float16 and bfloat16 are
computed in float32 and rounded once. Integer and bool arrays raise ``TypeError`` (cast them
first); Python numbers and lists are converted by the default backend (see
``primitives.set_backend``) to its default floating dtype.

Parameters are checked before anything is computed, the same way on every backend (see
:mod:`primitives._checks`): ``negative_slope`` and ``alpha`` finite, ``beta > 0`` finite,
``threshold`` a number or +inf (not NaN), ``approximate`` ``"none"`` or ``"tanh"``, ``axis``
an integer in range. A bool or a string where a number is expected is a ``TypeError``; a
value outside the domain a ``ValueError`` naming the parameter, its value and the range.

``<name>_backward(grad_output, x, ...)`` returns the gradient with respect to ``x`` (the
vector-Jacobian product; ``grad_output * f'(x)`` for the elementwise functions). At a NaN input
the gradient is NaN. On torch and jax the forward functions are also differentiable by
``torch.autograd`` and ``jax.grad``, which then use these same backward formulas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

from . import _checks as C
from ._dispatch import float1, float2
from .backend import Array

_GELU_FORMS = ("none", "tanh")
_THRESHOLD = "a number or +inf (no threshold), not NaN or -inf"


def _softplus_params(fn: str, beta: Any, threshold: Any) -> tuple[float, float]:
    if type(beta) is float and type(threshold) is float and 0.0 < beta < math.inf:
        if -math.inf < threshold <= math.inf:  # the common case, checked in one test
            return beta, threshold
    beta = C.positive(fn, "beta", beta)
    threshold = C.not_nan(fn, "threshold", threshold, _THRESHOLD)
    if threshold == -math.inf:
        raise ValueError(f"{fn}: threshold must be {_THRESHOLD}, got -inf")
    return beta, threshold


def _softmax_axis(fn: str, axis: Any, x: Array) -> int:
    """A valid axis of ``x``; a 0-d ``x`` has the axes 0 and -1 (as torch)."""
    return C.axis(fn, axis, x.ndim or 1, "x" if x.ndim else "0-d x (a row of one entry)")


def _rows(kernel: Callable, x: Array, axis: int, *arrays: Array) -> Array:
    """A softmax-like kernel on ``(*arrays, x)``, with the degenerate shapes handled here, the
    same on every backend: a 0-d ``x`` is a row of one entry (its axis is 0 or -1), and an
    ``x`` with no entries gives an empty result of its shape and dtype (a zero-length axis
    holds no rows to normalize)."""
    if x.ndim == 0:
        return kernel(*(a[None] for a in arrays), x[None], 0)[0, ...]
    if 0 in x.shape:
        return (arrays[0] if arrays else x) * 0.0
    return kernel(*arrays, x, axis)


def relu(x: Array) -> Array:
    """max(x, 0).

    Derivative: 1 for x > 0, 0 for x <= 0 (relu'(0) = 0, as torch and jax).
    """
    k, x = float1(x)
    return k.relu(x)


def relu_backward(grad_output: Array, x: Array) -> Array:
    """grad_output * relu'(x), with relu'(0) = 0."""
    k, g, x = float2(grad_output, x)
    return k.relu_backward(g, x)


def leaky_relu(x: Array, negative_slope: float = 0.01) -> Array:
    """x for x > 0, negative_slope * x otherwise (Maas et al. 2013; torch and jax default 0.01,
    Keras 0.2).

    Derivative: 1 for x > 0, negative_slope for x <= 0 (torch's convention at 0).
    """
    negative_slope = C.finite("leaky_relu", "negative_slope", negative_slope)
    k, x = float1(x)
    return k.leaky_relu(x, negative_slope)


def leaky_relu_backward(grad_output: Array, x: Array, negative_slope: float = 0.01) -> Array:
    """grad_output * leaky_relu'(x), with leaky_relu'(0) = negative_slope."""
    negative_slope = C.finite("leaky_relu_backward", "negative_slope", negative_slope)
    k, g, x = float2(grad_output, x)
    return k.leaky_relu_backward(g, x, negative_slope)


def sigmoid(x: Array) -> Array:
    """sigma(x) = 1 / (1 + exp(-x)), evaluated as 1/(1+e) or e/(1+e) with e = exp(-|x|), so
    it never overflows.

    Derivative: sigma'(x) = sigma(x) sigma(-x) = e/(1+e)^2, accurate in the tails (the common
    s*(1-s) is 0 in float64 from x ~ 37 although the true value is representable).
    """
    k, x = float1(x)
    return k.sigmoid(x)


def sigmoid_backward(grad_output: Array, x: Array) -> Array:
    """grad_output * sigma(x) sigma(-x)."""
    k, g, x = float2(grad_output, x)
    return k.sigmoid_backward(g, x)


def tanh(x: Array) -> Array:
    """tanh(x).

    Derivative: 1 - tanh(x)^2, evaluated as 4 e/(1+e)^2 with e = exp(-2|x|) (= 1/cosh^2 x),
    which does not cancel as |x| grows.
    """
    k, x = float1(x)
    return k.tanh(x)


def tanh_backward(grad_output: Array, x: Array) -> Array:
    """grad_output * (1 - tanh(x)^2)."""
    k, g, x = float2(grad_output, x)
    return k.tanh_backward(g, x)


def gelu(x: Array, approximate: Literal["none", "tanh"] = "none") -> Array:
    """Gaussian error linear unit (Hendrycks & Gimpel 2016).

    ``approximate="none"`` (torch's default): x Phi(x), Phi(x) = erfc(-x/sqrt 2)/2; erfc avoids
    the cancellation of 1 + erf(x/sqrt 2) in the negative tail.
    ``approximate="tanh"``: x (1 + tanh u)/2 with u = sqrt(2/pi)(x + 0.044715 x^3), evaluated
    as x sigma(2u), which does not cancel. ``jax.nn.gelu`` defaults to this tanh form
    (``approximate=True``); the two forms differ by up to about 5e-4.
    gelu(-inf) = 0, gelu(+inf) = +inf.
    """
    approximate = C.choice("gelu", "approximate", approximate, _GELU_FORMS)
    k, x = float1(x)
    return k.gelu(x, approximate)


def gelu_backward(
    grad_output: Array, x: Array, approximate: Literal["none", "tanh"] = "none"
) -> Array:
    """grad_output * gelu'(x): Phi(x) + x phi(x) for the exact form;
    sigma(2u) + x sigma'(2u) 2u'(x) for the tanh form."""
    approximate = C.choice("gelu_backward", "approximate", approximate, _GELU_FORMS)
    k, g, x = float2(grad_output, x)
    return k.gelu_backward(g, x, approximate)


def silu(x: Array) -> Array:
    """x sigma(x) (SiLU / swish with beta = 1; Elfwing et al. 2018).

    Derivative: sigma(x) + x sigma(x) sigma(-x).
    """
    k, x = float1(x)
    return k.silu(x)


def silu_backward(grad_output: Array, x: Array) -> Array:
    """grad_output * (sigma(x) + x sigma(x) sigma(-x))."""
    k, g, x = float2(grad_output, x)
    return k.silu_backward(g, x)


def softplus(x: Array, beta: float = 1.0, threshold: float = 20.0) -> Array:
    """log(1 + exp(beta x)) / beta, and x where beta x > threshold (torch's convention;
    jax.nn.softplus has no threshold: pass ``threshold=math.inf``).

    Evaluated as (max(z, 0) + log1p(exp(-|z|)))/beta with z = beta x, so it never overflows.
    Derivative: sigma(beta x), and 1 where beta x > threshold (the test is on the input).
    """
    beta, threshold = _softplus_params("softplus", beta, threshold)
    k, x = float1(x)
    return k.softplus(x, beta, threshold)


def softplus_backward(
    grad_output: Array, x: Array, beta: float = 1.0, threshold: float = 20.0
) -> Array:
    """grad_output * sigma(beta x), grad_output where beta x > threshold."""
    beta, threshold = _softplus_params("softplus_backward", beta, threshold)
    k, g, x = float2(grad_output, x)
    return k.softplus_backward(g, x, beta, threshold)


def elu(x: Array, alpha: float = 1.0) -> Array:
    """x for x > 0, alpha (exp(x) - 1) otherwise (Clevert et al. 2016), with expm1.

    Derivative: 1 for x > 0, alpha exp(x) for x <= 0 (torch's convention at 0: alpha).
    """
    alpha = C.finite("elu", "alpha", alpha)
    k, x = float1(x)
    return k.elu(x, alpha)


def elu_backward(grad_output: Array, x: Array, alpha: float = 1.0) -> Array:
    """grad_output * elu'(x), with elu'(0) = alpha."""
    alpha = C.finite("elu_backward", "alpha", alpha)
    k, g, x = float2(grad_output, x)
    return k.elu_backward(g, x, alpha)


def softmax(x: Array, axis: int = -1) -> Array:
    """exp(x - max x) / sum(exp(x - max x)) along ``axis`` (torch's ``dim``).

    Rows with infinities, where torch and jax give NaN: the +inf entries of a row share its
    mass equally (the limit as they grow together) and the rest get 0; an all -inf row is
    uniform (the limit of a constant row, by shift invariance). A NaN makes its row NaN.

    ``axis`` is an integer in [-ndim, ndim) (``None`` raises ``TypeError``: as with torch's
    ``dim``, the axis is always explicit, never the whole array). A 0-d ``x`` is a row of one
    entry (axis 0 or -1, as torch): softmax 1, log_softmax 0. An ``x`` with no entries (a
    zero-length axis anywhere) gives an empty array of its shape and dtype.
    """
    k, x = float1(x)
    return _rows(k.softmax, x, _softmax_axis("softmax", axis, x))


def softmax_backward(grad_output: Array, x: Array, axis: int = -1) -> Array:
    """y * (grad_output - sum(grad_output * y)), y = softmax(x)."""
    k, g, x = float2(grad_output, x)
    return _rows(k.softmax_backward, x, _softmax_axis("softmax_backward", axis, x), g)


def log_softmax(x: Array, axis: int = -1) -> Array:
    """x - max x - log(sum(exp(x - max x))) along ``axis``; infinities as in :func:`softmax`
    (so a +inf entry among k gives -log k, an all -inf row gives -log n)."""
    k, x = float1(x)
    return _rows(k.log_softmax, x, _softmax_axis("log_softmax", axis, x))


def log_softmax_backward(grad_output: Array, x: Array, axis: int = -1) -> Array:
    """grad_output - softmax(x) * sum(grad_output)."""
    k, g, x = float2(grad_output, x)
    return _rows(k.log_softmax_backward, x, _softmax_axis("log_softmax_backward", axis, x), g)
