"""What a benchmark case is: the parameter axes, the :class:`Case` record and its inputs.

The rows themselves are in :mod:`benchmarks.cases` (the activations) and
``benchmarks/cases_<family>.py`` (the other families), all collected in
:data:`benchmarks.cases.CASES`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

Peer = Callable[..., Any]

# --- parameter axes ---------------------------------------------------------------------------

BACKENDS: tuple[str, ...] = ("numpy", "torch", "jax")
SIZES: tuple[int, ...] = (10**3, 10**5, 4 * 10**6)
DTYPES: tuple[str, ...] = ("float32", "float64")
IMPLS: tuple[str, ...] = ("project", "native")
DIRECTIONS: tuple[str, ...] = ("forward", "backward", "train")
"""``train`` is what a training step runs: torch's forward on inputs that require grad and
``backward()`` through autograd, jax's ``jit`` of the forward with its vector-Jacobian
product (``value_and_grad`` for a loss), NumPy's forward then the explicit backward; the
project's and the native function's alike."""
ROW = 1000
"""Arrays are ``(size // ROW, ROW)``: softmax and log_softmax reduce rows of 1000 entries."""


def _gpu_present() -> bool:
    """Whether an NVIDIA device node exists (cheap; setup still asks torch/jax)."""
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")


def devices() -> tuple[str, ...]:
    """``("cpu",)``, plus ``"cuda"`` on a machine with an NVIDIA GPU (env ``BENCH_DEVICES``
    overrides, e.g. ``cpu,cuda``). Setup skips cuda where the framework cannot use it."""
    chosen = os.environ.get("BENCH_DEVICES")
    if chosen:
        return tuple(d.strip() for d in chosen.split(",") if d.strip())
    return ("cpu", "cuda") if _gpu_present() else ("cpu",)


DEVICES: tuple[str, ...] = devices()


def shape_of(size: int) -> tuple[int, int]:
    """The array shape for ``size`` elements: rows of :data:`ROW` entries."""
    return (max(size // ROW, 1), min(size, ROW))


class Inputs(NamedTuple):
    """A case's arguments as host arrays: floating ones are made in the benchmark's dtype
    (integer and boolean ones keep theirs; other values, such as a shape, are passed as they
    are); ``grad_output`` has the forward's output shape (a NumPy scalar array for a reduced
    loss); the native backward is taken for ``arrays[wrt]`` (a tuple of indices: for each of
    those arrays, as the project's backward returns them)."""

    arrays: tuple[Any, ...]
    grad_output: np.ndarray
    wrt: int | tuple[int, ...] = 0


Build = Callable[[np.random.Generator, int, np.dtype], Inputs]
Calls = Callable[..., "dict[str, Callable[[], Any]]"]
"""``calls(m, backend, impl, inputs, **params)``: a family whose calls are not a function and
its ``_backward`` (the optimizers: a built optimizer's step, torch.optim's in-place step) makes
its zero-argument calls itself, one per direction."""


def elementwise(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    """The activations' inputs: ``x`` and ``grad_output``, random normal, ``shape_of(size)``."""
    shape = shape_of(size)
    x, g = (rng.standard_normal(shape, dtype=dtype) for _ in range(2))
    return Inputs((x,), g)


# --- the table --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One benchmarked primitive with fixed parameters, and its native peers.

    ``id`` names the case (``"gelu_tanh"``); ``primitive`` the project function (default:
    ``id``). ``numpy_target`` is the issue's bound on numpy time / ``numpy_peer`` native time
    (None: the issue sets none);
    ``torch_inaccurate`` lists the directions where torch's native function fails this
    project's accuracy properties (the torch target is then 2x instead of 1.1x, and for the
    training step, which runs both, where either direction is listed).
    """

    id: str
    torch: Peer | None = None
    jax: Peer | None = None
    numpy: Peer | None = None
    numpy_backward: Peer | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    primitive: str = ""
    family: str = "activations"
    numpy_target: float | None = 2.0
    torch_inaccurate: frozenset[str] = frozenset()
    build: Build = elementwise
    sizes: tuple[int, ...] = SIZES
    gpu_sizes: tuple[int, ...] = ()
    numpy_peer: str = "torch"
    directions: tuple[str, ...] = DIRECTIONS
    target_torch: float = 1.1
    target_jax: float = 1.1
    calls: Calls | None = None

    def __post_init__(self) -> None:
        if not self.primitive:
            object.__setattr__(self, "primitive", self.id)

    @property
    def all_sizes(self) -> tuple[int, ...]:
        """``sizes``, plus ``gpu_sizes`` where a GPU is present (the CPU skips those)."""
        return self.sizes + (self.gpu_sizes if "cuda" in DEVICES else ())

    @property
    def class_name(self) -> str:
        """CamelCase name of the case's asv classes: ``gelu_tanh`` -> ``GeluTanh``."""
        return "".join(part.capitalize() for part in self.id.split("_"))

    def target(self, backend: str, direction: str) -> float | None:
        """The issue's bound on project time / target peer time (see ``target_peer``)."""
        if backend == "numpy":
            return self.numpy_target
        if backend == "torch" and (
            direction in self.torch_inaccurate or (direction == "train" and self.torch_inaccurate)
        ):
            return 2.0
        return self.target_torch if backend == "torch" else self.target_jax

    def target_peer(self, backend: str) -> str:
        """The backend whose native function the issue's targets compare ``backend`` with:
        numpy's is ``numpy_peer`` (torch's native CPU time for the activations, jitted optax
        for the losses), the others their own native function."""
        return self.numpy_peer if backend == "numpy" else backend
