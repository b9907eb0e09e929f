"""The atlas's layers (``properties.atlas.layers``): the library within the suite's bounds over
the grid (numpy and torch, float32 and float64, every layer primitive, forward and backward),
except one reported finding that is pinned here; and a wrong third-party backend
(``properties.wrong_backends``) over the bound where its unmodified control is within it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .atlas import layers
from .atlas.curve import Curve, grid
from .implementations import installed, resolve

ROOT = Path(__file__).resolve().parent.parent
IMPLS = ["numpy", "torch"]
DIRECTIONS = ("forward", "backward")

FLOAT32_SQUARES_OVERFLOW = 2.0**64
"""Finding (the atlas, 2026-12): in float32 (and bfloat16, computed in float32) the library
forms x^2 without scaling, so beyond |x| = 2^64 (1.8e19), where x^2 exceeds float32's largest
value, on every backend: ``layer_norm`` of the row ``[x, 0, 1]`` returns the bias (the
variance is inf, rstd 0) and its dx is 0; ``batch_norm`` of the channel ``[x, 0, 1]``
returns the bias, or NaN from |x| of about 1e38, with dx and dweight 0 or NaN;
``l2_penalty([x, 0.5, -1.25], 0.01)`` is inf where the result (2.6e36 at x = 2.28e19) is
finite. The properties draw |x| up to about 1e3 and do not reach it. Pinned below (strict:
a fix makes :func:`test_the_float32_overflow_finding_is_still_there` fail; then drop it)."""
FINDING = {
    ("layer_norm", "forward"),
    ("layer_norm", "backward"),
    ("batch_norm", "forward"),
    ("batch_norm", "backward"),
    ("l2_penalty", "forward"),
}


def _excused(curve: Curve) -> np.ndarray:
    """The points the float32 finding covers."""
    if curve.dtype != "float32" or (curve.primitive, curve.direction) not in FINDING:
        return np.zeros(curve.x.shape, bool)
    return np.abs(curve.x) > FLOAT32_SQUARES_OVERFLOW


def _report(curve: Curve, at: np.ndarray) -> str:
    """The worst point among ``at``, for a failure message."""
    idx = np.flatnonzero(at)
    i = idx[np.argmax(curve.errors[idx] / np.maximum(curve.allowed[idx], 1e-300))]
    return (
        f"{curve.impl} {curve.primitive} {curve.direction} [{curve.dtype}]: {idx.size} of "
        f"{curve.x.size} points over the bound; worst at x = {float(curve.x[i])!r}: got "
        f"{float(curve.got[i])!r}, reference {curve.refs[i]}, {curve.errors[i]:.3g} ULPs "
        f"(allowed {curve.allowed[i]:.3g})"
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("primitive", layers.PRIMITIVES)
@pytest.mark.parametrize("impl_id", IMPLS)
def test_the_library_is_within_the_suite_bound_everywhere_on_the_grid(
    impl_id, primitive, direction, dtype
):
    if impl_id != "numpy" and not installed(impl_id):
        pytest.skip(f"{impl_id} is not installed")
    curve = layers.curve(resolve(impl_id), primitive, direction, dtype, grid(200))
    assert curve is not None and curve.x.size >= 150, curve and curve.x.size
    assert curve.rejected is not None and curve.rejected.shape == curve.x.shape
    assert len(curve.refs) == curve.x.size and np.isfinite(curve.allowed).all()
    wrong = curve.over & ~_excused(curve)
    assert not wrong.any(), _report(curve, wrong)


@pytest.mark.parametrize("impl_id", IMPLS)
def test_the_float32_overflow_finding_is_still_there(impl_id):
    """At x = +-3e19 (x^2 = 9e38 > float32's largest, every reference finite): over the
    bound for each entry of FINDING; at x = 1 within it."""
    if impl_id != "numpy" and not installed(impl_id):
        pytest.skip(f"{impl_id} is not installed")
    impl = resolve(impl_id)
    x64 = np.array([-3e19, 1.0, 3e19])
    for primitive, direction in sorted(FINDING):
        curve = layers.curve(impl, primitive, direction, "float32", x64)
        assert curve.x.size == 3
        assert curve.over.tolist() == [True, False, True], (primitive, direction, curve)


def _wrong_backend_over(entry: str) -> dict[tuple[str, str, str], tuple[int, int]]:
    """(points, points over the bound) per (primitive, direction, dtype) of batch norm on the
    wrong backend ``entry``, measured in a fresh process (``properties.wrong_backends`` picks
    its entry at import) through the path a third-party backend takes (``resolve`` of the
    module, as ``--backend`` does)."""
    script = (
        "import json\n"
        "from properties.atlas import layers\n"
        "from properties.atlas.curve import grid\n"
        "from properties.implementations import resolve\n"
        "impl = resolve('properties.wrong_backends')\n"
        "out = []\n"
        "for p in ('batch_norm', 'batch_norm(eval)'):\n"
        "    for dtype in impl.dtypes:\n"
        "        for d in ('forward', 'backward'):\n"
        "            c = layers.curve(impl, p, d, dtype, grid(200))\n"
        "            out.append([p, d, dtype, int(c.x.size), int(c.over.sum()),\n"
        "                        int((c.over & (abs(c.x) <= 2.0**64)).sum())])\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "PRIMITIVES_WRONG_BACKEND": entry}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True
    )
    rows = json.loads(done.stdout.decode().strip().splitlines()[-1])
    return {(p, d, dtype): (n, over, unexcused) for p, d, dtype, n, over, unexcused in rows}


def test_the_atlas_finds_wrong_batch_norms_through_the_backend_path():
    """Batch norm of float16 computed in float16 arithmetic, and momentum rounded to a tenth
    (``properties.wrong_backends``): over the bound in the curves they change, equal to the
    control elsewhere; the control (the worked backend, the library's kernels) within the
    bound at every point but those of the float32 finding."""
    control = _wrong_backend_over("control")
    assert {dtype for _, _, dtype in control} >= {"float16", "float32", "float64"}
    for key, (n, _, unexcused) in control.items():
        assert n >= 150 and unexcused == 0, (key, control[key])
    in_float16 = _wrong_backend_over("batch_norm_in_float16")
    changed = {("batch_norm", "forward", "float16"), ("batch_norm(eval)", "forward", "float16")}
    for key in changed:
        assert in_float16[key][1] > 10, (key, in_float16[key])
    assert {k: v for k, v in in_float16.items() if k not in changed} == {
        k: v for k, v in control.items() if k not in changed
    }
    tenths = _wrong_backend_over("batch_norm_momentum_in_tenths")
    for key, (n, over, _) in tenths.items():
        if key[:2] == ("batch_norm", "forward"):  # the new running statistics, momentum 0.25
            assert over == n, (key, tenths[key])
        else:
            assert (n, over) == control[key][:2], (key, tenths[key], control[key])
