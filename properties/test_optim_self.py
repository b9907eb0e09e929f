"""The optimizer properties test themselves: deliberately wrong optimizers must be rejected
by the same property functions that judge the library, on fixed inputs and on
Hypothesis-drawn ones. A property that let one of these through would be too weak."""

from __future__ import annotations

from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
import pytest

import primitives as P

from .implementations import resolve
from .mutants import drawn, rejects
from .optim_cases import Problem, each_step_from_the_reference_state, trajectory_matches_reference
from .optim_strategies import HYPER, RULES, problems

NUMPY = resolve("numpy")


class MutantState(NamedTuple):
    """The library's state record in miniature: a step count and the slots by their names."""

    count: np.ndarray
    slots: dict[str, np.ndarray]


class Mutant:
    """A wrong rule on numpy arrays with the library's API: ``update(x, g, slots, t, lr,
    **hyper)`` works in the params' dtype, updates ``slots`` (the library's slot names) and
    returns the new params; ``t`` counts this step."""

    def __init__(self, update, slots, **hyper):
        self.update, self.slots, self.hyper = update, slots, hyper

    def init(self, x):
        return MutantState(np.zeros((), np.int64), {s: np.zeros_like(x) for s in self.slots})

    def step(self, x, g, state):
        slots = {k: v.copy() for k, v in state.slots.items()}
        lr = self.hyper["lr"]
        lr = float(lr(state.count)) if callable(lr) else lr
        hyper = {k: v for k, v in self.hyper.items() if k != "lr"}
        with np.errstate(all="ignore"):
            new = self.update(x, g, slots, int(state.count) + 1, lr, **hyper)
        return np.asarray(new, x.dtype), MutantState(state.count + 1, slots)


def _adam_without_bias_correction(x, g, s, t, lr, betas, eps, eps_root, weight_decay, amsgrad):
    b1, b2 = betas
    g = g + weight_decay * x
    s["exp_avg"] = b1 * s["exp_avg"] + (1 - b1) * g
    s["exp_avg_sq"] = b2 * s["exp_avg_sq"] + (1 - b2) * g * g
    return x - lr * s["exp_avg"] / (np.sqrt(s["exp_avg_sq"] + eps_root) + eps)


def _adamw_as_adam_l2(x, g, s, t, lr, betas, eps, eps_root, weight_decay, amsgrad):
    b1, b2 = betas
    g = g + weight_decay * x  # "AdamW" that folds the decay into the gradient
    s["exp_avg"] = b1 * s["exp_avg"] + (1 - b1) * g
    s["exp_avg_sq"] = v = b2 * s["exp_avg_sq"] + (1 - b2) * g * g
    if amsgrad:
        s["max_exp_avg_sq"] = v = np.maximum(s["max_exp_avg_sq"], v)
    m_hat = s["exp_avg"] / (1 - b1**t)
    return x - lr * m_hat / (np.sqrt(v / (1 - b2**t) + eps_root) + eps)


def _rmsprop(average, eps_inside: bool, grad_avg_sign: float = 1.0):
    """RMSProp with ``average`` for the mean square, ε inside the root when ``eps_inside``, and
    the centered mean kept in the state times ``grad_avg_sign`` (its square is what counts)."""

    def update(
        x, g, s, t, lr, alpha, eps, centered, momentum, eps_in_sqrt, weight_decay, bias_correction
    ):
        g = g + weight_decay * x
        s["square_avg"] = average(s["square_avg"], g, alpha)
        c = (1 - alpha**t) if bias_correction else 1.0
        v = s["square_avg"] / c
        if centered:
            s["grad_avg"] = alpha * s["grad_avg"] + grad_avg_sign * (1 - alpha) * g
            a = s["grad_avg"] / c
            v = np.maximum(v - a * a, 0)
        inside = eps_in_sqrt or eps_inside
        u = g / (np.sqrt(v + eps) if inside else np.sqrt(v) + eps)
        if momentum:
            s["momentum_buffer"] = momentum * s["momentum_buffer"] + u
            u = s["momentum_buffer"]
        return x - lr * u

    return update


def _average(v, g, alpha):
    return alpha * v + (1 - alpha) * g * g


def _seed_literal_average(v, g, alpha):
    return alpha * g + (1 - alpha) * g * g  # the seed document's m = beta g + (1 - beta) g^2


def _sgd_damped_first_step(x, g, s, t, lr, momentum, dampening, nesterov, weight_decay):
    g = g + weight_decay * x
    d = g
    if momentum:
        b = momentum * s["momentum_buffer"] + (1 - dampening) * g  # no b = g on the first step
        s["momentum_buffer"] = b
        d = g + momentum * b if nesterov else b
    return x - lr * d


RMSPROP_SLOTS = ("square_avg", "grad_avg", "momentum_buffer")

