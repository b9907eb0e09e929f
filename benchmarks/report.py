"""Measure the issue's performance targets side by side and print them as markdown.

    python -m benchmarks.report                       # 4e6 float32 elements, 3 rounds
    python -m benchmarks.report --rounds 5 --write docs/benchmarks.md
    python -m benchmarks.report --device cuda --size 134217728   # on a GPU: torch and jax

Every case runs forward and backward for the project and the native peer on numpy, torch and
jax, interleaved sample by sample (so all six see the same machine load), ``--repeat``
samples each per round; a round sweeps every case, and ``--rounds`` rounds are taken. A time
is the median over rounds of each round's median; a ratio's range is its spread over rounds.
Also measured: the NumPy forward's peak memory beyond its input (tracemalloc), as a multiple
of the output size, and the dispatch overhead of ``P.relu`` on 8 elements.

``--device cuda`` times the torch and jax rows on the GPU (the activations at ``--size``, the
other families at their GPU sizes), with each call's throughput; NumPy memory and dispatch
are CPU measurements and are left out there.

``--write PATH`` replaces the text between ``<!-- report:begin -->`` and
``<!-- report:end -->`` in PATH (creating the file, or appending the block, as needed).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from . import harness
from .cases import BACKENDS, BY_ID, CASES, IMPLS, Case

BEGIN, END = "<!-- report:begin -->", "<!-- report:end -->"
PEERS = {
    "activations": {
        "torch": "`torch.nn.functional`",
        "jax": "`jax.jit(jax.nn.*)`",
        "numpy": "torch's native CPU time",
    },
    "losses": {
        "torch": "`torch.nn.functional`",
        "jax": "jitted optax (or `jnp`)",
        "numpy": "the jitted jax peer",
    },
    "layers": {
        "torch": "`torch.nn.functional`",
        "jax": "jitted `jnp`",
        "numpy": "torch's native CPU time",
    },
    "optimizers": {
        "torch": "`torch.optim` (foreach)",
        "jax": "jitted optax",
        "numpy": "an in-place NumPy update",
    },
}
"""Who each family's rows are measured against, for the headings."""
DISPATCH_TARGET = 1.3
GPU_THROUGHPUT_TARGET = 0.9
"""On a GPU the torch backend's throughput is at least this fraction of the native kernel's."""
MEMORY_TARGET = 1.5
Key = tuple[str, str, str, str]  # case id, direction, backend, impl


@dataclass
class Measurements:
    """Round medians of every call, plus memory and dispatch results."""

    size: int
    dtype: str
    rounds: int
    repeat: int
    device: str = "cpu"
    times: dict[Key, list[float]] = field(default_factory=lambda: defaultdict(list))
    memory: dict[tuple[str, str], float] = field(default_factory=dict)
    dispatch: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    load: list[tuple[float, float, float]] = field(default_factory=list)
    traffic: dict[Key, int] = field(default_factory=dict)

    def time(self, key: Key) -> float:
        return statistics.median(self.times[key])

    def ratios(self, mine: Key, theirs: Key) -> list[float]:
        """The ratio of the two calls in each round."""
        return [a / b for a, b in zip(self.times[mine], self.times[theirs], strict=True)]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def largest_size(case: Case, device: str) -> int:
    """The case's largest size on ``device``: its GPU size on a GPU, where it has one (the
    size of its asv ratio tracks, too)."""
    return max((case.gpu_sizes if device != "cpu" else ()) or case.sizes)


def size_of(m: Measurements, case: Case) -> int:
    """The activations run at ``--size``; the other families at their largest size."""
    if case.family == "activations":
        return m.size
    return largest_size(case, m.device)


def target(device: str, case: Case, backend: str, direction: str) -> float | None:
    """The issue's bound on project / native time: on a GPU, the torch throughput target
    (jax and numpy have none there); on the CPU, the case's."""
    if device == "cpu":
        return case.target(backend, direction)
    return 1 / GPU_THROUGHPUT_TARGET if backend == "torch" else None


