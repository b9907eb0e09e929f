"""The optimizer properties test themselves: deliberately wrong optimizers must be rejected
by the same property functions that judge the library, on fixed inputs and on
Hypothesis-drawn ones. A property that let one of these through would be too weak."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import primitives as P

from . import test_optim as T
from .implementations import resolve
from .mutants import drawn, rejects

NUMPY = resolve("numpy")


class Mutant:
    """A wrong rule on numpy arrays with the library's API: ``update(x, g, state, t)`` works in
    the params' dtype and returns the new params; ``state`` is a dict of slots."""

    def __init__(self, update, slots, **hyper):
        self.update, self.slots, self.hyper = update, slots, hyper

    def init(self, x):
        return {"t": 0, **{s: np.zeros_like(x) for s in self.slots}}

    def step(self, x, g, state):
        state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in state.items()}
        state["t"] += 1
        lr = self.hyper["lr"]
        lr = float(lr(state["t"] - 1)) if callable(lr) else lr
        with np.errstate(all="ignore"):
            new = self.update(x, g, state, lr, **{k: v for k, v in self.hyper.items() if k != "lr"})
        return np.asarray(new, x.dtype), state


def _adam_without_bias_correction(x, g, s, lr, betas, eps, eps_root, weight_decay, amsgrad):
    b1, b2 = betas
    g = g + weight_decay * x
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    return x - lr * s["m"] / (np.sqrt(s["v"] + eps_root) + eps)


def _adamw_as_adam_l2(x, g, s, lr, betas, eps, eps_root, weight_decay, amsgrad):
    b1, b2 = betas
    g = g + weight_decay * x  # "AdamW" that folds the decay into the gradient
    s["m"] = b1 * s["m"] + (1 - b1) * g
    s["v"] = b2 * s["v"] + (1 - b2) * g * g
    v = s["v"]
    if amsgrad:
        s["vmax"] = v = np.maximum(s["vmax"], v)
    t = s["t"]
    return x - lr * (s["m"] / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t) + eps_root) + eps)


def _rmsprop(average, eps_inside: bool):
    def update(
        x, g, s, lr, alpha, eps, centered, momentum, eps_in_sqrt, weight_decay, bias_correction
    ):
        g = g + weight_decay * x
        s["v"] = average(s["v"], g, alpha)
        v = s["v"] / (1 - alpha ** s["t"]) if bias_correction else s["v"]
        if centered:
            s["a"] = alpha * s["a"] + (1 - alpha) * g
            a = s["a"] / (1 - alpha ** s["t"]) if bias_correction else s["a"]
            v = np.maximum(v - a * a, 0)
        inside = eps_in_sqrt or eps_inside
        u = g / (np.sqrt(v + eps) if inside else np.sqrt(v) + eps)
        if momentum:
            s["b"] = momentum * s["b"] + u
            u = s["b"]
        return x - lr * u

    return update


def _average(v, g, alpha):
    return alpha * v + (1 - alpha) * g * g


def _seed_literal_average(v, g, alpha):
    return alpha * g + (1 - alpha) * g * g  # the seed document's m = beta g + (1 - beta) g^2


def _sgd_damped_first_step(x, g, s, lr, momentum, dampening, nesterov, weight_decay):
    g = g + weight_decay * x
    d = g
    if momentum:
        s["b"] = momentum * s["b"] + (1 - dampening) * g  # no b = g on the first step
        d = g + momentum * s["b"] if nesterov else s["b"]
    return x - lr * d


MUTANTS = {
    "adam without bias correction": (
        "adam",
        lambda **h: Mutant(_adam_without_bias_correction, ("m", "v"), **h),
    ),
    "rmsprop with eps inside the root": (
        "rmsprop",
        lambda **h: Mutant(_rmsprop(_average, True), ("v", "a", "b"), **h),
    ),
    "rmsprop with the seed's literal average": (
        "rmsprop",
        lambda **h: Mutant(_rmsprop(_seed_literal_average, False), ("v", "a", "b"), **h),
    ),
    "adamw as adam with L2": (
        "adamw",
        lambda **h: Mutant(_adamw_as_adam_l2, ("m", "v", "vmax"), **h),
    ),
    "sgd momentum dampening the first step": (
        "sgd",
        lambda **h: Mutant(_sgd_damped_first_step, ("b",), **h),
    ),
}


def ops_with(name: str) -> SimpleNamespace:
    rule, make = MUTANTS[name]
    namespace = {r: getattr(P.optim, r) for r in T.RULES}
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
    problem = T.Problem(_X0, _GRADS, FIXED[rule])
    rejects(lambda: T.trajectory_matches_reference(ops, NUMPY, rule, problem, dtype))
    drawn(
        T.problems(rule, dtype),
        lambda p: T.trajectory_matches_reference(ops, NUMPY, rule, p, dtype),
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_library_passes_the_fixed_problems(dtype):
    """The fixed problems that reject the mutants are passed by the library itself."""
    for rule, hyper in FIXED.items():
        T.trajectory_matches_reference(P, NUMPY, rule, T.Problem(_X0, _GRADS, hyper), dtype)
