"""What the suite judges: an *implementation* is a table of kernels plus a backend's arrays.

Ids:

* ``numpy``, ``torch``, ``jax``: the library through its public, dispatching API (native
  kernels included where the backend registers them);
* ``torch:generic`` (and ``<name>:generic`` for any backend with native kernels): the same
  backend with every native kernel replaced by the generic one, so both paths are judged;
* ``torch-native``, ``jax-native``: the frameworks' own functions (``torch.nn.functional``,
  ``jax.nn``) with their autodiff as backward, judged as implementations of the same primitives;
* any module path (``mypkg.mybackend``): a third-party backend, loaded and judged like the rest.

Devices: by default arrays are made where the framework puts them (torch: the CPU; jax: its
default device, a GPU where jax sees one). ``device="cuda"`` (pytest's ``--device cuda``) puts
every array a test makes through :meth:`Implementation.array` or :meth:`Implementation.exact`
on the GPU, so the torch and jax implementations are judged there; numpy has no such device.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

import primitives
from primitives import _dispatch
from primitives.backend import Backend

BUILTIN_LIBRARY = ("numpy", "torch", "jax")
DEFAULT_DEVICE = "default"
"""The framework's own placement (see the module docstring)."""
FRAMEWORK_NATIVE = ("torch-native", "jax-native")
PUBLIC_API = ("library", "third-party")
"""The kinds judged through ``primitives``' public API: a family whose properties judge the
library and third-party backends only sets ``IMPLEMENTATION_KINDS = PUBLIC_API`` in its test
modules (see ``properties/conftest.py``); the frameworks' own losses, layers and optimizers are
compared with the library in the ``*_frameworks`` modules and measured by the atlas."""


class Implementation(NamedTuple):
    id: str
    backend: Backend
    ops: Any  # attributes relu, relu_backward, ... taking parameters positionally
    kind: str  # "library", "generic", "framework" or "third-party"
    device: str = DEFAULT_DEVICE

    @property
    def dtypes(self) -> tuple[str, ...]:
        return self.backend.dtypes

    @property
    def device_type(self) -> str:
        """ "cpu" or "cuda": where the implementation's arrays are (by default jax's are on
        its default platform, torch's and the others' on the CPU)."""
        if self.device != DEFAULT_DEVICE:
            return self.device.partition(":")[0]
        if self.backend.name == "jax":
            import jax

            return "cpu" if jax.default_backend() == "cpu" else "cuda"
        return "cpu"

    @property
    def flushes_subnormals(self) -> bool:
        """Whether the arithmetic on the implementation's device flushes subnormals to zero
        (XLA on the CPU does, on a GPU it does not): the suite judges results against it."""
        if self.backend.name == "jax":
            return self.device_type == "cpu"
        return self.backend.flushes_subnormals

    def array(self, a: np.ndarray, dtype: str) -> Any:
        """A floating array of ``dtype`` with ``a``'s values, on the implementation's device."""
        return self.place(self.backend.from_numpy(a, dtype))

    def exact(self, a: np.ndarray) -> Any:
        """An integer or boolean NumPy array as the backend's array of the same dtype."""
        a = np.array(a)
        name = self.backend.name
        if name == "torch":
            import torch

            return self.place(torch.from_numpy(a))
        if name == "jax":
            import jax.numpy as jnp

            return self.place(jnp.asarray(a))
        like = self.array(np.zeros(1), "float64")
        if isinstance(like, np.ndarray):
            return a.view(type(like))
        raise NotImplementedError(f"no integer arrays for {self.id}")

    def place(self, x: Any) -> Any:
        """``x``, an array of the backend, moved to the implementation's device."""
        if self.device == DEFAULT_DEVICE:
            return x
        return _placement(self.backend.name, self.device)(x)

    def numpy(self, x: Any) -> np.ndarray:
        return np.asarray(self.backend.to_numpy(x), dtype=np.float64)

    def call(self, name: str, *args: Any) -> Any:
        return getattr(self.ops, name)(*args)


