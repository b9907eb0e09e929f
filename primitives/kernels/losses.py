"""Losses and their gradients, written once over a :class:`~primitives.backend.Backend`.

Each loss is a plain kernel ``name(b, prediction, *inputs, *params)`` with a hand-written
``name_backward(b, grad_output, prediction, *inputs, *params)`` (the gradient with respect to
the prediction; both embeddings for the contrastive loss). They are registered in
:data:`primitives.kernels.FUNCTIONS`; the public, validating functions are in
:mod:`primitives.losses`, which states the conventions.

Autodiff uses the hand-written backward for the prediction (each spec names it; see
``Backend.wrap_function``). The framework's own autodiff still differentiates the forward
kernels for every other floating input (probability targets, class weights, ``pos_weight``),
for the prediction when such an input requires grad on torch, and for the contrastive loss, so
every formula here is written to have the right derivative *everywhere*, not only the right
value:

* log-softmax is ``s - log1p(sum_j exp(s_j) - 1)`` with ``s = z - max z`` (a plain
  subtraction, never a ``where`` on the maximum: the result is then an exact identity in ``z``
  for any value of the maximum, so its derivative is right even at ties), and the ``- 1`` is
  taken out of the maximum's own term with ``expm1`` (whose derivative at 0 is that of ``exp``),
  which keeps small losses accurate to a few ULPs;
* no branch a ``where`` does not select ever computes inf or NaN: its inputs are first replaced
  by harmless values with another ``where`` (autodiff multiplies the unselected branch's
  derivative by 0, and 0 * inf = NaN);
* kinks get the derivative of :mod:`primitives.losses`' documentation under both autodiffs:
  ``|d|`` is ``maximum(d, -d)`` (torch and jax split the derivative at a tie, giving 0; jax's
  ``abs`` would give 1 at 0);
* ignored rows and padded tokens are replaced by zeros before any arithmetic, so whatever they
  hold (NaN included) reaches neither the loss nor the gradient.

float16/bfloat16 predictions are computed in float32 and rounded once
(:func:`~primitives.kernels.working_precision.in_float32`).
"""

from __future__ import annotations

import math

from ..backend import Array, Backend
from .specs import FunctionSpec
from .working_precision import in_float32

# torch clamps each log of binary_cross_entropy at -100 (so one wrong, certain prediction costs
# at most 100 instead of inf).
BCE_LOG_CLAMP = -100.0


# --- shared pieces ---------------------------------------------------------------------------


def _numel(x: Array) -> int:
    return math.prod(x.shape)


def _nan_like(b: Backend, x: Array) -> Array:
    return x + float("nan")


def _reduce(b: Backend, loss: Array, reduction: str, count: int | None = None) -> Array:
    """``none``: the losses; ``sum``: their sum; ``mean``: the sum over ``count`` (default: the
    number of losses; the mean of no losses is NaN, as torch)."""
    if reduction == "none":
        return loss
    total = b.xp.sum(loss)
    if reduction == "sum":
        return _scalar(b, total)
    n = _numel(loss) if count is None else count
    return _scalar(b, total / n if n > 0 else _nan_like(b, total))


def _scalar(b: Backend, total: Array) -> Array:
    """A reduced loss as a 0-d array of the backend (NumPy's sum gives a scalar type)."""
    return b.xp.asarray(total)


def _scale(b: Backend, g: Array, reduction: str, count: int) -> Array:
    """d(reduced loss)/d(loss_i) times grad_output: g itself, or g / count for the mean."""
    if reduction == "mean":
        return g / count if count > 0 else _nan_like(b, g)
    return g


def _abs(b: Backend, d: Array) -> Array:
    # maximum(d, -d): both torch and jax split the derivative at the tie d = 0, giving 0 there
    # (the documented convention, torch's); jax's abs has derivative 1 at 0.
    return b.xp.maximum(d, -d)


def _divide(b: Backend, num: Array, den: Array) -> Array:
    """num / den where den != 0 and NaN where den == 0 (0/0: torch's mean over no targets),
    without a floating-point warning and with a finite derivative everywhere."""
    xp = b.xp
    zero = den == 0
    q = num / xp.where(zero, 1.0, den)
    return xp.where(zero, float("nan"), q)


def _along(x: Array, axis: int, ndim: int) -> Array:
    """A 1-d array shaped to broadcast along ``axis`` of an ``ndim``-d array."""
    return x[(None,) * axis + (slice(None),) + (None,) * (ndim - 1 - axis)]


