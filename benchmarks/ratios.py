"""The project / native ratio of each pytest-benchmark group, one compact row each.

pytest-benchmark prints every timing in wide tables that leave the reader to pair the project's
row with its native peer's. :func:`ratio_lines` does the pairing: per case, direction, size,
dtype and backend, the project's median time, the target peer's (torch and jax: their own
native function; numpy: the case's ``numpy_peer``, as in ``benchmarks.report``), their ratio,
the target and whether it is met, in at most 100 columns (passes and dtypes abbreviated:
``fwd``, ``bwd``, ``train``; ``f32``, ``f64``). ``benchmarks/conftest.py`` prints
them at the end of a ``pytest benchmarks/ --benchmark-only`` run.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .cases import BY_ID


class Timing(NamedTuple):
    """One benchmark's median time in seconds."""

    case: str
    direction: str
    size: int
    dtype: str
    device: str
    backend: str
    impl: str
    median: float


HEADER = (
    f"{'case':<32} {'pass':<5} {'size':>8} {'type':<4} {'lib':<5} "
    f"{'ms':>8} {'peer ms':>8} {'ratio':>6} {'target':>6}"
)
_PASS = {"forward": "fwd", "backward": "bwd"}
_TYPE = {"float32": "f32", "float64": "f64", "float16": "f16", "bfloat16": "bf16"}


def ratio_lines(timings: Iterable[Timing]) -> list[str]:
    """The header and one line per (case, direction, size, dtype, device, backend) that has
    both the project's time and its target peer's; ``met``/``NOT MET`` against the case's
    target (blank where the issue sets none)."""
    table = {
        (t.case, t.direction, t.size, t.dtype, t.device, t.backend, t.impl): t for t in timings
    }
    lines = [HEADER]
    for (case_id, direction, size, dtype, device, backend, impl), t in table.items():
        if impl != "project":
            continue
        case = BY_ID[case_id]
        peer = case.target_peer(backend)
        theirs = table.get((case_id, direction, size, dtype, device, peer, "native"))
        if theirs is None or theirs.median <= 0:
            continue
        ratio = t.median / theirs.median
        bound = case.target(backend, direction)
        verdict = "" if bound is None else ("met" if ratio <= bound else "NOT MET")
        target = "" if bound is None else f"≤{bound:g}×"
        name = case_id if device == "cpu" else f"{case_id} ({device})"
        lines.append(
            f"{name:<32} {_PASS.get(direction, direction):<5} {size:>8} "
            f"{_TYPE.get(dtype, dtype):<4} {backend:<5} "
            f"{t.median * 1e3:>8.3f} {theirs.median * 1e3:>8.3f} {ratio:>6.2f} "
            f"{target:>6} {verdict}".rstrip()
        )
    return lines