def _placement(backend_name: str, device: str) -> Callable[[Any], Any]:
    """What moves an array of ``backend_name`` to ``device`` (``ValueError`` where none can)."""
    kind, _, number = device.partition(":")
    if device != DEFAULT_DEVICE and not (
        device == "cpu" or (kind == "cuda" and (not number or number.isdigit()))
    ):
        raise ValueError(f"unknown device {device!r}: use default, cpu, cuda or cuda:N")
    if device == DEFAULT_DEVICE or (backend_name == "numpy" and device == "cpu"):
        return lambda x: x
    if backend_name == "torch":
        import torch

        target = torch.device(device)
        if target.type == "cuda" and not torch.cuda.is_available():
            raise ValueError("torch sees no CUDA device")
        return lambda x: x.to(target)
    if backend_name == "jax":
        import jax

        try:
            where = jax.devices("gpu" if kind == "cuda" else "cpu")[int(number or 0)]
        except (RuntimeError, IndexError) as e:
            raise ValueError(f"jax has no {device!r} device: {e}") from e
        return lambda x: jax.device_put(x, where)
    raise ValueError(
        f"cannot put {backend_name} arrays on device {device!r}: only torch and jax arrays "
        f"can be moved (run {backend_name} with the default device)"
    )


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


@functools.cache
def _framework(name: str) -> Implementation:
    """Built once per process: each build jits the framework's functions anew, and a fresh
    ``jax.jit`` compiles again for every shape it has already seen."""
    from . import framework_backends

    build: Callable[[], tuple[Backend, Any]] = getattr(framework_backends, name.replace("-", "_"))
    backend, ops = build()
    return Implementation(name, backend, ops, "framework")


def public(impl: Implementation) -> Implementation:
    """``impl`` as the families judged through the public API call it: ``primitives`` (and its
    optimizers), for a ``:generic`` id on the generic kernel table
    (:func:`primitives._dispatch.serving`) instead of the table of kernel-level signatures
    that its ``ops`` are; any other implementation unchanged."""
    if impl.kind != "generic":
        return impl
    return impl._replace(ops=_Served(primitives, impl.ops))


class _Served:
    """``target`` (a module, a function, an optimizer) whose calls run with ``table`` serving
    its backend's arrays; what a call returns is wrapped the same way where it is an object
    with methods to call later (an optimizer's ``init`` and ``step``), else returned as is."""

    def __init__(self, target: Any, table: _dispatch.Kernels) -> None:
        self._target, self._table = target, table

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        return (
            _Served(value, self._table)
            if callable(value) or isinstance(value, ModuleType)
            else value
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with _dispatch.serving(self._table):
            out = self._target(*args, **kwargs)
        return _Served(out, self._table) if hasattr(out, "step") else out


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


def resolve(spec: str, device: str = DEFAULT_DEVICE) -> Implementation:
    """The implementation for an id (see the module docstring), making its arrays on
    ``device`` (``ValueError`` where its backend's arrays cannot go there)."""
    if spec in FRAMEWORK_NATIVE:
        impl = _framework(spec)
    elif spec.endswith(":generic"):
        impl = _generic(spec.removesuffix(":generic"))
    elif spec in BUILTIN_LIBRARY:
        impl = _library(spec)
    else:
        name = primitives.load_backend(spec)
        impl = Implementation(name, _dispatch.kernels(name).backend, primitives, "third-party")
    _placement(impl.backend.name, device)  # (ValueError where it cannot)
    return impl._replace(device=device)


def default_ids(device: str = DEFAULT_DEVICE) -> list[tuple[str, str | None]]:
    """Every built-in implementation id, each with the framework it needs (or None); on a
    device other than the default, those whose framework can put arrays there (not numpy)."""
    if device != DEFAULT_DEVICE:
        return [(i, fw) for i, fw in default_ids() if fw in ("torch", "jax")]
    ids: list[tuple[str, str | None]] = [("numpy", None)]
    for fw in ("torch", "jax"):
        ids.append((fw, fw))
    for name in BUILTIN_LIBRARY:
        if installed(name) and _dispatch.kernels(name).native:
            ids.append((f"{name}:generic", name))
    ids += [("torch-native", "torch"), ("jax-native", "jax")]
    return ids
