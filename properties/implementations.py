"""What the suite judges: an *implementation* is a table of kernels plus a backend's arrays.

Ids:

* ``numpy``, ``torch``, ``jax``: the library through its public, dispatching API (native
  kernels included where the backend registers them);
* ``torch:generic`` (and ``<name>:generic`` for any backend with native kernels): the same
  backend with every native kernel replaced by the generic one, so both paths are judged;
* ``torch-native``, ``jax-native``: the frameworks' own functions (``torch.nn.functional``,
  ``jax.nn``) with their autodiff as backward, judged as implementations of the same primitives;
* any module path (``mypkg.mybackend``): a third-party backend, loaded and judged like the rest.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import primitives
from primitives import _dispatch
from primitives.backend import Backend

BUILTIN_LIBRARY = ("numpy", "torch", "jax")
FRAMEWORK_NATIVE = ("torch-native", "jax-native")
PUBLIC_API = ("library", "third-party")
"""The kinds judged through ``primitives``' public API: a family that has no native kernels and
that the framework tables do not cover sets ``IMPLEMENTATION_KINDS = PUBLIC_API`` in its test
modules (see ``properties/conftest.py``)."""


class Implementation(NamedTuple):
    id: str
    backend: Backend
    ops: Any  # attributes relu, relu_backward, ... taking parameters positionally
    kind: str  # "library", "generic", "framework" or "third-party"

    @property
    def dtypes(self) -> tuple[str, ...]:
        return self.backend.dtypes

    def array(self, a: np.ndarray, dtype: str) -> Any:
        return self.backend.from_numpy(a, dtype)

    def numpy(self, x: Any) -> np.ndarray:
        return np.asarray(self.backend.to_numpy(x), dtype=np.float64)

    def call(self, name: str, *args: Any) -> Any:
        return getattr(self.ops, name)(*args)


def framework_of(impl: Implementation) -> str | None:
    """ "torch" or "jax" when the implementation's arrays are that framework's, else None."""
    return impl.backend.name if impl.backend.name in ("torch", "jax") else None


def _library(name: str) -> Implementation:
    backend = _dispatch.kernels(name).backend
    return Implementation(name, backend, primitives, "library")


def _generic(name: str) -> Implementation:
    backend = _dispatch.kernels(name).backend
    table = _dispatch.Kernels(backend, use_native=False)
    return Implementation(f"{name}:generic", backend, table, "generic")


def _framework(name: str) -> Implementation:
    from . import framework_backends

    build: Callable[[], tuple[Backend, Any]] = getattr(framework_backends, name.replace("-", "_"))
    backend, ops = build()
    return Implementation(name, backend, ops, "framework")


def kind_of(spec: str) -> str:
    """The :attr:`Implementation.kind` an id resolves to, without loading it."""
    if spec in FRAMEWORK_NATIVE:
        return "framework"
    if spec.endswith(":generic"):
        return "generic"
    return "library" if spec in BUILTIN_LIBRARY else "third-party"


def library_backends() -> list[Implementation]:
    """numpy, torch and jax through the public API, for the tests that compare them with each
    other (the same error message on every backend): skipped, with the reason, unless all
    three are installed (``--require-all-backends`` fails the suite on that elsewhere)."""
    missing = [n for n in BUILTIN_LIBRARY if n != "numpy" and not installed(n)]
    if missing:
        import pytest

        pytest.skip(f"compares numpy, torch and jax; not installed: {', '.join(missing)}")
    return [resolve(n) for n in BUILTIN_LIBRARY]


def installed(framework: str) -> bool:
    return importlib.util.find_spec(framework) is not None


def resolve(spec: str) -> Implementation:
    """The implementation for an id (see the module docstring)."""
    if spec in FRAMEWORK_NATIVE:
        return _framework(spec)
    if spec.endswith(":generic"):
        return _generic(spec.removesuffix(":generic"))
    if spec in BUILTIN_LIBRARY:
        return _library(spec)
    name = primitives.load_backend(spec)
    return Implementation(name, _dispatch.kernels(name).backend, primitives, "third-party")


def default_ids() -> list[tuple[str, str | None]]:
    """Every built-in implementation id, each with the framework it needs (or None)."""
    ids: list[tuple[str, str | None]] = [("numpy", None)]
    for fw in ("torch", "jax"):
        ids.append((fw, fw))
    for name in BUILTIN_LIBRARY:
        if installed(name) and _dispatch.kernels(name).native:
            ids.append((f"{name}:generic", name))
    ids += [("torch-native", "torch"), ("jax-native", "jax")]
    return ids