def _expand(x: Array, axis: int) -> Array:
    """``x`` with a new axis of size 1 at position ``axis`` (the class axis)."""
    return x[(slice(None),) * axis + (None,)]


def _one_hot(b: Backend, target: Array, n: int, axis: int) -> Array:
    """Boolean one-hot of integer ``target`` with the class axis at ``axis``; a value outside
    [0, n) (ignore_index, padding) matches no class."""
    classes = b.xp.arange(n, dtype=None, device=getattr(target, "device", None))
    t = _expand(target, axis)
    return t == _along(classes, axis, t.ndim)


def _softmax_parts(b: Backend, z: Array, axis: int) -> tuple[Array, Array, Array, Array]:
    """``(m, s, e, rest)`` along ``axis``: ``m = max z`` and ``s = z - m`` (``m`` and
    ``rest`` with kept dims), ``e = exp(s)`` and
    ``rest = sum_j exp(s_j) - 1`` (kept dims), so that ``log softmax = s - log1p(rest)`` and
    ``softmax = e / (1 + rest)``, accurate to relative precision even where one logit
    dominates (a loss near 0).

    ``rest`` sums ``e`` off the maxima and ``s`` (= 0, with derivative 1 = exp(0)) on them,
    plus (ties - 1): the 1 is never added and subtracted, and the expression is
    differentiable by autodiff everywhere (see the module note). One ``exp`` per element.
    """
    m, s, e, rest, _, _ = _softmax_terms(b, z, axis)
    return m, s, e, rest


def _softmax_terms(b: Backend, z: Array, axis: int):
    """:func:`_softmax_parts`' ``(m, s, e, rest)`` and also ``top`` (where ``z`` is its row's
    maximum) and ``ties`` (the number of maxima less 1, kept dims)."""
    xp = b.xp
    m = xp.max(z, axis=axis, keepdims=True)
    s = z - m
    top = z == m
    e = xp.exp(s)
    ties = xp.sum(xp.astype(top, z.dtype), axis=axis, keepdims=True) - 1.0
    rest = xp.sum(xp.where(top, s, e), axis=axis, keepdims=True) + ties
    return m, s, e, rest, top, ties


def _log_softmax(b: Backend, z: Array, axis: int) -> Array:
    """log softmax along ``axis``: ``s - log1p(rest)`` (see :func:`_softmax_parts`)."""
    _, s, _, rest = _softmax_parts(b, z, axis)
    return s - b.xp.log1p(rest)


def _pick(b: Backend, a: Array, index: Array, axis: int) -> Array:
    """``a[..., index, ...]`` along ``axis``, one entry per position of ``index`` (which has
    ``a``'s shape without ``axis`` and only valid classes)."""
    picked = b.xp.take_along_axis(a, _expand(index, axis), axis)
    return b.xp.sum(picked, axis=axis)  # drops the length-1 axis


def _times(b: Backend, c: Array, v: Array) -> Array:
    """c * v, and exactly 0 where c == 0 (so 0 * inf = 0: a hard label never meets NaN); the
    product never sees the pair (0, inf) or (0, NaN), so NumPy raises no warning either, and
    the derivatives stay finite there (d/dc = v elsewhere).

    The ``where`` is on a mask that is almost always false (c == 0 with v not finite): on
    NumPy a ``where`` on the unpredictable ``c == 0`` of random labels alone costs 10x a
    multiplication.
    """
    xp = b.xp
    odd = (c == 0) & (xp.isnan(v) | (xp.abs(v) == float("inf")))
    return c * xp.where(odd, 1.0, v)


# --- mse, l1, huber --------------------------------------------------------------------------


@in_float32
def mse_loss(b: Backend, x: Array, y: Array, reduction: str) -> Array:
    d = x - y
    return _reduce(b, d * d, reduction)


@in_float32
def mse_loss_backward(b: Backend, g: Array, x: Array, y: Array, reduction: str) -> Array:
    return (2.0 * (x - y)) * _scale(b, g, reduction, _numel(x))


@in_float32
def l1_loss(b: Backend, x: Array, y: Array, reduction: str) -> Array:
    return _reduce(b, _abs(b, x - y), reduction)


