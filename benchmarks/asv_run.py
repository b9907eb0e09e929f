"""``asv run`` in groups: each group's results are saved as soon as it finishes.

    python -m benchmarks.asv_run              # the headline subset (training step first)
    python -m benchmarks.asv_run --all        # every benchmark, the headline groups first
    python -m benchmarks.asv_run --list       # the groups and their ``-b`` regexes only
    python -m benchmarks.asv_run --all --resume   # after a stop: only the groups not done

asv writes a commit's results file only when an ``asv run`` ends, so one ``asv run`` of the
whole suite (84 min on two cores when it had 186 of its 258 benchmarks) loses everything when
stopped. Here each group is
one ``asv run --machine ci-cpu --quick --show-stderr -b <regex> HEAD^!``; asv merges every
run into the same results file (``Results.load_data`` reads the stored results of the
commit and environment before the run adds its own), so a stopped run loses only the group it
was in. ``asv publish`` follows the last group. Arguments this script does not know are
passed on to every ``asv run``. Each finished group is noted in ``.asv/asv_run-done.txt``
(machine, commits, sampling, regex), which ``--resume`` reads to pass over it. (asv's own
``--skip-existing-successful`` would pass over the float64 half of a benchmark whose float32
half ran: asv stores NaN, "skipped", for the combinations a ``-b`` left out.)

The groups are computed from the suite itself (:func:`discover`: the names asv discovers in
:mod:`benchmarks.benchmarks`), in this order; the headline's are float32 only
(:data:`HEADLINE_DTYPE`, the dtype ``benchmarks.asv_table`` prints):

1. ``<C>Ratio.track_train`` of the :data:`HEADLINE` cases: the training step first;
2. their ``<C>Ratio.track_<direction>`` of the other directions;
3. ``Dispatch``, ``DispatchRatio`` and the headline activations'
   ``<C>Memory.track_peak_over_output``: with 1 and 2, every row ``benchmarks.asv_table``
   prints for the headline cases;
4. (``--all``) the other cases' ``track_train``; groups 1-3 in float64; then one group per
   case with the rest of its benchmarks (timings, bandwidths, memory): every parameter
   combination of every benchmark in exactly one group (``benchmarks/test_asv_run.py``).

Ctrl-C reaches asv too, which stops its current benchmark; this script then says which group
it stopped in.

No import of torch, jax or asv here (asv imports every module of this package).
"""

from __future__ import annotations

import argparse
import inspect
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from .cases import BY_ID, CASES, DTYPES

HEADLINE = (
    "gelu",
    "silu",
    "sigmoid",
    "tanh",
    "softplus",
    "softmax",
    "log_softmax",
    "cross_entropy",
    "binary_cross_entropy_with_logits",
    "batch_norm",
    "layer_norm",
)
"""The cases of the training-step report (``docs/benchmarks.md``, "The training step")."""

HEADLINE_DTYPE = "float32"
"""The headline's dtype: the one ``benchmarks.asv_table`` prints by default."""

PREFIXES = ("time_", "timeraw_", "track_", "mem_", "peakmem_")
"""The method prefixes asv (asv_runner's benchmark types) takes for benchmarks."""

MODULE = "benchmarks"
"""asv's name of :mod:`benchmarks.benchmarks` (``benchmark_dir`` is ``benchmarks``)."""


class Group(NamedTuple):
    name: str
    benchmarks: tuple[str, ...]  # ``Class.method``
    dtype: str | None = None  # only this dtype's parameter combinations (None: all)

    @property
    def regex(self) -> str:
        return regex(self.benchmarks, self.dtype)


def discover() -> list[str]:
    """``Class.method`` of every benchmark, as asv discovers them: the public classes of
    :mod:`benchmarks.benchmarks` and their methods named with a benchmark prefix."""
    from . import benchmarks as suite

    found = []
    for attr, value in vars(suite).items():
        if attr.startswith("_") or not inspect.isclass(value) or inspect.isabstract(value):
            continue
        for name, member in inspect.getmembers(value):
            if name.startswith(PREFIXES) and inspect.isfunction(member):
                found.append(f"{attr}.{name}")
    return sorted(found)


