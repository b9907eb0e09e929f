"""How the suite shows that a property catches a bug: a deliberately wrong implementation (a
mutant) must fail the very check that accepts the library, on a fixed input and on inputs
Hypothesis draws. Shared by every ``test_*_self.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis.strategies import SearchStrategy

from .implementations import Implementation


def rejects(check: Callable[[], Any]) -> None:
    """``check()`` must raise AssertionError (floating-point warnings of the mutant ignored)."""
    with np.errstate(all="ignore"), pytest.raises(AssertionError):
        check()


def drawn(strategy: SearchStrategy, check: Callable[[Any], Any]) -> None:
    """Hypothesis (generation only, 200 derandomized examples, no database) must find a value
    of ``strategy`` for which ``check(value)`` raises AssertionError."""

    @settings(max_examples=200, phases=[Phase.generate], database=None, derandomize=True)
    @given(strategy)
    def run(value: Any) -> None:
        with np.errstate(all="ignore"):
            check(value)

    with pytest.raises(AssertionError):
        run()


def with_kernels(table: Any, **overrides: Callable) -> Implementation:
    """A mutant implementation: the kernel ``table`` (a ``primitives._dispatch.Kernels``) with
    some kernels replaced."""
    ops = SimpleNamespace(**{k: v for k, v in vars(table).items() if not k.startswith("_")})
    for name, fn in overrides.items():
        setattr(ops, name, fn)
    return Implementation("mutant", table.backend, ops, "mutant")