MUTANTS = {
    "adam without bias correction": (
        "adam",
        lambda **h: Mutant(_adam_without_bias_correction, ("exp_avg", "exp_avg_sq"), **h),
    ),
    "rmsprop with eps inside the root": (
        "rmsprop",
        lambda **h: Mutant(_rmsprop(_average, True), RMSPROP_SLOTS, **h),
    ),
    "rmsprop with the seed's literal average": (
        "rmsprop",
        lambda **h: Mutant(_rmsprop(_seed_literal_average, False), RMSPROP_SLOTS, **h),
    ),
    "adamw as adam with L2": (
        "adamw",
        lambda **h: Mutant(_adamw_as_adam_l2, ("exp_avg", "exp_avg_sq", "max_exp_avg_sq"), **h),
    ),
    "sgd momentum dampening the first step": (
        "sgd",
        lambda **h: Mutant(_sgd_damped_first_step, ("momentum_buffer",), **h),
    ),
}


def ops_with(name: str) -> SimpleNamespace:
    rule, make = MUTANTS[name]
    namespace = {r: getattr(P.optim, r) for r in RULES}
    return SimpleNamespace(optim=SimpleNamespace(**{**namespace, rule: make}))


# fixed problems: defaults of each rule, a few steps
_X0 = np.array([1.0, -2.0, 0.5])
_GRADS = (np.array([0.5, -1.0, 2.0]), np.array([0.25, 1.0, -1.0]), np.array([1.0, 0.5, 0.5]))
FIXED = {
    "adam": dict(
        lr=0.1, betas=(0.9, 0.999), eps=1e-8, eps_root=0.0, weight_decay=0.0, amsgrad=False
    ),
    "adamw": dict(
        lr=0.1, betas=(0.9, 0.999), eps=1e-8, eps_root=0.0, weight_decay=0.1, amsgrad=False
    ),
    "rmsprop": dict(
        lr=0.01,
        alpha=0.99,
        eps=1e-2,
        centered=False,
        momentum=0.0,
        eps_in_sqrt=False,
        weight_decay=0.0,
        bias_correction=False,
    ),
    "sgd": dict(lr=0.1, momentum=0.9, dampening=0.5, nesterov=False, weight_decay=0.0),
}


@pytest.mark.parametrize("name", MUTANTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mutant_is_rejected_by_the_trajectory_property(name, dtype):
    rule = MUTANTS[name][0]
    ops = ops_with(name)
    problem = Problem(_X0, _GRADS, FIXED[rule])
    rejects(lambda: trajectory_matches_reference(ops, NUMPY, rule, problem, dtype))
    drawn(
        problems(rule, dtype),
        lambda p: trajectory_matches_reference(ops, NUMPY, rule, p, dtype),
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_library_passes_the_fixed_problems(dtype):
    """The fixed problems that reject the mutants are passed by the library itself."""
    for rule, hyper in FIXED.items():
        trajectory_matches_reference(P, NUMPY, rule, Problem(_X0, _GRADS, hyper), dtype)


@pytest.mark.parametrize("name", MUTANTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mutant_is_rejected_step_by_step(name, dtype):
    rule = MUTANTS[name][0]
    ops = ops_with(name)
    drawn(
        problems(rule, dtype),
        lambda p: each_step_from_the_reference_state(ops, NUMPY, rule, p, dtype),
    )


def _centered_with_bias_correction():
    return HYPER["rmsprop"]().map(lambda h: {**h, "centered": True, "bias_correction": True})


@pytest.mark.parametrize("name", [n for n, (rule, _) in MUTANTS.items() if rule == "rmsprop"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_rmsprop_mutants_are_rejected_centered_with_bias_correction(name, dtype):
    """Centered RMSProp with the bias correction: the first step's variance is exactly 0, so
    its rounding allows any result, and a trajectory's accumulated bound then allows any error
    after it; judged step by step from the reference's state, the later steps are judged."""
    ops = ops_with(name)
    drawn(
        problems("rmsprop", dtype, hyper=_centered_with_bias_correction()),
        lambda p: each_step_from_the_reference_state(ops, NUMPY, "rmsprop", p, dtype),
    )


STATE_MUTANTS = {
    # params right, state wrong: the centered mean kept negated (only its square is used)
    "centered rmsprop keeping -grad_avg": (
        "rmsprop",
        lambda **h: Mutant(_rmsprop(_average, False, grad_avg_sign=-1.0), RMSPROP_SLOTS, **h),
    ),
}


@pytest.mark.parametrize("name", STATE_MUTANTS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_wrong_state_is_rejected_though_the_params_are_right(name, dtype):
    rule, make = STATE_MUTANTS[name]
    namespace = {r: getattr(P.optim, r) for r in RULES}
    ops = SimpleNamespace(optim=SimpleNamespace(**{**namespace, rule: make}))
    centered = HYPER[rule]().map(lambda h: {**h, "centered": True})
    problem = Problem(_X0, _GRADS, {**FIXED[rule], "centered": True})
    trajectory_matches_reference(ops, NUMPY, rule, problem, dtype)  # the params pass
    rejects(lambda: each_step_from_the_reference_state(ops, NUMPY, rule, problem, dtype))
    drawn(
        problems(rule, dtype, hyper=centered),
        lambda p: each_step_from_the_reference_state(ops, NUMPY, rule, p, dtype),
    )
