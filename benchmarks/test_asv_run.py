"""The groups of ``benchmarks.asv_run`` (runs with ``pytest benchmarks/``; no asv run here).

No pytest import at module level (asv imports every module of this package)."""

from __future__ import annotations

import itertools
import re

from . import asv_run
from .cases import BY_ID, CASES


def _asv_names() -> list[str]:
    """``Class.method`` of every benchmark asv_runner's own discovery finds in this package."""
    from pathlib import Path

    from asv_runner.discovery import disc_benchmarks

    found = [b.name for b in disc_benchmarks(str(Path(__file__).parent))]
    assert all(n.startswith("benchmarks.") for n in found)
    return sorted(n.removeprefix("benchmarks.") for n in found)


def _combinations(name: str) -> list[str]:
    """What asv searches ``-b`` in, for each parameter combination of benchmark ``name``
    (``Benchmarks.__init__``): ``benchmarks.<name>(<repr of each value>, ...)``, or the
    bare name for a benchmark without parameters."""
    from . import benchmarks as suite

    cls, _ = name.split(".")
    params = getattr(getattr(suite, cls), "params", [])
    full = f"benchmarks.{name}"
    if not params:
        return [full]
    return [f"{full}({', '.join(map(repr, p))})" for p in itertools.product(*params)]


def _selected(regex: str, name: str) -> set[str]:
    return {c for c in _combinations(name) if re.search(regex, c)}


def test_discover_finds_what_asv_discovers() -> None:
    names = asv_run.discover()
    assert names == _asv_names()
    assert len(names) == len(set(names)) > 200


def test_headline_runs_the_training_step_first() -> None:
    first, *rest = asv_run.groups()
    assert first.benchmarks == tuple(
        f"{BY_ID[i].class_name}Ratio.track_train" for i in asv_run.HEADLINE
    )
    assert not any(n.endswith("_train") for g in rest for n in g.benchmarks)


def test_headline_has_every_row_asv_table_prints_for_its_cases() -> None:
    headline = asv_run.groups()
    cases = [BY_ID[i] for i in asv_run.HEADLINE]
    wanted = {f"{c.class_name}Ratio.track_{d}" for c in cases for d in c.directions}
    wanted |= {
        f"{c.class_name}Memory.track_peak_over_output" for c in cases if c.family == "activations"
    }
    wanted |= {"DispatchRatio.track_relu_8", "Dispatch.time_relu_8"}
    assert {n for g in headline for n in g.benchmarks} == wanted
    # asv_table's default dtype, and every combination of the dtype-less dispatch rows
    for g in headline:
        for name in g.benchmarks:
            for combination in _combinations(name):
                chosen = bool(re.search(g.regex, combination))
                assert chosen == ("float64" not in combination), combination


def test_all_covers_every_combination_exactly_once_headline_first() -> None:
    names = asv_run.discover()
    everything = asv_run.groups(everything=True)
    assert {n for g in everything for n in g.benchmarks} == set(names)
    # every parameter combination of every benchmark in exactly one group's selection
    for name in names:
        selections = [_selected(g.regex, name) for g in everything]
        chosen = [c for selection in selections for c in selection]
        assert sorted(chosen) == sorted(_combinations(name)), name
        # and a group lists a benchmark only where it runs some of it
        for g, selection in zip(everything, selections, strict=True):
            assert bool(selection) == (name in g.benchmarks), (g.name, name)
    headline = asv_run.groups()
    assert everything[: len(headline)] == headline
    # then the other cases' training-step ratios
    later = everything[len(headline)].benchmarks
    assert all(n.endswith("Ratio.track_train") for n in later)
    assert {f"{c.class_name}Ratio.track_train" for c in CASES if "train" in c.directions} == {
        *headline[0].benchmarks,
        *later,
    }


def test_regex_is_anchored_on_names_not_prefixes() -> None:
    pattern = asv_run.regex(["ReluRatio.track_train"])
    assert _selected(pattern, "ReluRatio.track_train") == set(
        _combinations("ReluRatio.track_train")
    )
    for other in ("LeakyReluRatio.track_train", "ReluRatio.track_bandwidth_train"):
        assert not _selected(pattern, other)
    assert not re.search(pattern, "benchmarks.ReluRatio.track_trainX('numpy')")
    assert re.search(asv_run.regex(["A.time_x"]), "benchmarks.A.time_x")  # no parameters


def test_one_asv_run_per_group() -> None:
    group = asv_run.groups()[0]
    command = asv_run.asv_run(group, "ci-cpu", True, "HEAD^!", ["--durations", "all"])
    assert command[1:4] == ["-m", "asv", "run"]
    assert command[-3:] == ["-b", group.regex, "HEAD^!"]
    assert {"--machine", "ci-cpu", "--quick", "--show-stderr", "--durations"} <= set(command)
    assert "--quick" not in asv_run.asv_run(group, "ci-cpu", False, "HEAD^!", [])


def test_list_runs_nothing(capsys) -> None:
    assert asv_run.main(["--all", "--list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("1. headline: training-step ratios")
    assert f"{len(asv_run.discover())} benchmarks" in out.splitlines()[-1]


def test_groups_with_given_names() -> None:
    names = ["GeluRatio.track_train", "Relu.time_forward", "Unknown.time_x"]
    everything = asv_run.groups(everything=True, names=names)
    assert [(g.benchmarks, g.dtype) for g in everything] == [
        (("GeluRatio.track_train",), "float32"),
        (("GeluRatio.track_train",), "float64"),
        (("Relu.time_forward",), None),
        (("Unknown.time_x",), None),
    ]


def test_resume_runs_only_the_groups_not_done(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(asv_run, "DONE", tmp_path / "done.txt")
    ran: list[str] = []
    stop_at: list[int] = [2]  # the second asv run is interrupted (Ctrl-C)

    def call(command: list[str]) -> int | None:
        ran.append(command[command.index("-b") + 1])
        return None if len(ran) == stop_at[0] else 0

    monkeypatch.setattr(asv_run, "_call", call)
    regexes = [g.regex for g in asv_run.groups()]
    assert asv_run.main(["--no-publish"]) == 130
    assert ran == regexes[:2]
    assert len(asv_run.DONE.read_text().splitlines()) == 1  # the first group only
    ran.clear()
    stop_at[0] = 0
    assert asv_run.main(["--no-publish", "--resume"]) == 0
    assert ran == regexes[1:]  # from the interrupted group on
    ran.clear()
    assert asv_run.main(["--no-publish", "--resume"]) == 0
    assert ran == []
    assert asv_run.main(["--no-publish", "--resume", "--machine", "other"]) == 0
    assert ran == regexes  # what is done is per machine (and commit, sampling, arguments)