def measure_round(m: Measurements, cases: Sequence[Case], repeat: int) -> None:
    """One sweep over every case: six calls per direction, interleaved."""
    for case in cases:
        size = size_of(m, case)
        for direction in case.directions:
            keys: list[Key] = []
            calls: list[Callable] = []
            for backend in BACKENDS:
                for impl in IMPLS:
                    try:
                        runner = harness.prepare(case, backend, size, m.dtype, m.device, impl)
                    except NotImplementedError as e:
                        _log(f"skipped {case.id} {backend} {impl}: {e}")
                        continue
                    keys.append((case.id, direction, backend, impl))
                    m.traffic[keys[-1]] = runner.traffic[direction]
                    calls.append(getattr(runner, direction))
            for key, t in zip(keys, harness.median_times(calls, repeat), strict=True):
                m.times[key].append(t)
        _log(f"  {case.id}")
    if m.device != "cpu":
        return  # (the dispatch target is a CPU one)
    for backend in BACKENDS:
        try:
            project, native = harness.dispatch_calls(backend)
        except NotImplementedError as e:
            _log(f"skipped dispatch on {backend}: {e}")
            continue
        for impl, t in zip(IMPLS, harness.median_times([project, native], 3 * repeat), strict=True):
            m.dispatch[backend, impl].append(t)


def measure_memory(m: Measurements, cases: Sequence[Case]) -> None:
    """NumPy forward peak allocation beyond the input, over the output's size."""
    for case in cases:
        if case.family != "activations":
            continue  # the memory target is the activations'
        for impl in IMPLS:
            runner = harness.prepare(case, "numpy", m.size, m.dtype, "cpu", impl, warm=("forward",))
            peak, output = harness.peak_bytes(runner.forward)
            m.memory[case.id, impl] = peak / output


def measure(
    cases: Sequence[Case], size: int, dtype: str, repeat: int, rounds: int, device: str = "cpu"
) -> Measurements:
    """All measurements of the report."""
    m = Measurements(size, dtype, rounds, repeat, device)
    m.load.append(os.getloadavg())
    if device == "cpu":
        measure_memory(m, cases)
    for r in range(rounds):
        _log(f"round {r + 1}/{rounds}")
        measure_round(m, cases, repeat)
        m.load.append(os.getloadavg())
    return m


# --- formatting -------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f}" if seconds < 0.1 else f"{seconds * 1e3:.1f}"


def _ratio(values: Sequence[float]) -> str:
    mid = statistics.median(values)
    if len(values) < 2:
        return f"{mid:.2f}"
    return f"{mid:.2f} ({min(values):.2f}–{max(values):.2f})"


def _met(value: float, target: float | None) -> str:
    if target is None:
        return "(no target)"
    return "met" if value <= target else "**not met**"


def _bound(target: float | None) -> str:
    return "—" if target is None else f"≤{target:.3g}×"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _label(case: Case, size: int) -> str:
    """The case's row name; other families than the activations with their ``size``."""
    params = ", ".join(f"{k}={v!r}" for k, v in case.params.items() if k == "approximate")
    name = f"{case.primitive}({params})" if params else case.primitive
    if case.family == "activations":
        return name
    return f"{name} [{size:,}]"


def _directions(case: Case, train: bool) -> list[str]:
    """The training step's row alone (``train``), or the case's other directions."""
    return [d for d in case.directions if (d == "train") == train]


def _framework_rows(
    m: Measurements, cases: Sequence[Case], backend: str, train: bool = False
) -> list[list[str]]:
    rows = []
    for case in cases:
        for d in _directions(case, train):
            mine, theirs = (case.id, d, backend, "project"), (case.id, d, backend, "native")
            if not (m.times.get(mine) and m.times.get(theirs)):
                continue
            r = m.ratios(mine, theirs)
            bound = target(m.device, case, backend, d)
            rows.append(
                [
                    _label(case, size_of(m, case)),
                    d,
                    _ms(m.time(mine)),
                    _ms(m.time(theirs)),
                    _ratio(r),
                    _bound(bound),
                    _met(statistics.median(r), bound),
                ]
            )
            if m.device != "cpu":  # throughput: bytes read and written per second
                rows[-1] += [f"{m.traffic[key] / m.time(key) / 1e9:.0f}" for key in (mine, theirs)]
    return rows


