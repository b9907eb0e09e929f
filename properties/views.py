"""Memory layouts for the layout properties: views of a backend's arrays that are not fresh and
C-contiguous (strided, offset, transposed, reversed, broadcast, Fortran-ordered, torch's
channels_last), which a kernel that walks raw memory, or assumes contiguity, gets wrong.

* :data:`LAYOUTS` transform an array into a view of (some of) its values: the activations'
  properties judge the view's own values against the references (``test_sizes_and_layouts``);
* :func:`holding` makes a backend array whose logical values are given values, in a layout:
  the families' properties compare a call on it with the same call on a fresh array
  (``test_family_layouts``). The memory a strided or offset view skips holds NaN, so a kernel
  that reads it gives NaN.

A layout a backend cannot make raises ``NotImplementedError`` or ``ValueError`` (torch has no
negative strides; jax arrays no memory layout to choose; channels_last is torch's, 4-d).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .implementations import Implementation


def _numpy_like(a: Any) -> bool:
    return isinstance(a, np.ndarray)


def _torch(a: Any) -> bool:
    return type(a).__module__.startswith("torch")


def _broadcast(a: Any) -> Any:
    """A zero-stride view: the first row repeated over the rows."""
    if _numpy_like(a):
        return np.broadcast_to(a[:1], a.shape).view(type(a))
    if _torch(a):
        return a[:1].expand(*a.shape)
    raise NotImplementedError("broadcast views")


def _fortran(a: Any) -> Any:
    """The same values in column-major (Fortran) order."""
    if _numpy_like(a):
        return np.asfortranarray(a).view(type(a))
    if _torch(a):
        order = tuple(reversed(range(a.ndim)))
        return a.permute(*order).contiguous().permute(*order)
    raise NotImplementedError("Fortran-ordered arrays")


def _channels_last(a: Any) -> Any:
    """(8, 6) as (2, 2, 2, 6) in torch's channels_last memory format (NHWC strides)."""
    if _torch(a):
        import torch

        return (
            a.reshape(2, 2, 2, 6).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        )
    raise NotImplementedError("channels_last tensors")


LAYOUTS: dict[str, Callable[[Any], Any]] = {
    "strided": lambda a: a[::2],
    "offset": lambda a: a[1:, 2:],
    "transposed": lambda a: a.T,
    "reversed": lambda a: a[::-1],
    "broadcast": _broadcast,
    "fortran": _fortran,
    "channels_last": _channels_last,
}
"""Views of an (8, 6) array (the activations' layout properties)."""


def layouts_of(impl: Implementation, dtype: str) -> dict[str, Callable[[Any], Any]]:
    """The :data:`LAYOUTS` the backend has: each is tried on an (8, 6) array of the backend."""
    have = {}
    for name, make in LAYOUTS.items():
        try:
            make(impl.array(np.zeros((8, 6)), dtype))
        except (NotImplementedError, ValueError):
            continue
        have[name] = make
    return have


HOLDING = ("strided", "offset", "transposed", "reversed", "fortran", "channels_last")
"""The layouts :func:`holding` makes (a broadcast view holds only repeated values)."""


def holding(impl: Implementation, values: np.ndarray, dtype: str, layout: str) -> Any:
    """A backend array of ``dtype`` whose logical values are ``values`` (at least 1-d), laid
    out in memory as ``layout`` (one of :data:`HOLDING`):

    * strided: every other row of an array with NaN rows between;
    * offset: the view [1:, 1:, ...] of an array with NaN in the first row and column;
    * transposed: the first and last axes of a contiguous array swapped (at least 2-d);
    * reversed: the view [::-1] of the reversed values (negative strides);
    * fortran: column-major (at least 2-d);
    * channels_last: torch's NHWC strides (4-d torch tensors).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 0:
        raise NotImplementedError("a 0-d array has one layout")
    if layout == "strided":
        big = np.full((2 * values.shape[0], *values.shape[1:]), np.nan)
        big[::2] = values
        return impl.array(big, dtype)[::2]
    if layout == "offset":
        inner = (slice(1, None),) * values.ndim
        big = np.full(tuple(n + 1 for n in values.shape), np.nan)
        big[inner] = values
        return impl.array(big, dtype)[inner]
    if values.ndim < 2 and layout in ("transposed", "fortran", "channels_last"):
        raise NotImplementedError(f"{layout} needs at least 2 axes")
    if layout == "transposed":
        stored = np.ascontiguousarray(np.swapaxes(values, 0, -1))
        return impl.array(stored, dtype).swapaxes(0, -1)
    if layout == "reversed":
        return impl.array(np.ascontiguousarray(values[::-1]), dtype)[::-1]
    if layout == "fortran":
        return _fortran(impl.array(values, dtype))
    if layout == "channels_last":
        a = impl.array(values, dtype)
        if not _torch(a) or values.ndim != 4:
            raise NotImplementedError("channels_last: 4-d torch tensors")
        import torch

        return a.contiguous(memory_format=torch.channels_last)
    raise ValueError(f"unknown layout {layout!r}; one of {HOLDING}")
