"""The checks of array arguments shared by every family (losses, layers, batch norm, dropout,
penalties), raised before anything is computed, with the same message on every backend:

* the first array argument (the prediction, ``x``) picks the backend (:func:`prediction`);
* every other array argument must belong to that backend (Python data is converted to it),
  else ``TypeError`` (:func:`member`); floating ones must have the prediction's floating dtype,
  else ``TypeError`` naming both dtypes (:func:`floating`);
* shapes must match exactly, else ``ValueError`` stating the expected shape: there is no
  broadcasting (:func:`same_shape`).

The checks of scalar parameters and axes are in :mod:`primitives._checks`.
"""

from __future__ import annotations

from typing import Any

from ._dispatch import Kernels, _describe, _is_python_data, _resolve, _table_of
from .backend import Array


def shape(x: Any) -> tuple[int, ...]:
    """``x.shape`` as a tuple of Python ints (jax and torch shapes compare alike)."""
    return tuple(int(n) for n in x.shape)


def prediction(fn: str, x: Any, what: str) -> tuple[Kernels, Array]:
    """The kernel table of ``x``'s backend and ``x`` as its array (Python data: the default
    backend's)."""
    return _resolve(x, f"{fn}: {what}")


def member(fn: str, table: Kernels, a: Any, what: str, ref: Any, ref_what: str) -> Array:
    """``a`` as an array of ``table``'s backend (Python data is converted, floating data to
    ``ref``'s dtype), else TypeError."""
    owner = _table_of(a)
    if owner is None and _is_python_data(a):
        a = table.backend.xp.asarray(a)
        if table.is_floating(a):
            a = table.backend.xp.astype(a, ref.dtype)
        return a
    if owner is not table:
        raise TypeError(
            f"{fn}: {what} and {ref_what} belong to different backends ({_describe(a)} and "
            f"{_describe(ref)}); move both to one library first"
        )
    return a


def floating(fn: str, table: Kernels, a: Any, what: str, ref: Array, ref_what: str) -> Array:
    """:func:`member`, with a floating dtype equal to ``ref``'s, else TypeError."""
    a = member(fn, table, a, what, ref, ref_what)
    if not table.is_floating(a):
        raise TypeError(
            f"{fn}: {what} must have a floating dtype like {ref_what}, got {a.dtype}; "
            "convert it first"
        )
    if a.dtype != ref.dtype:
        raise TypeError(
            f"{fn}: {what} has dtype {a.dtype} but {ref_what} has {ref.dtype}; cast one to match"
        )
    return a


def same_shape(
    fn: str, a: Array, what: str, expected_shape: tuple[int, ...], expected: str
) -> None:
    """ValueError unless ``a`` has exactly ``expected_shape`` (described by ``expected``)."""
    if shape(a) != expected_shape:
        raise ValueError(
            f"{fn}: {what} has shape {shape(a)} but must have shape {expected_shape} "
            f"({expected}); there is no broadcasting"
        )
