"""Laws of the optimizers, on every backend and dtype: lr = 0 changes nothing; momentum 0 is
plain gradient descent; heavy ball is SGD with momentum at a constant lr; Adam with eps = 0 is
invariant to scaling the gradients and its first step is lr sign(g); bias-corrected RMSprop is
Adam with beta1 = 0; L2 weight decay is SGD on the loss plus lam/2 |x|^2 (and AdamW is not Adam
with L2); every rule decreases a convex quadratic; NaN and inf propagate.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import optim as R

from .implementations import PUBLIC_API, Implementation
from .optim_cases import close_trajectory, reference, run
from .optim_strategies import HYPER, OPTIM_DTYPES, RULES, learning_rates, problems

# the family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = OPTIM_DTYPES


def _params(impl: Implementation, a, dtype: str):
    return impl.array(np.asarray(a, np.float64), dtype)


def trajectory(impl: Implementation, opt, x0, grads, dtype: str) -> list[np.ndarray]:
    x = _params(impl, x0, dtype)
    state = opt.init(x)
    out = []
    for g in grads:
        x, state = opt.step(x, _params(impl, g, dtype), state)
        out.append(impl.numpy(x))
    return out


# --- lr = 0 ----------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
def test_zero_lr_leaves_params_unchanged(impl, dtype, rule):
    """Bitwise, except that a zero may change sign (x - 0 u, as torch.optim) and that where
    the backend flushes subnormals (XLA on the CPU) a subnormal param becomes 0."""
    hyper = HYPER[rule]().map(lambda h: {**h, "lr": 0.0})

    @given(problems(rule, dtype, hyper=hyper))
    def check(problem):
        x0 = problem.x0
        if impl.flushes_subnormals:
            x0 = np.where(np.abs(x0) < np.finfo(dtype).tiny, 0.0, x0)
        for x in run(impl.ops, impl, rule, problem, dtype):
            assert np.array_equal(x, x0), f"{rule} with lr 0 moved the params: {x0} -> {x}"
            nonzero = x0 != 0
            assert np.array_equal(np.signbit(x)[nonzero], np.signbit(x0)[nonzero])

    check()


# --- equivalences ----------------------------------------------------------------------------


def test_momentum_zero_is_plain_gradient_descent(impl, dtype):
    """sgd(momentum=0) with any dampening: x_k = x_{k-1} - lr g_k."""
    hyper = st.fixed_dictionaries(
        {"lr": learning_rates(0.5), "momentum": st.just(0.0), "dampening": st.floats(0, 1)}
    )

    @given(problems("sgd", dtype, hyper=hyper))
    def check(p):
        ours = trajectory(impl, impl.ops.optim.sgd(**p.hyper), p.x0, p.grads, dtype)
        x, plain = p.x0, []
        for g in p.grads:
            x = x - p.hyper["lr"] * g
            plain.append(x)
        scale = R.sgd(p.x0, list(p.grads), lr=p.hyper["lr"]).scale
        close_trajectory("momentum 0", dtype, ours, R.Trajectory(plain, scale))

    check()


def test_heavy_ball_equals_sgd_momentum_at_constant_lr(impl, dtype):
    """Polyak's x - lr g + mu (x - x_prev) and torch's b = mu b + g, x -= lr b: the same points
    (exactly, v = -lr b); both within their rounding bands."""

    @given(problems("heavy_ball", dtype))
    def check(p):
        lr, mu = p.hyper["lr"], p.hyper["momentum"]
        a = trajectory(impl, impl.ops.optim.heavy_ball(lr, mu), p.x0, p.grads, dtype)
        b = trajectory(impl, impl.ops.optim.sgd(lr, momentum=mu), p.x0, p.grads, dtype)
        scale = R.sgd(p.x0, list(p.grads), lr=lr, momentum=mu).scale
        close_trajectory("heavy_ball vs sgd", dtype, a, R.Trajectory(b, scale), factor=2)

    check()


def _adam_eps0(dtype: str):
    return HYPER["adam"]().map(lambda h: {**h, "eps": 0.0, "eps_root": 0.0, "weight_decay": 0})


def test_adam_with_eps_zero_is_invariant_to_scaling_the_gradients(impl, dtype):
    """c = 2^k: bitwise (every moment scales exactly); any c > 0: within the rounding band."""

    @given(
        problems("adam", dtype, hyper=_adam_eps0(dtype)), st.integers(-4, 4), st.floats(0.1, 10.0)
    )
    def check(p, k, c):
        opt = impl.ops.optim.adam(**p.hyper)
        base = trajectory(impl, opt, p.x0, p.grads, dtype)
        exact = trajectory(impl, opt, p.x0, [g * 2.0**k for g in p.grads], dtype)
        assert all(np.array_equal(a, b) for a, b in zip(base, exact, strict=True)), (
            f"adam changed when the gradients were scaled by 2^{k}"
        )
        scaled = [(g * c).astype(dtype).astype(np.float64) for g in p.grads]
        other = trajectory(impl, opt, p.x0, scaled, dtype)
        ref = R.adam(p.x0, scaled, **p.hyper)
        close_trajectory(
            f"adam, gradients x {c}", dtype, other, R.Trajectory(base, ref.scale), factor=2
        )

    check()


def test_adam_first_step_is_lr_times_sign_of_g_with_eps_zero(impl, dtype):

    @given(problems("adam", dtype, hyper=_adam_eps0(dtype), max_steps=1))
    def check(p):
        (x,) = trajectory(impl, impl.ops.optim.adam(**p.hyper), p.x0, p.grads, dtype)
        expected = p.x0 - p.hyper["lr"] * np.sign(p.grads[0])
        scale = R.adam(p.x0, list(p.grads), **p.hyper).scale
        close_trajectory("adam first step", dtype, [x], R.Trajectory([expected], scale))

    check()


def test_bias_corrected_rmsprop_is_adam_with_beta1_zero(impl, dtype):
    """rmsprop(lr, alpha=b2, eps, bias_correction=True) == adam(lr, betas=(0, b2), eps)
    (no momentum, not centered, eps outside the root, same weight_decay)."""
    hyper = HYPER["rmsprop"]().map(
        lambda h: {
            **h,
            "centered": False,
            "momentum": 0.0,
            "eps_in_sqrt": False,
            "bias_correction": True,
        }
    )

    @given(problems("rmsprop", dtype, hyper=hyper))
    def check(p):
        h = p.hyper
        a = trajectory(impl, impl.ops.optim.rmsprop(**h), p.x0, p.grads, dtype)
        adam = dict(
            lr=h["lr"], betas=(0.0, h["alpha"]), eps=h["eps"], weight_decay=h["weight_decay"]
        )
        b = trajectory(impl, impl.ops.optim.adam(**adam), p.x0, p.grads, dtype)
        scale = R.adam(p.x0, list(p.grads), **adam).scale
        close_trajectory("rmsprop vs adam(b1=0)", dtype, a, R.Trajectory(b, scale), factor=2)

    check()


def test_sgd_l2_weight_decay_is_sgd_on_the_penalized_loss(impl, dtype):
    """sgd(weight_decay=lam) on g equals sgd() on the gradient of f + lam/2 |x|^2: g + lam x."""
    hyper = HYPER["sgd"]().map(lambda h: {**h, "weight_decay": 0.01})

    @given(problems("sgd", dtype, hyper=hyper))
    def check(p):
        lam = p.hyper["weight_decay"]
        a = trajectory(impl, impl.ops.optim.sgd(**p.hyper), p.x0, p.grads, dtype)
        opt = impl.ops.optim.sgd(**{**p.hyper, "weight_decay": 0.0})
        x = _params(impl, p.x0, dtype)
        state, b = opt.init(x), []
        for g in p.grads:
            x, state = opt.step(x, _params(impl, g, dtype) + lam * x, state)
            b.append(impl.numpy(x))
        scale = R.sgd(p.x0, list(p.grads), **p.hyper).scale
        close_trajectory("sgd L2 vs penalized loss", dtype, a, R.Trajectory(b, scale), 2)

    check()


def test_adamw_is_not_adam_with_l2(impl, dtype):
    """x = 1, g = 0, lr = 0.1, lam = 0.1: Adam + L2 sees g = 0.1 and steps lr sign = 0.1
    (x = 0.9); AdamW decays x by lr lam = 1 % (x = 0.99) and its Adam step is 0."""
    x0, grads = np.ones(1), [np.zeros(1)]
    adam = trajectory(impl, impl.ops.optim.adam(0.1, weight_decay=0.1), x0, grads, dtype)
    adamw = trajectory(impl, impl.ops.optim.adamw(0.1, weight_decay=0.1), x0, grads, dtype)
    for ours, ref in ((adam, R.adam), (adamw, R.adamw)):
        close_trajectory(ref.__name__, dtype, ours, ref(x0, grads, lr=0.1, weight_decay=0.1))
    np.testing.assert_allclose(adamw[0] - adam[0], 0.09, rtol=1e-6)


# --- convergence on a convex quadratic -------------------------------------------------------

# rule, constructor of (lr), the lr range, steps, the bound on f(x_N) / f(x_0)
CONVERGENCE: dict[str, tuple[Any, tuple[float, float], int, float]] = {
    "sgd": (lambda o, lr: o.sgd(lr), (0.1, 0.5), 150, 1e-6),
    "sgd momentum 0.9": (lambda o, lr: o.sgd(lr, momentum=0.9), (0.01, 0.1), 300, 1e-6),
    "sgd nesterov 0.9": (
        lambda o, lr: o.sgd(lr, momentum=0.9, nesterov=True),
        (0.01, 0.1),
        300,
        1e-6,
    ),
    "heavy_ball 0.9": (lambda o, lr: o.heavy_ball(lr, 0.9), (0.01, 0.1), 300, 1e-6),
    "rmsprop": (lambda o, lr: o.rmsprop(lr), (0.02, 0.05), 300, 1e-4),
    "adam": (lambda o, lr: o.adam(lr), (0.02, 0.05), 300, 5e-2),
    "adamw (no decay)": (lambda o, lr: o.adamw(lr, weight_decay=0.0), (0.02, 0.05), 300, 5e-2),
    "adagrad": (lambda o, lr: o.adagrad(lr), (0.5, 2.0), 300, 1e-6),
}


@pytest.mark.parametrize("name", CONVERGENCE)
def test_decreases_a_convex_quadratic(impl, dtype, name):
    """f(x) = 1/2 sum h (x - c)^2, h in [0.5, 2], the start 1 to 4 from c in each coordinate:
    f(x_N) <= bound f(x_0) for every lr in the stated range (few examples: 300 steps each)."""
    make, (lo, hi), steps, bound = CONVERGENCE[name]
    coords = st.tuples(
        st.floats(0.5, 2.0), st.floats(-2.0, 2.0), st.floats(1.0, 4.0), st.sampled_from([-1.0, 1.0])
    )

    @settings(max_examples=4)
    @given(st.floats(lo, hi), st.lists(coords, min_size=1, max_size=3))
    def check(lr, cs):
        h, c, d, s = (np.array(v) for v in zip(*cs, strict=True))
        hb, cb = _params(impl, h, dtype), _params(impl, c, dtype)
        x = _params(impl, c + s * d, dtype)
        f = lambda x: 0.5 * float(np.sum(h * (impl.numpy(x) - c) ** 2))  # noqa: E731
        f0 = f(x)
        opt = make(impl.ops.optim, lr)
        state = opt.init(x)
        for _ in range(steps):
            x, state = opt.step(x, hb * (x - cb), state)
        assert f(x) <= bound * f0, f"{name}, lr {lr}: f went from {f0} to {f(x)} in {steps}"

    check()


# --- NaN and inf -----------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES)
def test_nan_and_inf_gradients_propagate(impl, dtype, rule):
    """A NaN gradient element makes its parameter NaN; an inf one makes it NaN or -inf (sgd
    without momentum: x - lr inf), as the float64 reference computes; the other elements are
    unaffected; the poisoned element stays so at the next (finite) step."""
    hyper = HYPER[rule]().map(lambda h: {**h, "lr": 0.0625})

    @given(problems(rule, dtype, hyper=hyper, max_steps=1))
    def check(p):
        g = np.full(3, 0.5)
        g[0], g[1] = np.nan, np.inf
        p = p._replace(x0=np.zeros(3), grads=(g, np.full(3, 0.5)), halving_from=None)
        ours = run(impl.ops, impl, rule, p, dtype)
        with np.errstate(all="ignore"):
            ref = reference(rule, p)
        for a, e in zip(ours, ref.params, strict=True):
            assert np.array_equal(np.isnan(a), np.isnan(e)), f"{rule}: NaN pattern {a} vs {e}"
            infs = [np.where(np.isinf(v), np.sign(v), 0) for v in (a, e)]
            assert np.array_equal(*infs), f"{rule}: inf pattern {a} vs {e}"
            assert np.isnan(a[0]) and not np.isfinite(a[1]) and np.isfinite(a[2])

    check()
