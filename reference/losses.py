"""float64 closed forms of the losses and their gradients (NumPy + SciPy), written from the
definitions with no code shared with ``primitives``.

Each function mirrors the library's signature (keyword parameters, ``reduction``) and returns
float64. ``<name>_grad(grad_output, ...)`` is the vector-Jacobian product with respect to the
prediction. Where a loss is a sum of nonnegative terms it is evaluated as such (the negative
log-probability as ``(max z - z_y) + log1p(sum of the others' exp(z_j - max z))``), so small
losses keep their relative accuracy and the references can judge float64 results in relative
terms.

Sources: torch.nn.functional documentation (mse, l1, huber, cross_entropy with
ignore_index / label_smoothing / weight, nll, binary cross-entropy and its -100 clamp);
Huber (1964); Hadsell, Chopra & LeCun, "Dimensionality reduction by learning an invariant
mapping", CVPR 2006 (contrastive loss, 1/2 factor, y = 1 for dissimilar pairs).
"""

from __future__ import annotations

import numpy as np
from scipy import special


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def reduce(loss: np.ndarray, reduction: str, denominator: float | None = None):
    """``none``: the losses; ``sum``: their sum; ``mean``: the sum over ``denominator``
    (default: the number of losses)."""
    if reduction == "none":
        return loss
    total = float(np.sum(loss))
    if reduction == "sum":
        return np.float64(total)
    n = loss.size if denominator is None else denominator
    return np.float64(total / n) if n else np.float64(np.nan)


def _scale(g, reduction: str, shape, denominator: float | None = None) -> np.ndarray:
    """d(reduced)/d(loss_i) times g; a mean over nothing (every target ignored) is NaN but its
    gradient is 0, as torch's (no loss depends on the input)."""
    g = _f64(g)
    n = int(np.prod(shape)) if denominator is None else denominator
    if reduction == "mean":
        g = g / n if n else g * 0.0
    return np.broadcast_to(g, shape)


# --- mse, l1, huber --------------------------------------------------------------------------


def mse_loss(x, y, *, reduction="mean"):
    """(x - y)^2."""
    return reduce((_f64(x) - _f64(y)) ** 2, reduction)


def mse_loss_grad(g, x, y, *, reduction="mean"):
    """2 (x - y)."""
    x, y = _f64(x), _f64(y)
    return 2.0 * (x - y) * _scale(g, reduction, x.shape)


def l1_loss(x, y, *, reduction="mean"):
    """|x - y|."""
    return reduce(np.abs(_f64(x) - _f64(y)), reduction)


def l1_loss_grad(g, x, y, *, reduction="mean"):
    """sign(x - y), with sign(0) = 0 (torch)."""
    x, y = _f64(x), _f64(y)
    return np.sign(x - y) * _scale(g, reduction, x.shape)


def huber_loss(x, y, *, delta=1.0, reduction="mean"):
    """a^2 / 2 for a = |x - y| <= delta, delta (a - delta / 2) beyond (Huber 1964)."""
    a = np.abs(_f64(x) - _f64(y))
    return reduce(np.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta)), reduction)


def huber_loss_grad(g, x, y, *, delta=1.0, reduction="mean"):
    """x - y inside, delta sign(x - y) beyond."""
    x, y = _f64(x), _f64(y)
    d = x - y
    inner = np.where(np.abs(d) <= delta, d, delta * np.sign(d))
    return inner * _scale(g, reduction, x.shape)


# --- cross-entropy and nll -------------------------------------------------------------------


def neg_log_softmax(z: np.ndarray) -> np.ndarray:
    """-log softmax(z) along the last axis, as (max z - z_c) + log1p(sum_{j != k} exp(z_j -
    max z)) with k the first argmax: both terms nonnegative, so relatively accurate."""
    z = _f64(z)
    m = np.max(z, axis=-1, keepdims=True)
    k = np.argmax(z, axis=-1)[..., None]
    e = np.exp(z - m)
    np.put_along_axis(e, k, 0.0, axis=-1)
    return (m - z) + np.log1p(np.sum(e, axis=-1, keepdims=True))


def softmax(z) -> np.ndarray:
    """softmax along the last axis (SciPy)."""
    return special.softmax(_f64(z), axis=-1)


def _classes_last(z, axis):
    return np.moveaxis(_f64(z), axis, -1)


