"""The atlas's primitives measured in parallel: one process per core, one primitive per task
(the mpmath references of a primitive are shared by its implementations and so cached in one
process)."""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from ..implementations import DEFAULT_DEVICE
from .measure import PRIMITIVES, Curve, measure


def configure_process() -> None:
    """What a measuring process needs, as the suite sets it up: jax's float64 (the library never
    enables it), the library's composed kernels at every size (their production thresholds
    would send the grid's few thousand elements down the generic path, which
    ``<backend>:generic`` already measures), and no warnings for the grid's overflowing casts
    (1e308 as float32 is inf, which the atlas means)."""
    import importlib.util

    warnings.simplefilter("ignore", RuntimeWarning)
    if importlib.util.find_spec("jax") is not None:
        import jax

        jax.config.update("jax_enable_x64", True)
    from primitives.backends import numpy_blocks

    numpy_blocks.configure(min_size=0)
    if importlib.util.find_spec("torch") is not None:
        from primitives.backends import torch_activations

        torch_activations.configure_blocks(min_size=0)


def available_cpus() -> int:
    """The CPUs this process may run on (all of them where the platform cannot say)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _task(args: tuple) -> list[Curve]:
    primitive, impl_ids, dtypes, points, device = args
    return measure(primitive, impl_ids, dtypes, points, device)


def measure_all(
    impl_ids: Sequence[str],
    primitives: Sequence[str] = PRIMITIVES,
    dtypes: Sequence[str] | None = None,
    points: int = 1200,
    device: str = DEFAULT_DEVICE,
    workers: int | None = None,
) -> list[Curve]:
    """Every curve of ``primitives`` on ``impl_ids``, over ``workers`` processes (default: the
    CPUs available), each set up by :func:`configure_process`; ``workers=1`` measures in this
    process as it is configured (the property suite's, in a test)."""
    workers = workers or available_cpus()
    tasks = [(p, list(impl_ids), dtypes, points, device) for p in primitives]
    if workers == 1:
        return [c for t in tasks for c in _task(t)]
    context = multiprocessing.get_context("spawn")  # (torch and jax threads do not survive fork)
    with ProcessPoolExecutor(workers, mp_context=context, initializer=configure_process) as pool:
        return [c for curves in pool.map(_task, tasks) for c in curves]
