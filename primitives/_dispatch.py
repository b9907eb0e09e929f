"""Backend registry and per-call dispatch.

A call looks up ``type(x)`` in a dict and gets that backend's kernel table: no wrapper objects
around arrays, one dict lookup and a dtype check on the fast path. Backends are imported on
first use: ``import primitives`` imports neither numpy, torch nor jax.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Callable, Iterator
from functools import partial, wraps
from typing import Any

from .backend import Array, Backend
from .kernels import FUNCTIONS, SPECS

_BUILTIN_PATHS: dict[str, str] = {
    "numpy": "primitives.backends.numpy_backend",
    "torch": "primitives.backends.torch_backend",
    "jax": "primitives.backends.jax_backend",
}
# Top-level module of an array's type -> built-in backend that owns it: the registry's own
# knowledge, since a built-in backend is imported only when such an array first arrives (a
# third-party backend is imported when registered, and found by its ``array_types``).
_BUILTIN_MODULES: dict[str, str] = {
    "numpy": "numpy",
    "torch": "torch",
    "jax": "jax",
    "jaxlib": "jax",
}

_paths: dict[str, str] = dict(_BUILTIN_PATHS)  # registered name -> module path
_loaded: dict[str, Kernels] = {}  # name -> kernel table of a loaded backend
_by_type: dict[type, Kernels] = {}  # exact array type -> kernel table (the fast path)
_default: contextvars.ContextVar[str] = contextvars.ContextVar(
    "primitives_backend", default="numpy"
)


class Kernels:
    """A backend's kernel table: one attribute per primitive and per ``<name>_backward``.

    Kernels take every parameter positionally, in the order of the primitive's spec.
    """

    def __init__(self, backend: Backend, use_native: bool = True) -> None:
        self.backend = backend
        self.is_floating: Callable[[Array], bool] = backend.is_floating
        # dtypes that passed is_floating: float1's fast path is one set lookup
        self.floating_dtypes: set = set()
        self.native: frozenset[str] = frozenset()
        native_used = set()
        for spec in SPECS.values():
            kernels = []
            for name, generic in (
                (spec.name, spec.forward),
                (spec.name + "_backward", spec.backward),
            ):
                kernel = backend.native.get(name) if use_native else None
                if kernel is None:
                    kernel = partial(generic, backend)
                else:
                    native_used.add(name)
                kernels.append(kernel)
            forward, backward = backend.wrap(spec, *kernels)
            setattr(self, spec.name, forward)
            setattr(self, spec.name + "_backward", backward)
        for fspec in FUNCTIONS.values():
            kernel = backend.native.get(fspec.name) if use_native else None
            if kernel is None:
                kernel = backend.compile(partial(fspec.fn, backend), fspec.static_argnums)
            else:
                native_used.add(fspec.name)
            if backend.errors_ignored is not None:
                kernel = _ignoring_errors(backend, kernel, fspec.name)
            setattr(self, fspec.name, kernel)
        for fspec in FUNCTIONS.values():
            if fspec.backward is not None:
                forward = getattr(self, fspec.name)
                backward = getattr(self, fspec.backward)
                setattr(self, fspec.name, backend.wrap_function(fspec, forward, backward))
        self.native = frozenset(native_used)

    def __repr__(self) -> str:
        return f"Kernels({self.backend.name!r})"


def _ignoring_errors(backend: Backend, kernel: Callable, name: str) -> Callable:
    """``kernel`` run in the backend's ``errors_ignored`` context (NaN and inf propagate by
    design: NumPy's warnings about them are noise)."""

    @wraps(kernel)
    def run(*args: Any) -> Any:
        with backend.errors_ignored():
            return kernel(*args)

    run.__name__ = run.__qualname__ = name
    return run


def _load_module_backend(path: str) -> Backend:
    module = importlib.import_module(path)
    backend = getattr(module, "BACKEND", None)
    if not isinstance(backend, Backend):
        raise TypeError(
            f"backend module {path!r} must define BACKEND = primitives.Backend(...); "
            "see the README section 'Writing a backend'"
        )
    return backend


def register_backend(backend: Backend | str, name: str | None = None) -> str:
    """Register a backend (a :class:`Backend` or a module path) and return its name.

    A module path is imported now; the module must define ``BACKEND = Backend(...)``.
    Its array types then dispatch to it. Registering a name again replaces the backend.
    """
    if isinstance(backend, str):
        path, backend = backend, _load_module_backend(backend)
        _paths[name or backend.name] = path
    name = name or backend.name
    kernels = Kernels(backend)
    old = _loaded.get(name)
    if old is not None:
        for t in [t for t, k in _by_type.items() if k is old]:
            del _by_type[t]
    _loaded[name] = kernels
    return name


load_backend = register_backend


@contextlib.contextmanager
def serving(table: Kernels) -> Iterator[None]:
    """Within the block, the arrays of ``table``'s backend dispatch to ``table`` instead of the
    registered one (the property suite's ``<name>:generic`` ids run the public API on the
    generic kernels, ``Kernels(backend, use_native=False)``). Changes the process-wide registry:
    not for threads that call the library meanwhile."""
    name = table.backend.name
    registered = kernels(name)
    cached = dict(_by_type)
    _loaded[name] = table
    _by_type.clear()
    try:
        yield
    finally:
        _loaded[name] = registered
        _by_type.clear()
        _by_type.update(cached)


