"""The optimizers against torch.optim (same hyperparameters) and optax (each convention
mapped), on every backend; and, where no mapping exists, how much the two differ.

Both sides approximate the same exact trajectory (``reference/optim.py``), each within the
rounding band of ``tolerances.OPTIM_RTOL``, so they must agree within twice it. torch and optax
compute the bias correction 1 - beta**t by subtraction, which in float64 loses the relative
accuracy of 1 - beta (1 / (1 - beta) units of roundoff); their band is widened by that much
(``framework_factor``). The rows of ``docs/optim.md`` name these tests.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from reference import optim as R

from .framework_optim import optax_transform, torch_optimizer
from .implementations import PUBLIC_API, Implementation
from .optim_cases import Problem, close_trajectory, reference, run
from .optim_strategies import HYPER, OPTIM_DTYPES, RULES, problems

# the family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = OPTIM_DTYPES


def framework_factor(rule: str, hyper: dict, dtype: str) -> float:
    """2 (both sides' bands) plus the frameworks' loss in 1 - beta**t (float64 only: in float32
    they compute it in float64 and round once)."""
    if dtype != "float64":
        return 2.0
    betas = {
        "adam": hyper.get("betas", ()),
        "adamw": hyper.get("betas", ()),
        "rmsprop": (hyper["alpha"],) if hyper.get("bias_correction") else (),
    }.get(rule, ())
    return 2.0 + max((b / (1 - b) for b in betas), default=0.0)


# --- torch.optim -----------------------------------------------------------------------------


_MEMO: dict[tuple, list[np.ndarray]] = {}


def _memo(fn):
    """The frameworks' trajectories are computed once per problem, then reused by each backend's
    test (the ci profile draws the same problems for each)."""

    def run(rule: str, problem: Problem, dtype: str) -> list[np.ndarray]:
        key = (
            fn.__name__,
            rule,
            dtype,
            problem.x0.shape,
            problem.x0.tobytes(),
            b"".join(g.tobytes() for g in problem.grads),
            repr(problem.hyper),
            problem.halving_from,
        )
        if key not in _MEMO:
            _MEMO[key] = fn(rule, problem, dtype)
        return _MEMO[key]

    return run


@_memo
def torch_trajectory(rule: str, problem: Problem, dtype: str) -> list[np.ndarray]:
    import torch

    cls, kwargs = torch_optimizer(rule, problem.hyper)
    p = torch.from_numpy(problem.x0).to(getattr(torch, dtype)).requires_grad_()
    opt = cls([p], **{**kwargs, "lr": problem.lrs[0]})
    out = []
    for lr, g in zip(problem.lrs, problem.grads, strict=True):
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.from_numpy(g).to(p.dtype)
        opt.step()
        out.append(p.detach().double().numpy().copy())
    return out


_TORCH_MAPPABLE = {
    "rmsprop": lambda h: {**h, "eps_in_sqrt": False, "bias_correction": False},
    "adam": lambda h: {**h, "eps_root": 0.0},
    "adamw": lambda h: {**h, "eps_root": 0.0},
}


def agrees(what: str, dtype: str, ours, theirs, problem: Problem, rule: str, factor: float):
    ref = reference(rule, problem)
    close_trajectory(what, dtype, ours, R.Trajectory(theirs, ref.scale), factor)


@pytest.mark.parametrize("rule", RULES)
def test_trajectory_matches_torch_optim(impl, dtype, rule):
    hyper = HYPER[rule]().map(_TORCH_MAPPABLE.get(rule, dict))

    @given(problems(rule, dtype, hyper=hyper))
    def check(problem):
        ours = run(impl.ops, impl, rule, problem, dtype)
        theirs = torch_trajectory(rule, problem, dtype)
        factor = framework_factor(rule, problem.hyper, dtype)
        agrees(
            f"{rule}{problem.hyper} on {impl.id} vs torch.optim",
            dtype,
            ours,
            theirs,
            problem,
            rule,
            factor,
        )

    check()


# --- optax -----------------------------------------------------------------------------------


@_memo
def optax_trajectory(rule: str, problem: Problem, dtype: str) -> list[np.ndarray]:
    import jax.numpy as jnp
    import optax

    tx = optax_transform(rule, problem.hyper, problem.lr_arg())
    x = jnp.asarray(problem.x0, dtype=dtype)
    state = tx.init(x)
    out = []
    for g in problem.grads:
        updates, state = tx.update(jnp.asarray(g, dtype=dtype), state, x)
        x = optax.apply_updates(x, updates)
        out.append(np.asarray(x, np.float64))
    return out


_OPTAX_MAPPABLE = {
    "sgd": lambda h: {**h, "dampening": 0.0},
    "adam": lambda h: {**h, "amsgrad": False},
    "adamw": lambda h: {**h, "amsgrad": False},
    "adagrad": lambda h: {**h, "eps": 0.0, "initial_accumulator_value": 0.01 + h["eps"]},
    # optax's centered RMSprop with bias correction gives NaN (test below)
    "rmsprop": lambda h: {**h, "bias_correction": h["bias_correction"] and not h["centered"]},
}


@pytest.mark.parametrize("rule", RULES)
def test_trajectory_matches_optax(impl, dtype, rule):
    hyper = HYPER[rule]().map(_OPTAX_MAPPABLE.get(rule, dict))

    @given(problems(rule, dtype, hyper=hyper))
    def check(problem):
        if rule == "rmsprop" and problem.hyper["momentum"]:
            # optax.rmsprop applies lr before its momentum trace (lr inside the buffer): the
            # same as torch's at a constant lr only
            problem = problem._replace(halving_from=None)
        ours = run(impl.ops, impl, rule, problem, dtype)
        theirs = optax_trajectory(rule, problem, dtype)
        factor = framework_factor(rule, problem.hyper, dtype)
        agrees(
            f"{rule}{problem.hyper} on {impl.id} vs optax",
            dtype,
            ours,
            theirs,
            problem,
            rule,
            factor,
        )

    check()


# --- where no mapping exists: how much they differ -------------------------------------------


def _steps(impl: Implementation, opt, x0, grads, dtype: str) -> list[np.ndarray]:
    x = impl.array(np.asarray(x0, np.float64), dtype)
    state = opt.init(x)
    out = []
    for g in grads:
        x, state = opt.step(x, impl.array(np.asarray(g, np.float64), dtype), state)
        out.append(impl.numpy(x))
    return out


def _relative(a, b) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


def test_amsgrad_differs_from_optax_by_the_corrected_maximum(impl, dtype):
    """torch and this library take max of the uncorrected v, then correct; optax.amsgrad takes
    max of the corrected v^. After g = 1 then g = 1/100 (lr 1, betas (0.9, 0.999), eps 0), the
    second step divides by sqrt(0.001 / (1 - 0.999^2)) = 0.70728 here, by sqrt(1) = 1 in optax:
    a factor sqrt(1 - 0.999^2) / sqrt(0.001) = 1.41386 in the second update."""
    import jax.numpy as jnp
    import optax

    P = impl.ops
    grads = [np.array([1.0]), np.array([0.01])]
    ours = _steps(impl, P.optim.adam(1.0, eps=0.0, amsgrad=True), [0.0], grads, dtype)
    tx = optax.amsgrad(1.0, eps=0.0)
    x = jnp.zeros(1, dtype)
    state = tx.init(x)
    theirs = []
    for g in grads:
        u, state = tx.update(jnp.asarray(g, dtype), state)
        x = optax.apply_updates(x, u)
        theirs.append(np.asarray(x, np.float64))
    rtol = 16 * float(np.finfo(dtype).eps)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=rtol)  # first step: both -lr sign(g)
    step_ours, step_optax = ours[1] - ours[0], theirs[1] - theirs[0]
    m_hat = (0.9 * 0.1 + 0.1 * 0.01) / (1 - 0.9**2)
    expected_ours = -m_hat / np.sqrt(0.001 / (1 - 0.999**2))
    np.testing.assert_allclose(step_ours, expected_ours, rtol=1e3 * rtol)
    np.testing.assert_allclose(step_optax, -m_hat / 1.0, rtol=1e3 * rtol)
    np.testing.assert_allclose(
        step_ours / step_optax, np.sqrt(1 - 0.999**2) / np.sqrt(0.001), rtol=1e3 * rtol
    )


def test_adagrad_eps_outside_the_root_differs_from_optax(impl, dtype):
    """Ours (torch's) g / (sqrt(s) + eps) against optax's g / sqrt(s + eps): with s = 0.01 + 1
    and eps = 0.1 the first steps are 1/(sqrt(1.01) + 0.1) = 0.90933 and 1/sqrt(1.11) =
    0.94916: 4.2 % apart."""
    import jax.numpy as jnp
    import optax

    ours = _steps(impl, impl.ops.optim.adagrad(1.0, 0.1, 0.01), [0.0], [[1.0]], dtype)[0]
    tx = optax.adagrad(1.0, initial_accumulator_value=0.01, eps=0.1)
    x = jnp.zeros(1, dtype)
    u, _ = tx.update(jnp.ones(1, dtype), tx.init(x))
    theirs = np.asarray(optax.apply_updates(x, u), np.float64)
    rtol = 16 * float(np.finfo(dtype).eps)
    np.testing.assert_allclose(ours, -1 / (np.sqrt(1.01) + 0.1), rtol=rtol)
    np.testing.assert_allclose(theirs, -1 / np.sqrt(1.11), rtol=rtol)
    assert _relative(ours, theirs) > 0.04


def test_sgd_dampening_has_no_optax_counterpart(impl, dtype):
    """optax's trace has no dampening: with tau = 0.5, mu = 0.9 and g = 1, 1 the second steps
    are 0.9 + 0.5 = 1.4 (ours, torch's) and 0.9 + 1 = 1.9 (optax.sgd): 26 % apart."""
    import jax.numpy as jnp
    import optax

    opt = impl.ops.optim.sgd(1.0, momentum=0.9, dampening=0.5)
    ours = _steps(impl, opt, [0.0], [[1.0], [1.0]], dtype)
    tx = optax.sgd(1.0, momentum=0.9)
    x = jnp.zeros(1, dtype)
    state = tx.init(x)
    for _ in range(2):
        u, state = tx.update(jnp.ones(1, dtype), state)
        x = optax.apply_updates(x, u)
    np.testing.assert_allclose(ours[1], -(1 + 1.4), rtol=16 * float(np.finfo(dtype).eps))
    np.testing.assert_allclose(np.asarray(x), -(1 + 1.9), rtol=16 * float(np.finfo(dtype).eps))


def test_rmsprop_eps_in_sqrt_has_no_torch_counterpart(impl, dtype):
    """torch.optim.RMSprop always adds eps outside the root. eps_in_sqrt=True (optax's default)
    with alpha = 0.99, eps = 0.01, g = 1: 1/sqrt(0.01 + 0.01) = 7.0711 against torch's
    1/(sqrt(0.01) + 0.01) = 9.0909: 22 % apart."""
    import torch

    opt = impl.ops.optim.rmsprop(1.0, alpha=0.99, eps=0.01, eps_in_sqrt=True)
    ours = _steps(impl, opt, [0.0], [[1.0]], dtype)[0]
    p = torch.zeros(1, dtype=getattr(torch, dtype), requires_grad=True)
    t_opt = torch.optim.RMSprop([p], lr=1.0, alpha=0.99, eps=0.01)
    p.grad = torch.ones_like(p)
    t_opt.step()
    rtol = 16 * float(np.finfo(dtype).eps)
    np.testing.assert_allclose(ours, -1 / np.sqrt(0.02), rtol=rtol)
    np.testing.assert_allclose(p.detach().double().numpy(), -1 / 0.11, rtol=rtol)


def test_torch_step_counter_freezes_at_2_to_the_24_where_ours_counts_on(impl):
    """torch.optim.Adam keeps its step count in a float32 tensor (float64 only when the default
    dtype is float64): at 2**24 one more step leaves it at 2**24. This library's count is an
    integer: 2**24 + 1."""
    import torch

    p = torch.zeros(1, requires_grad=True)
    t_opt = torch.optim.Adam([p])
    p.grad = torch.ones(1)
    t_opt.step()
    t_opt.state[p]["step"].fill_(2.0**24)
    t_opt.step()
    assert t_opt.state[p]["step"].dtype == torch.float32
    assert float(t_opt.state[p]["step"]) == 2.0**24  # frozen

    opt = impl.ops.optim.adam(1e-3)
    x = impl.array(np.zeros(1), "float32")
    state = opt.init(x)
    state = state._replace(count=state.count + 2**24)
    _, state = opt.step(x, impl.array(np.ones(1), "float32"), state)
    assert int(state.count) == 2**24 + 1


def test_optax_centered_rmsprop_with_bias_correction_gives_nan(impl, dtype):
    """At t = 1 the corrected variance v^ - a^2 = g^2 - g^2 is 0 exactly, and rounding makes
    it negative for some g: optax takes its root and returns NaN there (among g = 0.7, 1.1, 1.3:
    at least one in float32 and in float64). This library clamps the variance at 0: every step
    is finite, lr g / (sqrt(s) + eps) with s at most a few roundings of g^2."""
    import jax.numpy as jnp
    import optax

    gs = np.array([0.7, 1.1, 1.3])
    hyper = dict(alpha=0.99, eps=1e-3, centered=True, bias_correction=True)
    ours = _steps(impl, impl.ops.optim.rmsprop(1.0, **hyper), np.zeros(3), [gs], dtype)[0]
    tx = optax.rmsprop(
        1.0, decay=0.99, eps=1e-3, eps_in_sqrt=False, centered=True, bias_correction=True
    )
    x = jnp.zeros(3, dtype)
    u, _ = tx.update(jnp.asarray(gs, dtype), tx.init(x))
    assert np.isnan(np.asarray(u)).any()
    assert np.isfinite(ours).all()
    g = gs.astype(dtype).astype(np.float64)
    root = 4 * np.sqrt(np.finfo(dtype).eps) * g  # sqrt of a few roundings of g^2
    assert np.all(-ours >= g / (1e-3 + root)) and np.all(-ours <= g / 1e-3 * (1 + 1e-5))


@pytest.mark.parametrize("rule", ["sgd", "adam"])
def test_l2_weight_decay_maps_to_optax_add_decayed_weights(impl, dtype, rule):
    """Rows "L2 weight decay": weight_decay=lam is optax.chain(add_decayed_weights(lam), ...);
    drawn problems with lam > 0 only."""
    hyper = HYPER[rule]().map(lambda h: {**_OPTAX_MAPPABLE[rule](h), "weight_decay": 0.01})

    @given(problems(rule, dtype, hyper=hyper, max_steps=3))
    def check(problem):
        ours = run(impl.ops, impl, rule, problem, dtype)
        theirs = optax_trajectory(rule, problem, dtype)
        factor = framework_factor(rule, problem.hyper, dtype)
        agrees(f"{rule} L2 on {impl.id} vs optax", dtype, ours, theirs, problem, rule, factor)

    check()
