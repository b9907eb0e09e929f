"""Optimizer updates written once over a :class:`~primitives.backend.Backend`.

Every kernel has the signature ``name(b, xs, gs, slots, count, lr, *hyperparameters)``:

* ``xs``, ``gs``: tuples of parameter and gradient arrays (one per leaf of the params tree);
* ``slots``: a tuple with one tuple of arrays per state slot (e.g. Adam's ``exp_avg``,
  ``exp_avg_sq``), each holding one array per leaf;
* ``count``: the number of steps already taken, a 0-d integer array (exact: no float drift);
* ``lr``: the learning rate of this step, a Python number or a 0-d array (a schedule's value);
* ``h``: a tuple of the real hyperparameters (Python floats; traced under jax, so changing
  them does not recompile);
* the flags (which terms exist: momentum, weight decay, Nesterov, ...): static, each choice
  one jax program.

A kernel returns ``(new_xs, new_slots)``; nothing is mutated. Low-precision leaves
(float16/bfloat16) are computed in float32 and rounded once, state included, as torch.optim
keeps its state in the parameter's dtype. On jax each kernel is jitted as a whole (all leaves
in one program).

Bias corrections ``1 - beta**t`` are computed as ``-expm1(t * log(beta))`` in the working
precision from the exact integer count: ``1 - fl(beta)**t`` in float32 would lose the
relative accuracy of ``1 - beta`` itself (1.3e-5 for beta = 0.999).
"""

from __future__ import annotations

import math

from ..backend import Array, Backend
from .specs import FunctionSpec


def _working(b: Backend, x: Array) -> Array:
    return b.xp.astype(x, b.xp.float32) if b.low_precision(x) else x


def _stored(b: Backend, value: Array, like: Array) -> Array:
    return b.xp.astype(value, like.dtype) if value.dtype != like.dtype else value


def _lr_in(b: Backend, lr, like: Array):
    """A schedule's array value in the working dtype (a Python number stays as it is)."""
    return b.xp.astype(lr, like.dtype) if hasattr(lr, "dtype") else lr


def log_decay(beta: float) -> float:
    """``log(beta)`` for the bias correction (``-inf`` for beta = 0: no correction)."""
    return math.log(beta) if beta > 0 else -math.inf


def _bias_correction(b: Backend, count: Array, log_beta, like: Array) -> Array:
    """``1 - beta**t`` for ``t = count + 1``, in ``like``'s dtype, to a few ULPs."""
    t = b.xp.astype(count + 1, like.dtype)
    return -b.xp.expm1(t * log_beta)


def _decay_factor(b: Backend, lr, weight_decay: float, like: Array):
    """``1 - lr * weight_decay``: a Python float (rounded once) when lr is a number."""
    if hasattr(lr, "dtype"):
        return 1 - _lr_in(b, lr, like) * weight_decay
    return 1.0 - lr * weight_decay


# --- the rules -------------------------------------------------------------------------------


def sgd_step(b, xs, gs, slots, count, lr, h, has_momentum, nesterov, has_decay):
    """torch.optim.SGD: g += wd x; b = g on the first step, else b = mu b + (1 - tau) g;
    d = g + mu b (Nesterov) or b; x -= lr d.  h = (mu, 1 - tau, wd)."""
    momentum, undamped, weight_decay = h
    new_xs, new_bufs = [], []
    for i, (x0, g0) in enumerate(zip(xs, gs, strict=True)):
        x, g = _working(b, x0), _working(b, g0)
        if has_decay:
            g = g + weight_decay * x
        d = g
        if has_momentum:
            buf = _working(b, slots[0][i])
            buf = b.xp.where(count == 0, g, momentum * buf + undamped * g)
            d = g + momentum * buf if nesterov else buf
            new_bufs.append(_stored(b, buf, x0))
        new_xs.append(_stored(b, x - _lr_in(b, lr, x) * d, x0))
    return tuple(new_xs), ((tuple(new_bufs),) if has_momentum else ())


def heavy_ball_step(b, xs, gs, slots, count, lr, h):
    """Polyak: x_{t+1} = x_t - lr g_t + mu (x_t - x_{t-1}), with the step v = x_t - x_{t-1}
    kept as computed: v = mu v - lr g; x += v (v = 0 before the first step).  h = (mu,)."""
    (momentum,) = h
    new_xs, new_vs = [], []
    for x0, g0, v0 in zip(xs, gs, slots[0], strict=True):
        x, g, v = _working(b, x0), _working(b, g0), _working(b, v0)
        v = momentum * v - _lr_in(b, lr, x) * g
        new_xs.append(_stored(b, x + v, x0))
        new_vs.append(_stored(b, v, x0))
    return tuple(new_xs), (tuple(new_vs),)


