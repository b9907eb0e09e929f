"""The suite's mutation score: run the property suite on each wrong backend of
:mod:`properties.wrong_backends`, through ``pytest --backend=``, and print which are rejected
(killed), the time to the first failure (pytest's start included) and the kill rate::

    python -m properties.mutation_score                  # every entry, its family's test files
    python -m properties.mutation_score --whole-suite    # every entry, all of properties/
    python -m properties.mutation_score relu_backward_select sigmoid_backward_cancelling
    python -m properties.mutation_score --without-edge-points   # drawn inputs only

``--without-edge-points`` deselects the tests whose inputs are hand-picked (the edge points,
edge rows and fixed points) and leaves the edge points out of the large arrays
(``WITHOUT_EDGE_POINTS`` in the environment): what is killed then was found by the drawn
inputs, and the edge list is a safety net, not the detector.

The worked backend itself ("control") runs first on the same files and must pass: otherwise a
failure would not show a bug of the mutant. Each run stops at its first failure (``-x``); a
survivor runs its files to the end.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

from .cases import WITHOUT_EDGE_POINTS
from .wrong_backends import CATALOGUE, ENVIRONMENT

HERE = Path(__file__).parent


class Outcome(NamedTuple):
    name: str
    verdict: str  # "killed", "survived" or "error"
    seconds: float
    first_failure: str


HAND_PICKED = "not edge_points and not edge_rows and not fixed_points"
"""The ``-k`` expression that deselects the tests of hand-picked inputs."""


def run(name: str, files: list[str], profile: str, without_edge_points: bool = False) -> Outcome:
    only_drawn = ["-k", HAND_PICKED] if without_edge_points else []
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-x",
        "-q",
        "-n",
        "0",  # one process: the time to the first failure, comparable between entries
        "-rf",
        "-p",
        "no:cacheprovider",
        f"--hypothesis-profile={profile}",
        "--backend=properties.wrong_backends",
        *only_drawn,
        *files,
    ]
    start = time.perf_counter()
    done = subprocess.run(
        command,
        env={**os.environ, ENVIRONMENT: name}
        | ({WITHOUT_EDGE_POINTS: "1"} if without_edge_points else {}),
        capture_output=True,
        text=True,
        check=False,
        cwd=HERE.parent,
    )
    seconds = time.perf_counter() - start
    verdict = {0: "survived", 1: "killed"}.get(done.returncode, "error")
    failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED ")]
    first = failed[0].removeprefix("FAILED ").split(" - ")[0] if failed else ""
    if verdict == "error":
        first = (done.stdout + done.stderr).strip().splitlines()[-1:] or [""]
        first = f"pytest exit {done.returncode}: {first[0]}"
    return Outcome(name, verdict, seconds, first)


def _files(names: list[str], whole_suite: bool) -> dict[str, list[str]]:
    if whole_suite:
        return {n: ["properties"] for n in names}
    return {n: [f"properties/{f}" for f in CATALOGUE[n].tests] for n in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m properties.mutation_score")
    parser.add_argument("names", nargs="*", help="entries of the catalogue (default: all)")
    parser.add_argument("--whole-suite", action="store_true", help="all of properties/")
    parser.add_argument("--profile", default="ci", help="Hypothesis profile (default: ci)")
    parser.add_argument(
        "--without-edge-points",
        action="store_true",
        help="drawn inputs only: no hand-picked edge points, edge rows or fixed points",
    )
    args = parser.parse_args(argv)
    names = args.names or list(CATALOGUE)
    unknown = sorted(set(names) - set(CATALOGUE))
    if unknown:
        parser.error(f"unknown entries {unknown}; the catalogue: {sorted(CATALOGUE)}")
    files = _files(names, args.whole_suite)
    every = sorted({f for fs in files.values() for f in fs})
    control = run("control", every, args.profile, args.without_edge_points)
    print(
        f"control (the worked backend) on {len(every)} file(s): {control.verdict} "
        f"in {control.seconds:.0f} s"
    )
    if control.verdict != "survived":
        print(f"the control must pass: {control.first_failure}; no score")
        return 2
    outcomes = []
    header = ("wrong backend", "class", "family", "verdict", "seconds")
    print("{:32} {:22} {:12} {:9} {:>7}  first failure".format(*header))
    for name in names:
        wrong = CATALOGUE[name]
        o = run(name, files[name], args.profile, args.without_edge_points)
        outcomes.append(o)
        print(
            f"{name:32} {wrong.blind_spot:22} {wrong.family:12} {o.verdict:9} "
            f"{o.seconds:7.1f}  {o.first_failure}",
            flush=True,
        )
    killed = sum(o.verdict == "killed" for o in outcomes)
    print(f"kill rate: {killed}/{len(outcomes)} ({100 * killed / len(outcomes):.0f}%)")
    survivors = [o.name for o in outcomes if o.verdict != "killed"]
    if survivors:
        print("not killed: " + ", ".join(survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
