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
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np


class Trajectory(NamedTuple):
    params: list[np.ndarray]  # after each step
    scale: list[np.ndarray]  # rounding scale of each, same shapes


def _f64(x) -> np.ndarray:
    return np.array(x, dtype=np.float64)


def _one_minus_power(beta: float, t: int) -> float:
    """1 - beta**t without the cancellation of the subtraction (0.999**2 loses 9 bits)."""
    return 1.0 if beta == 0 else -math.expm1(t * math.log(beta))


def _lrs(lr: float | Sequence[float], n: int) -> list[float]:
    return [float(lr)] * n if np.isscalar(lr) else [float(a) for a in lr]


class _Tracker:
    """Accumulates the trajectory and its rounding scale."""

    def __init__(self, x0: np.ndarray) -> None:
        self.total = np.abs(x0)
        self.params: list[np.ndarray] = []
        self.scale: list[np.ndarray] = []

    def record(self, x: np.ndarray, magnitude: np.ndarray) -> None:
        self.total = np.maximum(self.total, np.abs(x)) + magnitude
        self.params.append(x.copy())
        self.scale.append(self.total.copy())

    def result(self) -> Trajectory:
        return Trajectory(self.params, self.scale)


def sgd(x0, grads, *, lr, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0):
    x = _f64(x0)
    track = _Tracker(x)
    b = b_abs = None
    for t, (g, a) in enumerate(zip(grads, _lrs(lr, len(grads)), strict=True), start=1):
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
        track.record(x, a * d_abs)
    return track.result()


def heavy_ball(x0, grads, *, lr, momentum):
    """x_{t+1} = x_t - lr g_t + mu (x_t - x_{t-1}), with x_{-1} = x_0 (Polyak 1964), kept
    literally: the previous point is stored and the difference taken in float64."""
    x = _f64(x0)
    prev = x.copy()
    track = _Tracker(x)
    mag = np.zeros_like(x)
    for g, a in zip(grads, _lrs(lr, len(grads)), strict=True):
        g = _f64(g)
        x, prev = x - a * g + momentum * (x - prev), x
        mag = momentum * mag + a * np.abs(g)
        track.record(x, mag)
    return track.result()


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
):
    x = _f64(x0)
    track = _Tracker(x)
    v = np.zeros_like(x)
    avg = np.zeros_like(x)
    buf = np.zeros_like(x)
    buf_abs = np.zeros_like(x)
    for t, (g, a) in enumerate(zip(grads, _lrs(lr, len(grads)), strict=True), start=1):
        g = _f64(g) + weight_decay * x if weight_decay else _f64(g)
        g_abs = np.abs(g) + weight_decay * np.abs(x) if weight_decay else np.abs(g)
        v = alpha * v + (1 - alpha) * g**2
        c = _one_minus_power(alpha, t) if bias_correction else 1.0
        s, s_size = v / c, v / c
        if centered:
            avg = alpha * avg + (1 - alpha) * g
            s = np.maximum(s - (avg / c) ** 2, 0.0)  # a variance: >= 0
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
        x = x - a * u
        track.record(x, a * u_abs if a else np.zeros_like(x))
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
):
    """Adam (L2 weight decay added to g) or, with ``decoupled``, AdamW."""
    b1, b2 = betas
    x = _f64(x0)
    track = _Tracker(x)
    m = np.zeros_like(x)
    m_abs = np.zeros_like(x)
    v = np.zeros_like(x)
    v_max = np.zeros_like(x)
    for t, (g, a) in enumerate(zip(grads, _lrs(lr, len(grads)), strict=True), start=1):
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
        if amsgrad:
            v_max = np.maximum(v_max, v)
        v_hat = (v_max if amsgrad else v) / _one_minus_power(b2, t)
        d = np.sqrt(v_hat + eps_root) + eps
        step = a * (m / _one_minus_power(b1, t)) / d
        x = x - decay - step
        track.record(x, np.abs(decay) + a * (m_abs / _one_minus_power(b1, t)) / d)
    return track.result()


def adamw(x0, grads, *, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, **kw):
    return adam(
        x0, grads, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, decoupled=True, **kw
    )


def adagrad(x0, grads, *, lr, eps=1e-10, initial_accumulator_value=0.0):
    x = _f64(x0)
    track = _Tracker(x)
    s = np.full_like(x, initial_accumulator_value)
    for g, a in zip(grads, _lrs(lr, len(grads)), strict=True):
        g = _f64(g)
        s = s + g**2
        step = a * g / (np.sqrt(s) + eps)
        x = x - step
        track.record(x, np.abs(step))
    return track.result()


REFERENCES = {
    "sgd": sgd,
    "heavy_ball": heavy_ball,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
    "adagrad": adagrad,
}