def regex(benchmarks: Iterable[str], dtype: str | None = None) -> str:
    """An ``asv run -b`` regex for exactly these ``Class.method`` names (with ``dtype``: only
    their parameter combinations of that dtype, and all of those without a dtype).

    asv searches ``-b`` (``re.search``) in ``benchmarks.Class.method(param, ...)``, the
    parameter values as ``repr`` strings, for each parameter combination of a benchmark with
    parameters (and runs those that match), in the bare name for one without."""
    by_class: dict[str, list[str]] = {}
    for name in benchmarks:
        cls, method = name.split(".")
        by_class.setdefault(cls, []).append(method)
    # classes with the same methods share one alternative: (Gelu|Silu...)Ratio.track_train
    by_methods: dict[tuple[str, ...], list[str]] = {}
    for cls, methods in by_class.items():
        by_methods.setdefault(tuple(sorted(methods)), []).append(cls)
    parts = [
        f"{_alternatives(classes)}\\.{_alternatives(methods)}"
        for methods, classes in by_methods.items()
    ]
    if dtype is None:
        params = "\\("
    else:
        others = _alternatives([d for d in DTYPES if d != dtype])
        params = f"\\((?!.*{others})"
    return f"^{re.escape(MODULE)}\\.{_alternatives(parts, escape=False)}(?:{params}|$)"


def _alternatives(items: Sequence[str], escape: bool = True) -> str:
    items = [re.escape(i) for i in items] if escape else list(items)
    return items[0] if len(items) == 1 else f"(?:{'|'.join(items)})"


def groups(everything: bool = False, names: Sequence[str] | None = None) -> list[Group]:
    """The groups, in running order: the headline subset (:data:`HEADLINE_DTYPE`), and with
    ``everything`` the rest of ``names`` (default: :func:`discover`), so that every parameter
    combination of every benchmark is in exactly one group."""
    names = discover() if names is None else list(names)
    present = set(names)
    headline = [BY_ID[i] for i in HEADLINE]

    def pick(candidates: Iterable[str]) -> tuple[str, ...]:
        return tuple(n for n in candidates if n in present)

    train = pick(f"{c.class_name}Ratio.track_train" for c in headline)
    ratios = pick(
        f"{c.class_name}Ratio.track_{d}" for c in headline for d in c.directions if d != "train"
    )
    memory = pick(f"{c.class_name}Memory.track_peak_over_output" for c in headline)
    dispatch = pick(["Dispatch.time_relu_8", "DispatchRatio.track_relu_8"])
    d = HEADLINE_DTYPE
    out = [
        Group(f"headline: training-step ratios, {d}", train, d),
        Group(f"headline: ratios of the other directions, {d}", ratios, d),
        Group(f"headline: dispatch; NumPy memory, {d}", dispatch + memory, d),
    ]
    if everything:
        done = set(dispatch)  # (no dtype parameter: every combination ran)
        rest_train = pick(f"{c.class_name}Ratio.track_train" for c in CASES)
        others = tuple(n for n in rest_train if n not in train)
        out.append(Group("the other cases' training-step ratios", others))
        for other in (t for t in DTYPES if t != d):
            out.append(Group(f"headline: the same, {other}", train + ratios + memory, other))
        done.update(rest_train + ratios + memory)
        for case in CASES:
            prefixes = tuple(f"{case.class_name}{suffix}." for suffix in ("", "Ratio", "Memory"))
            mine = tuple(n for n in names if n.startswith(prefixes) and n not in done)
            out.append(Group(case.id, mine))
            done.update(mine)
        out.append(Group("others", tuple(n for n in names if n not in done)))
    return [g for g in out if g.benchmarks]


