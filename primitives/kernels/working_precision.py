"""float16/bfloat16 computed in float32 and rounded once: the convention of every family.

torch computes its half-precision CPU kernels in float32 ("opmath") and rounds each result
once; so does this library. :func:`in_float32` wraps a kernel ``fn(b, *args)``: where its
first floating array argument (arrays inside tuple arguments included: the penalties' leaves)
is float16/bfloat16, every floating array argument is moved to float32, the kernel runs, and
each array result (inside tuple results too; ``None`` passes) is rounded once to that first
input's dtype. Integer and bool arrays are left alone. (A result correctly rounded from the
float32 value is within half an ULP of it; computing in float16 would round every
intermediate to 11 bits.)
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from ..backend import Backend


def _first_floating(b: Backend, args: tuple) -> Any:
    for a in args:
        if isinstance(a, tuple):
            found = _first_floating(b, a)
            if found is not None:
                return found
        elif hasattr(a, "dtype") and b.is_floating(a):
            return a
    return None


def _convert(b: Backend, value: Any, to: Callable[[Any], Any], floating_only: bool) -> Any:
    if isinstance(value, tuple):
        return tuple(_convert(b, v, to, floating_only) for v in value)
    if hasattr(value, "dtype") and (not floating_only or b.is_floating(value)):
        return to(value)
    return value


def in_float32(fn: Callable) -> Callable:
    """``fn`` computed in float32 where its first floating input is float16/bfloat16, each
    array result rounded once to that input's dtype (see the module docstring)."""

    @wraps(fn)
    def run(b: Backend, *args):
        first = _first_floating(b, args)
        if first is None or not b.low_precision(first):
            return fn(b, *args)
        dtype = first.dtype
        up = tuple(
            _convert(b, a, lambda x: b.xp.astype(x, b.xp.float32), floating_only=True) for a in args
        )
        return _convert(b, fn(b, *up), lambda y: b.xp.astype(y, dtype), floating_only=False)

    return run
