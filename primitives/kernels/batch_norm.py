"""Batch normalization and its backward, written once over a :class:`~primitives.backend.Backend`.

Shapes: ``x`` has the channels on ``axis`` (static, already normalized to 0 <= axis < ndim;
``momentum`` and ``eps`` are Python floats, traced scalars under jax.jit);
statistics are taken over every other axis, ``n`` values per channel. ``weight``, ``bias``,
``running_mean`` and ``running_var`` have shape ``(C,)``; ``weight``/``bias`` may be None.

Training statistics are computed in two passes around a per-channel *shift* ``s`` (the
channel's first value): ``y = x - s``, ``mean_y = sum(y) / n``, ``d = y - mean_y``,
``var = sum(d^2) / n``. The two passes never form ``E[x^2] - E[x]^2`` (which cancels and can go
negative); the shift makes ``d`` exactly 0 for a constant channel (so its output is exactly
``bias``, whatever its magnitude) and keeps ``y`` small where the channel's mean is large.
The running statistics get ``mean = s + mean_y`` and the unbiased ``var * n / (n - 1)``.
float16/bfloat16 inputs are computed in float32 and rounded once, outputs and new running
statistics alike (:func:`~primitives.kernels.working_precision.in_float32`).
"""

from __future__ import annotations

import math

from ..backend import Array, Backend
from .specs import FunctionSpec
from .working_precision import in_float32


def _others(axis: int, ndim: int) -> tuple[int, ...]:
    return tuple(i for i in range(ndim) if i != axis)


def _along(v: Array, axis: int, ndim: int) -> Array:
    """A ``(C,)`` array shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    return v[(None,) * axis + (slice(None),) + (None,) * (ndim - 1 - axis)]


def _channel(v: Array, axis: int) -> Array:
    """A keepdims per-channel array back to shape ``(C,)``."""
    return v[tuple(slice(None) if i == axis else 0 for i in range(v.ndim))]


def _per_channel(x: Array, axis: int) -> int:
    return math.prod(int(n) for i, n in enumerate(x.shape) if i != axis)


def _batch_stats(b: Backend, x: Array, axis: int) -> tuple[Array, Array, Array]:
    """(mean, d = x - mean, biased var), mean and var kept as broadcastable per-channel arrays."""
    xp = b.xp
    dims, n = _others(axis, x.ndim), _per_channel(x, axis)
    shift = x[tuple(slice(None) if i == axis else slice(0, 1) for i in range(x.ndim))]
    y = x - shift
    mean_y = xp.sum(y, axis=dims, keepdims=True) / n
    d = y - mean_y
    var = xp.sum(d * d, axis=dims, keepdims=True) / n
    return shift + mean_y, d, var


def _normalize(b, d, inv, weight, bias, axis):
    """``d * (inv * weight) + bias``: the per-channel factor is formed first (C values), so
    the full-size array is touched twice."""
    scale = inv if weight is None else inv * _along(weight, axis, d.ndim)
    out = d * scale
    return out if bias is None else out + _along(bias, axis, d.ndim)


def _update(running: Array | None, batch: Array, momentum: float) -> Array | None:
    """torch's convention: (1 - m) r + m batch."""
    if running is None:
        return None
    return (1.0 - momentum) * running + momentum * batch


@in_float32
def batch_norm_train(b, x, running_mean, running_var, weight, bias, momentum, eps, axis):
    """(out, new_running_mean, new_running_var) normalizing with the batch statistics."""
    n = _per_channel(x, axis)
    mean, d, var = _batch_stats(b, x, axis)
    out = _normalize(b, d, 1.0 / b.xp.sqrt(var + eps), weight, bias, axis)
    new_mean = _update(running_mean, _channel(mean, axis), momentum)
    new_var = _update(running_var, _channel(var, axis) * (n / (n - 1)), momentum)
    return out, _state(b, new_mean), _state(b, new_var)


def _state(b: Backend, running: Array | None) -> Array | None:
    """A new running statistic cut from autodiff: state, as torch's buffers, not an output to
    differentiate (a training loop must not keep every step's graph alive through it)."""
    return None if running is None else b.stop_gradient(running)


@in_float32
def batch_norm_eval(b, x, running_mean, running_var, weight, bias, eps, axis):
    """``(x - running_mean) / sqrt(running_var + eps) * weight + bias``."""
    ndim = x.ndim
    inv = 1.0 / b.xp.sqrt(_along(running_var, axis, ndim) + eps)
    return _normalize(b, x - _along(running_mean, axis, ndim), inv, weight, bias, axis)


@in_float32
def batch_norm_train_backward(b, g, x, weight, eps, axis):
    """(dx, dweight, dbias) through the batch statistics, in the compact form (Ioffe & Szegedy
    2015, section 3, simplified): with ``x_hat = (x - mean) / sigma``, ``sigma = sqrt(var +
    eps)``, ``g_hat = g * weight``,

        dx = (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat)) / sigma,
        dweight = sum(g * x_hat),  dbias = sum(g)  (sums and means over the non-channel axes).
    """
    xp = b.xp
    dims, n = _others(axis, x.ndim), _per_channel(x, axis)
    _, d, var = _batch_stats(b, x, axis)
    inv = 1.0 / xp.sqrt(var + eps)
    x_hat = d * inv
    g_hat = g if weight is None else g * _along(weight, axis, x.ndim)
    mean_g = xp.sum(g_hat, axis=dims, keepdims=True) / n
    mean_gx = xp.sum(g_hat * x_hat, axis=dims, keepdims=True) / n
    dx = (g_hat - mean_g - x_hat * mean_gx) * inv
    dweight = xp.sum(g * x_hat, axis=dims)
    dbias = xp.sum(g, axis=dims)
    return dx, dweight, dbias


@in_float32
def batch_norm_eval_backward(b, g, x, running_mean, running_var, weight, eps, axis):
    """(dx, dweight, dbias) with the running statistics fixed: ``dx = g * weight / sigma``."""
    xp = b.xp
    ndim, dims = x.ndim, _others(axis, x.ndim)
    inv = 1.0 / xp.sqrt(_along(running_var, axis, ndim) + eps)
    x_hat = (x - _along(running_mean, axis, ndim)) * inv
    scale = inv if weight is None else inv * _along(weight, axis, ndim)
    return g * scale, xp.sum(g * x_hat, axis=dims), xp.sum(g, axis=dims)


# Only the axis is static: momentum and eps are traced scalars under jax.jit, so a schedule of
# momentum values does not recompile.
KERNELS: tuple[FunctionSpec, ...] = (
    FunctionSpec("batch_norm_train", batch_norm_train, static_argnums=(7,)),
    FunctionSpec("batch_norm_eval", batch_norm_eval, static_argnums=(6,)),
    FunctionSpec("batch_norm_train_backward", batch_norm_train_backward, static_argnums=(4,)),
    FunctionSpec("batch_norm_eval_backward", batch_norm_eval_backward, static_argnums=(6,)),
)
