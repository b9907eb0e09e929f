"""One call of each family's forward and backward, on drawn values, for the properties that
hold for every family alike (``test_family_sizes_and_layouts.py``): a call is a function name
of ``primitives`` and its arguments, with NumPy arrays where the backend's arrays go.

Floating arrays (float64 NumPy arrays) become arrays of the dtype under test; integer and
boolean ones (class targets, masks) the backend's exact arrays; lists of arrays (a penalty's
params) lists of arrays; anything else is passed as it is. ``rows`` of a call is the length
along which its rows are independent (not a batch norm in training, whose statistics are over
the batch), and ``summed`` whether a result that is not per row (a gradient of the weights, a
penalty) is the sum of the rows' contributions rather than the same for any rows (batch norm's
running statistics in evaluation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np


class Call(NamedTuple):
    function: str  # a name in primitives, or "optim.<rule>" (one step from init)
    args: tuple
    kwargs: dict
    rows: bool  # the leading axis of every array argument indexes independent rows
    summed: bool = False  # a result that is not per row is the sum of the rows' (else alike)


def _targets(rng, shape, n):
    return rng.integers(0, n, shape)


def _losses(rng, n: int) -> list[Call]:
    x, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 3))
    p, t = rng.uniform(0.05, 0.95, (n, 3)), rng.uniform(0, 1, (n, 3))
    w = rng.uniform(0.5, 2.0, (n, 3))
    z = rng.normal(scale=3.0, size=(n, 5))
    cls = _targets(rng, (n,), 5)
    probs = rng.dirichlet(np.ones(5), n)
    x1, x2, same = rng.normal(size=(n, 4)), rng.normal(size=(n, 4)), rng.integers(0, 2, n)
    none = {"reduction": "none"}
    ce = {"weight": rng.uniform(0.5, 2.0, 5), "label_smoothing": 0.1, **none}
    pairs = [
        ("mse_loss", (x, y), none),
        ("l1_loss", (x, y), none),
        ("huber_loss", (x, y), {"delta": 0.7, **none}),
        ("binary_cross_entropy", (p, t), {"weight": w, **none}),
        (
            "binary_cross_entropy_with_logits",
            (x, t),
            {"weight": w, "pos_weight": rng.uniform(0.5, 2.0, 3), **none},
        ),
        ("cross_entropy", (z, cls), ce),
        ("cross_entropy", (z, probs), none),
        ("nll_loss", (z - np.log(np.exp(z).sum(-1, keepdims=True)), cls), none),
        ("contrastive_loss", (x1, x2, same.astype(np.float64)), {"margin": 1.5, **none}),
    ]
    calls = []
    for name, args, kw in pairs:
        calls.append(Call(name, args, kw, True))
        g = rng.uniform(-2, 2, n)
        g = g[:, None] * np.ones(args[0].shape[1:]) if name in _ELEMENTWISE_LOSSES else g
        calls.append(Call(name + "_backward", (g, *args), kw, True))
    return calls


_ELEMENTWISE_LOSSES = {
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
}


def _layers(rng, n: int) -> list[Call]:
    c = 3
    x4 = rng.normal(loc=1.0, size=(n, c, 2, 2))
    stats = (rng.normal(size=c), rng.uniform(0.5, 2.0, c))
    affine = (rng.uniform(0.5, 2.0, c), rng.normal(size=c))
    g4 = rng.normal(size=x4.shape)
    x, g = rng.normal(loc=2.0, size=(n, 6)), rng.normal(size=(n, 6))
    ln = (rng.uniform(0.5, 2.0, 6), rng.normal(size=6))
    weight, bias = rng.normal(size=(4, 6)), rng.normal(size=4)
    return [
        Call("batch_norm", (x4, *stats, *affine), {"training": True}, False),
        Call("batch_norm", (x4, *stats, *affine), {"training": False}, True),
        Call(
            "batch_norm_backward",
            (g4, x4, affine[0]),
            {"running_mean": stats[0], "running_var": stats[1], "training": True},
            False,
        ),
        Call("layer_norm", (x, 6, *ln), {}, True),
        Call("layer_norm_backward", (g, x, 6, *ln), {}, True, summed=True),
        Call("linear", (x, weight, bias), {}, True),
        Call("linear_backward", (rng.normal(size=(n, 4)), x, weight, bias), {}, True, summed=True),
    ]


def _penalties(rng, n: int) -> list[Call]:
    params = [rng.normal(size=(n, 3)), rng.normal(size=n)]
    return [
        Call(name, args, {}, True, summed=True)
        for name, args in [
            ("l1_penalty", (params, 0.3)),
            ("l2_penalty", (params, 0.3)),
            ("l1_penalty_backward", (1.5, params, 0.3)),
            ("l2_penalty_backward", (1.5, params, 0.3)),
        ]
    ]


OPTIMIZERS: dict[str, dict] = {
    "sgd": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01},
    "heavy_ball": {"lr": 0.1, "momentum": 0.9},
    "adam": {"lr": 0.01, "weight_decay": 0.01},
    "adamw": {"lr": 0.01},
    "rmsprop": {"lr": 0.01, "centered": True, "momentum": 0.5},
    "adagrad": {"lr": 0.1},
}


def _optimizers(rng, n: int) -> list[Call]:
    params, grads = [rng.normal(size=(n, 3))], [rng.normal(size=(n, 3))]
    return [Call("optim." + name, (params, grads), kw, True) for name, kw in OPTIMIZERS.items()]


FAMILIES: dict[str, Callable[[Any, int], list[Call]]] = {
    "losses": _losses,
    "layers": _layers,
    "penalties": _penalties,
    "optimizers": _optimizers,
}


def calls(family: str, seed: int, n: int = 6) -> list[Call]:
    """The family's calls on values drawn from ``seed``, with ``n`` rows."""
    return FAMILIES[family](np.random.default_rng(seed), n)


def run(impl, call: Call, make: Callable[[np.ndarray], Any]) -> list[np.ndarray]:
    """``call`` through ``primitives`` on ``impl``'s arrays, each floating array made by
    ``make`` (a fresh array, or one in a layout): the results' arrays, in order, as float64
    NumPy arrays (an optimizer step: the new params, then every state slot)."""
    import primitives

    def place(a):
        if isinstance(a, list):
            return [place(v) for v in a]
        if isinstance(a, np.ndarray):
            return make(a) if a.dtype.kind == "f" else impl.exact(a)
        return a

    args = tuple(place(a) for a in call.args)
    kwargs = {k: place(v) for k, v in call.kwargs.items()}
    if call.function.startswith("optim."):
        opt = getattr(primitives.optim, call.function.removeprefix("optim."))(**kwargs)
        params, grads = args
        new, state = opt.step(params, grads, opt.init(params))
        out: Any = [new, state.slots]
    else:
        out = getattr(primitives, call.function)(*args, **kwargs)
    return [impl.numpy(leaf) for leaf in _leaves(out, impl.backend.array_types)]


def _leaves(out: Any, array_types: tuple[type, ...]) -> list[Any]:
    if isinstance(out, array_types):
        return [out]
    if isinstance(out, dict):
        out = list(out.values())
    if isinstance(out, tuple | list):
        return [leaf for v in out for leaf in _leaves(v, array_types)]
    return []  # None (an absent gradient), numbers