def kernels(name: str) -> Kernels:
    """The kernel table of the backend registered as ``name``, loading it if needed."""
    table = _loaded.get(name)
    if table is not None:
        return table
    path = _paths.get(name)
    if path is None:
        if "." in name:  # a module path of a third-party backend
            return _loaded[register_backend(name)]
        raise ValueError(
            f"unknown backend {name!r}; registered: {sorted(_paths)}. "
            "Register a third-party backend with primitives.load_backend('pkg.module')."
        )
    try:
        backend = _load_module_backend(path)
    except ImportError as e:
        raise ImportError(
            f"backend {name!r} needs a library that is not installed ({e}); "
            f"install it, e.g. pip install 'primitives[{name}]'"
        ) from e
    register_backend(backend, name)
    return _loaded[name]


def get_backend(name: str | None = None) -> Backend:
    """The :class:`Backend` registered as ``name``, or the current default backend."""
    return kernels(name or _default.get()).backend


def _installed(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def available_backends() -> list[str]:
    """Names of registered backends whose library is installed (nothing is imported)."""
    out = []
    for name in _paths:
        if name in _loaded:
            out.append(name)
        elif name in _BUILTIN_PATHS and _installed(name):
            out.append(name)
    return out


def set_backend(name: str) -> None:
    """Set the default backend, which serves Python numbers and lists (initially numpy)."""
    kernels(name)
    _default.set(name)


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[Backend]:
    """Context manager: ``with primitives.use_backend("jax"): primitives.relu([1.0, -2.0])``."""
    table = kernels(name)
    token = _default.set(name)
    try:
        yield table.backend
    finally:
        _default.reset(token)


# --- per-call lookup -------------------------------------------------------------------------


def _describe(x: Any) -> str:
    t = type(x)
    return f"{t.__module__}.{t.__qualname__}"


def _table_of(x: Any) -> Kernels | None:
    """The kernel table owning ``x`` (caching its exact type), or None for non-arrays."""
    table = _by_type.get(type(x))
    if table is not None:
        return table
    # The most recently registered backend first: a third-party array type that subclasses a
    # built-in one (say numpy.ndarray) goes to its own backend.
    for table in reversed(_loaded.values()):
        if isinstance(x, table.backend.array_types):
            _by_type[type(x)] = table
            return table
    root = type(x).__module__.partition(".")[0]
    name = _BUILTIN_MODULES.get(root)
    if name is not None and name not in _loaded and name in _paths:
        kernels(name)
        return _table_of(x)
    return None


def _is_python_data(x: Any) -> bool:
    return isinstance(x, (int, float, list, tuple)) and not isinstance(x, bool)


def _check_float(table: Kernels, x: Any, what: str) -> None:
    if not table.is_floating(x):
        raise TypeError(
            f"{what} must have a floating dtype, got {getattr(x, 'dtype', type(x))} "
            f"({_describe(x)}); convert it first, e.g. x.astype(float32) / x.float()"
        )
    table.floating_dtypes.add(x.dtype)


def _resolve(x: Any, what: str) -> tuple[Kernels, Any]:
    table = _table_of(x)
    if table is None:
        if not _is_python_data(x):
            raise TypeError(
                f"{what}: unsupported type {_describe(x)}; expected an array of a registered "
                f"backend {sorted(_paths)} or a Python number/list"
            )
        table = kernels(_default.get())
        x = table.backend.asarray(x)
    _check_float(table, x, what)
    return table, x


def float1(x: Any) -> tuple[Kernels, Any]:
    """Kernel table for one floating input (Python numbers/lists go to the default backend)."""
    table = _by_type.get(type(x))
    if table is not None and x.dtype in table.floating_dtypes:
        return table, x
    return _resolve(x, "x")


def float2(g: Any, x: Any) -> tuple[Kernels, Any, Any]:
    """Kernel table for ``(grad_output, x)``: same backend, same dtype, same shape."""
    table = _by_type.get(type(x))
    if not (table is not None and type(g) is type(x) and x.dtype in table.floating_dtypes):
        table, x = _resolve(x, "x")
        gt = _table_of(g)
        if gt is None and _is_python_data(g):
            g, gt = table.backend.asarray(g), table
            g = table.backend.xp.astype(g, x.dtype)
        if gt is not table:
            raise TypeError(
                f"grad_output and x belong to different backends: {_describe(g)} and "
                f"{_describe(x)}; move both to one library first"
            )
        _check_float(table, g, "grad_output")
    if g.dtype != x.dtype:
        raise TypeError(f"grad_output has dtype {g.dtype} but x has {x.dtype}; cast one to match")
    if g.shape != x.shape:
        raise ValueError(
            f"grad_output has shape {tuple(g.shape)} but x has {tuple(x.shape)}; "
            "they must match (no broadcasting)"
        )
    return table, g, x
