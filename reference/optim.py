"""float64 step-by-step references for the optimizers, written from the papers (and torch.optim's
documented pseudocode for its conventions), with no code shared with ``primitives``.

Each function takes the starting point ``x0``, the sequence of gradients (one array per step,
drawn in advance: the trajectory does not feed back into them except through weight decay),
the learning rate (a number, or one number per step) and the hyperparameters, and returns a
:class:`Trajectory`: the params after each step and, beside them, ``scale``: the size of what
each result was formed from, |x| plus the sum over steps of each update computed with every
term in absolute value and multiplied by the condition number of its denominator. Rounding in
any implementation that evaluates the same formulas in working precision u is then bounded by
a few u times the number of steps times ``scale`` (see ``properties/tolerances.py``).

Sources:
* SGD, momentum and Nesterov: torch.optim.SGD's algorithm (first step b = g; dampening);
  Sutskever, Martens, Dahl & Hinton, ICML 2013 (Nesterov in the lookahead form).
* Heavy ball: Polyak, "Some methods of speeding up the convergence of iteration methods",
  1964: x_{t+1} = x_t - lr g_t + mu (x_t - x_{t-1}).
* RMSProp: Tieleman & Hinton, Coursera lecture 6e, 2012; centered: Graves 2013, eq. (38)-(41).
* Adam: Kingma & Ba, ICLR 2015, Algorithm 1; AMSGrad: Reddi, Kale & Kumar, ICLR 2018 (in
  torch's form: the maximum of the uncorrected v, then corrected); AdamW: Loshchilov & Hutter,
  ICLR 2019, Algorithm 2 (decay scaled by the learning rate, as torch and optax).
* Adagrad: Duchi, Hazan & Singer, JMLR 2011 (diagonal form, eps outside the root as torch).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

import numpy as np


class Trajectory(NamedTuple):
    params: list[np.ndarray]  # after each step
    scale: list[np.ndarray]  # rounding scale of each, same shapes
    # the state after each step, by the slot names of primitives.optim's documented state
    # (``exp_avg``, ...), and the rounding scale of each slot (its terms in absolute value)
    slots: list[dict[str, np.ndarray]] = []  # noqa: RUF012 (NamedTuple default, never mutated)
    slot_scale: list[dict[str, np.ndarray]] = []  # noqa: RUF012


def _f64(x) -> np.ndarray:
    return np.array(x, dtype=np.float64)


def _one_minus_power(beta: float, t: int) -> float:
    """1 - beta**t without the cancellation of the subtraction (0.999**2 loses 9 bits)."""
    return 1.0 if beta == 0 else -math.expm1(t * math.log(beta))


def _lrs(lr: float | Sequence[float], n: int) -> list[float]:
    return [float(lr)] * n if np.isscalar(lr) else [float(a) for a in lr]


def _slot(slots: Mapping[str, np.ndarray] | None, name: str, like: np.ndarray, start=0.0):
    """The starting value of a slot: given (``slots``, a state after ``count`` steps), else
    ``start`` everywhere (the state of ``init``)."""
    if slots is None:
        return np.full_like(like, start)
    return _f64(slots[name])


class _Tracker:
    """Accumulates the trajectory, its rounding scale and the state."""

    def __init__(self, x0: np.ndarray) -> None:
        self.total = np.abs(x0)
        self.params: list[np.ndarray] = []
        self.scale: list[np.ndarray] = []
        self.slots: list[dict[str, np.ndarray]] = []
        self.slot_scale: list[dict[str, np.ndarray]] = []

    def record(
        self,
        x: np.ndarray,
        magnitude: np.ndarray,
        slots: Mapping[str, np.ndarray] = MappingProxyType({}),
        slot_scale: Mapping[str, np.ndarray] = MappingProxyType({}),
    ) -> None:
        self.total = np.maximum(self.total, np.abs(x)) + magnitude
        self.params.append(x.copy())
        self.scale.append(self.total.copy())
        self.slots.append({k: np.array(v) for k, v in slots.items()})
        self.slot_scale.append({k: np.array(v) for k, v in slot_scale.items()})

    def result(self) -> Trajectory:
        return Trajectory(self.params, self.scale, self.slots, self.slot_scale)


def sgd(
    x0,
    grads,
    *,
    lr,
    momentum=0.0,
    dampening=0.0,
    nesterov=False,
    weight_decay=0.0,
    slots=None,
    count=0,
):
    x = _f64(x0)
    track = _Tracker(x)
    b = _slot(slots, "momentum_buffer", x) if momentum else None
    b_abs = np.abs(b) if momentum else None
    for t, (g, a) in enumerate(zip(grads, _lrs(lr, len(grads)), strict=True), start=count + 1):
        g = _f64(g) + weight_decay * x if weight_decay else _f64(g)
        g_abs = np.abs(g) + weight_decay * np.abs(x) if weight_decay else np.abs(g)
        d, d_abs = g, g_abs
        if momentum:
            if t == 1:
                b, b_abs = g.copy(), g_abs.copy()
            else:
                b = momentum * b + (1 - dampening) * g
                b_abs = momentum * b_abs + (1 - dampening) * g_abs
            d, d_abs = (g + momentum * b, g_abs + momentum * b_abs) if nesterov else (b, b_abs)
        x = x - a * d
        kept = {"momentum_buffer": (b, b_abs)} if momentum else {}
        track.record(x, a * d_abs, *_split(kept))
    return track.result()


def _split(kept: Mapping[str, tuple]) -> tuple[dict, dict]:
    """``{slot: (value, scale)}`` as the two dicts that :meth:`_Tracker.record` takes."""
    return {k: v for k, (v, _) in kept.items()}, {k: s for k, (_, s) in kept.items()}


def heavy_ball(x0, grads, *, lr, momentum, slots=None, count=0):
    """x_{t+1} = x_t - lr g_t + mu (x_t - x_{t-1}), with x_{-1} = x_0 (Polyak 1964), kept
    literally: the previous point is stored and the difference taken in float64. The state
    (``velocity``, as primitives.optim keeps it) is the last step v = x_t - x_{t-1}, by its
    own recurrence v <- mu v - lr g."""
    x = _f64(x0)
    vel = _slot(slots, "velocity", x)
    prev = x - vel
    track = _Tracker(x)
    mag = np.abs(vel)
    for g, a in zip(grads, _lrs(lr, len(grads)), strict=True):
        g = _f64(g)
        x, prev = x - a * g + momentum * (x - prev), x
        vel = momentum * vel - a * g
        mag = momentum * mag + a * np.abs(g)
        track.record(x, mag, {"velocity": vel}, {"velocity": mag})
    return track.result()


def _centered_variance(history: list[np.ndarray], alpha: float, corrected: bool) -> np.ndarray:
    """s = v/c - (a/c)^2 from the gradients themselves, as a sum of non-negative terms: with
    weights w_i = (1 - alpha) alpha^(t-i), W = sum w_i = 1 - alpha^t and mu = a / W,
    s = sum w_i (g_i - mu)^2 / c + W mu^2 (c - W) / c^2 (c - W = 0 with the bias correction,
    alpha^t without it), where the subtraction of v/c and (a/c)^2 cancels."""
    t = len(history)
    w = [(1 - alpha) * alpha ** (t - i) for i in range(1, t + 1)]
    total = _one_minus_power(alpha, t)
    mu = sum(wi * g for wi, g in zip(w, history, strict=True)) / total
    spread = sum(wi * (g - mu) ** 2 for wi, g in zip(w, history, strict=True))
    if corrected:  # c = W
        return spread / total
    return spread + total * mu**2 * alpha**t  # c = 1


def rmsprop(
    x0,
    grads,
    *,
    lr,
    alpha=0.99,
    eps=1e-8,
    centered=False,
    momentum=0.0,
    eps_in_sqrt=False,
    weight_decay=0.0,
    bias_correction=False,
    slots=None,
    count=0,
):
    """From the state of ``init`` (``slots`` None) the centered variance comes from the
    gradients themselves (:func:`_centered_variance`); from a given state, from its slots."""
    x = _f64(x0)
    track = _Tracker(x)
    v = _slot(slots, "square_avg", x)
    avg = _slot(slots, "grad_avg", x) if centered else np.zeros_like(x)
    buf = _slot(slots, "momentum_buffer", x) if momentum else np.zeros_like(x)
    v_abs, avg_abs, buf_abs = v.copy(), np.abs(avg), np.abs(buf)
    if slots is None and count:
        raise ValueError("rmsprop: a state after count > 0 steps needs its slots")
    history: list[np.ndarray] | None = [] if slots is None else None
    for t, (g, a) in enumerate(zip(grads, _lrs(lr, len(grads)), strict=True), start=count + 1):
        g = _f64(g) + weight_decay * x if weight_decay else _f64(g)
        g_abs = np.abs(g) + weight_decay * np.abs(x) if weight_decay else np.abs(g)
        v = alpha * v + (1 - alpha) * g**2
        v_abs = alpha * v_abs + (1 - alpha) * g_abs**2
        c = _one_minus_power(alpha, t) if bias_correction else 1.0
        s, s_size = v / c, v / c
        if centered:
            avg = alpha * avg + (1 - alpha) * g
            avg_abs = alpha * avg_abs + (1 - alpha) * g_abs
            if history is not None:
                history.append(g)
                s = _centered_variance(history, alpha, bias_correction)
            else:
                with np.errstate(invalid="ignore"):  # (inf - inf: a state that overflowed)
                    s = np.maximum(s - (avg / c) ** 2, 0.0)  # a variance: >= 0
            # (implementations compute s from the slots: their rounding is relative to these)
            s_size = s_size + (avg / c) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            if eps_in_sqrt:
                d = np.sqrt(s + eps)
                cond = 1 + s_size / (2 * (s + eps))
            else:
                d = np.sqrt(s) + eps
                cond = 1 + s_size / (2 * np.sqrt(s) * d)
        cond = np.where(np.isnan(cond), np.inf, cond)  # 0/0: no rounding bound
        u = g / d
        u_abs = g_abs / d * cond
        if momentum:
            buf = momentum * buf + u
            buf_abs = momentum * buf_abs + u_abs
            u, u_abs = buf, buf_abs
        with np.errstate(invalid="ignore"):  # lr 0 times an infinite update (g/0): NaN
            x = x - a * u
        kept = {"square_avg": (v, v_abs)}
        if centered:
            kept["grad_avg"] = (avg, avg_abs)
        if momentum:
            kept["momentum_buffer"] = (buf, buf_abs)
        track.record(x, a * u_abs if a else np.zeros_like(x), *_split(kept))
    return track.result()


def adam(
    x0,
    grads,
    *,
    lr,
    betas=(0.9, 0.999),
    eps=1e-8,
    eps_root=0.0,
    weight_decay=0.0,
    amsgrad=False,
    decoupled=False,
    slots=None,
    count=0,
):
    """Adam (L2 weight decay added to g) or, with ``decoupled``, AdamW."""
    b1, b2 = betas
    x = _f64(x0)
    track = _Tracker(x)
    m = _slot(slots, "exp_avg", x)
    v = _slot(slots, "exp_avg_sq", x)
    v_max = _slot(slots, "max_exp_avg_sq", x) if amsgrad else np.zeros_like(x)
    m_abs, v_abs, v_max_abs = np.abs(m), v.copy(), v_max.copy()
    for t, (g, a) in enumerate(zip(grads, _lrs(lr, len(grads)), strict=True), start=count + 1):
        g = _f64(g)
        decay = np.zeros_like(x)
        if decoupled and weight_decay:
            decay = a * weight_decay * x
        elif weight_decay:
            g = g + weight_decay * x
        g_abs = np.abs(g) + (0 if decoupled else weight_decay * np.abs(x))
        m = b1 * m + (1 - b1) * g
        m_abs = b1 * m_abs + (1 - b1) * g_abs
        v = b2 * v + (1 - b2) * g**2
        v_abs = b2 * v_abs + (1 - b2) * g_abs**2
        if amsgrad:
            v_max_abs = np.where(v_max >= v, v_max_abs, v_abs)
            v_max = np.maximum(v_max, v)
        v_hat = (v_max if amsgrad else v) / _one_minus_power(b2, t)
        d = np.sqrt(v_hat + eps_root) + eps
        step = a * (m / _one_minus_power(b1, t)) / d
        x = x - decay - step
        kept = {"exp_avg": (m, m_abs), "exp_avg_sq": (v, v_abs)}
        if amsgrad:
            kept["max_exp_avg_sq"] = (v_max, np.maximum(v_max_abs, v_abs))
        track.record(x, np.abs(decay) + a * (m_abs / _one_minus_power(b1, t)) / d, *_split(kept))
    return track.result()


def adamw(x0, grads, *, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, **kw):
    return adam(
        x0, grads, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled=True, **kw
    )


def adagrad(x0, grads, *, lr, eps=1e-10, initial_accumulator_value=0.0, slots=None, count=0):
    x = _f64(x0)
    track = _Tracker(x)
    s = _slot(slots, "sum", x, initial_accumulator_value)
    s_abs = s.copy()
    for g, a in zip(grads, _lrs(lr, len(grads)), strict=True):
        g = _f64(g)
        s = s + g**2
        s_abs = s_abs + g**2
        step = a * g / (np.sqrt(s) + eps)
        x = x - step
        track.record(x, np.abs(step), {"sum": s}, {"sum": s_abs})
    return track.result()


REFERENCES = {
    "sgd": sgd,
    "heavy_ball": heavy_ball,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
    "adagrad": adagrad,
}
