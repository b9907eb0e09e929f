"""pytest hooks of the benchmark runner: after ``pytest benchmarks/ --benchmark-only``, one
compact row per case with the project / native ratio and its target
(:mod:`benchmarks.ratios`), below pytest-benchmark's own tables.

asv imports every module of this package while discovering benchmarks, in an environment
without pytest: pytest is imported inside the hook only.
"""

from __future__ import annotations

from typing import Any

from .ratios import Timing, ratio_lines


def _timings(config: Any) -> list[Timing]:
    session = getattr(config, "_benchmarksession", None)  # pytest-benchmark's run
    timings = []
    for bench in getattr(session, "benchmarks", None) or []:
        info = bench.extra_info
        stats = getattr(bench, "stats", None)
        if not stats or "case" not in info:
            continue
        fields = ("case", "direction", "size", "dtype", "device", "backend", "impl")
        timings.append(Timing(*(info[f] for f in fields), stats.median))
    return timings


def pytest_configure(config: Any) -> None:
    import pytest

    class RatioSummary:
        @pytest.hookimpl(trylast=True)  # after pytest-benchmark's tables
        def pytest_terminal_summary(self, terminalreporter: Any) -> None:
            timings = _timings(config)
            if not timings:
                return
            terminalreporter.write_sep("-", "project / target peer (median times)")
            for line in ratio_lines(timings):
                terminalreporter.write_line(line)

    config.pluginmanager.register(RatioSummary(), "benchmark-ratio-summary")


def pytest_xdist_auto_num_workers(config: Any) -> int:
    """``-n auto`` (the project's default addopts) gives the benchmarks one process: timings
    taken while other workers share the cores would not be comparable (and pytest-benchmark
    disables itself under xdist)."""
    return 0
