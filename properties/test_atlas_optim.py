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
from types import SimpleNamespace

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


# --- the frameworks' own optimizers (properties.framework_optim) ------------------------------


def test_the_frameworks_optimizers_are_measured_where_their_table_has_the_rule():
    """A framework table without ``optim`` has no cells; with it, torch.optim's Adam and SGD are
    within the bound on the grid as the library's, and a rule the framework does not have
    (heavy ball) or cannot express (optax: AMSGrad in torch's form, Adagrad with eps outside
    the root) has no cell."""
    pytest.importorskip("torch")
    x64 = grid(200)
    bare = resolve("torch-native")._replace(ops=SimpleNamespace())
    assert optim.curve(bare, "adam", "forward", "float32", x64) is None
    impl = resolve("torch-native")
    for primitive in ("sgd", "sgd(momentum)", "adam", "adam(amsgrad)", "adagrad"):
        for dtype in ("float32", "float64"):
            curve = optim.curve(impl, primitive, "forward", dtype, x64)
            assert curve is not None and curve.impl == "torch-native"
            assert curve.x.size > 150 and not curve.over.any(), (primitive, dtype)
        assert optim.curve(impl, primitive, "backward", "float32", x64) is None
    assert optim.curve(impl, "heavy_ball", "forward", "float32", x64) is None
    if installed("jax"):
        jax_impl = resolve("jax-native")
        assert optim.curve(jax_impl, "heavy_ball", "forward", "float32", x64) is None
        assert optim.curve(jax_impl, "adam(amsgrad)", "forward", "float32", x64) is None
        assert optim.curve(jax_impl, "adagrad", "forward", "float32", x64) is None
        curve = optim.curve(jax_impl, "adamw", "forward", "float64", x64)
        assert curve is not None and not curve.over.any()


@pytest.mark.parametrize("amsgrad", [False, True])
def test_torch_native_adam_step_from_a_state_is_torch_optim_adams_own_step(amsgrad):
    """torch.optim.Adam run from scratch for 4 steps; its state after step 3 (count 3, its
    ``exp_avg``, ...) handed to the torch-native Adam gives torch's own step 4 bit for bit: the
    count, hence the bias corrections, and every slot mapped as torch keeps them (betas far
    from 1, so that a count off by one changes the step)."""
    torch = pytest.importorskip("torch")
    from .framework_optim import torch_optim

    rng = np.random.default_rng(0)
    x0 = torch.from_numpy(rng.standard_normal(6)).float()
    grads = [torch.from_numpy(rng.standard_normal(6)).float() for _ in range(4)]
    hyper = dict(lr=1e-2, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1, amsgrad=amsgrad)
    p = x0.clone().requires_grad_()
    ref = torch.optim.Adam([p], **hyper)

    seen = []
    for g in grads:
        p.grad = g.clone()
        ref.step()
        seen.append((p.detach().clone(), {k: v.clone() for k, v in ref.state[p].items()}))
    (x3, s3), (x4, s4) = seen[2:]
    assert float(s4["step"]) == 4
    slots = {k: v for k, v in s3.items() if k != "step"}
    assert set(slots) == {"exp_avg", "exp_avg_sq"} | ({"max_exp_avg_sq"} if amsgrad else set())
    opt = torch_optim().adam(**hyper)
    state = opt.init(x3)
    state = state._replace(count=state.count + 3, slots={**state.slots, **slots})
    before = [t.clone() for t in (x3, grads[3], *slots.values())]
    new_x, new_state = opt.step(x3, grads[3], state)
    assert torch.equal(new_x, x4)
    assert int(new_state.count) == 4 and set(new_state.slots) == set(slots)
    for name in slots:
        assert torch.equal(new_state.slots[name], s4[name]), name
    after = [x3, grads[3], *state.slots.values()]
    assert all(torch.equal(a, b) for a, b in zip(after, before, strict=True))  # (unchanged)


def test_jax_native_adam_step_from_a_state_is_optax_adams_own_step():
    """The same with optax.adam (its ``count``, ``mu``, ``nu``)."""
    pytest.importorskip("optax")
    import jax
    import jax.numpy as jnp
    import optax

    from .framework_optim import optax_optim

    rng = np.random.default_rng(1)
    grads = [jnp.asarray(rng.standard_normal(6), jnp.float32) for _ in range(4)]
    tx = optax.adam(1e-2, b1=0.8, b2=0.9, eps=1e-6)

    @jax.jit
    def optax_step(carry, g):
        x, state = carry
        updates, state = tx.update(g, state, x)
        return optax.apply_updates(x, updates), state

    x0 = jnp.asarray(rng.standard_normal(6), jnp.float32)
    carry, seen = (x0, tx.init(x0)), []
    for g in grads:
        carry = optax_step(carry, g)
        seen.append(carry)
    (x3, s3), (x4, s4) = seen[2:]
    adam3, adam4 = s3[0], s4[0]  # (ScaleByAdamState, then the lr's EmptyState)
    assert int(adam4.count) == 4
    opt = optax_optim().adam(lr=1e-2, betas=(0.8, 0.9), eps=1e-6)
    state = opt.init(x3)
    slots = {"exp_avg": adam3.mu, "exp_avg_sq": adam3.nu}
    state = state._replace(count=state.count + 3, slots=slots)
    new_x, new_state = opt.step(x3, grads[3], state)
    assert np.array_equal(new_x, x4)
    assert int(new_state.count) == 4
    assert np.array_equal(new_state.slots["exp_avg"], adam4.mu)
    assert np.array_equal(new_state.slots["exp_avg_sq"], adam4.nu)
