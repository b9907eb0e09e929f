"""Inverted dropout with a given mask, written once over a :class:`~primitives.backend.Backend`.

The mask (True = kept) is drawn by :mod:`primitives.dropout` from the backend's own random
source; these kernels only apply it. ``scale`` = 1 / (1 - p) is a finite Python float: the
public functions handle p = 0 (identity) and p = 1 (zeros) without calling these kernels.

The kernel is torch's: ``x * (mask * scale)``, with ``scale`` rounded once to x's dtype (a
Python float meets x's dtype). A kept value is therefore ``x * s`` (one IEEE multiplication,
bitwise the same on every backend and equal to torch's ``F.dropout``); a dropped value is
``x * 0``: +0 or -0 by x's sign, NaN for a NaN or an infinite x (a NaN is never quietly turned
into a number). A true division ``x / (1 - p)`` would not be reproducible: XLA rewrites a
division by a broadcast scalar into a multiplication by its reciprocal. Two passes over x, as
torch's own kernel.

float16 and bfloat16 are computed in float32 and rounded once (as the other kernels):
``fl(x * s)`` with ``s`` rounded to float32. In float16 itself ``s`` overflows for p above
1 - 1/65520 (1 / 1e-5 = 1e5 > 65504) and a dropped value would be ``0 * inf = NaN``; in float32
``s`` <= 2**53 is always finite, so a dropped value is ``x * 0`` for every p, and a kept one is
inf only where ``x * s`` itself is beyond the dtype's range (the correct rounding there).
"""

from __future__ import annotations

from ..backend import Array, Backend
from .specs import FunctionSpec


def dropout_apply(b: Backend, x: Array, mask: Array, scale: float) -> Array:
    """``x * (mask * scale)``: ``x * s`` where ``mask``, ``x * 0`` elsewhere (float16/bfloat16:
    in float32, rounded once)."""
    if b.low_precision(x):
        f32 = b.xp.float32
        return b.xp.astype(b.xp.astype(x, f32) * (b.xp.astype(mask, f32) * scale), x.dtype)
    return x * (b.xp.astype(mask, x.dtype) * scale)


def dropout_apply_backward(b: Backend, g: Array, mask: Array, scale: float) -> Array:
    """The same linear map applied to the cotangent: ``g * (mask * scale)``."""
    return dropout_apply(b, g, mask, scale)


# ``scale`` is not static: under jax.jit it is a weakly typed scalar, rounded to x's dtype before
# the multiplication (as numpy and torch round a Python float), and a new p does not recompile.
KERNELS: tuple[FunctionSpec, ...] = (
    FunctionSpec("dropout_apply", dropout_apply),
    FunctionSpec("dropout_apply_backward", dropout_apply_backward),
)