def _targets(target, n_classes, ignore_index, label_smoothing, weight):
    """(q, kept, w[y]): the weighted, smoothed target distribution of class targets, with
    q = (1 - eps) w[y] onehot(y) + eps w / C (zero rows at ignored positions)."""
    target = np.asarray(target)
    kept = target != ignore_index
    w = np.ones(n_classes) if weight is None else _f64(weight)
    safe = np.where(kept, target, 0)
    w_y = np.where(kept, w[safe], 0.0)
    onehot = np.zeros((*target.shape, n_classes))
    np.put_along_axis(onehot, safe[..., None], 1.0, axis=-1)
    eps = label_smoothing
    q = (1 - eps) * w_y[..., None] * onehot + eps * w / n_classes
    return np.where(kept[..., None], q, 0.0), kept, w_y


def cross_entropy(
    z, target, *, axis=-1, ignore_index=-100, label_smoothing=0.0, weight=None, reduction="mean"
):
    """torch's cross-entropy, classes along ``axis``: with class targets
    l_n = -sum_c q_nc log p_nc, q = (1 - eps) w[y_n] onehot(y_n) + eps w / C, 0 where
    y_n == ignore_index, mean over sum_n w[y_n] of the kept positions; with probability targets
    t, q = w (1 - eps) t + w eps / C and the mean is over positions."""
    zl = _classes_last(z, axis)
    n_classes = zl.shape[-1]
    nls = neg_log_softmax(zl)
    target = np.asarray(target)
    if target.dtype.kind == "f":
        w = np.ones(n_classes) if weight is None else _f64(weight)
        t = _classes_last(target, axis)
        q = w * ((1 - label_smoothing) * t + label_smoothing / n_classes)
        loss = np.sum(np.where(q == 0, 0.0, q * nls), axis=-1)
        return reduce(loss, reduction)
    q, _, w_y = _targets(target, n_classes, ignore_index, label_smoothing, weight)
    loss = np.sum(np.where(q == 0, 0.0, q * nls), axis=-1)
    return reduce(loss, reduction, float(np.sum(w_y)))


def _gradient_weights(g, zl, target, axis, ignore_index, label_smoothing, weight, reduction):
    """(q, c) of the cross-entropy gradient c_n (S_n p_n - q_n), classes last: the target
    weights q and grad_output spread over the positions (over the mean's denominator)."""
    n_classes = zl.shape[-1]
    if target.dtype.kind == "f":
        w = np.ones(n_classes) if weight is None else _f64(weight)
        q = w * ((1 - label_smoothing) * _classes_last(target, axis) + label_smoothing / n_classes)
        return q, _scale(g, reduction, zl.shape[:-1])
    q, _, w_y = _targets(target, n_classes, ignore_index, label_smoothing, weight)
    return q, _scale(g, reduction, zl.shape[:-1], float(np.sum(w_y)))


def _others(a: np.ndarray) -> np.ndarray:
    """sum_{j != c} a_j along the last axis for nonnegative ``a``: the total minus a_c, except
    at each row's largest entry, whose others are summed directly (1 - p_c by subtraction keeps
    only the ulps of 1 where p_c is close to 1). Elsewhere a_c <= total / 2, so the
    subtraction loses at most a factor 2 of relative accuracy."""
    total = np.sum(a, axis=-1, keepdims=True)
    top = np.argmax(a, axis=-1)[..., None]
    without = a.copy()
    np.put_along_axis(without, top, 0.0, axis=-1)
    out = total - a
    np.put_along_axis(out, top, np.sum(without, axis=-1, keepdims=True), axis=-1)
    return out


def _logit_sizes(zl: np.ndarray) -> np.ndarray:
    """max(|z_j|, |z_j - max z|): a logit's size as a shift-invariant row function sees it
    (every implementation forms z - max z first)."""
    return np.maximum(np.abs(zl), np.abs(zl - np.max(zl, axis=-1, keepdims=True)))


def cross_entropy_grad(
    g,
    z,
    target,
    *,
    axis=-1,
    ignore_index=-100,
    label_smoothing=0.0,
    weight=None,
    reduction="mean",
):
    """(sum_c q_nc) softmax(z_n) - q_n, times grad_output (over the mean's denominator),
    computed as p_c sum_{j != c} q_j - q_c sum_{j != c} p_j (no cancellation beyond the
    function's: at a confident row, 1 - p_t is the sum of the other probabilities)."""
    zl = _classes_last(z, axis)
    target = np.asarray(target)
    q, c = _gradient_weights(g, zl, target, axis, ignore_index, label_smoothing, weight, reduction)
    p = softmax(zl)
    grad = (p * _others(q) - q * _others(p)) * c[..., None]
    if target.dtype.kind != "f":
        grad = np.where((target != ignore_index)[..., None], grad, 0.0)
    return np.moveaxis(grad, -1, axis)