@in_float32
def l1_loss_backward(b: Backend, g: Array, x: Array, y: Array, reduction: str) -> Array:
    # sign(x - y) with sign(0) = 0 (torch's l1_loss), NaN where x - y is NaN
    xp = b.xp
    d = x - y
    c = _scale(b, g, reduction, _numel(x))
    grad = xp.where(d > 0, c, xp.where(d < 0, -c, 0.0 * c))
    return xp.where(xp.isnan(d), d, grad)


@in_float32
def huber_loss(b: Backend, x: Array, y: Array, delta: float, reduction: str) -> Array:
    # q (a - q/2) with a = |x - y|, q = min(a, delta): a^2/2 inside, delta (a - delta/2) outside,
    # one branch-free formula whose autodiff is right at |x - y| = delta and at 0.
    a = _abs(b, x - y)
    q = b.xp.minimum(a, delta)
    return _reduce(b, q * (a - 0.5 * q), reduction)


@in_float32
def huber_loss_backward(
    b: Backend, g: Array, x: Array, y: Array, delta: float, reduction: str
) -> Array:
    xp = b.xp
    clipped = xp.maximum(xp.minimum(x - y, delta), -delta)
    return clipped * _scale(b, g, reduction, _numel(x))


# --- cross-entropy and nll -------------------------------------------------------------------


def _class_terms(b, z, target, axis, ignore_index, weight):
    """Shared by cross_entropy and nll_loss with class targets: (kept, the target with 0 at
    ignored positions (a valid index), w[y] with 0 at ignored positions, the weight along the
    class axis or None, the mean's denominator)."""
    xp = b.xp
    kept = target != ignore_index
    safe = xp.where(kept, target, 0)
    if weight is None:
        w_class = None
        w_target = xp.astype(kept, z.dtype)
    else:
        w_class = _along(weight, axis, z.ndim)
        w_target = xp.where(kept, weight[safe], 0.0)
    return kept, safe, w_target, w_class, xp.sum(w_target)


def _reduce_weighted(b, loss, reduction, denominator):
    if reduction == "none":
        return loss
    total = b.xp.sum(loss)
    return _scalar(b, total if reduction == "sum" else _divide(b, total, denominator))


def _row_scale(b, g, reduction, denominator, kept):
    """grad_output spread over the rows: g (none), g (sum), g / denominator (mean), with kept
    rows only (exactly 0 elsewhere, even where the mean is 0/0)."""
    c = _divide(b, g, denominator) if reduction == "mean" else g
    return b.xp.where(kept, c, 0.0)


@in_float32
def cross_entropy(
    b: Backend,
    z: Array,
    target: Array,
    axis: int,
    ignore_index: int,
    label_smoothing: float,
    weight: Array | None,
    reduction: str,
) -> Array:
    if b.is_floating(target):
        return _cross_entropy_probs(b, z, target, axis, label_smoothing, weight, reduction)
    xp = b.xp
    n_classes = z.shape[axis]
    kept, safe, w_target, w_class, denominator = _class_terms(
        b, z, target, axis, ignore_index, weight
    )
    # ignored rows are zeroed before any arithmetic (their contents, NaN included, never enter)
    zk = xp.where(_expand(kept, axis), z, 0.0)
    m, s, _, rest = _softmax_parts(b, zk, axis)
    lse = xp.log1p(rest)
    # -log p[y] = lse - s[y], with s[y] = z[y] - m gathered from the input (so that XLA need
    # not keep s for the gather: 1.7x faster on its CPU backend, the same rounded value)
    nll = xp.sum(lse, axis=axis) - (_pick(b, zk, safe, axis) - xp.sum(m, axis=axis))
    loss = _times(b, w_target, nll)
    if label_smoothing:
        # -sum_c w_c log p_c / C with log p_c = s_c - lse: two non-negative sums
        if w_class is None:
            smooth = (n_classes * xp.sum(lse, axis=axis) - xp.sum(s, axis=axis)) / n_classes
        else:
            lp = s - lse
            smooth = -xp.sum(_times(b, w_class, lp), axis=axis) / n_classes
        loss = (1.0 - label_smoothing) * loss + label_smoothing * smooth
    loss = xp.where(kept, loss, 0.0)
    return _reduce_weighted(b, loss, reduction, denominator)


