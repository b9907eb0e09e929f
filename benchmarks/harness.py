"""Shared machinery of the runners: lazy framework loading, cached inputs, prepared calls and
fair timing.

:func:`prepare` turns a case and a parameter combination into a :class:`Runner` whose
``forward()`` and ``backward()`` are ready to time: inputs filled with random normal values,
jitted functions compiled and warmed, autograd graphs built, jax results blocked on and CUDA
synchronized inside the call. Everything is cached per parameter combination, because
asv_runner >= 0.3 runs ``setup`` before every timed call. A combination that cannot run here
(framework missing, no GPU, no scipy for a NumPy peer) raises ``NotImplementedError``, which
asv reports as skipped and the pytest runner turns into a skip.
"""

from __future__ import annotations

import gc
import importlib
import os
import random
import statistics
import time
import tracemalloc
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from functools import partial
from types import SimpleNamespace
from typing import Any

import numpy as np

from .cases import Case, Inputs

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
"""torch's intra-op thread count (fixed, so results compare across runs)."""

_modules = SimpleNamespace(np=np)


def _missing_scipy(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("scipy is not installed (the NumPy gelu peer needs its erf)")


class _Missing:
    """Stands for a module that is not installed: any use skips the benchmark."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __getattr__(self, name: str) -> Any:
        raise NotImplementedError(f"{self.__dict__['what']} is not installed")


def load(backend: str) -> SimpleNamespace:
    """The modules the peers use, with ``backend``'s framework imported (once).

    Raises ``NotImplementedError`` when the framework is not installed.
    """
    ns = _modules
    if backend == "torch" and not hasattr(ns, "torch"):
        torch = _import("torch")
        torch.set_num_threads(THREADS)
        ns.torch, ns.F = torch, importlib.import_module("torch.nn.functional")
    elif backend == "jax" and not hasattr(ns, "jax"):
        ns.jax, ns.jnp = _import("jax"), _import("jax.numpy")
        try:
            ns.optax = importlib.import_module("optax")
        except ImportError:
            ns.optax = _Missing("optax (the jax peers of the losses and optimizers)")
    if not hasattr(ns, "erf"):
        try:
            ns.erf = importlib.import_module("scipy.special").erf
        except ImportError:
            ns.erf = _missing_scipy
    return ns


PRELOADED = (
    "torch",
    "torch.nn.functional",
    "jax",
    "jax.numpy",
    "optax",
    "scipy.special",
    "primitives.backends.torch_backend",
    "primitives.backends.jax_backend",
)
"""What :func:`preload` imports: the frameworks, the peers' modules and the library's
backends for them."""


def preload() -> None:
    """Import the modules of :data:`PRELOADED` that are installed, and nothing more.

    asv runs every benchmark x parameter combination (about 2,000) in a process forked from a
    server that has imported this suite; importing torch (~1.7 s) and jax (~0.9 s) there once
    instead of in every forked process is most of a full ``asv run``'s time. Only modules
    are imported: no tensor is made, torch's intra-op pool is not started, no jax backend or
    CUDA context exists (scipy's OpenBLAS starts its idle threads, as numpy's already has;
    OpenBLAS prepares them for fork). A framework that is missing or broken is passed over
    here and still skips or fails only its own benchmarks, in setup (:func:`load`).
    """
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except Exception:  # (only a warm-up: load() reports the problem per benchmark)
            continue


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise NotImplementedError(f"{name} is not installed: {e}") from e


class _Cache(OrderedDict):
    """A small LRU dict: big arrays of earlier parameter combinations are dropped."""

    def __init__(self, maxsize: int) -> None:
        super().__init__()
        self.maxsize = maxsize

    def put(self, key: Hashable, value: Any) -> Any:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.maxsize:
            self.popitem(last=False)
        return value

    def fetch(self, key: Hashable) -> Any:
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


_INPUTS = _Cache(maxsize=4)
_RUNNERS = _Cache(maxsize=4)


def _no_sync() -> None:
    return None


def _sync(backend: str, device: str) -> Callable[[], None]:
    """What completes pending work on ``device`` (CUDA is asynchronous; jax blocks on each
    result instead)."""
    if backend == "torch" and device == "cuda":
        return _modules.torch.cuda.synchronize
    return _no_sync


def _check_device(backend: str, device: str) -> Any:
    """The framework's device object for ``device``, or ``NotImplementedError``."""
    if device == "cpu":
        if backend == "jax":
            return _modules.jax.devices("cpu")[0]
        return "cpu"
    if device != "cuda":
        raise NotImplementedError(f"unknown device {device!r}")
    if backend == "torch":
        if not _modules.torch.cuda.is_available():
            raise NotImplementedError("torch sees no CUDA device")
        return "cuda"
    if backend == "jax":
        try:
            return _modules.jax.devices("gpu")[0]
        except RuntimeError as e:
            raise NotImplementedError(f"jax sees no GPU: {e}") from e
    raise NotImplementedError(f"{backend} runs on the CPU only")


def _to_backend(m: SimpleNamespace, backend: str, where: Any, a: Any) -> Any:
    if backend == "numpy" or not isinstance(a, np.ndarray):
        return a
    if backend == "torch":
        return m.torch.from_numpy(np.array(a, order="C")).to(where)  # (0-d stays 0-d)
    if backend == "jax":
        if a.dtype == np.int64 and not m.jax.config.jax_enable_x64:
            a = a.astype(np.int32)  # what jax would make of it, without its warning
        out = m.jax.device_put(a, where)
        out.block_until_ready()
        return out
    raise NotImplementedError(f"unknown backend {backend!r}")


def inputs(case: Case, backend: str, size: int, dtype: str, device: str) -> Inputs:
    """The case's :class:`Inputs` as ``backend`` arrays on ``device`` (cached; cases with the
    same ``build`` share them)."""
    if size in case.gpu_sizes and size not in case.sizes and device == "cpu":
        raise NotImplementedError(f"{case.id}: {size:,} elements is a GPU-only size")
    key = (case.build, backend, size, dtype, device)
    cached = _INPUTS.fetch(key)
    if cached is not None:
        return cached
    m = load(backend)
    if backend == "jax" and dtype == "float64" and not m.jax.config.jax_enable_x64:
        m.jax.config.update("jax_enable_x64", True)  # before any float64 array exists
    where = _check_device(backend, device)
    gc.collect()  # release dropped combinations' arrays before making big new ones
    host = case.build(np.random.default_rng(20_240_101), size, np.dtype(dtype))
    arrays = tuple(_to_backend(m, backend, where, a) for a in host.arrays)
    g = _to_backend(m, backend, where, np.asarray(host.grad_output))
    return _INPUTS.put(key, Inputs(arrays, g, host.wrt))


def _nbytes(value: Any) -> int:
    """Bytes of the arrays in ``value`` (an array, or tuples, lists and dicts of them; other
    leaves, such as a step count, count 0)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    return int(getattr(value, "nbytes", 0))


@dataclass
class Runner:
    """A prepared set of zero-argument calls, one per direction; ``traffic`` holds the bytes
    each direction reads and writes (its inputs and its outputs)."""

    calls: dict[str, Callable[[], Any]]
    traffic: dict[str, int]
    sync: Callable[[], None]

    def __getattr__(self, direction: str) -> Callable[[], Any]:
        try:
            return self.__dict__["calls"][direction]
        except KeyError:
            raise AttributeError(direction) from None

    def bandwidth(self, direction: str, seconds: float) -> float:
        """Effective GB/s: bytes read and written / time (forward of an activation: x and
        y; backward: grad_output, x and the gradient)."""
        return self.traffic[direction] / seconds / 1e9


def train_step(
    backend: str, f: Callable[..., Any], data: Inputs, numpy_backward: Callable | None = None
) -> Callable[[], Any]:
    """What a training step runs for ``f(*data.arrays)``: torch, the forward on leaves that
    require grad (``data.wrt``) and ``backward(grad_output)`` through autograd; jax, one
    jitted call of the forward and its vector-Jacobian product (for a loss, what
    ``value_and_grad`` computes); NumPy, the forward then ``numpy_backward(grad_output,
    *arrays)``. A forward returning a tuple is differentiated through its first result."""
    arrays, g, wrt = data
    indices = wrt if isinstance(wrt, tuple) else (wrt,)
    if backend == "numpy":
        if numpy_backward is None:
            raise NotImplementedError("no NumPy backward to pair with the forward")

        def numpy_step() -> Any:
            return f(*arrays), numpy_backward(g, *arrays)

        return numpy_step

    def first(out: Any) -> Any:
        return out[0] if isinstance(out, tuple) else out

    m = load(backend)
    if backend == "torch":
        full = list(arrays)
        leaves = [arrays[i].detach().clone().requires_grad_(True) for i in indices]
        for i, leaf in zip(indices, leaves, strict=True):
            full[i] = leaf

        def torch_step() -> Any:
            for leaf in leaves:
                leaf.grad = None
            with m.torch.enable_grad():
                out = first(f(*full))
                out.backward(g)
            return out, [leaf.grad for leaf in leaves]

        return torch_step
    static = [i for i, a in enumerate(arrays) if not hasattr(a, "shape")]

    def value_and_vjp(gv: Any, *a: Any) -> Any:
        def of_wrt(*v: Any) -> Any:
            args = list(a)
            for i, vi in zip(indices, v, strict=True):
                args[i] = vi
            return first(f(*args))

        out, vjp = m.jax.vjp(of_wrt, *(a[i] for i in indices))
        return out, vjp(gv)

    jitted = m.jax.jit(value_and_vjp, static_argnums=[i + 1 for i in static])
    return partial(jitted, g, *arrays)


def _project_calls(case: Case, backend: str, data: Inputs) -> dict[str, Callable]:
    import primitives as P

    fwd = getattr(P, case.primitive)
    bwd = getattr(P, case.primitive + "_backward")
    params = dict(case.params)
    forward = partial(fwd, **params)
    backward = partial(bwd, **params)
    return {
        "forward": partial(fwd, *data.arrays, **params),
        "backward": partial(bwd, data.grad_output, *data.arrays, **params),
        "train": train_step(backend, forward, data, backward),
    }


def _native_calls(case: Case, backend: str, data: Inputs) -> dict[str, Callable]:
    m = load(backend)
    params = dict(case.params)
    peer = getattr(case, backend)
    if peer is None:
        raise NotImplementedError(f"{case.id} has no native {backend} peer")
    arrays, g, wrt = data

    def f(*a: Any) -> Any:
        return peer(m, *a, **params)

    if backend == "numpy":
        if case.numpy_backward is None:
            raise NotImplementedError(f"{case.id} has no NumPy backward expression")
        numpy_backward = partial(case.numpy_backward, m, **params)
        return {
            "forward": partial(f, *arrays),
            "backward": partial(numpy_backward, g, *arrays),
            "train": train_step(backend, f, data, numpy_backward),
        }
    several = isinstance(wrt, tuple)
    indices = wrt if several else (wrt,)
    static = [i for i, a in enumerate(arrays) if not hasattr(a, "shape")]  # shapes, None
    if backend == "torch":
        leaves = list(arrays)
        for i in indices:
            leaves[i] = arrays[i].detach().clone().requires_grad_(True)
        with m.torch.enable_grad():
            y = f(*leaves)  # the graph, retained across calls
        inputs = [leaves[i] for i in indices]

        def torch_backward() -> Any:
            grads = m.torch.autograd.grad(y, inputs, g, retain_graph=True)
            return grads if several else grads[0]

        return {
            "forward": partial(f, *arrays),
            "backward": torch_backward,
            "train": train_step(backend, f, data),
        }

    def vjp(gv: Any, *a: Any) -> Any:
        def of_wrt(*v: Any) -> Any:
            full = list(a)
            for i, vi in zip(indices, v, strict=True):
                full[i] = vi
            return f(*full)

        grads = m.jax.vjp(of_wrt, *(a[i] for i in indices))[1](gv)
        return grads if several else grads[0]

    return {
        "forward": partial(m.jax.jit(f, static_argnums=static), *arrays),
        "backward": partial(m.jax.jit(vjp, static_argnums=[i + 1 for i in static]), g, *arrays),
        "train": train_step(backend, f, data),
    }


def _finish(call: Callable[[], Any], backend: str, sync: Callable[[], None]) -> Callable:
    """``call`` made synchronous: jax results blocked on, CUDA synchronized."""
    if backend == "jax":
        block = _modules.jax.block_until_ready

        def blocked() -> Any:
            return block(call())

        return blocked
    if sync is not _no_sync:

        def synced() -> Any:
            out = call()
            sync()
            return out

        return synced
    return call


def prepare(
    case: Case,
    backend: str,
    size: int,
    dtype: str,
    device: str,
    impl: str,
    warm: Sequence[str] | None = None,
) -> Runner:
    """A :class:`Runner` for one parameter combination (cached), its ``warm`` directions
    (default: all of the case's) called twice already (jit compilation, allocator pools,
    page faults)."""
    key = (case.id, backend, size, dtype, device, impl)
    runner = _RUNNERS.fetch(key)
    if runner is None:
        data = inputs(case, backend, size, dtype, device)
        if impl not in ("project", "native"):
            raise NotImplementedError(f"unknown impl {impl!r}")
        if case.calls is not None:
            calls = case.calls(load(backend), backend, impl, data, **case.params)
        elif impl == "project":
            calls = _project_calls(case, backend, data)
        else:
            calls = _native_calls(case, backend, data)
        sync = _sync(backend, device)
        finished = {d: _finish(calls[d], backend, sync) for d in case.directions}
        read = {d: _nbytes(data.arrays) for d in case.directions}
        if "backward" in read:
            read["backward"] += _nbytes(data.grad_output)
        traffic: dict[str, int] = {}
        for _ in range(2):
            for direction in case.directions if warm is None else warm:
                out = finished[direction]()
                traffic[direction] = read.get(direction, 0) + _nbytes(out)
        runner = Runner(finished, traffic, sync)
        _RUNNERS.put(key, runner)
    runner.sync()
    return runner


def _warmed(*calls: Callable[[], Any]) -> tuple[Callable[[], Any], ...]:
    """``calls``, each called a few times first (backend loading, jit, type caches)."""
    for call in calls:
        for _ in range(3):
            call()
    return calls


def dispatch_calls(backend: str, size: int = 8) -> tuple[Callable, Callable]:
    """``(P.relu on x, the direct native relu on x)`` for a tiny float32 array ``x``."""
    import primitives as P

    m = load(backend)
    host = np.random.default_rng(0).standard_normal(size, dtype=np.float32)
    if backend == "numpy":
        return _warmed(partial(P.relu, host), partial(m.np.maximum, host, 0))
    if backend == "torch":
        t = m.torch.from_numpy(host)
        return _warmed(partial(P.relu, t), partial(m.torch.relu, t))
    if backend != "jax":
        raise NotImplementedError(f"unknown backend {backend!r}")
    x = m.jax.device_put(host, m.jax.devices("cpu")[0])
    native = m.jax.jit(m.jax.nn.relu)

    def project_call() -> Any:
        return P.relu(x).block_until_ready()

    def native_call() -> Any:
        return native(x).block_until_ready()

    return _warmed(project_call, native_call)


# --- measuring --------------------------------------------------------------------------------


def _number_for(call: Callable[[], Any], min_sample: float) -> int:
    """Calls per sample so that one sample lasts at least ``min_sample`` seconds."""
    start = time.perf_counter()
    call()
    once = max(time.perf_counter() - start, 1e-9)
    return max(1, int(min_sample / once) + 1) if once < min_sample else 1


def interleaved(
    calls: Sequence[Callable[[], Any]], repeat: int = 7, min_sample: float = 2e-3
) -> list[list[float]]:
    """Per-call seconds of each of ``calls``, ``repeat`` samples each, taken in turn.

    Alternating the calls sample by sample exposes them to the same load on a shared
    machine, so their ratio is steadier than the ratio of separate runs. The order is
    shuffled (with a fixed seed) for every sample, so no call always follows the same
    neighbour (whose freed buffers or cache contents it would inherit).
    """
    numbers = [_number_for(call, min_sample) for call in calls]
    samples: list[list[float]] = [[] for _ in calls]
    order = list(range(len(calls)))
    shuffle = random.Random(0).shuffle
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeat):
            shuffle(order)
            for i in order:
                call, number = calls[i], numbers[i]
                start = time.perf_counter()
                for _ in range(number):
                    call()
                samples[i].append((time.perf_counter() - start) / number)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def median_times(calls: Sequence[Callable[[], Any]], repeat: int = 7) -> list[float]:
    """Median per-call seconds of each of ``calls``, measured interleaved."""
    return [statistics.median(s) for s in interleaved(calls, repeat)]


def ratio(call: Callable[[], Any], peer: Callable[[], Any], repeat: int = 7) -> float:
    """Median time of ``call`` / median time of ``peer``, measured interleaved."""
    mine, theirs = median_times([call, peer], repeat)
    return mine / theirs


def peak_bytes(call: Callable[[], Any]) -> tuple[int, int]:
    """``(peak, output)``: the most memory allocated at once during ``call()`` beyond what
    existed before it (its inputs), and the size of its result, in bytes (tracemalloc:
    NumPy reports its data buffers to it)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = call()
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    return peak, int(out.nbytes)
