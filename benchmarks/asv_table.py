"""The issue's targets as asv measured them: markdown tables read from asv's results.

    python -m benchmarks.asv_run                  # (the README's command: asv run, per group)
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
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from . import report
from .cases import BACKENDS, CASES, Case

BEGIN, END = "<!-- asv:begin -->", "<!-- asv:end -->"
FAILED, SKIPPED, NOT_RUN = "failed", "skipped", "not run"
"""What a benchmark has instead of a value: asv stores ``None`` for a failure and NaN for a
skip (setup raised ``NotImplementedError``); a benchmark that did not run has no entry."""


class Stored:
    """One asv results file, read by benchmark name and parameter values.

    ``param_names``: each benchmark's parameter names, as ``benchmarks.json`` (written by
    ``asv run`` beside the results) lists them.
    """

    def __init__(self, results: Any, param_names: dict[str, list[str]]) -> None:
        self.results = results
        self.param_names = param_names
        self.keys = set(results.get_all_result_keys())

    def value(self, name: str, **wanted: Any) -> float | str:
        """The result of ``benchmarks.<name>`` at the parameter values ``wanted`` (every
        parameter of the benchmark named), or ``FAILED``, ``SKIPPED`` or ``NOT_RUN``."""
        key = f"benchmarks.{name}"
        if key not in self.keys:
            return NOT_RUN
        params = self.results.get_result_params(key)
        combos = itertools.product(*[[ast.literal_eval(p) for p in ps] for ps in params])
        values = self.results.get_result_value(key, params)
        for combo, value in zip(combos, values, strict=True):
            if dict(zip(self.param_names[key], combo, strict=True)) == wanted:
                if value is None:
                    return FAILED
                return SKIPPED if math.isnan(value) else float(value)
        return NOT_RUN


def load(
    results_dir: Path, machine: str, commit: str | None = None, env: str | None = None
) -> Stored:
    """The results of ``commit`` (a hash prefix; default: the newest commit) on ``machine``,
    in environment ``env`` (needed only where that commit has results of several)."""
    from asv import results as asv_results  # (asv is a benchmark tool, not a library need)

    found = list(asv_results.iter_results_for_machine(str(results_dir), machine))
    found = [
        r
        for r in found
        if (not commit or r.commit_hash.startswith(commit)) and (not env or r.env_name == env)
    ]
    if not found:
        what = "".join(f" {k} {v}" for k, v in (("commit", commit), ("env", env)) if v)
        raise SystemExit(f"no asv results for machine {machine!r}{what} in {results_dir}")
    newest = max(r.date or 0 for r in found)
    chosen = [r for r in found if (r.date or 0) == newest]
    if len(chosen) > 1:
        listed = ", ".join(sorted(f"{r.commit_hash[:8]} {r.env_name}" for r in chosen))
        raise SystemExit(f"several results match ({listed}): choose with --commit and --env")
    suite = json.loads((results_dir / "benchmarks.json").read_text())
    names = {k: v["param_names"] for k, v in suite.items() if isinstance(v, dict)}
    return Stored(chosen[0], names)


def _cell(ratio: float | str, bound: float | None) -> str:
    """``ratio target verdict``, e.g. ``0.91 ≤1.1× met``; a failed benchmark is not met."""
    if ratio == FAILED:
        return f"— ({FAILED}) {report._bound(bound)} **not met**"
    if isinstance(ratio, str):
        return f"— ({ratio})"
    return f"{ratio:.2f} {report._bound(bound)} {report._met(ratio, bound)}"


def _count(cells: Sequence[str]) -> tuple[int, int]:
    """(met, judged): every cell with a target and a result or a failure."""
    judged = [c for c in cells if "≤" in c]
    return sum(c.endswith(" met") for c in judged), len(judged)


def ratio_rows(stored: Stored, cases: Sequence[Case], dtype: str, device: str) -> list[list[str]]:
    """One row per case and direction: each backend's ratio, target and verdict."""
    rows = []
    for case in cases:
        for d in case.directions:
            size = report.largest_size(case, device)
            cells = [
                _cell(
                    stored.value(
                        f"{case.class_name}Ratio.track_{d}",
                        backend=backend,
                        size=size,
                        dtype=dtype,
                        device=device,
                    ),
                    report.target(device, case, backend, d),
                )
                for backend in BACKENDS
            ]
            rows.append([report._label(case, size), d, *cells])
    return rows


class Table(NamedTuple):
    text: str  # markdown
    cells: list[str]  # every judged or unjudged cell, for main's verdict


def render(stored: Stored, dtype: str, device: str) -> Table:
    """The markdown tables (on a GPU the ratios only: dispatch and memory are CPU targets)."""
    r = stored.results
    out = [
        f"From the asv results of commit {r.commit_hash[:8]} ({r.env_name}), read with "
        f"`python -m benchmarks.asv_table`: {dtype} on the {device}, the largest size. Each "
        "cell: project time / target peer time (timed interleaved in one asv process; numpy's "
        "peer: torch's native CPU function for the activations and layers, the jitted jax peer "
        "for the losses, an in-place NumPy update for the optimizers), the target, and whether "
        "it is met.",
        "",
    ]
    counts: list[tuple[str, tuple[int, int]]] = []
    cells: list[str] = []
    for family in dict.fromkeys(case.family for case in CASES):
        rows = ratio_rows(stored, [c for c in CASES if c.family == family], dtype, device)
        out += [f"#### {family.capitalize()}", ""]
        out += [*report._table(["primitive", "pass", *BACKENDS], rows), ""]
        for i, backend in enumerate(BACKENDS):
            column = [row[2 + i] for row in rows]
            counts.append((f"{family} {backend}", _count(column)))
            cells += column
    if device == "cpu":
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
        cells += dispatch + [row[1] for row in memory]
    out += [f"Targets met: {report._summary(counts) or 'none measured'}."]
    return Table("\n".join(out) + "\n", cells)


def main(argv: Sequence[str] | None = None) -> int:
    """Print (and ``--write``) the tables; exit 1 where a benchmark failed or no target has
    a result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path(".asv/results"))
    parser.add_argument("--machine", default="ci-cpu")
    parser.add_argument("--commit", help="hash prefix (default: the newest commit)")
    parser.add_argument("--env", help="asv environment name (where a commit has several)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write", type=Path, help="update the marked block of this file")
    args = parser.parse_args(argv)
    stored = load(args.results, args.machine, args.commit, args.env)
    table = render(stored, args.dtype, args.device)
    print(table.text)
    if args.write:
        report.write(args.write, table.text, BEGIN, END)
        print(f"wrote {args.write}", file=sys.stderr)
    failed = sum(f"({FAILED})" in c for c in table.cells)
    if failed:
        print(f"{failed} benchmark(s) failed (see asv's output)", file=sys.stderr)
        return 1
    if not any("≤" in c for c in table.cells):
        print("no target has a result in these asv results", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
