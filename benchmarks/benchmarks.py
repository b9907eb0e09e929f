"""asv benchmarks, generated from :data:`benchmarks.cases.CASES`: for each case ``C``

* ``C.time_forward`` / ``C.time_backward``: the project (``impl="project"``) and the native
  peer (``impl="native"``) side by side, over backend, size, dtype and device (the sizes are
  the case's: elements of the prediction);
* ``CRatio.track_forward`` / ``CRatio.track_backward``: project time / the issue's target
  peer time, both measured in the same process, interleaved (unit "ratio"; numpy's peer is
  the case's ``numpy_peer``: torch's native function for the activations, jitted optax for
  the losses), and ``CRatio.track_bandwidth_*`` of the project (unit "GB/s": bytes read and
  written / time);
* for the activations, ``CMemory.peakmem_forward``: the process's peak memory around the
  NumPy forward, and ``CMemory.track_peak_over_output``: the call's peak allocation beyond
  its input, as a multiple of the output's size (unit "x output");

plus :class:`Dispatch` and :class:`DispatchRatio`: the per-call overhead on 8 elements.
The methods are generated per direction of the case (``forward``/``backward``).

Run it with ``asv run`` (see ``docs/benchmarks.md``). Setup raises ``NotImplementedError``
(asv: skipped) for a missing framework and for meaningless combinations (cuda without a GPU,
a GPU-only size on the CPU).
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

from . import harness
from .cases import BACKENDS, CASES, DEVICES, DTYPES, IMPLS, Case


class _Timing:
    """Time of the project's and the native peer's forward and backward."""

    case: Case
    param_names: ClassVar[list[str]] = ["backend", "size", "dtype", "device", "impl"]
    timeout = 300.0
    repeat = (3, 10, 5.0)  # min samples, max samples, max seconds per round
    rounds = 1

    def setup(self, backend: str, size: int, dtype: str, device: str, impl: str) -> None:
        self.runner = harness.prepare(self.case, backend, size, dtype, device, impl)


def _timer(direction: str) -> Any:
    def time(self: _Timing, backend: str, size: int, dtype: str, device: str, impl: str) -> None:
        getattr(self.runner, direction)()

    return time


class _Tracks:
    """Ratio to the target peer and effective bandwidth of the project, at the largest
    size (smaller sizes are in the timings; their ratios mostly measure call overhead)."""

    case: Case
    param_names: ClassVar[list[str]] = ["backend", "size", "dtype", "device"]
    timeout = 300.0
    repeat = 7

    def setup(self, backend: str, size: int, dtype: str, device: str) -> None:
        peer = self.case.target_peer(backend)
        self.project = harness.prepare(self.case, backend, size, dtype, device, "project")
        self.peer = harness.prepare(self.case, peer, size, dtype, device, "native")


def _ratio_tracker(direction: str) -> Any:
    def track(self: _Tracks, backend: str, size: int, dtype: str, device: str) -> float:
        mine = getattr(self.project, direction)
        theirs = getattr(self.peer, direction)
        return harness.ratio(mine, theirs, self.repeat)

    track.unit = "ratio"
    return track


def _bandwidth_tracker(direction: str) -> Any:
    def track(self: _Tracks, backend: str, size: int, dtype: str, device: str) -> float:
        (seconds,) = harness.median_times([getattr(self.project, direction)], self.repeat)
        return self.project.bandwidth(direction, seconds)

    track.unit = "GB/s"
    return track


class _Memory:
    """Memory of the NumPy forward: the project's and the plain NumPy expression's."""

    case: Case
    param_names: ClassVar[list[str]] = ["size", "dtype", "impl"]
    timeout = 300.0

    def setup(self, size: int, dtype: str, impl: str) -> None:
        self.runner = harness.prepare(
            self.case, "numpy", size, dtype, "cpu", impl, warm=("forward",)
        )

    def peakmem_forward(self, size: int, dtype: str, impl: str) -> None:
        self.runner.forward()

    def track_peak_over_output(self, size: int, dtype: str, impl: str) -> float:
        peak, output = harness.peak_bytes(self.runner.forward)
        return peak / output

    track_peak_over_output.unit = "x output"


class Dispatch:
    """Per-call time on 8 elements: ``P.relu(x)`` (``impl="project"``) against the direct
    native call (``np.maximum(x, 0)``, ``torch.relu(t)``, jitted ``jax.nn.relu``)."""

    params: ClassVar[list[list[Any]]] = [list(BACKENDS), list(IMPLS)]
    param_names: ClassVar[list[str]] = ["backend", "impl"]
    timeout = 120.0

    def setup(self, backend: str, impl: str) -> None:
        project, native = harness.dispatch_calls(backend)
        self.call = project if impl == "project" else native

    def time_relu_8(self, backend: str, impl: str) -> None:
        self.call()


class DispatchRatio:
    """Dispatch overhead: ``P.relu`` time / direct native call time on 8 elements."""

    params: ClassVar[list[list[Any]]] = [list(BACKENDS)]
    param_names: ClassVar[list[str]] = ["backend"]
    timeout = 120.0

    def setup(self, backend: str) -> None:
        self.project, self.native = harness.dispatch_calls(backend)

    def track_relu_8(self, backend: str) -> float:
        return harness.ratio(self.project, self.native, repeat=15)

    track_relu_8.unit = "ratio"


def _generate(case: Case) -> dict[str, type]:
    """The case's asv classes, named after it (``GeluTanh``, ``GeluTanhRatio``, ...)."""
    base: dict[str, Any] = {"case": case, "__module__": __name__}
    name = case.class_name
    largest = [max(case.sizes), *(s for s in case.all_sizes if s in case.gpu_sizes)]
    timing = {f"time_{d}": _timer(d) for d in case.directions}
    tracks = {f"track_{d}": _ratio_tracker(d) for d in case.directions}
    tracks.update({f"track_bandwidth_{d}": _bandwidth_tracker(d) for d in case.directions})
    grid = [list(DTYPES), list(DEVICES)]
    classes = {
        name: type(
            name,
            (_Timing,),
            {
                **base,
                **timing,
                "__doc__": f"{case.id}: {_Timing.__doc__}",
                "params": [list(BACKENDS), list(case.all_sizes), *grid, list(IMPLS)],
            },
        ),
        name + "Ratio": type(
            name + "Ratio",
            (_Tracks,),
            {**base, **tracks, "params": [list(BACKENDS), largest, *grid]},
        ),
    }
    if case.family == "activations":
        classes[name + "Memory"] = type(
            name + "Memory",
            (_Memory,),
            {**base, "params": [[max(case.sizes)], list(DTYPES), list(IMPLS)]},
        )
    return classes


for _case in CASES:
    globals().update(_generate(_case))
del _case

# asv forks every benchmark process from a server (asv/benchmark.py run_server) that imports
# this module: import the frameworks there once (harness.preload), not in each of ~2,000
# forked processes. (Nowhere else: discovery, `asv check` and spawned processes import
# a framework only in the setup of a benchmark that needs it.)
if "asv_runner" in sys.modules and sys.argv[1:2] == ["run_server"]:
    harness.preload()