def _numpy_rows(m: Measurements, cases: Sequence[Case], train: bool = False) -> list[list[str]]:
    rows = []
    for case in cases:
        peer = case.target_peer("numpy")
        for d in _directions(case, train):
            mine = (case.id, d, "numpy", "project")
            expr = (case.id, d, "numpy", "native")
            theirs = (case.id, d, peer, "native")
            if not (m.times.get(mine) and m.times.get(theirs)):
                continue
            r = m.ratios(mine, theirs)
            bound = target(m.device, case, "numpy", d)
            plain = m.times.get(expr)
            rows.append(
                [
                    _label(case, size_of(m, case)),
                    d,
                    _ms(m.time(mine)),
                    _ms(m.time(expr)) if plain else "—",
                    f"{peer} {_ms(m.time(theirs))}",
                    _ratio(r),
                    _bound(bound),
                    _met(statistics.median(r), bound),
                    _ratio(m.ratios(mine, expr)) if plain else "—",
                ]
            )
    return rows


def _versions() -> str:
    names = ("numpy", "torch", "jax", "jaxlib", "scipy")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join([f"Python {platform.python_version()}", *found])


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _count(rows: list[list[str]], column: int) -> tuple[int, int]:
    judged = [row for row in rows if row[column] != "(no target)"]
    return sum(row[column] == "met" for row in judged), len(judged)


def render(m: Measurements, cases: Sequence[Case]) -> str:
    """The markdown report."""
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    loads = ", ".join(f"{a[0]:.1f}" for a in m.load)
    env = f"BENCH_THREADS={harness.THREADS} " if harness.THREADS != 2 else ""
    threads = f"{harness.THREADS} thread" + ("s" if harness.THREADS != 1 else "")
    on = f" --device {m.device}" if m.device != "cpu" else ""
    out = [
        f"Measured {now} with `{env}python -m benchmarks.report --size {m.size} "
        f"--dtype {m.dtype} --rounds {m.rounds} --repeat {m.repeat}{on}`.",
        f"Machine: {os.cpu_count()}-core CPU ({_cpu()}){_gpu(m.device)}, {platform.system()}; "
        f"torch with {threads}; {_versions()}.",
        f"Activation arrays: {m.size:,} {m.dtype} elements, shape {m.size // 1000}×1000 "
        f"(softmax over rows of 1000), random normal. Load average (1 min) before and after "
        f"each round: {loads}.",
        "",
    ]
    counts: list[tuple[str, tuple[int, int]]] = []
    head = ["primitive", "pass", "project ms", "native ms", "ratio (range)", "target", ""]
    if m.device != "cpu":
        head += ["project GB/s", "native GB/s"]
    numpy_head = [
        "primitive",
        "pass",
        "project ms",
        "plain NumPy ms",
        "target peer ms",
        "ratio to peer (range)",
        "target",
        "",
        "ratio to plain NumPy",
    ]
    train_torch = _framework_rows(m, cases, "torch", train=True)
    train_jax = _framework_rows(m, cases, "jax", train=True)
    train_numpy = _numpy_rows(m, cases, train=True)
    if train_torch or train_jax or train_numpy:
        out += [
            "## The training step",
            "",
            "What users run: torch's forward on inputs that require grad and `backward()` "
            "through autograd; jax's `jit` of the forward with its vector-Jacobian product "
            "(`value_and_grad` for a loss); NumPy's forward then the explicit backward. The "
            "native peers the same way. Sizes in brackets outside the activations.",
            "",
            "### torch (autograd)",
            "",
            *_table(head, train_torch),
            "",
            "### jax (`jit` of value and vector-Jacobian product)",
            "",
            *_table(head, train_jax),
            "",
        ]
        if train_numpy:
            out += ["### numpy (forward, then the explicit backward)", ""]
            out += [*_table(numpy_head, train_numpy), ""]
        counts += [
            ("training step torch", _count(train_torch, 6)),
            ("training step jax", _count(train_jax, 6)),
            ("training step numpy time", _count(train_numpy, 7)),
        ]
    families = list(dict.fromkeys(case.family for case in cases))
    for family in families:
        members = [case for case in cases if case.family == family]
        torch_rows = _framework_rows(m, members, "torch")
        jax_rows = _framework_rows(m, members, "jax")
        numpy_rows = _numpy_rows(m, members)
        peers = PEERS.get(family, PEERS["activations"])
        where = "CPU" if m.device == "cpu" else m.device.upper()
        out += [f"## {family.capitalize()}", ""]
        if family != "activations":
            out += ["Sizes in brackets: elements of the prediction (see the family's cases).", ""]
        out += [f"### torch backend against {peers['torch']} ({where})", ""]
        out += [*_table(head, torch_rows), ""]
        out += [f"### jax backend against {peers['jax']} ({where})", ""]
        out += [*_table(head, jax_rows), ""]
        counts += [
            (f"{family} torch", _count(torch_rows, 6)),
            (f"{family} jax", _count(jax_rows, 6)),
        ]
        if not numpy_rows:
            continue
        out += [f"### numpy backend against {peers['numpy']} (and the plain NumPy expression)", ""]
        out += _table(numpy_head, numpy_rows)
        out += [""]
        counts += [(f"{family} numpy time", _count(numpy_rows, 7))]
    if m.device != "cpu":  # (memory and dispatch are CPU measurements)
        return "\n".join([*out, f"Targets met: {_summary(counts)}."]) + "\n"
    out += ["### Activations: NumPy forward peak memory beyond the input, in output sizes", ""]
    mem_rows = [
        [
            _label(case, size_of(m, case)),
            f"{m.memory[case.id, 'project']:.2f}",
            f"{m.memory[case.id, 'native']:.2f}",
            f"≤{MEMORY_TARGET:g}",
            _met(m.memory[case.id, "project"], MEMORY_TARGET),
        ]
        for case in cases
        if (case.id, "project") in m.memory
    ]
    out += _table(["primitive", "project", "plain NumPy", "target", ""], mem_rows)
    out += ["", "### Dispatch overhead: `P.relu` on 8 float32 elements against the direct call", ""]
    direct = {"numpy": "np.maximum(x, 0)", "torch": "torch.relu(t)", "jax": "jit(jax.nn.relu)"}
    dispatch_rows = []
    for backend in BACKENDS:
        mine, theirs = m.dispatch.get((backend, "project")), m.dispatch.get((backend, "native"))
        if not (mine and theirs):
            continue
        r = [a / b for a, b in zip(mine, theirs, strict=True)]
        has_target = backend != "jax"
        dispatch_rows.append(
            [
                backend,
                f"{statistics.median(mine) * 1e6:.2f}",
                f"`{direct[backend]}` {statistics.median(theirs) * 1e6:.2f}",
                _ratio(r),
                f"≤{DISPATCH_TARGET:g}×" if has_target else "(none)",
                _met(statistics.median(r), DISPATCH_TARGET) if has_target else "",
            ]
        )
    out += _table(
        ["backend", "P.relu µs", "direct µs", "ratio (range)", "target", ""], dispatch_rows
    )
    counts += [
        ("activations numpy memory", _count(mem_rows, 4)),
        ("dispatch", _count([r for r in dispatch_rows if r[5]], 5)),
    ]
    out += ["", f"Targets met: {_summary(counts)}."]
    return "\n".join(out) + "\n"


