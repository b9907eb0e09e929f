"""Bad input: a clear error, the same message on every backend, raised before anything
changes (params, grads and state are left as they were)."""

from __future__ import annotations

import numpy as np
import pytest

import primitives as P

from .implementations import PUBLIC_API
from .optim_strategies import OPTIM_DTYPES

# the family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = OPTIM_DTYPES

BAD_HYPERPARAMETERS = [
    ("sgd", dict(lr=-0.1), ValueError, "sgd: lr must be a finite number >= 0, got -0.1"),
    ("sgd", dict(lr=float("nan")), ValueError, "sgd: lr must be a finite number >= 0, got nan"),
    ("sgd", dict(lr="0.1x"), TypeError, "sgd: lr must be a real number, got '0.1x'"),
    (
        "sgd",
        dict(lr=0.1, weight_decay=-1.0),
        ValueError,
        "sgd: weight_decay must be a finite number >= 0",
    ),
    ("sgd", dict(lr=0.1, momentum=-0.5), ValueError, "sgd: momentum must be a finite number >= 0"),
    (
        "sgd",
        dict(lr=0.1, nesterov=True),
        ValueError,
        "sgd: Nesterov momentum requires momentum > 0 and dampening = 0 (as torch)",
    ),
    (
        "sgd",
        dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
        ValueError,
        "sgd: Nesterov momentum requires momentum > 0 and dampening = 0",
    ),
    ("rmsprop", dict(lr=0.1, alpha=1.0), ValueError, "rmsprop: alpha must be in [0, 1), got 1.0"),
    ("rmsprop", dict(lr=0.1, alpha=-0.1), ValueError, "rmsprop: alpha must be in [0, 1)"),
    ("rmsprop", dict(lr=0.1, eps=-1e-8), ValueError, "rmsprop: eps must be a finite number >= 0"),
    ("rmsprop", dict(lr=0.1, centered=1), TypeError, "rmsprop: centered must be True or False"),
    ("adam", dict(betas=(0.9, 1.0)), ValueError, "adam: betas[1] must be in [0, 1), got 1.0"),
    ("adam", dict(betas=(-0.1, 0.9)), ValueError, "adam: betas[0] must be in [0, 1)"),
    ("adam", dict(betas=0.9), TypeError, "adam: betas must be a pair (beta1, beta2)"),
    ("adam", dict(eps=-1.0), ValueError, "adam: eps must be a finite number >= 0"),
    ("adam", dict(eps_root=-1.0), ValueError, "adam: eps_root must be a finite number >= 0"),
    (
        "adamw",
        dict(weight_decay=-0.01),
        ValueError,
        "adamw: weight_decay must be a finite number >= 0",
    ),
    ("adagrad", dict(eps=-1.0), ValueError, "adagrad: eps must be a finite number >= 0"),
    (
        "adagrad",
        dict(initial_accumulator_value=-1.0),
        ValueError,
        "adagrad: initial_accumulator_value must be a finite number >= 0",
    ),
    (
        "heavy_ball",
        dict(lr=0.1, momentum=-1.0),
        ValueError,
        "heavy_ball: momentum must be a finite number >= 0",
    ),
]


@pytest.mark.parametrize(("rule", "kwargs", "error", "message"), BAD_HYPERPARAMETERS)
def test_bad_hyperparameters_raise_at_construction(rule, kwargs, error, message):
    with pytest.raises(error, match="^" + _escape(message)):
        getattr(P.optim, rule)(**kwargs)


def _escape(s: str) -> str:
    import re

    return re.escape(s)


def _other_backend(impl):
    import jax.numpy as jnp

    return jnp if impl.backend.name != "jax" else np


def _setup(impl, dtype):
    opt = P.optim.adam(0.1)
    x = {"w": impl.array(np.ones((2, 3)), dtype), "b": impl.array(np.zeros(3), dtype)}
    g = {"w": impl.array(np.ones((2, 3)), dtype), "b": impl.array(np.ones(3), dtype)}
    state = opt.init(x)
    _, state = opt.step(x, g, state)  # a state with nonzero slots
    return opt, x, g, state


