"""Running a NumPy kernel block by block: cache-sized blocks, spread over a few threads.

A large activation is a chain of ufunc passes (sigmoid: negate, exp, add, reciprocal); run on
the whole array, every pass streams it through memory and allocates a full-size temporary.
Run on blocks of ``block`` elements, the passes of one block stay in cache, the temporaries are
block-sized (peak memory: the output plus a few blocks), and the blocks are independent, so
they are shared among threads: NumPy's ufuncs release the GIL.

Thread count: ``PRIMITIVES_NUM_THREADS`` in the environment, else the CPUs this process may
run on (at most 8); :func:`configure` changes it, and the block sizes, at run time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple


class Settings(NamedTuple):
    threads: int
    block: int  # elements per block
    min_size: int  # arrays smaller than this run in one piece, on the calling thread


def _default_threads() -> int:
    env = os.environ.get("PRIMITIVES_NUM_THREADS")
    if env:
        return max(1, int(env))
    available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return max(1, min(8, len(available) if available else (os.cpu_count() or 1)))


DEFAULT_BLOCK = 1 << 18  # 1 MiB of float32: a block's few temporaries stay in a core's L2
DEFAULT_MIN_SIZE = 1 << 16
_settings = Settings(threads=_default_threads(), block=DEFAULT_BLOCK, min_size=DEFAULT_MIN_SIZE)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def settings() -> Settings:
    return _settings


def configure(
    *, threads: int | None = None, block: int | None = None, min_size: int | None = None
) -> Settings:
    """Change the thread count and block sizes; returns the previous settings (to restore)."""
    global _settings, _pool
    previous = _settings
    new = _settings._replace(
        **{
            k: v
            for k, v in (("threads", threads), ("block", block), ("min_size", min_size))
            if v is not None
        }
    )
    if new.threads < 1 or new.block < 1 or new.min_size < 0:
        raise ValueError(f"threads and block must be >= 1 and min_size >= 0, got {new}")
    with _pool_lock:
        if new.threads != previous.threads and _pool is not None:
            _pool.shutdown(wait=False)  # running blocks finish; the next call makes a new pool
            _pool = None
        _settings = new
    return previous


def _reset_pool_after_fork() -> None:
    # A forked child inherits the pool object but not its threads.
    global _pool
    _pool = None


os.register_at_fork(after_in_child=_reset_pool_after_fork)


def run(n: int, body: Callable[[int, int], None], unit: int = 1) -> None:
    """Call ``body(start, stop)`` over ``range(n)`` in blocks of about ``settings().block``
    elements, each item of ``range(n)`` being ``unit`` elements (a row), in parallel where
    there are several blocks; in one piece below ``settings().min_size`` elements."""
    global _pool
    s = _settings
    if n * unit < s.min_size:
        body(0, n)
        return
    rows = max(1, s.block // unit)
    starts = range(0, n, rows)
    if s.threads == 1 or len(starts) == 1:
        for i in starts:
            body(i, min(i + rows, n))
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(s.threads, thread_name_prefix="primitives")
        pool = _pool
    workers = min(s.threads, len(starts))

    def share(k: int) -> None:  # one task per thread: a future per block costs ~50 us
        for i in starts[k::workers]:
            body(i, min(i + rows, n))

    # list() re-raises the first exception of a block in the caller
    list(pool.map(share, range(workers)))