def _top_parts(b: Backend, z: Array, axis: int) -> tuple[Array, Array, Array, Array, Array]:
    """``(p, r, rest, top, lone)`` along ``axis``: ``p = softmax(z)``, ``r = 1 / (1 + rest)``
    (kept dims, the probability of a largest entry), ``rest`` as in :func:`_softmax_parts`,
    ``top`` where ``z`` is its row's maximum and ``lone`` where it is the row's only one.

    At a lone maximum ``1 - p = rest / (1 + rest) = rest * r`` without cancellation: ``rest``
    is the sum of the other terms, never rounded into 1 + rest (the subtraction 1 - p loses
    everything below an ulp of 1, all of it once p > 1 - u). Elsewhere ``p <= 1/2``.
    """
    _, _, e, rest, top, ties = _softmax_terms(b, z, axis)
    r = 1.0 / (1.0 + rest)
    return e / (1.0 + rest), r, rest, top, top & (ties == 0.0)


def _complement_at(b: Backend, z: Array, index: Array, axis: int) -> tuple[Array, Array]:
    """``(1 - p[index], 1 + rest)`` per row (``index`` valid, no class axis): ``rest`` where
    ``z[index]`` is the row's maximum (``rest`` sums every other term, other maxima
    included), ``1 + rest - exp(z[index] - m)`` elsewhere (then ``exp(...) <= (1 + rest) / 2``:
    no cancellation), over ``1 + rest``. Per row only: no pass over the classes beyond
    :func:`_softmax_parts`'."""
    xp = b.xp
    m, _, e, rest = _softmax_parts(b, z, axis)
    m, rest = xp.sum(m, axis=axis), xp.sum(rest, axis=axis)  # drop the kept axis
    z_t = _pick(b, z, index, axis)
    at_max = z_t == m
    e_t = xp.exp(xp.where(at_max, 0.0, z_t - m))
    total = 1.0 + rest
    return xp.where(at_max, rest, total - e_t) / total, e, total


@in_float32
def cross_entropy_backward(
    b: Backend,
    g: Array,
    z: Array,
    target: Array,
    axis: int,
    ignore_index: int,
    label_smoothing: float,
    weight: Array | None,
    reduction: str,
) -> Array:
    """``c_n (T_n p_n - q_n)`` per row n, with ``q_nc = (1 - eps) w[y_n] [c = y_n] + eps w_c / C``
    the weighted, smoothed target, ``T_n = sum_c q_nc`` and ``c_n`` grad_output spread over
    the rows: softmax minus one-hot when unweighted and unsmoothed.

    Computed without cancellation (the gradient is accurate to the function, not to a
    formula): ``T p_c - q_c = p_c (T - q_c) - q_c (1 - p_c)``, two non-negative terms, with
    ``1 - p_c`` from :func:`_top_parts` / :func:`_complement_at` and ``T - q_c`` the sum of the
    other classes' targets. Where ``p_c <= 1/2`` the plain ``T p_c - q_c`` is as accurate (its
    terms are at most twice those), so only one column per row needs the care: the target
    (no smoothing: ``q`` is 0 elsewhere) or the row's largest logit (smoothing).
    """
    if b.is_floating(target):
        return _cross_entropy_probs_backward(
            b, g, z, target, axis, label_smoothing, weight, reduction
        )
    xp = b.xp
    n_classes = z.shape[axis]
    kept, safe, w_target, w_class, denominator = _class_terms(
        b, z, target, axis, ignore_index, weight
    )
    kept_e = _expand(kept, axis)
    hot = _one_hot(b, target, n_classes, axis)
    zk = xp.where(kept_e, z, 0.0)
    eps = label_smoothing
    c = _row_scale(b, g, reduction, denominator, kept)
    a = (1.0 - eps) * w_target  # the one-hot part of q at the target
    if not eps:
        # T = a, q = a one-hot: a p off the target, -a (1 - p_t) at it
        comp_t, e, total = _complement_at(b, zk, safe, axis)
        p = e / _expand(total, axis)
        grad = xp.where(hot, _expand(-(a * comp_t), axis), _expand(a, axis) * p)
        return xp.where(kept_e, grad * _expand(c, axis), 0.0)
    p, r, rest, _, lone = _top_parts(b, zk, axis)
    if w_class is None:
        spread = eps / n_classes  # q off the one-hot part, the same in every class
        off = spread * (n_classes - 1)  # the other classes' share of it at any class
        spread_top = spread
    else:
        spread = (eps / n_classes) * w_class
        off = xp.sum(xp.where(lone, 0.0, spread), axis=axis, keepdims=True)
        spread_top = xp.sum(xp.where(lone, spread, 0.0), axis=axis, keepdims=True)
    a_e = _expand(a, axis)
    total = a_e + (eps * (1.0 if weight is None else xp.sum(weight) / n_classes))
    q = xp.where(hot, a_e, 0.0) + spread
    # at a lone maximum: p (T - q) - q (1 - p), T - q = a [target elsewhere] + off
    a_top = xp.where(hot, 0.0, a_e)  # the target's part of T - q at the maximum
    q_top = xp.where(hot, a_e, 0.0) + spread_top
    at_top = r * (a_top + off) - q_top * (rest * r)
    grad = xp.where(lone, at_top, total * p - q)
    return xp.where(kept_e, grad * _expand(c, axis), 0.0)


