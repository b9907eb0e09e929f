"""Optimizers on every backend against the float64 references written from the papers:
multi-step trajectories with drawn gradients, hyperparameters, shapes and schedules; params
trees; the exact step count; jax.jit; torch on a device that cannot copy to the host; untouched
inputs; NaN/inf propagation.

The properties are plain functions of (ops, implementation, rule, problem, dtype), where
``ops.optim`` offers the constructors of :mod:`primitives.optim`, so that
``test_optim_self.py`` can feed them deliberately wrong optimizers. They, the problem record
and the references live in :mod:`properties.optim_cases` (shared with the accuracy atlas), the
Hypothesis strategies that draw the problems in :mod:`properties.optim_strategies`, and are
imported here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import primitives as P
from reference import optim as R

from .implementations import PUBLIC_API, Implementation, resolve

# the problems, references and judges (in a support module, shared with the accuracy atlas)
from .optim_cases import (
    Problem,
    close_trajectory,
    construct,
    each_step_from_the_reference_state,
    reference,
    trajectory_matches_reference,
)

# the drawn problems and the hyperparameters of each rule (in a support module, shared with the
# other optimizer test modules)
from .optim_strategies import OPTIM_DTYPES, RULES, problems

# judged through the public API (the frameworks' own optimizers: test_optim_frameworks.py);
# trajectories in float32 and float64 (low precision: test_optim_low_precision.py, and
# test_low_precision_counts_exactly_past_256)
IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = OPTIM_DTYPES


# --- trajectories ----------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
def test_trajectory_matches_reference(impl, dtype, rule):

    @given(problems(rule, dtype))
    def check(problem):
        trajectory_matches_reference(impl.ops, impl, rule, problem, dtype)

    check()


@pytest.mark.parametrize("rule", RULES)
def test_each_step_from_the_reference_state(impl, dtype, rule):

    @given(problems(rule, dtype))
    def check(problem):
        each_step_from_the_reference_state(impl.ops, impl, rule, problem, dtype)

    check()


# --- params trees ----------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
def test_each_leaf_of_a_params_tree_follows_its_own_trajectory(impl, dtype, rule):
    """A nested dict/list/tuple of params: the same structure comes back, and each leaf
    follows the reference as if it were alone."""

    @settings(max_examples=8)  # two leaves of drawn shapes: jax compiles most examples anew
    @given(problems(rule, dtype, max_steps=3), problems(rule, dtype, max_steps=3))
    def check(p, q):
        q = q._replace(grads=(q.grads * len(p.grads))[: len(p.grads)])
        opt = construct(impl.ops, rule, p)
        tree = lambda a, b: {"layer": [a, (b,)], "bias": b}  # noqa: E731
        x = tree(impl.array(p.x0, dtype), impl.array(q.x0, dtype))
        state = opt.init(x)
        outs_p, outs_q = [], []
        for gp, gq in zip(p.grads, q.grads, strict=True):
            x, state = opt.step(x, tree(impl.array(gp, dtype), impl.array(gq, dtype)), state)
            assert set(x) == {"layer", "bias"} and isinstance(x["layer"], list)
            assert isinstance(x["layer"][1], tuple)
            outs_p.append(impl.numpy(x["layer"][0]))
            outs_q.append(impl.numpy(x["bias"]))
            assert np.array_equal(impl.numpy(x["layer"][1][0]), outs_q[-1])
        close_trajectory(f"{rule} leaf 1", dtype, outs_p, reference(rule, p))
        close_trajectory(
            f"{rule} leaf 2",
            dtype,
            outs_q,
            reference(rule, q._replace(hyper=p.hyper, halving_from=p.halving_from)),
        )

    check()


# --- the step count --------------------------------------------------------------------------


def test_count_is_an_exact_integer_past_2_to_the_24(impl, dtype):
    """A state at 2**24 steps steps once more to 2**24 + 1 (a float32 counter stays at 2**24)
    and the step uses t = 2**24 + 1: with beta2 = 1 - 2**-24 the second-moment correction
    1 - beta2**t is 1 - e**-1.00000006 (t = 2**24 gives 1 - e**-1)."""
    b2 = 1 - 2.0**-24
    opt = impl.ops.optim.adam(1.0, betas=(0.0, b2), eps=0.0)
    x = impl.array(np.zeros(1), dtype)
    state = opt.init(x)
    assert "int" in str(state.count.dtype)
    state = state._replace(
        count=state.count + 2**24,
        slots={"exp_avg": x, "exp_avg_sq": impl.array(np.full(1, 1.0), dtype)},
    )
    new, state2 = opt.step(x, impl.array(np.ones(1), dtype), state)
    assert int(state2.count) == 2**24 + 1 and "int" in str(state2.count.dtype)
    t = 2**24 + 1
    v = b2 * 1.0 + (1 - b2) * 1.0
    expected = -1.0 / np.sqrt(v / -np.expm1(t * np.log(b2)))
    np.testing.assert_allclose(impl.numpy(new), [expected], rtol=16 * np.finfo(dtype).eps)


def low_precision_dtype(impl: Implementation) -> str:
    """The backend's bfloat16 if it lists one, else its float16 (the dtypes of ``dtypes`` that
    its ``low_precision`` claims); a backend that lists neither skips, saying so."""
    low = [d for d in impl.dtypes if impl.backend.low_precision(impl.array(np.zeros(1), d))]
    if not low:
        pytest.skip(f"{impl.id} lists no float16/bfloat16 dtype (Backend.dtypes)")
    return "bfloat16" if "bfloat16" in low else low[0]


def test_low_precision_counts_exactly_past_256(impl):
    """bfloat16 (else float16) params: 300 steps count to 300 exactly (a bfloat16 counter
    freezes at 256; a float16 one at 2048, so the float16 check is of the step t = 300 only), and
    a state at 299 steps takes step t = 300: Adam's update with m = 1/2, v = 1/4, g = 1 is 7 %
    larger than at t = 257 and is computed in float32 and rounded once."""
    dtype = low_precision_dtype(impl)
    opt = impl.ops.optim.adam(0.5)
    x = impl.array(np.zeros(2), dtype)
    state = opt.init(x)
    g = impl.array(np.full(2, 0.5), dtype)
    for _ in range(300):
        _, state = opt.step(x, g, state)
    assert int(state.count) == 300
    at_299 = state._replace(
        count=state.count - 1,
        slots={
            "exp_avg": impl.array(np.full(2, 0.5), dtype),
            "exp_avg_sq": impl.array(np.full(2, 0.25), dtype),
        },
    )
    new, _ = opt.step(x, impl.array(np.ones(2), dtype), at_299)
    assert str(new.dtype).endswith(dtype)

    def update(t):
        m = (0.9 * 0.5 + 0.1) / (1 - 0.9**t)
        v = (0.999 * 0.25 + 0.001) / (1 - 0.999**t)
        return -0.5 * m / (np.sqrt(v) + 1e-8)

    assert abs(update(300) / update(257) - 1) > 0.05
    np.testing.assert_allclose(impl.numpy(new), update(300), rtol=2.0**-7)


def test_jax_count_is_int32_without_x64():
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(False):
        opt = P.optim.adam(0.1)
        x = jnp.zeros(3, jnp.float32)
        state = opt.init(x)
        assert state.count.dtype == jnp.int32
        state = state._replace(count=state.count + 2**24)
        _, state = jax.jit(opt.step)(x, jnp.ones(3, jnp.float32), state)
        assert int(state.count) == 2**24 + 1


# --- jax.jit, torch devices, immutability ----------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
def test_step_under_jax_jit_equals_the_eager_step(rule):
    import jax

    dtype = "float32"

    @settings(max_examples=5)  # each example compiles the whole step anew
    @given(problems(rule, dtype, max_steps=3))
    def check(p):
        impl = resolve("jax")
        opt = construct(P, rule, p)
        x = impl.array(p.x0, dtype)
        eager, jitted = (x, opt.init(x)), (x, opt.init(x))
        step = jax.jit(opt.step)
        outs_eager, outs_jit = [], []
        for g in p.grads:
            ga = impl.array(g, dtype)
            eager = opt.step(eager[0], ga, eager[1])
            jitted = step(jitted[0], ga, jitted[1])
            outs_eager.append(impl.numpy(eager[0]))
            outs_jit.append(impl.numpy(jitted[0]))
            assert int(jitted[1].count) == int(eager[1].count)
        scale = reference(rule, p).scale
        close_trajectory(
            f"{rule} jitted vs eager", dtype, outs_jit, R.Trajectory(outs_eager, scale), factor=2
        )

    check()


@pytest.mark.parametrize("rule", RULES)
def test_torch_step_never_copies_to_the_host(rule):
    """On the ``meta`` device any read of a value (``.item()``, ``.cpu()``, numpy) raises: the
    whole step, schedule included, stays on the device; the results carry no graph (leaves
    that keep requires_grad, see test_optim_training.py); the input tensors' versions are
    unchanged (nothing written in place)."""
    import torch

    p = Problem(np.zeros(3), (np.ones(3),), {"lr": 0.1}, halving_from=0.1)
    hyper = {"heavy_ball": dict(momentum=0.9), "sgd": dict(momentum=0.9)}.get(rule, {})
    opt = getattr(P.optim, rule)(p.lr_arg() if rule != "heavy_ball" else 0.1, **hyper)
    x = torch.zeros(3, device="meta", requires_grad=True)
    g = torch.ones(3, device="meta")
    state = opt.init(x)
    versions = (x._version, g._version)
    new, state = opt.step(x, g, state)
    new, state = opt.step(new, g, state)
    assert new.device.type == "meta" and new.requires_grad and new.grad_fn is None
    assert state.count.device.type == "meta"
    assert (x._version, g._version) == versions


def test_step_leaves_the_old_state_unchanged(impl, dtype):
    opt = impl.ops.optim.adam(0.1, amsgrad=True)
    x = impl.array(np.ones(3), dtype)
    g = impl.array(np.full(3, 0.5), dtype)
    _, s1 = opt.step(x, g, opt.init(x))
    before = {k: impl.numpy(v) for k, v in s1.slots.items()}
    _, s2 = opt.step(x, g, s1)
    assert int(s1.count) == 1 and int(s2.count) == 2
    for k, v in s1.slots.items():
        assert np.array_equal(impl.numpy(v), before[k]), f"slot {k} of the old state changed"
    with pytest.raises(AttributeError):
        s1.count = s2.count  # an immutable record
