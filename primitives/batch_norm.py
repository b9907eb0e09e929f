"""Batch normalization (Ioffe & Szegedy 2015), functional, on NumPy, PyTorch and JAX arrays.

Nothing is mutated: the running statistics go in and the new ones come out. Conventions are
torch's (``torch.nn.functional.batch_norm``); ``docs/dropout_batch_norm.md`` maps flax and Keras.

* Training: per channel (``axis``), with the ``n`` values of the channel,
  ``mean = sum(x) / n``, ``var = sum((x - mean)^2) / n`` (biased), and
  ``out = (x - mean) / sqrt(var + eps) * weight + bias``. The running statistics become
  ``(1 - momentum) * running + momentum * batch``, with the *unbiased* variance
  ``var * n / (n - 1)`` for the running variance (torch's ``momentum``: the weight of the new
  batch, default 0.1). flax's and Keras's ``momentum`` is the weight of the old value:
  ``momentum_flax = 1 - momentum``; they also store the biased variance.
* Evaluation: ``out = (x - running_mean) / sqrt(running_var + eps) * weight + bias``; the
  running statistics are returned unchanged (the same objects).
* Shapes: ``x`` is ``(N, C)``, ``(N, C, L)``, ``(N, C, H, W)``, ... with the channels on
  ``axis`` (default 1; ``axis=-1`` for channels-last); ``running_mean``, ``running_var``,
  ``weight`` and ``bias`` are ``(C,)``, of x's backend and dtype. ``weight=None`` means 1,
  ``bias=None`` 0. ``running_mean``/``running_var`` may both be None in training (no running
  statistics kept: ``None`` comes back for them).
* Bad input raises before anything is computed, with the same message on every backend.
  A channel with a single value in training is an error (as torch: its variance is 0 and the
  unbiased one 0/0). ``eps`` must be a finite number > 0, ``momentum`` in [0, 1]
  (``primitives._checks``: a bool or a string is a ``TypeError``).
"""

from __future__ import annotations

import math
from typing import Any

from . import _array_checks as A
from . import _checks as C
from ._dispatch import Kernels, _resolve
from .backend import Array

_CHANNELS = "; the channel axis is 1 for (N, C, ...) and -1 for channels-last"


def _axis(fn: str, axis: Any, ndim: int) -> int:
    return C.axis(fn, axis, ndim, "x", _CHANNELS) % ndim


def _eps(fn: str, eps: Any) -> float:
    return C.positive(fn, "eps", eps)


def _momentum(fn: str, momentum: Any) -> float:
    try:
        return C.unit_interval(fn, "momentum", momentum)
    except ValueError as e:
        raise ValueError(
            f"{e} (torch's convention: the weight of the new batch; flax/Keras momentum m is "
            "1 - m here)"
        ) from None


def _input(fn: str, x: Any, axis: Any) -> tuple[Kernels, Array, int, int]:
    table, x = _resolve(x, f"{fn}: x")
    if x.ndim < 2:
        raise ValueError(
            f"{fn}: x must have at least 2 dimensions (N, C, ...), got shape {A.shape(x)}"
        )
    axis = _axis(fn, axis, x.ndim)
    return table, x, axis, A.shape(x)[axis]


def _per_channel(fn: str, table: Kernels, a: Any, what: str, x: Array, c: int) -> Array | None:
    if a is None:
        return None
    a = A.floating(fn, table, a, what, x, "x")
    A.same_shape(fn, a, what, (c,), f"one value per channel: x has {c} channels")
    return a


def _values_per_channel(fn: str, x: Array, axis: int) -> None:
    n = math.prod(s for i, s in enumerate(A.shape(x)) if i != axis)
    if n < 2:
        raise ValueError(
            f"{fn}: expected more than 1 value per channel when training, got x of shape "
            f"{A.shape(x)} with channels on axis {axis} ({n} value per channel)"
        )


def _running(fn, table, x, c, running_mean, running_var, training):
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{fn}: pass both running_mean and running_var, or neither")
    if running_mean is None and not training:
        raise ValueError(
            f"{fn}: evaluation mode (training=False) needs running_mean and running_var"
        )
    rm = _per_channel(fn, table, running_mean, "running_mean", x, c)
    rv = _per_channel(fn, table, running_var, "running_var", x, c)
    return rm, rv


def _training(fn: str, training: Any) -> bool:
    return C.flag(fn, "training", training)


def batch_norm(
    x: Array,
    running_mean: Array | None,
    running_var: Array | None,
    weight: Array | None = None,
    bias: Array | None = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
    axis: int = 1,
) -> tuple[Array, Array | None, Array | None]:
    """Batch normalization: ``(out, new_running_mean, new_running_var)``.

    Training: ``out = (x - mean) / sqrt(var + eps) * weight + bias`` with the batch's mean and
    biased variance per channel; new running statistics ``(1 - momentum) r + momentum b`` with
    the unbiased batch variance (torch's convention; flax/Keras ``momentum`` = 1 - this one).
    Evaluation: the same formula with the running statistics, which come back unchanged.
    Arguments in torch ``F.batch_norm``'s order; see the module docstring for every convention.
    """
    fn = "batch_norm"
    training = _training(fn, training)
    momentum, eps = _momentum(fn, momentum), _eps(fn, eps)
    table, x, axis, c = _input(fn, x, axis)
    rm, rv = _running(fn, table, x, c, running_mean, running_var, training)
    w = _per_channel(fn, table, weight, "weight", x, c)
    b = _per_channel(fn, table, bias, "bias", x, c)
    if not training:
        return table.batch_norm_eval(x, rm, rv, w, b, eps, axis), rm, rv
    _values_per_channel(fn, x, axis)
    return table.batch_norm_train(x, rm, rv, w, b, momentum, eps, axis)


def batch_norm_backward(
    grad_output: Array,
    x: Array,
    weight: Array | None = None,
    running_mean: Array | None = None,
    running_var: Array | None = None,
    training: bool = True,
    eps: float = 1e-5,
    axis: int = 1,
) -> tuple[Array, Array, Array]:
    """``(dx, dweight, dbias)``: the gradients of :func:`batch_norm`'s output.

    Training (through the batch statistics; compact form of Ioffe & Szegedy 2015, sec. 3), with
    ``x_hat = (x - mean) / sigma``, ``sigma = sqrt(var + eps)``, ``g_hat = grad_output * weight``
    and means over the non-channel axes::

        dx = (g_hat - mean(g_hat) - x_hat * mean(g_hat * x_hat)) / sigma

    so each channel of ``dx`` sums to 0 and is orthogonal to ``x_hat``. Evaluation (running
    statistics fixed, they are then required): ``dx = grad_output * weight / sigma_running``.
    Both: ``dweight = sum(grad_output * x_hat)``, ``dbias = sum(grad_output)`` per channel
    (returned also when ``weight``/``bias`` is None: the gradients they would get).
    """
    fn = "batch_norm_backward"
    training = _training(fn, training)
    eps = _eps(fn, eps)
    table, x, axis, c = _input(fn, x, axis)
    g = A.floating(fn, table, grad_output, "grad_output", x, "x")
    A.same_shape(fn, g, "grad_output", A.shape(x), "the shape of x")
    w = _per_channel(fn, table, weight, "weight", x, c)
    if not training:
        rm, rv = _running(fn, table, x, c, running_mean, running_var, training)
        return table.batch_norm_eval_backward(g, x, rm, rv, w, eps, axis)
    _values_per_channel(fn, x, axis)
    return table.batch_norm_train_backward(g, x, w, eps, axis)


__all__ = ["batch_norm", "batch_norm_backward"]