def _smoothed(target: Array, label_smoothing: float, n_classes: int) -> Array:
    if not label_smoothing:
        return target
    return (1.0 - label_smoothing) * target + label_smoothing / n_classes


def _cross_entropy_probs(b, z, t, axis, label_smoothing, weight, reduction):
    # loss_n = -sum_c w_c t'_nc log p_nc, t' = (1 - eps) t + eps / C; the mean is over rows (as
    # torch: neither ignore_index nor the weights enter the denominator). A class with t' = 0
    # contributes 0 even where log p = -inf.
    xp = b.xp
    q = _smoothed(t, label_smoothing, z.shape[axis])
    if weight is not None:
        q = q * _along(weight, axis, z.ndim)
    loss = -xp.sum(_times(b, q, _log_softmax(b, z, axis)), axis=axis)
    return _reduce(b, loss, reduction)


def _cross_entropy_probs_backward(b, g, z, t, axis, label_smoothing, weight, reduction):
    # c (T p - q), T = sum_c q_c; at a row's lone maximum p (T - q) - q (1 - p) with T - q
    # summed from the other classes (see cross_entropy_backward): one more pass over the row
    xp = b.xp
    q = _smoothed(t, label_smoothing, z.shape[axis])
    if weight is not None:
        q = q * _along(weight, axis, z.ndim)
    p, r, rest, _, lone = _top_parts(b, z, axis)
    total = xp.sum(q, axis=axis, keepdims=True)
    others = xp.sum(xp.where(lone, 0.0, q), axis=axis, keepdims=True)
    at_top = r * others - q * (rest * r)
    rows = _numel(z) // z.shape[axis] if z.shape[axis] else 0
    c = _scale(b, g, reduction, rows)
    if reduction == "none":
        c = _expand(c, axis)
    return xp.where(lone, at_top, total * p - q) * c


@in_float32
def nll_loss(
    b: Backend,
    lp: Array,
    target: Array,
    axis: int,
    ignore_index: int,
    weight: Array | None,
    reduction: str,
) -> Array:
    # -w[y] lp[y], gathered at the target (log-probabilities of other classes, even -inf or
    # NaN, never enter); the mean divides by the sum of w[y] over kept targets (torch).
    xp = b.xp
    kept, safe, w_target, _, denominator = _class_terms(b, lp, target, axis, ignore_index, weight)
    picked = xp.where(kept, _pick(b, lp, safe, axis), 0.0)
    loss = xp.where(kept, -_times(b, w_target, picked), 0.0)
    return _reduce_weighted(b, loss, reduction, denominator)


@in_float32
def nll_loss_backward(
    b: Backend,
    g: Array,
    lp: Array,
    target: Array,
    axis: int,
    ignore_index: int,
    weight: Array | None,
    reduction: str,
) -> Array:
    xp = b.xp
    kept, _, w_target, _, denominator = _class_terms(b, lp, target, axis, ignore_index, weight)
    c = _row_scale(b, g, reduction, denominator, kept)
    hot = _one_hot(b, target, lp.shape[axis], axis)
    return xp.where(hot & _expand(kept, axis), _expand(-(w_target * c), axis), 0.0)


# --- sequence cross-entropy ------------------------------------------------------------------


def _sequence_terms(b, z, target, mask):
    """(-log p[y] per token, e, rest) of the logits with padded positions zeroed (their
    contents never reach arithmetic; see :func:`_softmax_parts`), and max(number of real
    tokens, 1)."""
    xp = b.xp
    zm = xp.where(_expand(mask, 2), z, 0.0)
    m, _, e, rest = _softmax_parts(b, zm, 2)
    count = xp.sum(xp.astype(mask, z.dtype))
    # -log p[y] = log1p(rest) - (z[y] - m), gathered from the input as in cross_entropy
    nll = xp.sum(xp.log1p(rest), axis=2) - (_pick(b, zm, xp.where(mask, target, 0), 2) - m[..., 0])
    return nll, e, rest, xp.maximum(count, 1.0)


