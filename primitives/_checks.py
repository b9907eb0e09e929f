"""The checks of scalar parameters and axes: one place, the same message on every backend.

Every primitive and optimizer checks its scalar parameters here, before anything is computed:

* a real parameter accepts a Python ``int``/``float`` or a 0-d integer or floating array of any
  backend (read once with ``float()``); a ``bool``, a string, ``None`` (where it is not a
  documented value), a complex number or an array that is not 0-d raises ``TypeError``; NaN,
  an infinity and a value outside the parameter's domain raise ``ValueError`` naming the
  parameter, the value and the allowed range;
* an integer parameter (an axis, ``ignore_index``) accepts a Python ``int`` or a 0-d integer
  array (``operator.index``), never a ``bool`` or a float; an axis out of range is a
  ``ValueError`` (not the framework's ``AxisError``/``IndexError``);
* a 0-d array that is being traced (under ``jax.jit``, ``vmap``, ``grad``) has no value to
  check: it raises ``TypeError`` asking for a concrete number (pass it as a Python number, a
  static argument).

Messages start with the function's name: ``"softplus: beta must be a finite number > 0, got
0.0"``. The Python ``float``/``int`` path costs a type test and a comparison or two.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

_INF = math.inf
_HOW = {
    "a real number": "; pass a Python int/float or a 0-d integer/floating array",
    "an integer": "; pass a Python int or a 0-d integer array",
}


def _describe(value: Any) -> str:
    t = type(value)
    return repr(value) if t.__module__ == "builtins" else f"{value!r} ({t.__module__}.{t.__name__})"


def _dtype_kind(value: Any) -> str | None:
    """ "bool", "int", "float", another dtype name, or None for an object without a dtype."""
    dtype = getattr(value, "dtype", None)
    if dtype is None:
        return None
    name = str(dtype).rsplit(".", 1)[-1]
    if name.startswith("bool"):
        return "bool"
    if "float" in name:
        return "float"
    if "int" in name:
        return "int"
    return name


def _not_a_number(fn: str, name: str, value: Any, expected: str) -> TypeError:
    return TypeError(f"{fn}: {name} must be {expected}, got {_describe(value)}{_HOW[expected]}")


def _shape_of(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(shape)


def _concrete(fn: str, name: str, value: Any, read: Any) -> Any:
    """``read(value)`` for a 0-d array; a traced array (no concrete value) is a TypeError."""
    try:
        return read(value)
    except Exception as e:  # a tracer's concretization error, a lazy array's, ...
        raise TypeError(
            f"{fn}: {name} must be a concrete number, got {type(value).__module__}."
            f"{type(value).__name__} whose value cannot be read ({type(e).__name__}); under "
            f"jit/vmap/grad tracing pass {name} as a Python number (a static argument)"
        ) from None


def real(fn: str, name: str, value: Any) -> float:
    """``value`` as a Python float: a real number or a 0-d integer/floating array (any sign,
    NaN and infinities included: the domain checks below refuse those)."""
    t = type(value)
    if t is float:
        return value
    if t is int:
        try:
            return float(value)
        except OverflowError:
            raise ValueError(f"{fn}: {name} is too large for a float, got {value!r}") from None
    expected = "a real number"
    if isinstance(value, (bool, str, bytes)) or value is None:
        raise _not_a_number(fn, name, value, expected)
    kind = _dtype_kind(value)
    if kind is None:  # a number type of another library without a dtype (fractions, decimal)
        import numbers

        if isinstance(value, numbers.Real):
            return float(value)
        raise _not_a_number(fn, name, value, expected)
    if kind not in ("int", "float"):
        raise _not_a_number(fn, name, value, expected)
    if _shape_of(value) not in ((), None):
        raise TypeError(
            f"{fn}: {name} must be a real number, got an array of shape {_shape_of(value)}"
            f"{_HOW[expected]}"
        )
    return _concrete(fn, name, value, float)


def integer(fn: str, name: str, value: Any) -> int:
    """``value`` as a Python int: an int or a 0-d integer array (never a bool or a float)."""
    if type(value) is int:
        return value
    expected = "an integer"
    if isinstance(value, bool) or _dtype_kind(value) not in (None, "int"):
        raise _not_a_number(fn, name, value, expected)
    if _shape_of(value) not in ((), None):
        raise _not_a_number(fn, name, value, expected)
    if not hasattr(value, "__index__"):
        raise _not_a_number(fn, name, value, expected)
    return _concrete(fn, name, value, operator.index)


def _range_error(fn: str, name: str, value: float, rule: str) -> ValueError:
    return ValueError(f"{fn}: {name} must be {rule}, got {value!r}")


def finite(fn: str, name: str, value: Any) -> float:
    """A finite real number (any sign)."""
    v = value if type(value) is float else real(fn, name, value)
    if v - v != 0.0:  # NaN or an infinity
        raise _range_error(fn, name, v, "a finite number")
    return v


def positive(fn: str, name: str, value: Any) -> float:
    """A finite real number > 0."""
    v = value if type(value) is float else real(fn, name, value)
    if not 0.0 < v < _INF:
        raise _range_error(fn, name, v, "a finite number > 0")
    return v


def nonnegative(fn: str, name: str, value: Any) -> float:
    """A finite real number >= 0."""
    v = value if type(value) is float else real(fn, name, value)
    if not 0.0 <= v < _INF:
        raise _range_error(fn, name, v, "a finite number >= 0")
    return v


def unit_interval(
    fn: str, name: str, value: Any, *, open_above: bool = False, meaning: str = ""
) -> float:
    """A real number in [0, 1] (``open_above``: [0, 1)); ``meaning`` names what it is in the
    message ("a drop probability")."""
    v = value if type(value) is float else real(fn, name, value)
    if not (0.0 <= v < 1.0 if open_above else 0.0 <= v <= 1.0):
        rule = "in [0, 1)" if open_above else "in [0, 1]"
        raise _range_error(fn, name, v, f"{meaning} {rule}" if meaning else rule)
    return v


def not_nan(fn: str, name: str, value: Any, rule: str) -> float:
    """A real number other than NaN (infinities allowed); ``rule`` describes the domain."""
    v = value if type(value) is float else real(fn, name, value)
    if v != v:
        raise _range_error(fn, name, v, rule)
    return v


def flag(fn: str, name: str, value: Any) -> bool:
    """``True`` or ``False`` (not 0/1, not a string)."""
    if value is True or value is False:
        return value
    raise TypeError(f"{fn}: {name} must be True or False, got {_describe(value)}")


def choice(fn: str, name: str, value: Any, options: Sequence[str]) -> str:
    """One of the strings ``options`` (anything else, a non-string included: ValueError)."""
    if type(value) is str and value in options:
        return value
    allowed = ", ".join(repr(o) for o in options[:-1]) + f" or {options[-1]!r}"
    if not isinstance(value, str):
        raise TypeError(f"{fn}: {name} must be a string, {allowed}; got {_describe(value)}")
    raise ValueError(f"{fn}: {name} must be {allowed}, got {value!r}")


def axis(fn: str, value: Any, ndim: int, what: str = "x", hint: str = "") -> int:
    """An axis of an array of ``ndim`` dimensions, in [-ndim, ndim), as a Python int (as
    given, not normalized). ``None`` is refused: pass the axis explicitly."""
    if type(value) is int and -ndim <= value < ndim:
        return value
    if value is None:
        raise TypeError(f"{fn}: axis must be an integer, got None; pass the axis explicitly")
    value = integer(fn, "axis", value)
    if not -ndim <= value < ndim:
        raise ValueError(
            f"{fn}: axis {value} is out of range for {what} with {ndim} dimension(s); it must "
            f"be in [{-ndim}, {ndim - 1}]{hint}"
        )
    return value


def seed(fn: str, value: int) -> int:
    """An integer random seed in [0, 2**63 - 1] (a negative one is refused everywhere)."""
    if not 0 <= value < 2**63:
        raise ValueError(f"{fn}: an int seed must be in [0, 2**63 - 1], got {value!r}")
    return value
