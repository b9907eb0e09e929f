"""The accuracy atlas (``python -m properties.atlas``): its numbers agree with what is known
independently of it, it finds a wrong third-party backend through the ``--backend`` path, and
its page renders in a real browser (Chromium through Playwright) with no console error."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .atlas import grid, measure_all, write
from .atlas.losses import PRIMITIVES as LOSSES
from .atlas.measure import Curve
from .cases import EDGE_POINTS
from .implementations import installed

ROOT = Path(__file__).resolve().parent.parent


def test_the_grid_holds_the_edge_points_both_tails_and_no_nan():
    x = grid(200)
    assert np.all(np.diff(x) >= 0) and len(set(x.tolist())) == x.size - 1  # (only 0 twice:)
    assert np.signbit(x[x == 0]).tolist() == [True, False]  # -0.0, then 0.0
    assert not np.isnan(x).any()
    assert {v for v in EDGE_POINTS if not math.isnan(v)} <= set(x.tolist())
    assert x.min() == -math.inf and x.max() == math.inf
    assert np.sum((x > -40) & (x < 40)) >= 100  # dense where the activations bend
    assert np.abs(x[np.isfinite(x)]).max() >= 1e300  # and out to the far tails


def test_a_curve_summarises_finite_inputs_and_reports_infinite_ones_apart():
    x = np.array([-math.inf, -1.0, 0.0, 2.0, math.inf])
    curve = Curve(
        "impl",
        "p",
        "forward",
        "float32",
        x,
        errors=np.array([math.inf, 3.0, 0.0, 1.0, 0.0]),
        allowed=np.array([4.0, 2.0, 4.0, 4.0, 4.0]),
        refs=("0", "1", "0", "2", "inf"),
        got=np.array([math.nan, 1.5, 0.0, 2.0, math.inf]),
    )
    assert curve.max == 3.0 and curve.median == 1.0  # over -1, 0, 2
    assert curve.worst == 1  # x = -1: 1.5 times its bound
    assert curve.over.tolist() == [True, True, False, False, False]
    assert curve.failing_infinities == [(-math.inf, "nan")]


@pytest.fixture(scope="module")
def measured() -> list[Curve]:
    impls = ["numpy"] + (["torch-native"] if installed("torch") else [])
    return measure_all(
        impls, ["sigmoid", "gelu(none)"], ["float32", "float64"], points=200, workers=1
    )


def _curve(curves, impl, primitive, direction, dtype) -> Curve:
    (found,) = [
        c
        for c in curves
        if (c.impl, c.primitive, c.direction, c.dtype) == (impl, primitive, direction, dtype)
    ]
    return found


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("primitive", ["sigmoid", "gelu(none)"])
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_the_library_is_within_the_suite_bound_everywhere_on_the_grid(
    measured, primitive, direction, dtype
):
    curve = _curve(measured, "numpy", primitive, direction, dtype)
    assert curve.x.size > 150
    assert not curve.over.any(), (
        f"{primitive} {direction} [{dtype}] over the bound at x = {curve.x[curve.over][:5]}"
    )


@pytest.fixture(scope="module")
def losses_measured() -> list[Curve]:
    impls = ["numpy"] + (["torch"] if installed("torch") else [])
    return measure_all(impls, LOSSES, ["float32", "float64"], points=200, workers=1)


@pytest.mark.parametrize("primitive", LOSSES)
def test_every_loss_of_the_library_is_within_the_suite_bound_on_the_grid(
    losses_measured, primitive
):
    """Every loss and its gradients, on numpy and torch, at every finite grid point: within the
    loss properties' bound, but for the contrastive gradient in float32 where the pair's
    distance squared underflows (``test_losses.CONTRASTIVE_UNDERFLOW``): over it at every
    nonzero |x| below 1e-21 and nowhere from 1e-19 up (in between, the subnormal squares keep
    some digits)."""
    curves = [c for c in losses_measured if c.primitive == primitive]
    directions = 1 if primitive == "sequence_cross_entropy" else 2  # (its forward is a mean)
    assert len(curves) == directions * 2 * (1 + installed("torch"))
    for c in curves:
        assert c.x.size > 100 and np.isfinite(c.x).all()
        i = c.worst
        if (primitive, c.direction, c.dtype) == ("contrastive_loss", "backward", "float32"):
            tiny = np.abs(c.x) < 1e-21
            assert c.over[tiny & (c.x != 0)].all() and not c.over[np.abs(c.x) >= 1e-19].any()
            continue
        assert not c.over.any(), (
            f"{primitive} {c.direction} on {c.impl} [{c.dtype}]: {int(c.over.sum())} points "
            f"over the bound; worst x = {c.x[i]!r}: got {c.got[i]!r}, expected {c.refs[i]}, "
            f"{c.errors[i]:.3g} ULPs (allowed {c.allowed[i]:.3g})"
        )


def test_torch_gelu_in_float32_fails_in_the_negative_tail(measured):
    """torch 2.13's CPU F.gelu computes 1 + erf(x/sqrt 2), which is 0 in float32 for x <= -6
    where GELU(-6) = -5.9e-9 (``known_deviations._GELU``): the atlas must show it there."""
    if not installed("torch"):
        pytest.skip("torch-native needs torch")
    curve = _curve(measured, "torch-native", "gelu(none)", "forward", "float32")
    at = np.flatnonzero(curve.x == -6.0)
    assert at.size == 1 and curve.got[at[0]] == 0.0 and curve.over[at[0]]
    tail = (curve.x <= -6.0) & (curve.x >= -10.0)  # GELU from -5.9e-9 to -7.6e-23: all normal
    assert tail.sum() >= 5 and curve.over[tail].all() and (curve.got[tail] == 0).all()
    numpy = _curve(measured, "numpy", "gelu(none)", "forward", "float32")
    assert not numpy.over[np.isin(numpy.x, curve.x[tail])].any()  # (where the library is right)


@pytest.mark.parametrize(
    "entry, primitive, dtype, wrong, right",
    [
        ("sigmoid_backward_cancelling", "sigmoid", "float64", "backward", "forward"),
        ("mse_in_float16", "mse_loss", "float16", "forward", "backward"),
    ],
)
def test_the_atlas_finds_a_wrong_backend_through_the_backend_path(
    tmp_path, entry, primitive, dtype, wrong, right
):
    """A third-party backend (``properties.wrong_backends``) with one wrong function: the
    command's data puts that function's direction over the bound and leaves the other within
    it; the unmodified backend (the control) is within it everywhere. ``sigmoid' = s (1 - s)``
    cancels; ``mse_in_float16`` rounds x - y and its square each to float16."""
    found = {}
    for name in ("control", entry):
        out = tmp_path / name
        env = {**os.environ, "PRIMITIVES_WRONG_BACKEND": name}
        args = ["--only", "properties.wrong_backends", "--primitives", primitive]
        args += ["--dtypes", dtype, "--points", "200", "--workers", "1", "--out", str(out)]
        subprocess.run(
            [sys.executable, "-m", "properties.atlas", *args], cwd=ROOT, env=env, check=True
        )
        cells = json.loads((out / "atlas.json").read_text())["cells"]
        found[name] = {(c["direction"], c["dtype"]): c["points_over"] for c in cells}
    assert set(found["control"]) == {(wrong, dtype), (right, dtype)}
    assert not any(found["control"].values())
    assert found[entry][(wrong, dtype)] > 0
    assert found[entry][(right, dtype)] == 0


REQUIRE_BROWSER = "PRIMITIVES_REQUIRE_BROWSER"
"""Set (``.ci/run`` sets it) to make a missing browser a failure instead of a skip."""


def _chromium() -> str:
    path = os.environ.get("PRIMITIVES_CHROMIUM") or shutil.which("chromium")
    missing = None
    if path is None:
        missing = "no Chromium (apt-get install chromium, or set PRIMITIVES_CHROMIUM to one)"
    elif not installed("playwright"):
        missing = "Playwright is not installed (the test extra has it)"
    if missing:
        if os.environ.get(REQUIRE_BROWSER):
            pytest.fail(f"the atlas's browser test needs a browser ({REQUIRE_BROWSER}): {missing}")
        pytest.skip(missing)
    return path


def test_the_page_renders_every_table_and_plot_in_a_browser(measured, tmp_path):
    browser_path = _chromium()
    page_path = write(measured, tmp_path / "atlas")
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(page_path.as_uri())
            page.wait_for_load_state("load")
            tables = page.locator("table.heat")
            assert tables.count() == 2  # float32 and float64
            for i in range(tables.count()):
                table = tables.nth(i)
                assert table.is_visible()
                # 2 primitives x 2 directions, a header row, a cell per implementation
                assert table.locator("tr").count() == 5
                assert table.locator("td").count() == 4 * (1 + len({c.impl for c in measured}))
            images = page.locator("img")
            assert images.count() == 2
            for i in range(images.count()):
                image = images.nth(i)
                assert image.is_visible()
                assert image.evaluate("i => i.complete && i.naturalWidth > 100")
            assert page.locator("table.deviations").is_visible()
        finally:
            browser.close()
    assert errors == []