def cross_entropy_grad_sensitivity(
    g, z, target, *, axis=-1, ignore_index=-100, label_smoothing=0.0, weight=None, reduction="mean"
):
    """The gradient's sensitivity to its inputs, sum_j |d v_c / d a_j| |a_j| over the logits,
    the weighted smoothed target q and the factor k (``reference.mp``'s closed form, in
    float64): |k| (T p_c s_c + p_c sum_{j != c} |q_j| + (1 - p_c) |q_c|) + |v_c|, with
    s_c = (1 - p_c) |z_c| + sum_{j != c} p_j |z_j| (logits at their shifted size). Small
    where the prediction is confident and right, so a bound built on it is relative to the
    gradient itself there."""
    zl = _classes_last(z, axis)
    target = np.asarray(target)
    q, c = _gradient_weights(g, zl, target, axis, ignore_index, label_smoothing, weight, reduction)
    p, sizes = softmax(zl), _logit_sizes(zl)
    spread = _others(p) * sizes + _others(p * sizes)
    k = np.abs(c)[..., None]
    v = np.abs(p * _others(q) - q * _others(p)) * k
    total = np.abs(np.sum(q, axis=-1, keepdims=True))
    s = k * (total * p * spread + p * _others(np.abs(q)) + _others(p) * np.abs(q)) + v
    return np.moveaxis(s, -1, axis)


def cross_entropy_grad_subtracted_terms(
    g, z, target, *, axis=-1, ignore_index=-100, label_smoothing=0.0, weight=None, reduction="mean"
):
    """(T p + q) |scale|: the sizes of the two terms ``T softmax - q`` subtracts, what
    computing it by subtraction (torch's and optax's gradients) may lose to their rounding.
    Not a bound for this library (see :func:`cross_entropy_grad_sensitivity`)."""
    zl = _classes_last(z, axis)
    target = np.asarray(target)
    q, c = _gradient_weights(g, zl, target, axis, ignore_index, label_smoothing, weight, reduction)
    total = np.abs(np.sum(q, axis=-1, keepdims=True))
    terms = (total * softmax(zl) + np.abs(q)) * np.abs(c[..., None])
    return np.moveaxis(terms, -1, axis)


def nll_loss(lp, target, *, axis=-1, ignore_index=-100, weight=None, reduction="mean"):
    """-w[y_n] lp_n[y_n], 0 at ignored positions; mean over sum_n w[y_n] of the kept ones."""
    lpl = _classes_last(lp, axis)
    target = np.asarray(target)
    kept = target != ignore_index
    safe = np.where(kept, target, 0)
    w = np.ones(lpl.shape[-1]) if weight is None else _f64(weight)
    w_y = np.where(kept, w[safe], 0.0)
    picked = np.take_along_axis(lpl, safe[..., None], axis=-1)[..., 0]
    loss = np.where(kept, -w_y * picked, 0.0)
    return reduce(loss, reduction, float(np.sum(w_y)))


def nll_loss_grad(g, lp, target, *, axis=-1, ignore_index=-100, weight=None, reduction="mean"):
    """-w[y_n] at the target class of each kept position."""
    lpl = _classes_last(lp, axis)
    q, _, w_y = _targets(target, lpl.shape[-1], ignore_index, 0.0, weight)
    c = _scale(g, reduction, lpl.shape[:-1], float(np.sum(w_y)))
    return np.moveaxis(-q * c[..., None], -1, axis)


