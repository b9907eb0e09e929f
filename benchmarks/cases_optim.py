"""Benchmark rows of the optimizers (appended to :data:`benchmarks.cases.CASES`).

One direction, ``step``: one update of a single float32 parameter array of 10^5 or 4 * 10^6
elements (2^26 on a GPU) from a random gradient, with the state already initialised:

* project: ``opt.step(params, grads, state)`` of ``primitives.optim.<rule>(**params)``, called
  as a user calls it (under ``torch.no_grad()`` on torch; on jax the update kernel is jitted
  inside ``step``); the same inputs every call (the step is a pure function);
* torch: ``torch.optim.<Rule>([p], foreach=True, ...)``, ``p.grad`` set once, ``opt.step()``
  in place (the issue's target: within 1.2x of foreach);
* jax: the optax transformation with the conventions mapped (``docs/optim.md``), its
  ``update`` and ``apply_updates`` under one ``jax.jit`` (target: within 1.1x);
* numpy: the update written in place with NumPy's ``out=`` (target for the numpy backend:
  within 1.2x of it; the issue measured 34 ms for Adam on 4.2M parameters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .case import Case, Inputs

SIZES = (10**5, 4 * 10**6)
GPU_SIZES = (2**26,)


def parameters(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    """One parameter array and its gradient (no grad_output: there is no backward)."""
    p = rng.standard_normal(size, dtype=dtype)
    return Inputs((p, rng.standard_normal(size, dtype=dtype)), np.zeros((), dtype))


# --- the project ------------------------------------------------------------------------------


def _project(m: Any, backend: str, rule: str, p: Any, g: Any, params: dict) -> Callable:
    import primitives as P

    opt = getattr(P.optim, rule)(**params)
    state = opt.init(p)
    if backend != "torch":
        return lambda: opt.step(p, g, state)
    no_grad = m.torch.no_grad

    def step() -> Any:
        with no_grad():
            return opt.step(p, g, state)

    return step


# --- torch.optim, in place ----------------------------------------------------------------------

_TORCH = {
    "sgd": lambda m, ps, **k: m.torch.optim.SGD(ps, foreach=True, **k),
    "heavy_ball": lambda m, ps, **k: m.torch.optim.SGD(ps, foreach=True, **k),
    "rmsprop": lambda m, ps, **k: m.torch.optim.RMSprop(ps, foreach=True, **k),
    "adam": lambda m, ps, **k: m.torch.optim.Adam(ps, foreach=True, **k),
    "adamw": lambda m, ps, **k: m.torch.optim.AdamW(ps, foreach=True, **k),
    "adagrad": lambda m, ps, **k: m.torch.optim.Adagrad(ps, foreach=True, **k),
}


def _torch(m: Any, rule: str, p: Any, g: Any, params: dict) -> Callable:
    leaf = p.detach().clone().requires_grad_(True)
    leaf.grad = g.clone()
    opt = _TORCH[rule](m, [leaf], **params)

    def step() -> Any:
        opt.step()
        return leaf

    return step


# --- optax, jitted ------------------------------------------------------------------------------


def _optax_rule(m: Any, rule: str, params: dict) -> Any:
    o = m.optax
    if rule in ("sgd", "heavy_ball"):
        # heavy ball at constant lr is SGD momentum; torch's buffer with dampening 0 is
        # optax's trace
        return o.sgd(params["lr"], momentum=params.get("momentum") or None)
    if rule == "rmsprop":
        return o.rmsprop(params["lr"], decay=params["alpha"], eps=params["eps"])
    if rule == "adam":
        b1, b2 = params["betas"]
        return o.adam(params["lr"], b1=b1, b2=b2, eps=params["eps"])
    if rule == "adamw":
        b1, b2 = params["betas"]
        return o.adamw(
            params["lr"], b1=b1, b2=b2, eps=params["eps"], weight_decay=params["weight_decay"]
        )
    if rule == "adagrad":
        return o.adagrad(params["lr"], eps=params["eps"], initial_accumulator_value=0.0)
    raise NotImplementedError(f"no optax peer for {rule}")


def _jax(m: Any, rule: str, p: Any, g: Any, params: dict) -> Callable:
    tx = _optax_rule(m, rule, params)
    state = tx.init(p)
    optax = m.optax

    @m.jax.jit
    def step(p: Any, g: Any, state: Any) -> Any:
        updates, state = tx.update(g, state, p)
        return optax.apply_updates(p, updates), state

    return lambda: step(p, g, state)


# --- NumPy, in place ------------------------------------------------------------------------------


def _numpy(m: Any, rule: str, p: Any, g: Any, params: dict) -> Callable:
    np_ = m.np
    p = p.copy()
    lr = params["lr"]
    a = np_.zeros_like(p)
    b = np_.zeros_like(p)
    t = [0]
    if rule in ("sgd", "heavy_ball"):
        mu = params["momentum"]

        def step() -> Any:
            if t[0] == 0:
                np_.copyto(a, g)  # torch: the first step sets the buffer to the gradient
            else:
                np_.multiply(a, mu, out=a)
                np_.add(a, g, out=a)
            t[0] += 1
            np_.multiply(a, lr, out=b)
            return np_.subtract(p, b, out=p)

        return step
    if rule == "rmsprop":
        alpha, eps = params["alpha"], params["eps"]

        def step() -> Any:
            np_.multiply(a, alpha, out=a)
            np_.multiply(g, g, out=b)
            np_.multiply(b, 1 - alpha, out=b)
            np_.add(a, b, out=a)
            np_.sqrt(a, out=b)
            np_.add(b, eps, out=b)
            np_.divide(g, b, out=b)
            np_.multiply(b, lr, out=b)
            return np_.subtract(p, b, out=p)

        return step
    if rule in ("adam", "adamw"):
        (b1, b2), eps = params["betas"], params["eps"]
        decay = params.get("weight_decay", 0.0) if rule == "adamw" else 0.0
        c = np_.empty_like(p)

        def step() -> Any:
            t[0] += 1
            if decay:
                np_.multiply(p, 1 - lr * decay, out=p)
            np_.multiply(a, b1, out=a)  # m = b1 m + (1 - b1) g
            np_.multiply(g, 1 - b1, out=c)
            np_.add(a, c, out=a)
            np_.multiply(b, b2, out=b)  # v = b2 v + (1 - b2) g^2
            np_.multiply(g, g, out=c)
            np_.multiply(c, 1 - b2, out=c)
            np_.add(b, c, out=b)
            np_.sqrt(b, out=c)  # p -= lr / (1 - b1^t) m / (sqrt(v / (1 - b2^t)) + eps)
            np_.multiply(c, 1 / np.sqrt(1 - b2 ** t[0]), out=c)
            np_.add(c, eps, out=c)
            np_.divide(a, c, out=c)
            np_.multiply(c, lr / (1 - b1 ** t[0]), out=c)
            return np_.subtract(p, c, out=p)

        return step
    if rule == "adagrad":
        eps = params["eps"]

        def step() -> Any:
            np_.multiply(g, g, out=b)
            np_.add(a, b, out=a)
            np_.sqrt(a, out=b)
            np_.add(b, eps, out=b)
            np_.divide(g, b, out=b)
            np_.multiply(b, lr, out=b)
            return np_.subtract(p, b, out=p)

        return step
    raise NotImplementedError(f"no NumPy peer for {rule}")


def _calls(rule: str) -> Callable[..., dict[str, Callable]]:
    def calls(m: Any, backend: str, impl: str, data: Inputs, **params: Any) -> dict:
        p, g = data.arrays
        if impl == "project":
            return {"step": _project(m, backend, rule, p, g, params)}
        peer = {"torch": _torch, "jax": _jax, "numpy": _numpy}[backend]
        return {"step": peer(m, rule, p, g, params)}

    return calls


def _case(rule: str, **params: Any) -> Case:
    return Case(
        rule,
        params=params,
        build=parameters,
        calls=_calls(rule),
        family="optimizers",
        sizes=SIZES,
        gpu_sizes=GPU_SIZES,
        directions=("step",),
        numpy_peer="numpy",
        numpy_target=1.2,
        target_torch=1.2,
        target_jax=1.1,
    )


OPTIM_CASES: tuple[Case, ...] = (
    _case("sgd", lr=1e-2, momentum=0.9),
    _case("heavy_ball", lr=1e-2, momentum=0.9),
    _case("rmsprop", lr=1e-3, alpha=0.99, eps=1e-8),
    _case("adam", lr=1e-3, betas=(0.9, 0.999), eps=1e-8),
    _case("adamw", lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2),
    _case("adagrad", lr=1e-2, eps=1e-10),
)
