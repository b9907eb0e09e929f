"""Layer normalization and the linear layer, written once over a
:class:`~primitives.backend.Backend`.

Kernels take every parameter positionally (``layer_norm(b, x, weight, bias, k, eps)``, with
``k`` the number of trailing axes normalized); the public, validating functions are in
:mod:`primitives.layers`, which states the formulas and conventions. They are registered in
:data:`primitives.kernels.FUNCTIONS`; on torch and jax the forward kernels are also
differentiable by the framework's autodiff: layer norm through its hand-written backward
(``torch.autograd.Function`` / ``jax.custom_vjp``, for x, weight and bias), linear through
its plain matrix products.

Layer norm computes the variance in two passes (the mean, then the mean of the squared
deviations): a one-pass ``E[x^2] - E[x]^2`` loses every digit when the mean is large against
the spread. The deviations ``d = x - mean`` are corrected by their own mean, the rounded
mean's residual (the corrected two-pass algorithm; Chan, Golub & LeVeque 1983, "Algorithms for
computing the sample variance"): on float32 rows ``1e4 + N(0, 1)`` the mean's rounding
otherwise shifts every ``x_hat`` and dx by about 150 units of 2^-24 of the row's largest value
(2 with the correction), at one more reduction and subtraction. The backward is the compact
analytic form

    dx = rstd * (gw - mean(gw) - x_hat * mean(gw * x_hat)),  gw = grad_output * weight,

with the means over the normalized axes (Ba, Kiros & Hinton 2016, "Layer Normalization";
the same algebra as batch norm's backward in Ioffe & Szegedy 2015).

float16/bfloat16 inputs are computed in float32 and rounded once
(:func:`~primitives.kernels.working_precision.in_float32`).
"""

from __future__ import annotations

import math

from ..backend import Array, Backend
from .specs import FunctionSpec
from .working_precision import in_float32

# --- layer norm ------------------------------------------------------------------------------


def _normalize(b: Backend, x: Array, k: int, eps: float) -> tuple[Array, Array, tuple, int]:
    """(x_hat, rstd, normalized axes, n): x_hat = (x - mean) * rstd, rstd = 1/sqrt(var + eps),
    the mean and the biased variance over the last ``k`` axes (two passes, the deviations
    corrected by their mean)."""
    xp = b.xp
    axes = tuple(range(x.ndim - k, x.ndim))
    n = math.prod(x.shape[x.ndim - k :])
    mean = xp.sum(x, axis=axes, keepdims=True) / n
    d = x - mean
    d = d - xp.sum(d, axis=axes, keepdims=True) / n  # (the rounded mean's residual)
    var = xp.sum(d * d, axis=axes, keepdims=True) / n
    rstd = 1.0 / xp.sqrt(var + eps)
    return d * rstd, rstd, axes, n


def _over_leading(b: Backend, a: Array, k: int) -> Array:
    """``a`` summed over every axis but the last ``k`` (``a`` itself when there are none:
    torch's ``sum(dim=())`` would sum everything)."""
    lead = tuple(range(a.ndim - k))
    return b.xp.sum(a, axis=lead) if lead else a


@in_float32
def layer_norm(
    b: Backend, x: Array, weight: Array | None, bias: Array | None, k: int, eps: float
) -> Array:
    y, _, _, _ = _normalize(b, x, k, eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


@in_float32
def layer_norm_backward(
    b: Backend,
    g: Array,
    x: Array,
    weight: Array | None,
    bias: Array | None,
    k: int,
    eps: float,
) -> tuple[Array, Array | None, Array | None]:
    xp = b.xp
    x_hat, rstd, axes, n = _normalize(b, x, k, eps)
    gw = g if weight is None else g * weight
    mean_gw = xp.sum(gw, axis=axes, keepdims=True) / n
    mean_gw_xhat = xp.sum(gw * x_hat, axis=axes, keepdims=True) / n
    dx = rstd * (gw - mean_gw - x_hat * mean_gw_xhat)
    dweight = None if weight is None else _over_leading(b, g * x_hat, k)
    dbias = None if bias is None else _over_leading(b, g, k)
    return dx, dweight, dbias


# --- linear ----------------------------------------------------------------------------------


@in_float32
def linear(b: Backend, x: Array, weight: Array, bias: Array | None) -> Array:
    z = x @ weight.T
    return z if bias is None else z + bias


@in_float32
def linear_backward(
    b: Backend, g: Array, x: Array, weight: Array, bias: Array | None
) -> tuple[Array, Array, Array | None]:
    n_out, n_in = weight.shape
    dx = g @ weight
    g2 = g.reshape(-1, n_out)
    dweight = g2.T @ x.reshape(-1, n_in)
    dbias = None if bias is None else b.xp.sum(g2, axis=0)
    return dx, dweight, dbias


KERNELS: tuple[FunctionSpec, ...] = (
    FunctionSpec("layer_norm", layer_norm, (3, 4), "layer_norm_backward", grads=(0, 1, 2)),
    FunctionSpec("layer_norm_backward", layer_norm_backward, (4, 5)),
    FunctionSpec("linear", linear),
    FunctionSpec("linear_backward", linear_backward),
)
