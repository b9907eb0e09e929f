"""The atlas as a static page: a heat table, one error-versus-x plot per primitive, the known
framework deviations with the inputs that show them, and a markdown summary."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np

from ..known_deviations import DEVIATIONS
from .measure import DIRECTIONS, PRIMITIVES, Curve

PLOTTED_DTYPES = ("float32", "float64")
_FLOOR = 1e-2  # errors below this many ULPs (0 included) are drawn at it on the log axis


def cell_text(curve: Curve) -> str:
    """``max / median`` ULPs over the finite inputs, the number of points over the suite's
    bound, and ``+-inf`` where an infinite input gives a wrong result."""
    over = int(curve.over.sum())
    text = f"{_ulps(curve.max)} / {_ulps(curve.median)}"
    if over:
        text += f" ({over} over{'; ±inf' if curve.failing_infinities else ''})"
    return text


def _ulps(v: float) -> str:
    if math.isinf(v):
        return "inf"
    if v >= 1e6:
        return f"{v:.1e}"
    return f"{v:.3g}"


def _columns(curves: Sequence[Curve]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for c in curves:
        seen.setdefault((c.impl, c.dtype), None)
    return list(seen)


def _by_key(curves: Sequence[Curve]) -> dict[tuple[str, str, str, str], Curve]:
    return {(c.primitive, c.direction, c.impl, c.dtype): c for c in curves}


def _colour(curve: Curve) -> str:
    """Green within the bound (lighter the smaller the largest error), red over it."""
    if curve.over.any():
        return "#f4a6a6"
    level = min(max(math.log10(max(curve.max, 1e-3)) + 3, 0.0), 4.0) / 4.0  # 1e-3 .. 10 ULPs
    g = int(235 - 60 * level)
    return f"rgb({g - 40},{g + 15},{g - 40})"


def deviations(curves: Sequence[Curve]) -> list[dict]:
    """Each framework curve (``*-native``) with points over the bound: its worst finite input,
    the implementation's output there, the mpmath value, what infinite inputs give where they
    are wrong, and the known-deviation entries (``properties/known_deviations.py``) that name
    that implementation, primitive and dtype and no test of the other direction (matched by
    those, not by the failure: an entry about another input of the primitive matches too).
    Non-finite numbers are strings (``"inf"``, ``"nan"``), so ``atlas.json`` is strict JSON."""
    rows = []
    for c in curves:
        if not c.impl.endswith("-native") or not c.over.any():
            continue
        i = c.worst
        other = "backward" if c.direction == "forward" else "forward"
        known = [
            d.reason
            for d in DEVIATIONS
            if d.impl == c.impl
            and fnmatchcase(c.primitive, d.case)
            and c.dtype in d.dtypes
            and other not in d.test  # (a test of the other direction's deviation)
        ]
        rows.append(
            {
                "impl": c.impl,
                "primitive": c.primitive,
                "direction": c.direction,
                "dtype": c.dtype,
                "points_over": int(c.over.sum()),
                "points": int(c.x.size),
                "x": _number(c.x[i]),
                "got": _number(c.got[i]),
                "expected": c.refs[i],
                "ulps": _number(c.errors[i]),
                "allowed": _number(c.allowed[i]),
                "finite_over": bool(c.over[i]),
                "at_infinities": [f"{x!r} gives {got}" for x, got in c.failing_infinities],
                "known": sorted(set(known)),
            }
        )
    return rows


def _number(v) -> float | str:
    """A float, or its name where it is not finite (``"inf"``, ``"-inf"``, ``"nan"``): JSON
    has no infinities or NaN."""
    v = float(v)
    return v if math.isfinite(v) else repr(v)


def _shown(v) -> str:
    return repr(float(v))


def summary(curves: Sequence[Curve]) -> dict:
    """The atlas's numbers: per primitive, direction, implementation and dtype, the largest
    and median ULP error, the points over the bound and the worst input (JSON-ready)."""
    return {
        "cells": [
            {
                "primitive": c.primitive,
                "direction": c.direction,
                "impl": c.impl,
                "dtype": c.dtype,
                "points": int(c.x.size),
                "max_ulps": _number(c.max),
                "median_ulps": _number(c.median),
                "points_over": int(c.over.sum()),
                "worst_x": _number(c.x[c.worst]),
            }
            for c in curves
        ],
        "deviations": deviations(curves),
    }


def markdown(curves: Sequence[Curve], dtype: str = "float32") -> str:
    """The heat table of ``dtype`` as markdown (max / median ULPs; points over the bound)."""
    columns = [impl for impl, d in _columns(curves) if d == dtype]
    table = _by_key(curves)
    lines = [
        f"| {dtype}: max / median ULPs | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for primitive in _primitives(curves):
        for direction in _directions(curves, primitive, dtype):
            cells = []
            for impl in columns:
                c = table.get((primitive, direction, impl, dtype))
                cells.append("" if c is None else cell_text(c))
            lines.append(f"| {primitive} {direction} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _directions(curves: Sequence[Curve], primitive: str, dtype: str | None = None) -> list[str]:
    """The directions measured for ``primitive`` (in ``dtype``, where given): an optimizer
    has no backward, a mean-only loss no forward per point."""
    present = {
        c.direction
        for c in curves
        if c.primitive == primitive and (dtype is None or c.dtype == dtype)
    }
    return [d for d in DIRECTIONS if d in present]


def _primitives(curves: Sequence[Curve]) -> list[str]:
    present = {c.primitive for c in curves}
    return [p for p in PRIMITIVES if p in present] + sorted(present - set(PRIMITIVES))


def plot(curves: Sequence[Curve], primitive: str, path: Path) -> None:
    """Error (ULPs, log scale) against x (:func:`_axis`: linear, then logarithmic) for one
    primitive: forward and backward side by side, float32 above float64, every implementation
    in the same axes, the suite's bound dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directions = _directions(curves, primitive) or list(DIRECTIONS)
    fig, axes = plt.subplots(
        len(PLOTTED_DTYPES),
        len(directions),
        figsize=(6 * len(directions), 7),
        sharex=True,
        squeeze=False,
    )
    for row, dtype in enumerate(PLOTTED_DTYPES):
        for col, direction in enumerate(directions):
            ax = axes[row][col]
            ax.set_yscale("log")
            ax.set_ylim(_FLOOR / 2, 2e12)
            mine = [
                c
                for c in curves
                if c.primitive == primitive and c.direction == direction and c.dtype == dtype
            ]
            for c in mine:
                finite = np.isfinite(c.x)
                errors = np.clip(np.nan_to_num(c.errors, posinf=1e12), _FLOOR, 1e12)[finite]
                framework = c.impl.endswith("-native")
                ax.plot(
                    _axis(c.x[finite]),
                    errors,
                    ".",
                    markersize=3 if framework else 2,
                    alpha=0.8,
                    label=c.impl,
                )
            if mine:
                bound = mine[0]
                finite = np.isfinite(bound.x)
                ax.plot(
                    _axis(bound.x[finite]),
                    np.minimum(bound.allowed[finite], 1e12),
                    "k--",
                    lw=0.8,
                    label="bound",
                )
            ticks = [-1e300, -1e200, -1e100, -40, -20, -10, 0, 10, 20, 40, 1e100, 1e200, 1e300]
            ax.set_xticks(_axis(np.array(ticks)), [f"{t:g}" for t in ticks], fontsize=7)
            ax.set_xlim(-2 * _LINEAR, 2 * _LINEAR)
            ax.set_title(f"{primitive} {direction} [{dtype}]", fontsize=10)
            ax.set_ylabel("ULPs")
            if row == len(PLOTTED_DTYPES) - 1:
                ax.set_xlabel("x")
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), fontsize=8)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(path, dpi=80)
    plt.close(fig)