def _snapshot(impl, tree):
    leaves = []
    stack = [tree]
    while stack:
        t = stack.pop()
        if isinstance(t, dict):
            stack += [t[k] for k in sorted(t)]
        elif isinstance(t, (list, tuple)):
            stack += list(t)
        else:
            leaves.append(np.array(impl.numpy(t)))
    return leaves


def _bad_steps(impl, dtype):
    """(id, call, error, message) for each bad step."""
    opt, x, g, state = _setup(impl, dtype)
    other = "float64" if dtype == "float32" else "float32"
    xp = _other_backend(impl)
    foreign = xp.ones(3, dtype=dtype)
    return [
        (
            "grads structure",
            lambda: opt.step(x, {"w": g["w"]}, state),
            ValueError,
            "adam.step: grads has structure {'w': array} but params has {'b': array, 'w': array}",
        ),
        (
            "grads shape",
            lambda: opt.step(x, {**g, "b": impl.array(np.ones(4), dtype)}, state),
            ValueError,
            "adam.step: grads['b'] has shape (4,) but params['b'] has (3,)",
        ),
        (
            "grads dtype",
            lambda: opt.step(x, {**g, "b": impl.array(np.ones(3), other)}, state),
            TypeError,
            f"adam.step: grads['b'] has dtype {other} but params['b'] has {dtype}",
        ),
        (
            "grads backend",
            lambda: opt.step(x, {**g, "b": foreign}, state),
            TypeError,
            "adam.step: grads mix backends: grads['b'] is a",
        ),
        (
            "params backends",
            lambda: opt.step({**x, "b": foreign}, g, state),
            TypeError,
            "adam.step: params mix backends: params['b'] is a",
        ),
        (
            "not an array",
            lambda: opt.step({**x, "b": [1.0, 2.0]}, g, state),
            TypeError,
            "adam.step: params['b'][0] is a builtins.float; expected an array of a registered "
            "backend",
        ),
        (
            "other optimizer",
            lambda: P.optim.adamw(0.1).step(x, g, state),
            ValueError,
            "adamw.step: the state belongs to adam[exp_avg,exp_avg_sq], not to this "
            "adamw[exp_avg,exp_avg_sq]",
        ),
        (
            "other slots",
            lambda: P.optim.adam(0.1, amsgrad=True).step(x, g, state),
            ValueError,
            "adam.step: the state belongs to adam[exp_avg,exp_avg_sq], not to this "
            "adam[exp_avg,exp_avg_sq,max_exp_avg_sq]",
        ),
        (
            "other params",
            lambda: opt.step({"w": x["w"]}, {"w": g["w"]}, state),
            ValueError,
            "adam.step: the state was made for other params",
        ),
        (
            "not a state",
            lambda: opt.step(x, g, {"count": 0}),
            TypeError,
            "adam.step: state must be the OptState returned by init or step",
        ),
        (
            "negative scheduled lr",
            lambda: P.optim.adam(lambda c: -1.0).step(x, g, state),
            ValueError,
            "adam.step: the lr schedule returned -1.0; it must be >= 0",
        ),
    ], (x, g, state)


@pytest.mark.parametrize("case", range(11))
def test_bad_step_raises_before_anything_changes(impl, dtype, case):
    cases, (x, g, state) = _bad_steps(impl, dtype)
    name, call, error, message = cases[case]
    before = [_snapshot(impl, t) for t in (x, g, state.slots)] + [int(state.count)]
    with pytest.raises(error, match="^" + _escape(message)):
        call()
    after = [_snapshot(impl, t) for t in (x, g, state.slots)] + [int(state.count)]
    for b, a in zip(before[:3], after[:3], strict=True):
        assert all(np.array_equal(u, v) for u, v in zip(b, a, strict=True)), name
    assert before[3] == after[3]


def test_integer_params_are_refused(impl):
    x = impl.exact(np.arange(3))
    with pytest.raises(TypeError, match=r"^sgd\.init: params must have a floating dtype"):
        P.optim.sgd(0.1).init(x)
