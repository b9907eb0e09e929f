"""The optimizer tests' Hypothesis strategies: the hyperparameters of each update rule
(``HYPER``, whose keys are ``RULES``), the drawn problems (:func:`problems`: x0, one gradient per
step, hyperparameters and an optional halving schedule) and the dtypes the float32/float64
optimizer tests judge (``OPTIM_DTYPES``).

Shared by ``test_optim.py``, ``test_optim_errors.py``, ``test_optim_frameworks.py``,
``test_optim_laws.py``, ``test_optim_low_precision.py`` and ``test_optim_self.py``; the problem
record, references and judges the problems feed are in :mod:`properties.optim_cases`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st

from . import strategies as S
from .optim_cases import Problem

OPTIM_DTYPES = ("float32", "float64")


# --- problems --------------------------------------------------------------------------------


# |g| in [1/16, 16]: no 0/0 with eps = 0, and the L2 term wd |x| <= 0.04 cannot cancel them
GRADIENT_RANGE = (0.0625, 16.0)


def _gradient(dtype: str, magnitudes: tuple[float, float]) -> st.SearchStrategy[float]:
    """Nonzero gradients of either sign, |g| in ``magnitudes``."""
    return st.builds(
        lambda s, m: float(np.copysign(m, s)),
        st.sampled_from([1.0, -1.0]),
        S.values(dtype, *magnitudes),
    )


def learning_rates(hi: float) -> st.SearchStrategy[float]:
    """0, or from 2^-100 (a schedule's halvings stay normal in float32: XLA flushes a
    subnormal lr to 0) to ``hi``."""
    return st.just(0.0) | st.floats(2.0**-100, hi) | st.sampled_from([1e-3, hi])


def _decay(hi: float) -> st.SearchStrategy[float]:
    return st.just(0.0) | st.floats(1e-3, hi)


def _log(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(np.log10(lo), np.log10(hi)).map(lambda e: float(10.0**e))


@st.composite
def _sgd(draw) -> dict:
    momentum = draw(st.just(0.0) | st.floats(0.05, 0.99))
    nesterov = momentum > 0 and draw(st.booleans())
    dampening = 0.0 if nesterov else draw(st.just(0.0) | st.floats(0.0, 1.0))
    return dict(
        lr=draw(learning_rates(0.5)),
        momentum=momentum,
        dampening=dampening,
        nesterov=nesterov,
        weight_decay=draw(_decay(0.01)),
    )


def _heavy_ball() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {"lr": learning_rates(0.5), "momentum": st.just(0.0) | st.floats(0.05, 0.99)}
    )


def _rmsprop() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "lr": learning_rates(0.1),
            "alpha": st.floats(0.5, 0.999) | st.just(0.99),
            "eps": _log(1e-8, 1e-1) | st.just(1e-8),
            "centered": st.booleans(),
            "momentum": st.just(0.0) | st.floats(0.05, 0.9),
            "eps_in_sqrt": st.booleans(),
            "weight_decay": _decay(0.01),
            "bias_correction": st.booleans(),
        }
    )


def _adam(max_decay: float) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "lr": learning_rates(0.1),
            "betas": st.tuples(
                st.floats(0.0, 0.99) | st.just(0.9), st.floats(0.5, 0.9999) | st.just(0.999)
            ),
            "eps": st.just(0.0) | _log(1e-8, 1e-1) | st.just(1e-8),
            "eps_root": st.just(0.0) | _log(1e-8, 1e-2),
            "weight_decay": _decay(max_decay),
            "amsgrad": st.booleans(),
        }
    )


def _adagrad() -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "lr": learning_rates(1.0),
            "eps": st.just(1e-10) | st.just(0.0) | _log(1e-10, 1e-1),
            "initial_accumulator_value": st.just(0.0) | st.floats(0.0, 1.0),
        }
    )


HYPER: dict[str, Callable[[], st.SearchStrategy[dict]]] = {
    "sgd": _sgd,
    "heavy_ball": _heavy_ball,
    "rmsprop": _rmsprop,
    "adam": lambda: _adam(0.01),
    "adamw": lambda: _adam(0.1),
    "adagrad": _adagrad,
}
RULES = tuple(HYPER)


# A few shapes (elementwise rules: the shape only has to vary a little), so that jax compiles
# each kernel for a handful of shapes instead of once per example.
SHAPES = ((), (3,), (2, 2))


@st.composite
def problems(
    draw, rule: str, dtype: str, max_steps: int = 6, hyper=None, gradients=GRADIENT_RANGE
) -> Problem:
    shape = draw(st.sampled_from(SHAPES))
    steps = draw(st.integers(1, max_steps))
    x0 = draw(S.arrays(dtype, shape, S.values(dtype, -4.0, 4.0)))
    grads = tuple(draw(S.arrays(dtype, shape, _gradient(dtype, gradients))) for _ in range(steps))
    hyper = draw(hyper if hyper is not None else HYPER[rule]())
    halving = None
    if rule != "heavy_ball" and draw(st.booleans()):
        # exact in float32: torch computes 0.5**count in its default dtype, float32
        halving = float(np.float32(hyper["lr"]))
    return Problem(x0, grads, hyper, halving)