@in_float32
def sequence_cross_entropy(b: Backend, z: Array, target: Array, mask: Array) -> Array:
    # sum over real tokens of -log p[y] / max(number of real tokens, 1): no real token gives 0.
    xp = b.xp
    nll, _, _, count = _sequence_terms(b, z, target, mask)
    return _scalar(b, xp.sum(xp.where(mask, nll, 0.0)) / count)


@in_float32
def sequence_cross_entropy_backward(
    b: Backend, g: Array, z: Array, target: Array, mask: Array
) -> Array:
    # (softmax - one-hot) g / count, with 1 - p[y] at the target computed without cancellation
    # (see cross_entropy_backward)
    xp = b.xp
    real = _expand(mask, 2)
    zm = xp.where(real, z, 0.0)
    comp_t, e, total = _complement_at(b, zm, xp.where(mask, target, 0), 2)
    count = xp.maximum(xp.sum(xp.astype(mask, z.dtype)), 1.0)
    hot = _one_hot(b, target, z.shape[2], 2)
    grad = xp.where(hot, _expand(-comp_t, 2), e / _expand(total, 2)) * (g / count)
    return xp.where(real, grad, 0.0)


# --- binary cross-entropy --------------------------------------------------------------------


def _softplus_pair(b: Backend, x: Array) -> tuple[Array, Array]:
    """(softplus(x), softplus(-x)) = (-log sigma(-x), -log sigma(x)), overflow-free and with
    derivatives (sigma(x), -sigma(-x)) under autodiff at every x, 0 included.

    For x > 0: x + log1p(exp(-x)) and log1p(exp(-x)); otherwise log1p(exp(x)) and
    -x + log1p(exp(x)). Each branch sees only the inputs it is valid for (``max(x, 0)``,
    ``min(x, 0)``: finite values wherever it is not chosen), and the branch is chosen by the
    0/1 mask m = [x > 0] as ``m a + (1 - m) b``: exact, and autodiff gets the chosen branch's
    derivative exactly (the other's times 0), with no ``where`` on the sign of x (on NumPy,
    10x a multiplication on random signs). A NaN x gives NaN through ``max(x, 0)``.
    """
    xp = b.xp
    m = xp.astype(x > 0, x.dtype)
    keep = 1.0 - m
    xpos, xneg = xp.maximum(x, 0.0), xp.minimum(x, 0.0)
    tail_pos = xp.log1p(xp.exp(-xpos))
    tail_neg = xp.log1p(xp.exp(xneg))
    return m * (xpos + tail_pos) + keep * tail_neg, m * tail_pos + keep * (tail_neg - xneg)


def _sigmoid_pair(b: Backend, x: Array) -> tuple[Array, Array]:
    """(sigma(x), sigma(-x)) from e = exp(-|x|): no overflow, no cancellation.

    With r = 1/(1 + e) and er = e r (both finite, in [0, 1]), sigma(x) is r for x >= 0 and er
    below; the choice is ``m er + (1 - m) r`` with the 0/1 mask m = [x < 0], exact for
    finite values (a NaN x gives NaN through e), not a ``where`` on the sign of x (on NumPy,
    10x a multiplication on random signs).
    """
    xp = b.xp
    e = xp.exp(-xp.abs(x))
    r = 1.0 / (1.0 + e)
    er = e * r
    m = xp.astype(x < 0, x.dtype)
    keep = 1.0 - m
    return m * er + keep * r, m * r + keep * er


def _weighted(loss: Array, weight: Array | None) -> Array:
    """torch's per-element ``weight`` of the binary losses: the loss (or its gradient) times
    ``weight``, which broadcasts to it; the mean still divides by the number of elements."""
    return loss if weight is None else loss * weight


@in_float32
def binary_cross_entropy_with_logits(
    b: Backend,
    x: Array,
    y: Array,
    weight: Array | None,
    pos_weight: Array | None,
    reduction: str,
) -> Array:
    # (1 - y) softplus(x) + pos_weight y softplus(-x): for y in [0, 1] two nonnegative terms
    # (no cancellation); equal to softplus(x) - x y when pos_weight is 1.
    sp_x, sp_minus_x = _softplus_pair(b, x)
    wy = y if pos_weight is None else pos_weight * y
    loss = _times(b, 1.0 - y, sp_x) + _times(b, wy, sp_minus_x)
    return _reduce(b, _weighted(loss, weight), reduction)


