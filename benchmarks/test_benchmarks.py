"""The benchmark table under pytest-benchmark: ``pytest benchmarks/ --benchmark-only``.

Each case runs for the project and its native peer on every backend, forward and backward,
grouped by primitive, direction and array, so each group's table puts them side by side.
Selection (comma-separated environment variables; defaults keep a run short):

* ``BENCH_SIZES`` (default: each case's largest CPU size, 4000000 for the activations),
  ``BENCH_DTYPES`` (``float32``), ``BENCH_DEVICES`` (``cpu``), ``BENCH_BACKENDS`` (all),
  ``BENCH_CASES`` (all case ids).

``pytest benchmarks/ --benchmark-disable`` runs every selected benchmark once: a smoke test
(``.ci/check-benchmarks`` runs it at 1000 elements). A plain ``pytest`` from the repository
root does not collect this directory (``testpaths`` is ``properties``).

No pytest import at module level: asv imports every module of this package while
discovering its benchmarks, in an environment without pytest.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NamedTuple

from . import harness
from .cases import BACKENDS, BY_ID, CASES, IMPLS, Case

if TYPE_CHECKING:
    import pytest


class Combo(NamedTuple):
    """One benchmark: a case on one backend, implementation, direction and array."""

    case: Case
    backend: str
    impl: str
    direction: str
    size: int
    dtype: str
    device: str

    @property
    def id(self) -> str:
        return "-".join(
            [self.case.id, self.direction, self.backend, self.impl, str(self.size), self.dtype]
            + ([self.device] if self.device != "cpu" else [])
        )

    @property
    def group(self) -> str:
        return f"{self.case.id} {self.direction} {self.size} {self.dtype} {self.device}"


def _selected(var: str, default: tuple[str, ...]) -> list[str]:
    """The comma-separated values of environment variable ``var``, or ``default``."""
    raw = os.environ.get(var, "")
    values = [v.strip() for v in raw.split(",") if v.strip()]
    return values or list(default)


def combos() -> list[Combo]:
    """Every selected combination, in table order."""
    case_ids = _selected("BENCH_CASES", tuple(c.id for c in CASES))
    unknown = sorted(set(case_ids) - set(BY_ID))
    if unknown:
        raise ValueError(f"BENCH_CASES: unknown case ids {unknown}; known: {sorted(BY_ID)}")
    sizes = [int(float(s)) for s in _selected("BENCH_SIZES", ())]
    dtypes = _selected("BENCH_DTYPES", ("float32",))
    devices = _selected("BENCH_DEVICES", ("cpu",))
    backends = _selected("BENCH_BACKENDS", BACKENDS)
    return [
        Combo(BY_ID[case_id], backend, impl, direction, size, dtype, device)
        for case_id in case_ids
        for direction in BY_ID[case_id].directions
        for size in sizes or [max(BY_ID[case_id].sizes)]
        for dtype in dtypes
        for device in devices
        for backend in backends
        for impl in IMPLS
    ]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize ``combo`` from the table (a hook, so this module needs no pytest import)."""
    if "combo" in metafunc.fixturenames:
        selected = combos()
        metafunc.parametrize("combo", selected, ids=[c.id for c in selected])


def test_primitive(benchmark: Any, combo: Combo) -> None:
    """Time one call of the combination's forward or backward."""
    import pytest

    try:
        runner = harness.prepare(
            combo.case, combo.backend, combo.size, combo.dtype, combo.device, combo.impl
        )
    except NotImplementedError as e:
        pytest.skip(str(e))
    call = getattr(runner, combo.direction)
    benchmark.group = combo.group
    benchmark.extra_info.update(
        case=combo.case.id,
        direction=combo.direction,
        size=combo.size,
        dtype=combo.dtype,
        device=combo.device,
        backend=combo.backend,
        impl=combo.impl,
        bytes_moved=runner.traffic[combo.direction],
    )
    result = benchmark(call)
    assert result is not None
