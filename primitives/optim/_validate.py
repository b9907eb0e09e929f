"""Hyperparameter checks, run when an optimizer is constructed (same messages everywhere)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _checks as C


def number(fn: str, name: str, value: Any) -> float:
    """A finite real number (a Python number or a 0-d array; never a bool or a string)."""
    return C.finite(fn, name, value)


def nonnegative(fn: str, name: str, value: Any) -> float:
    return C.nonnegative(fn, name, value)


def unit_interval(fn: str, name: str, value: Any) -> float:
    """A decay rate in [0, 1): 1 would never forget (and make the bias correction 0/0)."""
    return C.unit_interval(fn, name, value, open_above=True)


def closed_unit_interval(fn: str, name: str, value: Any) -> float:
    return C.unit_interval(fn, name, value)


def flag(fn: str, name: str, value: Any) -> bool:
    return C.flag(fn, name, value)


def learning_rate(fn: str, lr: Any) -> float | Callable:
    """A number >= 0, or a schedule: a callable of the step count (checked when called)."""
    if callable(lr):
        return lr
    return nonnegative(fn, "lr", lr)


def betas(fn: str, value: Any) -> tuple[float, float]:
    try:
        b1, b2 = value
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: betas must be a pair (beta1, beta2), got {value!r}") from None
    return unit_interval(fn, "betas[0]", b1), unit_interval(fn, "betas[1]", b2)


def nesterov(fn: str, use: bool, momentum: float, dampening: float) -> bool:
    use = flag(fn, "nesterov", use)
    if use and (momentum <= 0 or dampening != 0):
        raise ValueError(
            f"{fn}: Nesterov momentum requires momentum > 0 and dampening = 0 (as torch), got "
            f"momentum={momentum!r}, dampening={dampening!r}"
        )
    return use


def scheduled_lr(fn: str, value: Any) -> Any:
    """A schedule's value: a Python number is checked (>= 0, not NaN); an array is used as it
    is (reading it would copy it to the host, and under jax.jit it has no value)."""
    if isinstance(value, bool):
        raise TypeError(f"{fn}: the lr schedule returned {value!r}, not a number or an array")
    if isinstance(value, (int, float)):
        if not value >= 0:
            raise ValueError(f"{fn}: the lr schedule returned {value!r}; it must be >= 0")
        return float(value)
    if not hasattr(value, "dtype") or tuple(getattr(value, "shape", ())) != ():
        raise TypeError(f"{fn}: the lr schedule must return a number or a 0-d array, got {value!r}")
    return value