def asv_run(
    group: Group, machine: str, quick: bool, commits: str, extra: Sequence[str]
) -> list[str]:
    """The ``asv run`` command line of one group."""
    command = [sys.executable, "-m", "asv", "run", "--machine", machine, "--show-stderr"]
    return [*command, *(["--quick"] if quick else []), *extra, "-b", group.regex, commits]


DONE = Path(".asv/asv_run-done.txt")
"""The groups finished, one line each (:func:`done_line`), for ``--resume``."""


def done_line(command: Sequence[str], commits: str) -> str:
    """One finished ``asv run``: its arguments, the range resolved to commit hashes."""
    resolved = subprocess.run(
        ["git", "rev-list", commits], capture_output=True, text=True, check=False
    ).stdout.split()
    return shlex.join([*command[4:-1], *(resolved or [commits])])


def _done() -> set[str]:
    return set(DONE.read_text().splitlines()) if DONE.exists() else set()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Other arguments are passed to every `asv run`.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--headline", action="store_true", help="the headline subset (default)")
    which.add_argument("--all", action="store_true", help="every benchmark")
    parser.add_argument("--machine", default="ci-cpu")
    parser.add_argument("--commits", default="HEAD^!", help="asv's range (default: HEAD^!)")
    parser.add_argument(
        "--sampled", action="store_true", help="asv's full sampling, not --quick (nightly)"
    )
    parser.add_argument("--no-publish", action="store_true", help="no `asv publish` at the end")
    parser.add_argument("--list", action="store_true", help="print the groups, run nothing")
    parser.add_argument(
        "--resume", action="store_true", help=f"pass over the groups {DONE} lists as done"
    )
    args, extra = parser.parse_known_args(argv)
    todo = groups(everything=args.all)
    total = len({n for g in todo for n in g.benchmarks})
    if args.list:
        for i, g in enumerate(todo, 1):
            print(f"{i}. {g.name} ({len(g.benchmarks)}): -b {shlex.quote(g.regex)}")
        print(f"{len(todo)} groups, {total} benchmarks")
        return 0
    start = time.monotonic()
    failed = []
    for i, g in enumerate(todo, 1):
        command = asv_run(g, args.machine, not args.sampled, args.commits, extra)
        note = done_line(command, args.commits)
        if args.resume and note in _done():
            print(f"== [{i}/{len(todo)}] {g.name}: done before ({DONE})", flush=True)
            continue
        print(f"== [{i}/{len(todo)}] {g.name}: {len(g.benchmarks)} benchmarks", flush=True)
        print(f"   asv {shlex.join(command[4:])}", flush=True)
        t = time.monotonic()
        code = _call(command)
        if code is None:
            print(
                f"== stopped in group {i} ({g.name}): the groups before it are saved; the "
                "same command with --resume goes on from this group",
                file=sys.stderr,
            )
            return 130
        print(f"== [{i}/{len(todo)}] exit {code}, {time.monotonic() - t:.0f} s", flush=True)
        if code in (0, 2):  # (2: some benchmark failed; the results are saved all the same)
            DONE.parent.mkdir(parents=True, exist_ok=True)
            with DONE.open("a") as f:
                f.write(note + "\n")
        if code:
            failed.append(g.name)
    if not args.no_publish:
        subprocess.check_call([sys.executable, "-m", "asv", "publish"])
    minutes = (time.monotonic() - start) / 60
    print(f"== {len(todo)} groups, {total} benchmarks: {minutes:.1f} min", flush=True)
    if failed:
        print(f"failures (see asv's output) in: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _call(command: Sequence[str]) -> int | None:
    """Run ``command``; its exit status, or None where it was interrupted (Ctrl-C reaches
    asv too: wait for it to stop its benchmark processes rather than kill it)."""
    process = subprocess.Popen(command)
    try:
        return process.wait()
    except KeyboardInterrupt:
        try:
            process.wait(timeout=30)
        except (KeyboardInterrupt, subprocess.TimeoutExpired):
            process.terminate()
            process.wait()
        return None


if __name__ == "__main__":
    raise SystemExit(main())