def sequence_cross_entropy(z, target, mask):
    """Mean over the real tokens (mask true) of -log softmax(z)[y]; 0 without real tokens."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.float64(0.0)
    return cross_entropy(_f64(z)[mask], np.asarray(target)[mask])


def sequence_cross_entropy_grad(g, z, target, mask):
    """(softmax - onehot) / n_real at real tokens, 0 at padded ones."""
    z = _f64(z)
    mask = np.asarray(mask, dtype=bool)
    grad = np.zeros_like(z)
    if mask.any():
        grad[mask] = cross_entropy_grad(g, z[mask], np.asarray(target)[mask])
    return grad


# --- binary cross-entropy --------------------------------------------------------------------


def _xlogy_free(c, v):
    """c * v with 0 * inf = 0."""
    with np.errstate(invalid="ignore"):
        return np.where(c == 0, 0.0, c * v)


def _element_weight(weight, shape) -> np.ndarray | float:
    """torch's per-element ``weight`` of the binary losses, broadcast to the input's shape
    (1 when absent); the mean still divides by the number of elements."""
    return 1.0 if weight is None else np.broadcast_to(_f64(weight), shape)


def binary_cross_entropy_with_logits(x, y, *, weight=None, pos_weight=None, reduction="mean"):
    """w [pw y log(1 + e^-x) + (1 - y) log(1 + e^x)] = -w [pw y log sigma(x) + (1 - y)
    log(1 - sigma(x))] (np.logaddexp(0, -+x))."""
    x, y = _f64(x), _f64(y)
    pw = 1.0 if pos_weight is None else _f64(pos_weight)
    with np.errstate(invalid="ignore"):  # a NaN logit: a NaN loss, without a warning
        lse = np.logaddexp(0.0, -x), np.logaddexp(0.0, x)
    loss = _xlogy_free(pw * y, lse[0]) + _xlogy_free(1 - y, lse[1])
    # a plain product: a zero weight does not hide a NaN loss (torch's too)
    return reduce(_element_weight(weight, x.shape) * loss, reduction)


def binary_cross_entropy_with_logits_grad(
    g, x, y, *, weight=None, pos_weight=None, reduction="mean"
):
    """w [(1 - y) sigma(x) - pw y sigma(-x)]."""
    x, y = _f64(x), _f64(y)
    pw = 1.0 if pos_weight is None else _f64(pos_weight)
    d = (1 - y) * special.expit(x) - pw * y * special.expit(-x)
    return _element_weight(weight, x.shape) * d * _scale(g, reduction, x.shape)


def binary_cross_entropy(p, y, *, weight=None, reduction="mean"):
    """-w [y max(log p, -100) + (1 - y) max(log(1 - p), -100)] (torch's clamp)."""
    p, y = _f64(p), _f64(y)
    with np.errstate(divide="ignore"):
        log_p = np.maximum(np.log(p), -100.0)
        log_q = np.maximum(np.log1p(-p), -100.0)
    return reduce(-_element_weight(weight, p.shape) * (y * log_p + (1 - y) * log_q), reduction)


def binary_cross_entropy_grad(g, p, y, *, weight=None, reduction="mean"):
    """w [-y / p + (1 - y) / (1 - p)], each term 0 where its log is clamped."""
    p, y = _f64(p), _f64(y)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        d = np.where(np.log(p) > -100, -y / p, 0.0) + np.where(
            np.log1p(-p) > -100, (1 - y) / (1 - p), 0.0
        )
    d = np.where(np.isnan(p), np.nan, d)  # a NaN probability: a NaN gradient, not a clamp's 0
    return _element_weight(weight, p.shape) * d * _scale(g, reduction, p.shape)


# --- contrastive -----------------------------------------------------------------------------


def contrastive_loss(x1, x2, y, *, margin=1.0, reduction="mean"):
    """1/2 [(1 - y) d^2 + y max(0, margin - d)^2], d = ||x1 - x2|| (np.linalg.norm), y = 1 for
    dissimilar pairs (Hadsell, Chopra & LeCun 2006)."""
    x1, x2, y = _f64(x1), _f64(x2), _f64(y)
    d = np.linalg.norm(x1 - x2, axis=-1)
    loss = 0.5 * ((1 - y) * d**2 + y * np.maximum(0.0, margin - d) ** 2)
    return reduce(loss, reduction)


def contrastive_loss_grad(g, x1, x2, y, *, margin=1.0, reduction="mean"):
    """(d/dx1, d/dx2): (1 - y)(x1 - x2) - y max(0, margin - d)(x1 - x2)/d, 0 for the second
    term at d = 0; d/dx2 = -d/dx1."""
    x1, x2, y = _f64(x1), _f64(x2), _f64(y)
    diff = x1 - x2
    d = np.linalg.norm(diff, axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pull = np.where(d > 0, np.maximum(0.0, margin - d) / d, 0.0)
    factor = ((1 - y) - y * pull) * _scale(g, reduction, d.shape)
    grad = diff * factor[..., None]
    return grad, -grad
