"""The issue's targets as asv measured them: markdown tables read from asv's results.

    asv run --machine ci-cpu --quick HEAD^!       # (the README's command) then
    python -m benchmarks.asv_table                # the newest results of machine ci-cpu
    python -m benchmarks.asv_table --write docs/benchmarks.md

For every case, the ratio project / target peer that ``<Case>Ratio.track_<direction>``
measured (both calls interleaved in one process, ``harness.ratio``) on each backend, beside
the case's target; then ``DispatchRatio.track_relu_8`` and the activations'
``<Case>Memory.track_peak_over_output``. ``benchmarks.report`` measures the same ratios in a
process of its own, over several rounds; this reads what ``asv run`` stored, so the table in
the docs is the one the HTML report plots.

``--write PATH`` replaces the text between ``<!-- asv:begin -->`` and ``<!-- asv:end -->``.
"""

from __future__ import annotations

import argparse
import ast
import itertools
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import benchmarks as suite
from . import report
from .cases import BACKENDS, CASES, Case

BEGIN, END = "<!-- asv:begin -->", "<!-- asv:end -->"


class Stored:
    """One asv results file, read by benchmark name and parameter values."""

    def __init__(self, results: Any) -> None:
        self.results = results
        self.keys = set(results.get_all_result_keys())

    def value(self, name: str, **wanted: Any) -> float | None:
        """The result of ``benchmarks.<name>`` at the parameter values ``wanted`` (every
        parameter of the benchmark named); ``None`` where asv stored none (not run, skipped or
        failed)."""
        key = f"benchmarks.{name}"
        if key not in self.keys:
            return None
        names = getattr(suite, name.split(".")[0]).param_names
        params = self.results.get_result_params(key)
        combos = itertools.product(*[[ast.literal_eval(p) for p in ps] for ps in params])
        for combo, value in zip(combos, self.results.get_result_value(key, params), strict=True):
            if dict(zip(names, combo, strict=True)) == wanted:
                return None if value is None or math.isnan(value) else float(value)
        return None


def load(results_dir: Path, machine: str, commit: str | None = None) -> Stored:
    """The results of ``commit`` (a hash prefix; default: the newest commit) on ``machine``."""
    from asv import results as asv_results  # (asv is a benchmark tool, not a library need)

    found = list(asv_results.iter_results_for_machine(str(results_dir), machine))
    if commit:
        found = [r for r in found if r.commit_hash.startswith(commit)]
    if not found:
        where = f" for commit {commit}" if commit else ""
        raise SystemExit(f"no asv results for machine {machine!r}{where} in {results_dir}")
    return Stored(max(found, key=lambda r: r.date or 0))


NOT_RUN = "— (not run)"


def _cell(ratio: float | None, bound: float | None) -> str:
    """``ratio target verdict``, e.g. ``0.91 ≤1.1× met``."""
    if ratio is None:
        return NOT_RUN
    return f"{ratio:.2f} {report._bound(bound)} {report._met(ratio, bound)}"


def _count(cells: Sequence[str]) -> tuple[int, int]:
    judged = [c for c in cells if c != NOT_RUN and "(no target)" not in c]
    return sum(c.endswith(" met") for c in judged), len(judged)


def size_on(case: Case, device: str) -> int:
    """The size of the case's ratio tracks on ``device``: its largest (GPU) size."""
    return max((case.gpu_sizes if device != "cpu" else ()) or case.sizes)


def ratio_rows(stored: Stored, cases: Sequence[Case], dtype: str, device: str) -> list[list[str]]:
    """One row per case and direction: each backend's ratio, target and verdict."""
    rows = []
    for case in cases:
        for d in case.directions:
            size = size_on(case, device)
            cells = [
                _cell(
                    stored.value(
                        f"{case.class_name}Ratio.track_{d}",
                        backend=backend,
                        size=size,
                        dtype=dtype,
                        device=device,
                    ),
                    case.target(backend, d),
                )
                for backend in BACKENDS
            ]
            rows.append([report._label(case, size), d, *cells])
    return rows


def render(stored: Stored, dtype: str, device: str) -> str:
    """The markdown tables."""
    r = stored.results
    out = [
        f"From the asv results of commit {r.commit_hash[:8]} ({r.env_name}), read with "
        f"`python -m benchmarks.asv_table`: {dtype} on the {device}, the largest size. Each cell: "
        "project time / target peer time (timed interleaved in one asv process; numpy's peer: "
        "torch's native CPU function for the activations and layers, the jitted jax peer for "
        "the losses, an in-place NumPy update for the optimizers), the target, and whether it "
        "is met.",
        "",
    ]
    counts: list[tuple[str, tuple[int, int]]] = []
    for family in dict.fromkeys(case.family for case in CASES):
        rows = ratio_rows(stored, [c for c in CASES if c.family == family], dtype, device)
        out += [f"#### {family.capitalize()}", ""]
        out += [*report._table(["primitive", "pass", *BACKENDS], rows), ""]
        counts += [
            (f"{family} {b}", _count([row[2 + i] for row in rows])) for i, b in enumerate(BACKENDS)
        ]
    dispatch = [
        _cell(
            stored.value("DispatchRatio.track_relu_8", backend=b),
            report.DISPATCH_TARGET if b != "jax" else None,
        )
        for b in BACKENDS
    ]
    out += ["#### Dispatch: `P.relu` on 8 elements / the direct native call", ""]
    out += [*report._table(list(BACKENDS), [dispatch]), ""]
    memory = [
        [
            case.primitive,
            _cell(
                stored.value(
                    f"{case.class_name}Memory.track_peak_over_output",
                    size=max(case.sizes),
                    dtype=dtype,
                    impl="project",
                ),
                report.MEMORY_TARGET,
            ),
        ]
        for case in CASES
        if case.family == "activations"
    ]
    out += ["#### NumPy forward peak memory beyond the input, in output sizes", ""]
    out += [*report._table(["primitive", "project"], memory), ""]
    counts += [
        ("dispatch", _count(dispatch)),
        ("activations numpy memory", _count([row[1] for row in memory])),
    ]
    out += [f"Targets met: {report._summary(counts)}."]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path(".asv/results"))
    parser.add_argument("--machine", default="ci-cpu")
    parser.add_argument("--commit", help="hash prefix (default: the newest commit)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write", type=Path, help="update the marked block of this file")
    args = parser.parse_args(argv)
    block = render(load(args.results, args.machine, args.commit), args.dtype, args.device)
    print(block)
    if block.rstrip().endswith("Targets met: ."):  # (no cell had a result)
        print("no target has a result in these asv results", file=sys.stderr)
        return 1
    if args.write:
        report.write(args.write, block, BEGIN, END)
        print(f"wrote {args.write}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