@in_float32
def binary_cross_entropy_with_logits_backward(
    b: Backend,
    g: Array,
    x: Array,
    y: Array,
    weight: Array | None,
    pos_weight: Array | None,
    reduction: str,
) -> Array:
    # (1 - y) sigma(x) - pos_weight y sigma(-x)  (= sigma(x) - y when pos_weight is 1)
    s_x, s_minus_x = _sigmoid_pair(b, x)
    wy = y if pos_weight is None else pos_weight * y
    grad = ((1.0 - y) * s_x - wy * s_minus_x) * _scale(b, g, reduction, _numel(x))
    return _weighted(grad, weight)


def _clamped_logs(b: Backend, p: Array):
    """(max(log p, -100), max(log(1 - p), -100)) and where each is not clamped; log(0) is never
    computed (its branch gets a harmless 1 or 0 instead)."""
    xp = b.xp
    some = p > 0
    log_p = xp.log(xp.where(some, p, 1.0))
    log_p_ok = some & (log_p > BCE_LOG_CLAMP)
    left = p < 1
    # log(1 - p): log1p(-p) for small p; log(1 - p) from p = 1/4 on, where it is as accurate
    # (|log(1 - p)| > 0.28) and XLA's float64 log1p is not (up to 115 ULP off on (-0.5, -0.3]).
    q = xp.where(left, p, 0.0)
    small = q < 0.25
    log_q = xp.where(small, xp.log1p(-xp.where(small, q, 0.0)), xp.log(1.0 - q))
    log_q_ok = left & (log_q > BCE_LOG_CLAMP)
    return (
        xp.where(log_p_ok, log_p, BCE_LOG_CLAMP),
        xp.where(log_q_ok, log_q, BCE_LOG_CLAMP),
        log_p_ok,
        log_q_ok,
    )


@in_float32
def binary_cross_entropy(
    b: Backend, p: Array, y: Array, weight: Array | None, reduction: str
) -> Array:
    log_p, log_q, _, _ = _clamped_logs(b, p)
    loss = -(y * log_p + (1.0 - y) * log_q)
    return _reduce(b, _weighted(b.xp.where(b.xp.isnan(p), p, loss), weight), reduction)


@in_float32
def binary_cross_entropy_backward(
    b: Backend, g: Array, p: Array, y: Array, weight: Array | None, reduction: str
) -> Array:
    # the derivative of the clamped loss: -y/p where log p > -100, (1-y)/(1-p) where
    # log(1-p) > -100, 0 where clamped (torch's backward is (p - y) / max(p (1 - p), 1e-12)).
    # ((y/p) c) w, with c the grad_output's scale and w the weight, in the order of the loss's
    # own formula (no intermediate smaller than the result: XLA flushes subnormals). Where y/p
    # overflows (float32, p < 2.9e-39, while log p is above -100 down to 3.7e-44) and the
    # result is not finite, the product first, over p L with L = 2^126 = 1/tiny (powers of 2:
    # exact), the small factor lifted by L so that no intermediate underflows: ((y L c) w) while
    # |y c| < 4, else ((y c)(w L)) (a subnormal weight times the mean's 1/n or times a loss
    # scale keeps its digits; a zero c w gives 0, not inf * 0 = NaN). (In float64 y/p
    # overflows only below p = 5.6e-309, where log p < -100 and the term is clamped: L = 1.)
    xp = b.xp
    _, _, log_p_ok, log_q_ok = _clamped_logs(b, p)
    c = _scale(b, g, reduction, _numel(p))

    def finite(v: Array) -> Array:
        return xp.abs(v) < float("inf")

    def scaled(num: Array, den: Array, lift: float = 1.0) -> Array:
        q = _weighted((num / den) * c, weight)
        if lift == 1.0:
            return xp.where(finite(q), q, _weighted(num * c, weight) / den)
        by_y = _weighted((num * lift) * c, weight) / (den * lift)
        if weight is None:  # |y c| >= 4: (y c)/p
            return xp.where(finite(q), q, xp.where(finite(by_y), by_y, (num * c) / den))
        by_weight = (num * c) * (weight * lift) / (den * lift)
        return xp.where(finite(q), q, xp.where(finite(by_y), by_y, by_weight))

    lift = 2.0**126 if p.dtype == xp.float32 else 1.0
    d_p = xp.where(log_p_ok, -scaled(y, xp.where(log_p_ok, p, 1.0), lift), 0.0)
    d_q = xp.where(log_q_ok, scaled(1.0 - y, 1.0 - xp.where(log_q_ok, p, 0.0)), 0.0)
    return xp.where(xp.isnan(p), p, d_p + d_q)


