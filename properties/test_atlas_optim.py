"""The accuracy atlas's optimizers (:mod:`properties.atlas.optim`): the library within the
optimizer properties' bound over the grid, and a wrong third-party backend (Adam on float16
computed in float16, ``properties.wrong_backends``) over it through the ``--backend`` path
while the unmodified backend (the control) is within it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from .atlas import optim
from .atlas.curve import Curve, grid
from .atlas.measure import PRIMITIVES as ATLAS_PRIMITIVES
from .implementations import installed, resolve

ROOT = Path(__file__).resolve().parent.parent
IMPLS = ["numpy"] + (["torch"] if installed("torch") else [])

KNOWN = {
    ("sgd(nesterov)", "float32"): (
        "found by the atlas: step 2 forms d = g + momentum * b = 3.6e38 at g = 1.33e38, which "
        "overflows float32, though the new parameter (-3.6e35) and the buffer (2.5e38) are "
        "float32 values: the parameter comes out -inf"
    ),
}
"""Library points over the bound on ``grid(200)`` (every implementation here), by primitive and
dtype: failures the atlas found, kept as strict expected failures (a fix makes them pass)."""


@pytest.fixture(scope="module")
def curves() -> dict[tuple[str, str, str], Curve]:
    x64 = grid(200)
    out = {}
    for impl_id in IMPLS:
        impl = resolve(impl_id)
        for dtype in ("float32", "float64"):
            for primitive in optim.PRIMITIVES:
                curve = optim.curve(impl, primitive, "forward", dtype, x64)
                assert curve is not None
                assert optim.curve(impl, primitive, "backward", dtype, x64) is None
                out[impl_id, primitive, dtype] = curve
    return out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("primitive", optim.PRIMITIVES)
@pytest.mark.parametrize("impl_id", IMPLS)
def test_the_library_is_within_the_optimizer_bound_everywhere_on_the_grid(
    curves, impl_id, primitive, dtype, request
):
    if (primitive, dtype) in KNOWN:
        request.applymarker(pytest.mark.xfail(reason=KNOWN[primitive, dtype], strict=True))
    curve = curves[impl_id, primitive, dtype]
    assert curve.x.size > 150
    assert np.isfinite(curve.allowed).all() and (curve.allowed > 0).any()
    # the criterion is the property's; where it is "error over the bound" they must agree
    assert np.array_equal(curve.over, curve.errors > curve.allowed)
    w = curve.worst
    assert not curve.over.any(), (
        f"{primitive} on {impl_id} [{dtype}]: {int(curve.over.sum())} gradients over the "
        f"bound, at {curve.x[curve.over][:6]}; worst g = {curve.x[w]!r}: got {curve.got[w]!r}, "
        f"reference {curve.refs[w]}, {curve.errors[w]:.3g} ULPs (bound {curve.allowed[w]:.3g})"
    )


def test_the_curve_is_the_property_verdict_at_a_point_it_rejects():
    """A point over its bound is one ``each_step_from_the_reference_state`` rejects, with the
    same input: the first known failure, judged by the property itself."""
    from .optim_cases import each_step_from_the_reference_state

    impl = resolve("numpy")
    curve = optim.curve(impl, "sgd(nesterov)", "forward", "float32", grid(200))
    g = curve.x[curve.over]
    assert g.size > 0
    problem = optim.problem("sgd(nesterov)", g)
    with np.errstate(over="ignore"), pytest.raises(AssertionError, match="out of bound"):
        each_step_from_the_reference_state(impl.ops, impl, "sgd", problem, "float32")
    within = optim.problem("sgd(nesterov)", curve.x[~curve.over])
    each_step_from_the_reference_state(impl.ops, impl, "sgd", within, "float32")


def test_the_atlas_finds_adam_computed_in_float16_through_the_backend_path(tmp_path):
    """``PRIMITIVES_WRONG_BACKEND=adam_in_float16`` (Adam's moments on float16 params
    rounded to 11 bits at every operation) through ``python -m properties.atlas --only
    properties.wrong_backends``: the float16 adam curve has points over the bound, its float32
    and float64 curves none (the bug is float16's); the control is within it everywhere."""
    if "adam" not in ATLAS_PRIMITIVES:
        pytest.fail("properties.atlas.optim is not registered in properties.atlas.measure")
    found = {}
    for entry in ("control", "adam_in_float16"):
        out = tmp_path / entry
        env = {**os.environ, "PRIMITIVES_WRONG_BACKEND": entry}
        args = ["--only", "properties.wrong_backends", "--primitives", "adam,adagrad"]
        args += ["--points", "200", "--workers", "1", "--out", str(out)]
        subprocess.run(
            [sys.executable, "-m", "properties.atlas", *args], cwd=ROOT, env=env, check=True
        )
        cells = json.loads((out / "atlas.json").read_text())["cells"]
        found[entry] = {(c["primitive"], c["direction"], c["dtype"]): c for c in cells}
    control, wrong = found["control"], found["adam_in_float16"]
    assert ("adam", "forward", "float16") in control and len(control) == len(wrong)
    assert all(c["points_over"] == 0 for c in control.values())
    assert all(c["points"] > 100 for c in control.values())  # (float16: 148 distinct)
    assert wrong["adam", "forward", "float16"]["points_over"] > 10
    others = [k for k in wrong if k != ("adam", "forward", "float16")]
    assert others and all(wrong[k]["points_over"] == 0 for k in others)
