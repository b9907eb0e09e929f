"""Native torch kernels for the losses: the cross-entropies composed from torch's own
kernels, and torch's fused huber and mse kernels, whose formulas are the generic kernels'.

The loss is ``-log p[y] = (m - z[y]) + log S`` with ``m`` the row's maximum and ``S = sum
exp(z - m) >= 1`` summed by ``torch.sum``, a cascade whose error grows with the logarithm of
the row's length. Not ``F.cross_entropy``: its log_softmax sums a row in one running sum per
vector lane, which on long rows of alike logits rounds every term the same way (140 units of
roundoff off at 128256 classes, a Llama 3 vocabulary, against a bound of about 35). On the
CPU the rows are taken in blocks that stay in cache while they are exponentiated and summed
(``torch_activations.row_blocks``), which also makes the loss 2.5x faster than
``F.cross_entropy`` (which writes a full-size log_softmax) and its backward 1.4x faster.

Where the loss is small (a confident, correct prediction: most tokens of a trained model)
``S = 1 + rest`` has already rounded ``rest`` away, and the relative error grows like
``eps / loss`` (a loss of 1e-4 in float32 keeps 3 digits). So the rows whose loss is below
:data:`CONFIDENT`, or not a number, are computed again by the generic kernel
(``log1p(rest)``, :mod:`primitives.kernels.losses`), and only those rows: on random logits
there are none.

The backward is softmax minus the weighted one-hot, scaled per row (one ``scatter_add``), the
generic kernel's formula with fused passes. The rows of ignored targets and padded tokens
reach neither the loss nor the gradient, NaN included, as the generic kernel guarantees
(see ``_row_pass``: zeroed first, or replaced at the end). Probability targets,
float16/bfloat16 and inputs with fewer than two axes take the generic kernels.

Binary cross-entropy with logits is the generic kernel's formula, ``(1 - y) softplus(x) +
w y softplus(-x)`` with ``softplus(+-x)`` from one ``log1p(exp(-|x|))``, composed from
torch's element-wise kernels, on the CPU in cache-sized blocks (the generic kernel's
``where``s cost it 14x ``F.binary_cross_entropy_with_logits``; the blocked composition 1.7x,
its gradient 3.2x, at 4e6 float32 elements). Where a logit is not finite (the loss), or a
sigmoid is subnormal (the gradient, from ``torch.sigmoid``, which flushes those to 0), the
generic kernel computes the whole call.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from ..kernels import activation_domains as domains
from .torch_activations import (
    holds,
    in_blocks,
    plain,
    row_blocks,
    summed_in_blocks,
)

CONFIDENT = 0.25
"""Rows whose ``-log p[y]`` (before class weights and smoothing) is below this are recomputed
accurately: above it the fast form's relative error is at most a few ulps (its absolute error
is a few ulps of log S and of m - z[y], each at most -log p[y])."""

_LOW = (torch.float16, torch.bfloat16)
_aten = torch.ops.aten


def _as_rows(z: torch.Tensor, target: torch.Tensor, axis: int) -> tuple[torch.Tensor, ...]:
    """``z`` as ``(rows, classes)`` (a view when the class axis is last) and ``target`` flat."""
    classes = z.shape[axis]
    return z.movedim(axis, -1).reshape(-1, classes), target.reshape(-1)


def _unrows(grad: torch.Tensor, z: torch.Tensor, axis: int) -> torch.Tensor:
    moved = z.movedim(axis, -1).shape
    return grad.reshape(moved).movedim(-1, axis)


def _row_pass(
    z2: torch.Tensor, kept: torch.Tensor, *others: torch.Tensor | None
) -> tuple[torch.Tensor, list[slice] | None]:
    """The logits to read and the CPU blocks of rows to read them in (``row_blocks``; none
    where autograd records ``z2`` or any of ``others``, such as a class weight or the
    grad_output: the blocks are written with ``out=``).

    Taken whole (where autograd may record), the rows that are not kept are zeroed first:
    neither their values nor a NaN among them reaches a result or a gradient. In blocks they
    are read as they are (a copy of the logits would cost more than the loss) and their
    results are replaced at the end: every value stays in its own row.
    """
    recording = torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in others)
    blocks = None if recording else row_blocks(z2)
    if blocks is not None or bool(kept.all()):
        return z2, blocks
    return torch.where(kept[:, None], z2, 0.0), None


class _Fallback:
    """The generic kernels, called on the torch backend (bound lazily: the backend object
    is made after this module's kernels)."""

    def __init__(self, backend_of: Callable) -> None:
        self.backend_of = backend_of

    def __getattr__(self, name: str) -> Callable:
        from ..kernels import losses as generic

        return partial(getattr(generic, name), self.backend_of())


def _log_partition(
    z2: torch.Tensor, w_class: torch.Tensor | None, spread: bool, blocks: list[slice] | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Per row of ``z2``: ``m = max_c z_c``, ``log S`` with ``S = sum_c exp(z_c - m) >= 1``,
    and (where ``spread``) ``sum_c w_c (m - z_c)``, every sum from ``torch.sum`` (a cascade).

    On the CPU the rows go in blocks of about ``rows`` elements (``torch_activations.
    configure_blocks``), so that the exponentials are summed while still in cache: 2x faster
    than ``F.cross_entropy`` on 512 x 32000 float32 logits, which makes a full-size
    log_softmax.
    """
    if blocks is None:
        m = torch.amax(z2, 1, keepdim=True)
        s = torch.exp(z2 - m).sum(1)
        if not spread:
            return m.squeeze(1), torch.log(s), None
        gaps = (m - z2) if w_class is None else (m - z2) * w_class
        return m.squeeze(1), torch.log(s), gaps.sum(1)
    rows = z2.shape[0]
    m, s = z2.new_empty((rows, 1)), z2.new_empty(rows)
    total = z2.new_empty(rows) if spread else None
    buffer = z2.new_empty((blocks[0].stop, z2.shape[1]))
    for block in blocks:
        zb = z2[block]
        b = buffer[: zb.shape[0]]
        torch.amax(zb, 1, keepdim=True, out=m[block])
        if spread:
            gaps = torch.sub(m[block], zb, out=b)
            torch.sum(gaps if w_class is None else gaps.mul_(w_class), 1, out=total[block])
        torch.sub(zb, m[block], out=b).exp_()
        torch.sum(b, 1, out=s[block])
    return m.squeeze(1), s.log_(), total


def _row_losses(
    fallback: _Fallback,
    z2: torch.Tensor,
    t2: torch.Tensor,
    kept: torch.Tensor,
    label_smoothing: float,
    weight: torch.Tensor | None,
) -> torch.Tensor:
    """Per-row weighted (smoothed) cross-entropy; 0 where not kept.

    ``-log p[y] = (m - z[y]) + log S``, two non-negative terms; with label smoothing ``eps``,
    ``(1 - eps) w[y] (-log p[y]) + (eps / C) (sum_c w_c (m - z_c) + log S sum_c w_c)``.
    """
    eps = label_smoothing
    zk, blocks = _row_pass(z2, kept, weight)
    safe = torch.where(kept, t2, 0)
    m, log_s, spread = _log_partition(zk, weight, bool(eps), blocks)
    nll = (m - zk.gather(1, safe[:, None]).squeeze(1)) + log_s
    fast = nll if weight is None else weight[safe] * nll
    if eps:
        mass = zk.shape[1] if weight is None else weight.sum()
        fast = (1.0 - eps) * fast + (eps / zk.shape[1]) * (spread + mass * log_s)
    fast = torch.where(kept, fast, 0.0)
    # the generic kernel for confident rows (judged on -log p[y] itself: a class weight
    # scales its error with it) and where a NaN came out (0 * inf: a zero weight times an
    # infinite logit, which the generic kernel takes as 0)
    redo = ~((nll >= CONFIDENT) & (fast == fast)) & kept
    if bool(redo.any()):
        rows = redo.nonzero().squeeze(1)
        exact = fallback.cross_entropy(zk[rows], t2[rows], 1, -100, eps, weight, "none")
        fast = fast.index_put((rows,), exact)
    return fast


def _softmax_lone(zb: torch.Tensor, out: torch.Tensor | None = None):
    """``(p, rest, top)`` per row: ``p = softmax(zb)`` (into ``out`` where given), ``rest`` the
    sum of the terms ``exp(z - m)`` other than the row's first maximum ``top`` (other maxima
    included), so that ``1 - p[top] = rest / (1 + rest)`` is free of cancellation."""
    m, top = torch.max(zb, 1, keepdim=True)
    if torch.is_grad_enabled() and zb.requires_grad:  # autograd records: no in-place ops
        e = torch.exp(zb - m).scatter(1, top, 0.0)
        rest = e.sum(1, keepdim=True)
        r = 1.0 / (1.0 + rest)
        return (e * r).scatter(1, top, r), rest, top
    e = torch.sub(zb, m, out=out).exp_()
    rest = e.scatter_(1, top, 0.0).sum(1, keepdim=True)
    r = rest.add(1.0).reciprocal_()
    return e.mul_(r).scatter_(1, top, r), rest, top


def _sum_of_others(w: torch.Tensor) -> torch.Tensor:
    """``sum_{j != i} w_j`` for each i, as a prefix plus a suffix sum of the non-negative
    weights (``w.sum() - w_i`` cancels where ``w_i`` dominates)."""
    before = torch.cat([w.new_zeros(1), torch.cumsum(w, 0)[:-1]])
    after = torch.cat([torch.cumsum(w.flip(0), 0).flip(0)[1:], w.new_zeros(1)])
    return before + after


def _softmax_off_target(zb: torch.Tensor, safe: torch.Tensor, out: torch.Tensor | None = None):
    """``(e, S - e_t, S)`` per row: ``e = exp(zb - m)`` with the target's entry zeroed, ``S``
    the full sum and ``S - e_t = sum_{j != t} e_j`` summed without the target, so that
    ``1 - p_t = (S - e_t) / S`` has no cancellation, whichever class is the largest. Only
    ``torch.amax`` (6x faster than ``torch.max`` with indices on the CPU) and per-row work
    beyond softmax."""
    m = torch.amax(zb, 1, keepdim=True)
    index = safe[:, None]
    if torch.is_grad_enabled() and zb.requires_grad:  # autograd records: no in-place ops
        e = torch.exp(zb - m)
        e_t = e.gather(1, index)
        e = e.scatter(1, index, 0.0)
    else:
        e = torch.sub(zb, m, out=out).exp_()
        e_t = e.gather(1, index)
        e.scatter_(1, index, 0.0)
    others = e.sum(1, keepdim=True)
    return e, others, others + e_t


def _row_gradient(
    z2: torch.Tensor,
    t2: torch.Tensor,
    kept: torch.Tensor,
    c: torch.Tensor,
    label_smoothing: float,
    weight: torch.Tensor | None,
) -> torch.Tensor:
    """``c_n (T_n p_n - q_n)`` per row (see the generic ``cross_entropy_backward``), 0 where not
    kept; ``c`` is grad_output spread over the rows.

    As the generic kernel, without the cancellation of ``p - 1``: unsmoothed, the target's
    column is ``-a c (1 - p_t)`` with ``1 - p_t`` from :func:`_softmax_off_target`; smoothed,
    the column of each row's maximum is ``p (T - q) - q (1 - p)`` with ``1 - p`` from
    :func:`_softmax_lone` and ``T - q`` summed from the other classes. Every other column has
    ``p <= 1/2`` (or no target mass), where ``T p - q`` is accurate."""
    if label_smoothing:
        return _smoothed_row_gradient(z2, t2, kept, c, label_smoothing, weight)
    safe = torch.where(kept, t2, 0)
    c = torch.where(kept, c, 0.0)
    a = kept.to(z2.dtype) if weight is None else torch.where(kept, weight[safe], 0.0)
    zk, blocks = _row_pass(z2, kept, c, weight)
    scale = (a * c)[:, None]
    if blocks is None:
        e, others, total = _softmax_off_target(zk, safe)
        grad = e * (scale / total)
    else:  # the same, a block of rows at a time (see _log_partition)
        grad = torch.empty_like(zk)
        others, total = zk.new_empty((zk.shape[0], 1)), zk.new_empty((zk.shape[0], 1))
        for block in blocks:
            gb = grad[block]
            _, others[block], total[block] = _softmax_off_target(zk[block], safe[block], out=gb)
            gb.mul_(scale[block] / total[block])
    at_target = -(a * c) * (others / total).squeeze(1)
    grad.scatter_(1, safe[:, None], at_target[:, None])
    if blocks is not None and not bool(kept.all()):
        grad[~kept] = 0.0
    return grad


def _smoothed_row_gradient(
    z2: torch.Tensor,
    t2: torch.Tensor,
    kept: torch.Tensor,
    c: torch.Tensor,
    label_smoothing: float,
    weight: torch.Tensor | None,
) -> torch.Tensor:
    """:func:`_row_gradient` with label smoothing: the maximum's column made accurate."""
    eps = label_smoothing
    classes = z2.shape[1]
    safe = torch.where(kept, t2, 0)
    c = torch.where(kept, c, 0.0)
    w_target = kept.to(z2.dtype) if weight is None else torch.where(kept, weight[safe], 0.0)
    total = (1.0 - eps) * w_target
    total = total + (eps if weight is None else (eps / classes) * weight.sum())
    zk, blocks = _row_pass(z2, kept, c, weight)
    scale = (total * c)[:, None]
    spread = (eps / classes) * (1.0 if weight is None else weight[None, :])
    if blocks is None:
        p, rest, top = _softmax_lone(zk)
        grad = p * scale - spread * c[:, None]
    else:  # the same, a block of rows at a time (see _log_partition)
        grad = torch.empty_like(zk)
        rest, top = zk.new_empty((zk.shape[0], 1)), torch.empty_like(safe)[:, None]
        for block in blocks:
            gb = grad[block]
            _, rest[block], top[block] = _softmax_lone(zk[block], out=gb)
            gb.mul_(scale[block]).sub_(spread * c[block, None])
    a = (1.0 - eps) * w_target
    grad.scatter_add_(1, safe[:, None], (-a * c)[:, None])
    # the maximum's column: p (T - q) - q (1 - p), p = 1 / (1 + rest)
    is_target = (safe[:, None] == top).squeeze(1)
    r = rest.squeeze(1).add(1.0).reciprocal_()
    j = top.squeeze(1)
    w_top = 1.0 if weight is None else weight[j]
    w_others = classes - 1.0 if weight is None else _sum_of_others(weight)[j]
    others = torch.where(is_target, 0.0, a) + (eps / classes) * w_others
    q_top = torch.where(is_target, a, 0.0) + (eps / classes) * w_top
    at_top = (r * others - q_top * (rest.squeeze(1) * r)) * c
    grad.scatter_(1, top, at_top[:, None])
    if blocks is not None and not bool(kept.all()):
        grad[~kept] = 0.0
    return grad


def _denominator(kept: torch.Tensor, t2: torch.Tensor, weight: torch.Tensor | None, dtype):
    if weight is None:
        return kept.sum().to(dtype)
    return torch.where(kept, weight[torch.where(kept, t2, 0)], 0.0).sum()


def _per_row(g, t2, kept, weight, reduction, dtype) -> torch.Tensor:
    """grad_output spread over the rows: g itself (none, sum) or g / the mean's denominator."""
    if reduction == "none":
        return g.reshape(-1)
    if reduction == "sum":
        return g.expand(t2.shape)
    return (g / _denominator(kept, t2, weight, dtype)).expand(t2.shape)


def _generic_only(z: torch.Tensor, target: torch.Tensor) -> bool:
    return target.is_floating_point() or z.dtype in _LOW or z.ndim < 2


_REDUCTION = {"none": 0, "mean": 1, "sum": 2}  # aten's enum


def _fast_pointwise(g: torch.Tensor | None, x: torch.Tensor, y: torch.Tensor) -> bool:
    """Inputs that torch's fused point-wise losses take: ``plain`` prediction and target, and
    a ``grad_output`` of their dtype and device."""
    return plain(x, y) and (g is None or (g.dtype == x.dtype and g.device == x.device))


def _fast_bce(g, x: torch.Tensor, y: torch.Tensor, pos_weight: torch.Tensor | None) -> bool:
    """``_fast_pointwise``, and ``pos_weight`` (if any) of the logits' dtype and device, not
    recording autograd."""
    return _fast_pointwise(g, x, y) and (
        pos_weight is None
        or (
            isinstance(pos_weight, torch.Tensor)
            and pos_weight.dtype == x.dtype
            and pos_weight.device == x.device
            and not pos_weight.requires_grad
        )
    )


def _bce_logits_losses(x, y, pos_weight):
    """``(1 - y) softplus(x) + w y softplus(-x)`` for finite ``x``, the generic kernel's
    terms in the same order: ``softplus(x) = max(x, 0) + t`` and ``softplus(-x) = t - min(x,
    0)`` with ``t = log1p(exp(-|x|))`` (two non-negative terms each, no overflow)."""
    t = torch.abs(x).neg_().exp_().log1p_()
    softplus_minus = torch.sub(t, torch.clamp_max(x, 0.0))
    softplus = t.add_(torch.clamp_min(x, 0.0))
    wy = y if pos_weight is None else pos_weight * y
    return softplus.mul_(1.0 - y).add_(softplus_minus.mul_(wy))


def _bce_logits_gradient(x, y, pos_weight):
    """``(1 - y) sigma(x) - w y sigma(-x)``, both from torch's sigmoid kernel (accurate where
    both are normal numbers: it flushes a subnormal result to 0)."""
    wy = y if pos_weight is None else pos_weight * y
    return torch.sigmoid(x).mul_(1.0 - y).sub_(torch.sigmoid(-x).mul_(wy))


def _bce_logits_reduced(x, y, pos_weight, reduction):
    """The losses of ``_bce_logits_losses``, reduced; on the CPU in cache-sized blocks (a
    reduced loss sums each block while it is in cache and never writes the losses out: 31%
    faster than the same operations on whole tensors at 4e6 elements). A ``pos_weight`` that
    broadcasts, rather than matching ``x``, takes ``x`` whole."""
    weighted = pos_weight is not None
    arrays = (y, pos_weight, x) if weighted else (y, x)

    def losses(yb, *rest):
        return _bce_logits_losses(rest[-1], yb, rest[0] if weighted else None)

    if reduction == "none":
        return in_blocks(losses, len(arrays), arrays)  # (x last: the output's shape)
    total = summed_in_blocks(losses, arrays)
    return total if reduction == "sum" else total / x.numel()


def _bce_logits_scaled_gradient(x, y, pos_weight, scale):
    """``_bce_logits_gradient`` times ``scale`` (``g``, or ``g / n`` for the mean: 0-d, or
    ``x``'s shape), in cache-sized blocks on the CPU (as ``_bce_logits_reduced``)."""
    weighted, full = pos_weight is not None, scale.ndim > 0
    arrays = (y, *((pos_weight,) if weighted else ()), *((scale,) if full else ()), x)

    def gradient(yb, *rest):
        wb = rest[0] if weighted else None
        sb = rest[-2] if full else scale
        return _bce_logits_gradient(rest[-1], yb, wb).mul_(sb)

    return in_blocks(gradient, len(arrays), arrays)


def kernels(backend_of: Callable) -> dict[str, Callable]:
    """The native loss kernels, taking the generic kernels' arguments (without the backend);
    ``backend_of()`` returns the torch backend for the generic fallbacks."""
    fallback = _Fallback(backend_of)

    def cross_entropy(z, target, axis, ignore_index, label_smoothing, weight, reduction):
        if _generic_only(z, target):
            return fallback.cross_entropy(
                z, target, axis, ignore_index, label_smoothing, weight, reduction
            )
        z2, t2 = _as_rows(z, target, axis)
        kept = t2 != ignore_index
        loss = _row_losses(fallback, z2, t2, kept, label_smoothing, weight)
        if reduction == "none":
            return loss.reshape(target.shape)
        total = loss.sum()
        return total if reduction == "sum" else total / _denominator(kept, t2, weight, z.dtype)

    def cross_entropy_backward(
        g, z, target, axis, ignore_index, label_smoothing, weight, reduction
    ):
        if _generic_only(z, target):
            return fallback.cross_entropy_backward(
                g, z, target, axis, ignore_index, label_smoothing, weight, reduction
            )
        z2, t2 = _as_rows(z, target, axis)
        kept = t2 != ignore_index
        c = _per_row(g, t2, kept, weight, reduction, z.dtype)
        grad = _row_gradient(z2, t2, kept, c, label_smoothing, weight)
        return _unrows(grad, z, axis)

    def nll_loss_backward(g, lp, target, axis, ignore_index, weight, reduction):
        # -w[y] c at the target, 0 elsewhere: one scatter into zeros (the generic kernel's
        # full-size one-hot and where cost 2x torch's)
        if _generic_only(lp, target):
            return fallback.nll_loss_backward(g, lp, target, axis, ignore_index, weight, reduction)
        lp2, t2 = _as_rows(lp, target, axis)
        kept = t2 != ignore_index
        c = _per_row(g, t2, kept, weight, reduction, lp.dtype)
        safe = torch.where(kept, t2, 0)
        w_target = kept.to(lp.dtype) if weight is None else torch.where(kept, weight[safe], 0.0)
        value = torch.where(kept, -(w_target * c), 0.0)
        grad = torch.zeros_like(lp2).scatter_(1, safe[:, None], value[:, None])
        return _unrows(grad, lp, axis)

    def sequence_cross_entropy(z, target, mask):
        if _generic_only(z, target):
            return fallback.sequence_cross_entropy(z, target, mask)
        z2, t2 = _as_rows(z, target, 2)
        kept = mask.reshape(-1)
        loss = _row_losses(fallback, z2, t2, kept, 0.0, None)
        return loss.sum() / kept.sum().clamp_min(1).to(z.dtype)

    def sequence_cross_entropy_backward(g, z, target, mask):
        if _generic_only(z, target):
            return fallback.sequence_cross_entropy_backward(g, z, target, mask)
        z2, t2 = _as_rows(z, target, 2)
        kept = mask.reshape(-1)
        c = (g / kept.sum().clamp_min(1).to(z.dtype)).expand(t2.shape)
        return _unrows(_row_gradient(z2, t2, kept, c, 0.0, None), z, 2)

    # binary cross-entropy with logits, composed from torch's kernels where they are accurate
    # (every logit finite; both sigmoids normal for the gradient), else the generic kernel
    # (a per-element ``weight`` takes the generic kernel)
    def binary_cross_entropy_with_logits(x, y, weight, pos_weight, reduction):
        fast = weight is None and _fast_bce(None, x, y, pos_weight)
        if fast and holds([domains.finite(x)]):
            return _bce_logits_reduced(x, y, pos_weight, reduction)
        return fallback.binary_cross_entropy_with_logits(x, y, weight, pos_weight, reduction)

    def binary_cross_entropy_with_logits_backward(g, x, y, weight, pos_weight, reduction):
        fast = weight is None and _fast_bce(g, x, y, pos_weight)
        if fast and holds([domains.sigmoid_normal(x)]):
            scale = fallback._scale(g, reduction, x.numel())
            return _bce_logits_scaled_gradient(x, y, pos_weight, scale)
        return fallback.binary_cross_entropy_with_logits_backward(
            g, x, y, weight, pos_weight, reduction
        )

    # torch's fused kernels where their formula is the generic kernel's: huber's value
    # (a^2 / 2 inside, delta (a - delta / 2) outside: the same roundings) and gradient
    # (clip(x - y, -delta, delta)), and mse's ((x - y)^2; gradient 2 (x - y) g / n). (The
    # mean's gradients multiply by 1/n before g, the generic kernels after: within an ulp.)
    def huber_loss(x, y, delta, reduction):
        if _fast_pointwise(None, x, y):
            return F.huber_loss(x, y, reduction=reduction, delta=delta)
        return fallback.huber_loss(x, y, delta, reduction)

    def huber_loss_backward(g, x, y, delta, reduction):
        if _fast_pointwise(g, x, y):
            return _aten.huber_loss_backward(g, x, y, _REDUCTION[reduction], delta)
        return fallback.huber_loss_backward(g, x, y, delta, reduction)

    def mse_loss(x, y, reduction):
        if _fast_pointwise(None, x, y):
            return F.mse_loss(x, y, reduction=reduction)
        return fallback.mse_loss(x, y, reduction)

    def mse_loss_backward(g, x, y, reduction):
        if _fast_pointwise(g, x, y):
            return _aten.mse_loss_backward(g, x, y, _REDUCTION[reduction])
        return fallback.mse_loss_backward(g, x, y, reduction)

    return {
        "huber_loss": huber_loss,
        "huber_loss_backward": huber_loss_backward,
        "mse_loss": mse_loss,
        "mse_loss_backward": mse_loss_backward,
        "binary_cross_entropy_with_logits": binary_cross_entropy_with_logits,
        "binary_cross_entropy_with_logits_backward": binary_cross_entropy_with_logits_backward,
        "cross_entropy": cross_entropy,
        "cross_entropy_backward": cross_entropy_backward,
        "nll_loss_backward": nll_loss_backward,
        "sequence_cross_entropy": sequence_cross_entropy,
        "sequence_cross_entropy_backward": sequence_cross_entropy_backward,
    }
