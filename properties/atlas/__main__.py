"""``python -m properties.atlas --out DIR``: measure and write the accuracy atlas."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..implementations import DEFAULT_DEVICE
from .measure import PRIMITIVES, implementation_ids
from .page import write
from .run import available_cpus, configure_process, measure_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m properties.atlas", description=__doc__)
    parser.add_argument("--out", required=True, type=Path, help="directory for index.html")
    parser.add_argument(
        "--backend",
        action="append",
        default=[],
        help="a third-party backend module to measure beside the built-ins (repeatable)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated implementation ids instead of every one"
    )
    parser.add_argument("--primitives", default="", help="comma-separated case ids (default all)")
    parser.add_argument("--dtypes", default="", help="comma-separated dtypes (default: all listed)")
    parser.add_argument("--points", type=int, default=2400, help="grid size (default 2400)")
    parser.add_argument("--device", default=DEFAULT_DEVICE)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    args = parser.parse_args(argv)

    impls = _split(args.only) + args.backend if args.only else implementation_ids(args.backend)
    primitives = _split(args.primitives) or list(PRIMITIVES)
    unknown = [p for p in primitives if p not in PRIMITIVES]
    if unknown:
        parser.error(f"unknown primitives {unknown}; choose from {', '.join(PRIMITIVES)}")
    dtypes = _split(args.dtypes) or None
    known = {"float16", "bfloat16", "float32", "float64"}
    if dtypes and not set(dtypes) <= known:
        parser.error(f"unknown dtypes {sorted(set(dtypes) - known)}; choose from {sorted(known)}")
    workers = args.workers or available_cpus()
    start = time.perf_counter()
    if workers == 1:  # (measured in this process: set it up as the workers are)
        configure_process()
    curves = measure_all(impls, primitives, dtypes, args.points, args.device, workers)
    page = write(curves, args.out)
    over = sum(1 for c in curves if c.over.any())
    print(
        f"{len(curves)} curves ({len(impls)} implementations, {len(primitives)} primitives), "
        f"{over} with points over the bound; {page} in {time.perf_counter() - start:.0f} s"
    )
    return 0


def _split(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


if __name__ == "__main__":
    sys.exit(main())