# --- contrastive loss ------------------------------------------------------------------------


def _distance_terms(b, x1, x2, y, margin):
    xp = b.xp
    diff = x1 - x2
    d2 = xp.sum(diff * diff, axis=-1)
    apart = d2 > 0
    # sqrt's derivative is never taken at 0; 0 * d2 keeps a NaN distance NaN (a NaN input
    # must not become the hinge's finite margin^2 / 2)
    d = xp.where(apart, xp.sqrt(xp.where(apart, d2, 1.0)), 0.0 * d2)
    dissimilar = y != 0
    hinge = xp.maximum(margin - d, 0.0)
    return diff, d2, d, apart, dissimilar, hinge


@in_float32
def contrastive_loss(
    b: Backend, x1: Array, x2: Array, y: Array, margin: float, reduction: str
) -> Array:
    # 1/2 [(1 - y) d^2 + y max(0, margin - d)^2], y = 0 similar, 1 dissimilar (Hadsell et al.)
    _, d2, _, _, dissimilar, hinge = _distance_terms(b, x1, x2, y, margin)
    loss = 0.5 * b.xp.where(dissimilar, hinge * hinge, d2)
    return _reduce(b, loss, reduction)


@in_float32
def contrastive_loss_backward(
    b: Backend, g: Array, x1: Array, x2: Array, y: Array, margin: float, reduction: str
) -> tuple[Array, Array]:
    # d/dx1: (x1 - x2) for similar pairs, -max(0, margin - d) (x1 - x2)/d for dissimilar ones,
    # 0 at d = 0 (the minimum-norm subgradient); d/dx2 = -d/dx1.
    xp = b.xp
    diff, _, d, apart, dissimilar, hinge = _distance_terms(b, x1, x2, y, margin)
    pull = xp.where(apart, -hinge / xp.where(apart, d, 1.0), 0.0)
    factor = xp.where(dissimilar, pull, 1.0) * _scale(b, g, reduction, _numel(d))
    grad = diff * factor[..., None]
    return grad, -grad


KERNELS: tuple[FunctionSpec, ...] = (
    FunctionSpec("mse_loss", mse_loss, (2,), "mse_loss_backward"),
    FunctionSpec("mse_loss_backward", mse_loss_backward, (3,)),
    FunctionSpec("l1_loss", l1_loss, (2,), "l1_loss_backward"),
    FunctionSpec("l1_loss_backward", l1_loss_backward, (3,)),
    FunctionSpec("huber_loss", huber_loss, (2, 3), "huber_loss_backward"),
    FunctionSpec("huber_loss_backward", huber_loss_backward, (3, 4)),
    FunctionSpec("cross_entropy", cross_entropy, (2, 3, 4, 6), "cross_entropy_backward"),
    FunctionSpec("cross_entropy_backward", cross_entropy_backward, (3, 4, 5, 7)),
    FunctionSpec("nll_loss", nll_loss, (2, 3, 5), "nll_loss_backward"),
    FunctionSpec("nll_loss_backward", nll_loss_backward, (3, 4, 6)),
    FunctionSpec(
        "sequence_cross_entropy", sequence_cross_entropy, (), "sequence_cross_entropy_backward"
    ),
    FunctionSpec("sequence_cross_entropy_backward", sequence_cross_entropy_backward),
    FunctionSpec(
        "binary_cross_entropy_with_logits",
        binary_cross_entropy_with_logits,
        (4,),
        "binary_cross_entropy_with_logits_backward",
    ),
    FunctionSpec(
        "binary_cross_entropy_with_logits_backward",
        binary_cross_entropy_with_logits_backward,
        (5,),
    ),
    FunctionSpec(
        "binary_cross_entropy", binary_cross_entropy, (3,), "binary_cross_entropy_backward"
    ),
    FunctionSpec("binary_cross_entropy_backward", binary_cross_entropy_backward, (4,)),
    FunctionSpec("contrastive_loss", contrastive_loss, (3, 4)),
    FunctionSpec("contrastive_loss_backward", contrastive_loss_backward, (4, 5)),
)