def rmsprop_step(
    b, xs, gs, slots, count, lr, h, centered, has_momentum, eps_in_sqrt, has_decay, corrected
):
    """torch.optim.RMSprop (plus optax's eps_in_sqrt and bias_correction):
    v = alpha v + (1 - alpha) g^2; centered: a = alpha a + (1 - alpha) g, s = v - a^2
    (clamped at 0); d = sqrt(s) + eps or sqrt(s + eps); u = g / d; momentum: buf = mu buf + u,
    u = buf; x -= lr u.  h = (alpha, 1 - alpha, log alpha, eps, mu, wd)."""
    alpha, one_minus_alpha, log_alpha, eps, momentum, weight_decay = h
    new_xs = []
    new_slots: list[list[Array]] = [[] for _ in slots]
    for i, (x0, g0) in enumerate(zip(xs, gs, strict=True)):
        x, g = _working(b, x0), _working(b, g0)
        if has_decay:
            g = g + weight_decay * x
        k = 0
        v = alpha * _working(b, slots[k][i]) + one_minus_alpha * (g * g)
        new_slots[k].append(_stored(b, v, x0))
        if corrected:
            bc = _bias_correction(b, count, log_alpha, x)
            s = v / bc
        else:
            s = v
        if centered:
            k += 1
            a = alpha * _working(b, slots[k][i]) + one_minus_alpha * g
            new_slots[k].append(_stored(b, a, x0))
            a_hat = a / bc if corrected else a
            s = b.xp.maximum(s - a_hat * a_hat, 0.0)
        d = b.xp.sqrt(s + eps) if eps_in_sqrt else b.xp.sqrt(s) + eps
        u = g / d
        if has_momentum:
            k += 1
            u = momentum * _working(b, slots[k][i]) + u
            new_slots[k].append(_stored(b, u, x0))
        new_xs.append(_stored(b, x - _lr_in(b, lr, x) * u, x0))
    return tuple(new_xs), tuple(tuple(s) for s in new_slots)


def adam_step(b, xs, gs, slots, count, lr, h, has_decay, decoupled, amsgrad, has_eps_root):
    """Kingma & Ba (2015), Algorithm 1, with torch's options: m = b1 m + (1 - b1) g,
    v = b2 v + (1 - b2) g^2, m^ = m / (1 - b1^t), v^ = v / (1 - b2^t) (amsgrad: the running
    maximum of v, then corrected), x -= lr m^ / (sqrt(v^ + eps_root) + eps). weight_decay: added
    to g (Adam, L2) or decoupled, x *= 1 - lr wd first (AdamW, Loshchilov & Hutter 2019).
    h = (b1, 1 - b1, log b1, b2, 1 - b2, log b2, eps, eps_root, wd)."""
    beta1, one_minus_b1, log_b1, beta2, one_minus_b2, log_b2, eps, eps_root, weight_decay = h
    new_xs = []
    new_slots: list[list[Array]] = [[] for _ in slots]
    for i, (x0, g0) in enumerate(zip(xs, gs, strict=True)):
        x, g = _working(b, x0), _working(b, g0)
        if has_decay and decoupled:
            x = x * _decay_factor(b, lr, weight_decay, x)
        elif has_decay:
            g = g + weight_decay * x
        m = beta1 * _working(b, slots[0][i]) + one_minus_b1 * g
        v = beta2 * _working(b, slots[1][i]) + one_minus_b2 * (g * g)
        new_slots[0].append(_stored(b, m, x0))
        new_slots[1].append(_stored(b, v, x0))
        if amsgrad:
            v = b.xp.maximum(_working(b, slots[2][i]), v)
            new_slots[2].append(_stored(b, v, x0))
        v_hat = v / _bias_correction(b, count, log_b2, x)
        m_hat = m / _bias_correction(b, count, log_b1, x)
        d = b.xp.sqrt(v_hat + eps_root) + eps if has_eps_root else b.xp.sqrt(v_hat) + eps
        new_xs.append(_stored(b, x - _lr_in(b, lr, x) * (m_hat / d), x0))
    return tuple(new_xs), tuple(tuple(s) for s in new_slots)


def adagrad_step(b, xs, gs, slots, count, lr, h):
    """Duchi, Hazan & Singer (2011), torch's form: s += g^2; x -= lr g / (sqrt(s) + eps).
    h = (eps,)."""
    (eps,) = h
    new_xs, new_sums = [], []
    for x0, g0, s0 in zip(xs, gs, slots[0], strict=True):
        x, g = _working(b, x0), _working(b, g0)
        s = _working(b, s0) + g * g
        new_sums.append(_stored(b, s, x0))
        new_xs.append(_stored(b, x - _lr_in(b, lr, x) * (g / (b.xp.sqrt(s) + eps)), x0))
    return tuple(new_xs), (tuple(new_sums),)


def _flags(n: int) -> tuple[int, ...]:
    """Static positions: the flags after (xs, gs, slots, count, lr, h)."""
    return tuple(range(6, 6 + n))


KERNELS: tuple[FunctionSpec, ...] = (
    FunctionSpec("optim_sgd", sgd_step, _flags(3)),
    FunctionSpec("optim_heavy_ball", heavy_ball_step, _flags(0)),
    FunctionSpec("optim_rmsprop", rmsprop_step, _flags(5)),
    FunctionSpec("optim_adam", adam_step, _flags(4)),
    FunctionSpec("optim_adagrad", adagrad_step, _flags(0)),
)
