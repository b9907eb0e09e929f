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

from .cases import Case, shape_of

THREADS = int(os.environ.get("BENCH_THREADS", "2"))
"""torch's intra-op thread count (fixed, so results compare across runs)."""

_modules = SimpleNamespace(np=np)


def _missing_scipy(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError("scipy is not installed (the NumPy gelu peer needs its erf)")


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
    if not hasattr(ns, "erf"):
        try:
            ns.erf = importlib.import_module("scipy.special").erf
        except ImportError:
            ns.erf = _missing_scipy
    return ns


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


def inputs(backend: str, size: int, dtype: str, device: str) -> tuple[Any, Any]:
    """``(x, grad_output)``: random normal arrays of ``size`` elements, cached."""
    key = (backend, size, dtype, device)
    cached = _INPUTS.fetch(key)
    if cached is not None:
        return cached
    m = load(backend)
    if backend == "jax" and dtype == "float64" and not m.jax.config.jax_enable_x64:
        m.jax.config.update("jax_enable_x64", True)  # before any float64 array exists
    where = _check_device(backend, device)
    rng = np.random.default_rng(20_240_101)
    shape = shape_of(size)
    host = [rng.standard_normal(shape, dtype=np.dtype(dtype)) for _ in range(2)]
    if backend == "numpy":
        arrays = host
    elif backend == "torch":
        arrays = [m.torch.from_numpy(a).to(where) for a in host]
    elif backend == "jax":
        arrays = [m.jax.device_put(a, where) for a in host]
        for a in arrays:
            a.block_until_ready()
    else:
        raise NotImplementedError(f"unknown backend {backend!r}")
    return _INPUTS.put(key, tuple(arrays))


@dataclass
class Runner:
    """A prepared pair of zero-argument calls; ``nbytes`` is one input array's size."""

    forward: Callable[[], Any]
    backward: Callable[[], Any]
    nbytes: int
    sync: Callable[[], None]

    def bandwidth(self, direction: str, seconds: float) -> float:
        """Effective GB/s: forward reads x and writes y (2 arrays), backward reads
        grad_output and x and writes the gradient (3 arrays)."""
        arrays = 2 if direction == "forward" else 3
        return arrays * self.nbytes / seconds / 1e9


def _project_calls(case: Case, x: Any, g: Any) -> tuple[Callable, Callable]:
    import primitives as P

    fwd = getattr(P, case.primitive)
    bwd = getattr(P, case.primitive + "_backward")
    params = dict(case.params)
    return partial(fwd, x, **params), partial(bwd, g, x, **params)


def _native_calls(case: Case, backend: str, x: Any, g: Any) -> tuple[Callable, Callable]:
    m = load(backend)
    params = dict(case.params)
    peer = getattr(case, backend)
    if peer is None:
        raise NotImplementedError(f"{case.id} has no native {backend} peer")

    def f(v: Any) -> Any:
        return peer(m, v, **params)

    if backend == "numpy":
        if case.numpy_backward is None:
            raise NotImplementedError(f"{case.id} has no NumPy backward expression")
        return partial(f, x), partial(case.numpy_backward, m, g, x, **params)
    if backend == "torch":
        xr = x.detach().clone().requires_grad_(True)
        with m.torch.enable_grad():
            y = f(xr)  # the graph, retained across calls

        def torch_backward() -> Any:
            return m.torch.autograd.grad(y, xr, g, retain_graph=True)[0]

        return partial(f, x), torch_backward
    jit_forward = m.jax.jit(f)
    jit_backward = m.jax.jit(lambda gv, xv: m.jax.vjp(f, xv)[1](gv)[0])
    return partial(jit_forward, x), partial(jit_backward, g, x)


def _finish(call: Callable[[], Any], backend: str, sync: Callable[[], None]) -> Callable:
    """``call`` made synchronous: jax results blocked on, CUDA synchronized."""
    if backend == "jax":

        def blocked() -> Any:
            return call().block_until_ready()

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
    warm: Sequence[str] = ("forward", "backward"),
) -> Runner:
    """A :class:`Runner` for one parameter combination (cached), its ``warm`` directions
    called twice already (jit compilation, allocator pools, page faults)."""
    key = (case.id, backend, size, dtype, device, impl)
    runner = _RUNNERS.fetch(key)
    if runner is None:
        x, g = inputs(backend, size, dtype, device)
        if impl == "project":
            forward, backward = _project_calls(case, x, g)
        elif impl == "native":
            forward, backward = _native_calls(case, backend, x, g)
        else:
            raise NotImplementedError(f"unknown impl {impl!r}")
        sync = _sync(backend, device)
        runner = Runner(
            _finish(forward, backend, sync),
            _finish(backward, backend, sync),
            int(x.nbytes),
            sync,
        )
        for _ in range(2):
            for direction in warm:
                getattr(runner, direction)()
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