def _summary(counts: list[tuple[str, tuple[int, int]]]) -> str:
    return "; ".join(f"{name} {met}/{total}" for name, (met, total) in counts if total)


def _gpu(device: str) -> str:
    """The GPU's name, where ``device`` is one (as torch reports it)."""
    if device == "cpu":
        return ""
    try:
        import torch

        return f" and {torch.cuda.get_device_name(0)}"
    except (ImportError, RuntimeError, AssertionError):
        return f" and a {device} device"


def write(path: Path, block: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the block between ``begin`` and ``end`` in ``path`` with ``block`` (append or
    create as needed)."""
    marked = f"{begin}\n{block}{end}\n"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Benchmarks\n\n{marked}")
        return
    text = path.read_text()
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        path.write_text(head + marked + tail)
    else:
        path.write_text(text.rstrip("\n") + "\n\n" + marked)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=float, default=4e6, help="elements (default 4e6)")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--repeat", type=int, default=7, help="samples per call per round")
    parser.add_argument("--rounds", type=int, default=3, help="sweeps over every case")
    parser.add_argument("--cases", default="", help="comma-separated case ids (default all)")
    parser.add_argument("--write", type=Path, help="update the marked block of this file")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = parser.parse_args(argv)
    ids = [c for c in args.cases.split(",") if c]
    cases = [BY_ID[c] for c in ids] if ids else list(CASES)
    m = measure(cases, int(args.size), args.dtype, args.repeat, args.rounds, args.device)
    if not m.times:
        _log(f"nothing could be measured on {args.device} (every case skipped: see above)")
        return 1
    block = render(m, cases)
    print(block)
    if args.write:
        write(args.write, block)
        _log(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
