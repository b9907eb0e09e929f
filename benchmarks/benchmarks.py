"""asv benchmarks, generated from :data:`benchmarks.cases.CASES`: for each case ``C``

* ``C.time_forward`` / ``C.time_backward``: the project (``impl="project"``) and the native
  peer (``impl="native"``) side by side, over backend, size, dtype and device;
* ``CRatio.track_forward`` / ``CRatio.track_backward``: project time / the issue's target
  peer time, both measured in the same process, interleaved (unit "ratio"; numpy's peer is
  torch's native function on the CPU), and ``CRatio.track_bandwidth_*`` of the project
  (unit "GB/s": bytes read and written / time);
* ``CMemory.peakmem_forward``: the process's peak memory around the NumPy forward, and
  ``CMemory.track_peak_over_output``: the call's peak allocation beyond its input, as a
  multiple of the output's size (unit "x output");

plus :class:`Dispatch` and :class:`DispatchRatio`: the per-call overhead on 8 elements.

Run it with ``asv run`` (see ``docs/benchmarks.md``). Setup raises ``NotImplementedError``
(asv: skipped) for a missing framework and for meaningless combinations (cuda without a GPU).
"""

from __future__ import annotations

from typing import Any, ClassVar

from . import harness
from .cases import BACKENDS, CASES, DEVICES, DTYPES, IMPLS, SIZES, Case, target_peer

LARGEST = max(SIZES)


class _Timing:
    """Time of the project's and the native peer's forward and backward."""

    case: Case
    params: ClassVar[list[list[Any]]] = [
        list(BACKENDS),
        list(SIZES),
        list(DTYPES),
        list(DEVICES),
        list(IMPLS),
    ]
    param_names: ClassVar[list[str]] = ["backend", "size", "dtype", "device", "impl"]
    timeout = 300.0
    repeat = (3, 10, 5.0)  # min samples, max samples, max seconds per round
    rounds = 1

    def setup(self, backend: str, size: int, dtype: str, device: str, impl: str) -> None:
        self.runner = harness.prepare(self.case, backend, size, dtype, device, impl)

    def time_forward(self, backend: str, size: int, dtype: str, device: str, impl: str) -> None:
        self.runner.forward()

    def time_backward(self, backend: str, size: int, dtype: str, device: str, impl: str) -> None:
        self.runner.backward()


class _Tracks:
    """Ratio to the target peer and effective bandwidth of the project, at the largest
    size (smaller sizes are in the timings; their ratios mostly measure call overhead)."""

    case: Case
    params: ClassVar[list[list[Any]]] = [list(BACKENDS), [LARGEST], list(DTYPES), list(DEVICES)]
    param_names: ClassVar[list[str]] = ["backend", "size", "dtype", "device"]
    timeout = 300.0
    repeat = 7

    def setup(self, backend: str, size: int, dtype: str, device: str) -> None:
        peer = target_peer(backend)
        self.project = harness.prepare(self.case, backend, size, dtype, device, "project")
        self.peer = harness.prepare(self.case, peer, size, dtype, device, "native")

    def _ratio(self, direction: str) -> float:
        mine = getattr(self.project, direction)
        theirs = getattr(self.peer, direction)
        return harness.ratio(mine, theirs, self.repeat)

    def _bandwidth(self, direction: str) -> float:
        (seconds,) = harness.median_times([getattr(self.project, direction)], self.repeat)
        return self.project.bandwidth(direction, seconds)

    def track_forward(self, backend: str, size: int, dtype: str, device: str) -> float:
        return self._ratio("forward")

    def track_backward(self, backend: str, size: int, dtype: str, device: str) -> float:
        return self._ratio("backward")

    def track_bandwidth_forward(self, backend: str, size: int, dtype: str, device: str) -> float:
        return self._bandwidth("forward")

    def track_bandwidth_backward(self, backend: str, size: int, dtype: str, device: str) -> float:
        return self._bandwidth("backward")

    track_forward.unit = "ratio"
    track_backward.unit = "ratio"
    track_bandwidth_forward.unit = "GB/s"
    track_bandwidth_backward.unit = "GB/s"


class _Memory:
    """Memory of the NumPy forward: the project's and the plain NumPy expression's."""

    case: Case
    params: ClassVar[list[list[Any]]] = [[LARGEST], list(DTYPES), list(IMPLS)]
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
    """The case's three asv classes, named after it (``GeluTanh``, ``GeluTanhRatio``, ...)."""
    attrs: dict[str, Any] = {"case": case, "__module__": __name__}
    name = case.class_name
    return {
        name: type(name, (_Timing,), {**attrs, "__doc__": f"{case.id}: {_Timing.__doc__}"}),
        name + "Ratio": type(name + "Ratio", (_Tracks,), dict(attrs)),
        name + "Memory": type(name + "Memory", (_Memory,), dict(attrs)),
    }


for _case in CASES:
    globals().update(_generate(_case))
del _case