_LINEAR = 40.0  # |x| up to this drawn linearly, over half the axis; beyond, log10 |x|


def _axis(x: np.ndarray) -> np.ndarray:
    """Where x is drawn: linearly over [-40, 40] (where the activations bend), then by
    log10 |x| out to the largest float64, in the same width again."""
    a = np.abs(x)
    decades = np.log10(np.finfo(np.float64).max / _LINEAR)
    tail = _LINEAR * (1.0 + np.log10(np.maximum(a, _LINEAR) / _LINEAR) / decades)
    return np.sign(x) * np.where(a <= _LINEAR, a, tail)


def plot_name(primitive: str) -> str:
    safe = "".join(ch if ch.isalnum() else "_" for ch in primitive).strip("_")
    return f"{safe}.png"


def write(curves: Sequence[Curve], out: Path, title: str = "Accuracy atlas") -> Path:
    """``out/index.html`` with the heat tables (one per dtype), the plots (``out/plots``), the
    deviations; ``out/summary.md`` and ``out/atlas.json``. Returns the page's path."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "plots").mkdir(exist_ok=True)
    primitives = _primitives(curves)
    for p in primitives:
        plot(curves, p, out / "plots" / plot_name(p))
    dtypes = sorted({d for _, d in _columns(curves)}, key=_dtype_order)
    (out / "summary.md").write_text(
        "\n".join(markdown(curves, d) for d in dtypes if d in PLOTTED_DTYPES) or "no curves\n"
    )
    (out / "atlas.json").write_text(json.dumps(summary(curves), indent=1))
    page = out / "index.html"
    page.write_text(_html(curves, primitives, dtypes, title))
    return page


def _dtype_order(d: str) -> tuple[int, str]:
    order = ("float64", "float32", "float16", "bfloat16")
    return (order.index(d) if d in order else len(order), d)


def _html(curves: Sequence[Curve], primitives: list[str], dtypes: list[str], title: str) -> str:
    esc = html.escape
    table = _by_key(curves)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:110em}"
        "table{border-collapse:collapse;font-size:12px;margin-bottom:1.5em}"
        "td,th{border:1px solid #bbb;padding:2px 5px;text-align:right;white-space:nowrap}"
        "th{background:#eee}td.name{text-align:left}td.wrap{white-space:normal;min-width:30em}"
        "img{max-width:100%}</style>",
        "</head><body>",
        f"<h1>{esc(title)}</h1>",
        "<p>Error of every primitive and its backward against the suite's references (mpmath; "
        "float64 for the layers and optimizers), in ULPs of the dtype, on a grid of inputs x "
        "(see <code>properties/atlas/measure.py</code>; how each family builds its problem "
        "from x: the docstrings of <code>properties/atlas/&lt;family&gt;.py</code>). Each "
        "cell: the "
        "largest / the median error; <em>(n over)</em>: points where the error exceeds the "
        "suite's bound (the accuracy properties reject those); <em>±inf</em>: an infinite input "
        "gives a wrong result. A row function's point is its row's entry with the largest error "
        "relative to its bound. Green: within the bound everywhere (darker: larger errors); red: "
        "over it somewhere. The plots draw errors from 1e12 ULPs up (infinite included) at 1e12 "
        "and those below 0.01 ULP (0 included) at 0.01.</p>",
    ]
    for dtype in dtypes:
        columns = [impl for impl, d in _columns(curves) if d == dtype]
        parts.append(f'<h2 id="table-{esc(dtype)}">{esc(dtype)}</h2>')
        parts.append(f'<table class="heat" data-dtype="{esc(dtype)}"><tr><th>primitive</th>')
        parts += [f"<th>{esc(c)}</th>" for c in columns]
        parts.append("</tr>")
        for primitive in primitives:
            for direction in _directions(curves, primitive, dtype):
                parts.append(f'<tr><td class="name">{esc(primitive)} {direction}</td>')
                for impl in columns:
                    c = table.get((primitive, direction, impl, dtype))
                    if c is None:
                        parts.append("<td></td>")
                        continue
                    hint = (
                        f"worst at x = {_shown(c.x[c.worst])}: got {_shown(c.got[c.worst])}, "
                        f"expected {c.refs[c.worst]}"
                        if c.errors.any()
                        else "no error at any point"
                    )
                    parts.append(
                        f'<td style="background:{_colour(c)}" title="{esc(hint)}">'
                        f"{esc(cell_text(c))}</td>"
                    )
                parts.append("</tr>")
        parts.append("</table>")
    parts.append('<h2 id="deviations">Where the frameworks\' own kernels fail</h2>')
    parts.append(
        '<table class="deviations"><tr><th>implementation</th><th>primitive</th><th>dtype</th>'
        "<th>points over</th><th>worst finite x</th><th>got</th><th>expected</th><th>ULPs</th>"
        "<th>allowed</th><th>wrong at</th><th>known deviation</th></tr>"
    )
    for d in deviations(curves):
        known = "<br>".join(esc(k) for k in d["known"]) or "(not listed)"
        worst = (
            f"<td>{_shown(d['x'])}</td><td>{_shown(d['got'])}</td><td>{esc(d['expected'])}</td>"
            f"<td>{_ulps(float(d['ulps']))}</td><td>{_ulps(float(d['allowed']))}</td>"
            if d["finite_over"]
            else '<td colspan="5">every finite input within the bound</td>'
        )
        parts.append(
            f'<tr><td class="name">{esc(d["impl"])}</td>'
            f'<td class="name">{esc(d["primitive"])} {d["direction"]}</td>'
            f"<td>{esc(d['dtype'])}</td>"
            f"<td>{d['points_over']} of {d['points']}</td>{worst}"
            f'<td class="name">{esc("; ".join(d["at_infinities"]))}</td>'
            f'<td class="name wrap">{known}</td></tr>'
        )
    parts.append("</table>")
    parts.append('<h2 id="plots">Error against x</h2>')
    for p in primitives:
        parts.append(f"<h3>{esc(p)}</h3>")
        parts.append(f'<img src="plots/{esc(plot_name(p))}" alt="ULP error of {esc(p)}">')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
