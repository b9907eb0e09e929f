"""L1 and L2 weight penalties and their gradients, on NumPy, PyTorch and JAX arrays alike.

``params`` is one array or a (nested) dict, list or tuple of arrays, as a model's parameters:
every array of one backend and one floating dtype. The penalty is a 0-d array of that backend
and dtype; ``<name>_backward(grad_output, params, lam)`` returns the gradient with the same
structure (dicts keep their keys, lists stay lists, tuples tuples). ``grad_output`` is the
penalty's cotangent, a Python number or a 0-d array (``1.0`` gives the plain gradient).

Bad input raises before anything is computed, with the same message on every backend:
``ValueError`` for a negative, infinite or NaN ``lam`` and for params holding no array;
``TypeError`` for leaves that are not floating arrays, arrays of two backends or two dtypes,
and containers other than dict/list/tuple. Inputs are never mutated. A NaN parameter gives a NaN
penalty and a NaN gradient at that entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _array_checks as A
from . import _checks as C
from ._dispatch import Kernels, _describe, _is_python_data, _table_of
from .backend import Array

__all__ = ["l1_penalty", "l1_penalty_backward", "l2_penalty", "l2_penalty_backward"]

Params = Any
"""An array, or a dict / list / tuple (nested) of arrays."""


# --- the parameter structure -----------------------------------------------------------------


def _flatten(fn: str, params: Any, path: str, leaves: list, where: list) -> Callable:
    """Append the arrays of ``params`` to ``leaves`` (their paths to ``where``); return the
    function that rebuilds the structure from an iterator over new leaves."""
    if isinstance(params, dict):
        keys = list(params)
        parts = [_flatten(fn, params[k], f"{path}[{k!r}]", leaves, where) for k in keys]
        return lambda it: {k: p(it) for k, p in zip(keys, parts, strict=True)}
    if isinstance(params, (list, tuple)):
        kind = type(params) if type(params) in (list, tuple) else None
        if kind is None:
            raise TypeError(
                f"{fn}: params contains a {_describe(params)} at {path or 'the top'}; use a "
                "dict, list or tuple of arrays"
            )
        parts = [_flatten(fn, p, f"{path}[{i}]", leaves, where) for i, p in enumerate(params)]
        return lambda it: kind(p(it) for p in parts)
    if _table_of(params) is None:
        kind = "a Python number" if _is_python_data(params) else _describe(params)
        raise TypeError(
            f"{fn}: params must hold arrays (in dicts, lists or tuples); got {kind} at "
            f"{path or 'the top'}"
        )
    leaves.append(params)
    where.append(path or "the top")
    return lambda it: next(it)


def _name(dtype: Any) -> str:
    """A dtype's name without the library prefix (``float32``, not ``torch.float32``)."""
    return str(dtype).rsplit(".", 1)[-1]


def _leaves(fn: str, params: Any) -> tuple[Kernels, tuple[Array, ...], Callable]:
    leaves: list = []
    where: list = []
    rebuild = _flatten(fn, params, "", leaves, where)
    if not leaves:
        raise ValueError(f"{fn}: params holds no array")
    table = _table_of(leaves[0])
    first = leaves[0]
    for a, path in zip(leaves, where, strict=True):
        if _table_of(a) is not table:
            raise TypeError(
                f"{fn}: params mixes backends ({_describe(first)} at {where[0]} and "
                f"{_describe(a)} at {path}); move them to one library first"
            )
        if not table.is_floating(a):
            raise TypeError(
                f"{fn}: params must have a floating dtype, got {_name(a.dtype)} at {path}; convert "
                "it first"
            )
        if a.dtype != first.dtype:
            raise TypeError(
                f"{fn}: params mix dtypes ({_name(first.dtype)} at {where[0]} and "
                f"{_name(a.dtype)} at {path}); cast them to one dtype"
            )
    return table, tuple(leaves), rebuild


def _lam(fn: str, lam: Any) -> float:
    return C.nonnegative(fn, "lam", lam)


def _grad_output(fn: str, table: Kernels, g: Any, ref: Array) -> Array:
    if _table_of(g) is None and isinstance(g, (int, float)) and not isinstance(g, bool):
        return table.backend.xp.astype(table.backend.asarray(g), ref.dtype)
    if _table_of(g) is not table:
        raise TypeError(
            f"{fn}: grad_output and params belong to different backends ({_describe(g)} and "
            f"{_describe(ref)}); move both to one library first"
        )
    if not table.is_floating(g) or g.dtype != ref.dtype:
        raise TypeError(
            f"{fn}: grad_output has dtype {_name(g.dtype)} but params have {_name(ref.dtype)}"
        )
    if A.shape(g) != ():
        raise ValueError(f"{fn}: grad_output must be a scalar (0-d), got shape {A.shape(g)}")
    return g


def _forward(name: str, params: Params, lam: float) -> Array:
    table, leaves, _ = _leaves(name, params)
    lam = _lam(name, lam)
    return getattr(table, name)(leaves, lam)


def _backward(name: str, grad_output: Any, params: Params, lam: float) -> Params:
    fn = name + "_backward"
    table, leaves, rebuild = _leaves(fn, params)
    lam = _lam(fn, lam)
    g = _grad_output(fn, table, grad_output, leaves[0])
    grads = getattr(table, fn)(g, leaves, lam)
    return rebuild(iter(grads))


# --- the penalties ---------------------------------------------------------------------------


def l1_penalty(params: Params, lam: float) -> Array:
    """``lam * sum |x|`` over every entry of every array of ``params`` (``lam >= 0``): the
    lasso penalty (Tibshirani 1996), as Keras ``regularizers.L1(lam)``.

    Gradient (:func:`l1_penalty_backward`): ``lam * sign(x)`` with the **subgradient 0 at
    x = 0** (the minimum-norm one; torch's and jax's autodiff of ``maximum(x, -x)``, used here,
    give the same), NaN at a NaN entry.
    """
    return _forward("l1_penalty", params, lam)


def l1_penalty_backward(grad_output: Array | float, params: Params, lam: float) -> Params:
    """``grad_output * lam * sign(x)`` per entry (sign(0) = 0), in the structure of params."""
    return _backward("l1_penalty", grad_output, params, lam)


def l2_penalty(params: Params, lam: float) -> Array:
    """``lam / 2 * sum x^2`` over every entry of every array of ``params`` (``lam >= 0``),
    **with the factor 1/2**, so that the gradient is ``lam * x``: adding this penalty to a loss
    is exactly torch's SGD ``weight_decay=lam`` (which adds ``lam * x`` to the gradient).

    Keras ``regularizers.L2(l2)`` is ``l2 * sum x^2`` without the 1/2: pass ``lam = 2 * l2``.
    ``x^2`` is formed in the input's precision, so an entry whose square overflows (|x| above
    about 1.8e19 in float32) gives an infinite penalty.
    """
    return _forward("l2_penalty", params, lam)


def l2_penalty_backward(grad_output: Array | float, params: Params, lam: float) -> Params:
    """``grad_output * lam * x`` per entry, in the structure of params."""
    return _backward("l2_penalty", grad_output, params, lam)
