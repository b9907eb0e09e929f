"""Layer normalization and the linear layer, with hand-written backward passes, on NumPy,
PyTorch and JAX arrays alike.

Names, argument order and defaults follow ``torch.nn.functional.layer_norm`` and
``torch.nn.functional.linear``; ``docs/layers.md`` maps flax's ``LayerNorm``/``Dense``. Each
backward returns a tuple of gradients ``(dx, dweight, dbias)``, with ``None`` for a weight or
bias that was not given (as torch's autograd). On torch and jax the forwards are also
differentiable by ``torch.autograd`` and ``jax.grad`` and run under ``jax.jit``.

Bad input raises before anything is computed, with the same message on every backend:
``ValueError`` for shapes that do not fit (no broadcasting) and a negative, infinite or NaN
``eps``; ``TypeError`` for non-floating arrays, arrays of another dtype than ``x`` and arrays of
another backend. Inputs are never mutated; results have ``x``'s framework, device and dtype
(float16/bfloat16 are computed in float32 and rounded once). NaN in a row of ``x`` gives NaN in
that row's output and gradient.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from . import _array_checks as A
from . import _checks as C
from .backend import Array

__all__ = ["layer_norm", "layer_norm_backward", "linear", "linear_backward"]


# --- validation ------------------------------------------------------------------------------


def _normalized_shape(fn: str, normalized_shape: Any) -> tuple[int, ...]:
    if isinstance(normalized_shape, bool):
        normalized_shape = [normalized_shape]  # rejected below
    try:
        dims = (operator.index(normalized_shape),)
    except TypeError:
        if not isinstance(normalized_shape, Sequence) or isinstance(normalized_shape, str):
            raise TypeError(
                f"{fn}: normalized_shape must be an int or a tuple of ints, got "
                f"{normalized_shape!r}"
            ) from None
        dims = normalized_shape
    out = []
    for d in dims:
        if isinstance(d, bool):
            raise TypeError(f"{fn}: normalized_shape must hold ints, got {normalized_shape!r}")
        try:
            out.append(operator.index(d))
        except TypeError:
            raise TypeError(
                f"{fn}: normalized_shape must hold ints, got {normalized_shape!r}"
            ) from None
    if not out or any(d <= 0 for d in out):
        raise ValueError(
            f"{fn}: normalized_shape must be a nonempty tuple of positive sizes, got {tuple(out)}"
        )
    return tuple(out)


def _eps(fn: str, eps: Any) -> float:
    return C.nonnegative(fn, "eps", eps)


def _optional(fn: str, k, a: Any, what: str, x: Array, shape: tuple[int, ...], expected: str):
    if a is None:
        return None
    a = A.floating(fn, k, a, what, x, "x")
    A.same_shape(fn, a, what, shape, expected)
    return a


def _layer_norm_args(fn: str, x: Any, normalized_shape: Any, weight: Any, bias: Any, eps: Any):
    shape = _normalized_shape(fn, normalized_shape)
    eps = _eps(fn, eps)
    k, x = A.prediction(fn, x, "x")
    if A.shape(x)[x.ndim - len(shape) :] != shape or x.ndim < len(shape):
        raise ValueError(
            f"{fn}: x has shape {A.shape(x)}, whose trailing dimensions must equal "
            f"normalized_shape {shape}"
        )
    weight = _optional(fn, k, weight, "weight", x, shape, "normalized_shape")
    bias = _optional(fn, k, bias, "bias", x, shape, "normalized_shape")
    return k, x, shape, weight, bias, eps


def _grad_output(fn: str, k, g: Any, x: Array, shape: tuple[int, ...], what: str) -> Array:
    g = A.floating(fn, k, g, "grad_output", x, "x")
    A.same_shape(fn, g, "grad_output", shape, what)
    return g


# --- layer norm ------------------------------------------------------------------------------


def layer_norm(
    x: Array,
    normalized_shape: int | Sequence[int],
    weight: Array | None = None,
    bias: Array | None = None,
    eps: float = 1e-5,
) -> Array:
    """Layer normalization (Ba, Kiros & Hinton 2016) over the trailing ``normalized_shape``
    axes of ``x``:

        ``y = (x - mean) / sqrt(var + eps) * weight + bias``

    with ``mean`` and the **biased** variance ``var = mean((x - mean)^2)`` over those axes (as
    torch ``F.layer_norm``); ``weight``/``bias`` have shape ``normalized_shape`` (absent: 1 and
    0); ``eps >= 0`` (``eps = 0`` with a constant row divides 0 by 0: NaN). The variance is
    computed in two passes, so a large mean against a small spread keeps its accuracy.

    flax ``nn.LayerNorm(epsilon=eps, reduction_axes=..., use_fast_variance=False)`` is the same
    (flax's default ``use_fast_variance=True`` computes ``E[x^2] - E[x]^2``, which cancels);
    Keras ``LayerNormalization(epsilon=1e-3)`` has another default eps.
    """
    fn = "layer_norm"
    k, x, shape, w, b, eps = _layer_norm_args(fn, x, normalized_shape, weight, bias, eps)
    return k.layer_norm(x, w, b, len(shape), eps)


def layer_norm_backward(
    grad_output: Array,
    x: Array,
    normalized_shape: int | Sequence[int],
    weight: Array | None = None,
    bias: Array | None = None,
    eps: float = 1e-5,
) -> tuple[Array, Array | None, Array | None]:
    """``(dx, dweight, dbias)`` of :func:`layer_norm` for ``grad_output`` (x's shape), in the
    compact analytic form, with ``x_hat = (x - mean) * rstd``, ``rstd = 1/sqrt(var + eps)``,
    ``gw = grad_output * weight`` and means over the normalized axes:

        ``dx = rstd * (gw - mean(gw) - x_hat * mean(gw * x_hat))``
        ``dweight = sum(grad_output * x_hat)``, ``dbias = sum(grad_output)`` over the other axes

    (``None`` for an absent weight or bias). Each row of ``dx`` sums to 0 and is orthogonal to
    that row's ``x_hat`` when ``eps = 0`` (within ``eps / (var + eps)`` otherwise).
    """
    fn = "layer_norm_backward"
    k, x, shape, w, b, eps = _layer_norm_args(fn, x, normalized_shape, weight, bias, eps)
    g = _grad_output(fn, k, grad_output, x, A.shape(x), "the shape of x")
    return k.layer_norm_backward(g, x, w, b, len(shape), eps)


# --- linear ----------------------------------------------------------------------------------


def _linear_args(fn: str, x: Any, weight: Any, bias: Any):
    k, x = A.prediction(fn, x, "x")
    if x.ndim == 0:
        raise ValueError(f"{fn}: x must have at least one dimension (the features)")
    w = A.floating(fn, k, weight, "weight", x, "x")
    if w.ndim != 2:
        raise ValueError(
            f"{fn}: weight must have shape (out_features, in_features), got {A.shape(w)}"
        )
    n_out, n_in = A.shape(w)
    if A.shape(x)[-1] != n_in:
        raise ValueError(
            f"{fn}: x has shape {A.shape(x)} but weight {A.shape(w)} needs x's last dimension to "
            f"be in_features = {n_in} (weight is (out_features, in_features), as torch)"
        )
    b = _optional(fn, k, bias, "bias", x, (n_out,), "(out_features,)")
    return k, x, w, b


def linear(x: Array, weight: Array, bias: Array | None = None) -> Array:
    """The affine map of ``torch.nn.functional.linear``: ``z = x W^T + b``.

    ``x`` has shape ``(..., in_features)`` (any leading batch dimensions, or none),
    ``weight`` ``(out_features, in_features)``, ``bias`` ``(out_features,)`` or absent; ``z``
    has shape ``(..., out_features)``. flax ``nn.Dense`` stores the transposed kernel
    ``(in_features, out_features)``: ``Dense(...)(x) == linear(x, kernel.T, bias)``.
    Rounding: each output is a dot product of ``in_features + 1`` terms (with the bias), within
    ``gamma_(in+1) * (sum |x| |W| + |b|)`` of the exact value (Higham, *Accuracy and Stability
    of Numerical Algorithms*, 2nd ed., eq. (3.4)), whatever the summation order.
    """
    k, x, w, b = _linear_args("linear", x, weight, bias)
    return k.linear(x, w, b)


def linear_backward(
    grad_output: Array, x: Array, weight: Array, bias: Array | None = None
) -> tuple[Array, Array, Array | None]:
    """``(dx, dweight, dbias)`` of :func:`linear` for ``grad_output`` of shape
    ``(..., out_features)``: ``dx = g W``, ``dweight = g^T x`` and ``dbias = sum(g)`` with
    the leading dimensions flattened into one batch axis (``None`` without a bias)."""
    fn = "linear_backward"
    k, x, w, b = _linear_args(fn, x, weight, bias)
    shape = (*A.shape(x)[:-1], A.shape(w)[0])
    g = _grad_output(fn, k, grad_output, x, shape, "(..., out_features): the output's shape")
    return k.linear_backward(g, x, w, b)
