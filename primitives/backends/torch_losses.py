"""Native torch kernels for the cross-entropy losses: torch's fused kernels where they are
accurate, this library's generic kernel where they are not.

``F.cross_entropy`` computes ``-log p[y]`` as ``log(sum exp(s)) - s[y]`` with ``s = z - max``.
Where the loss is large that is accurate to a few ulps; where it is small (a confident,
correct prediction: most tokens of a trained model) ``sum exp(s) = 1 + rest`` has already
rounded ``rest`` away, and the relative error grows like ``eps / loss`` (a loss of 1e-4 in
float32 keeps 3 digits). So the rows whose fast loss is below :data:`CONFIDENT` are computed
again by the generic kernel (``log1p(rest)``, :mod:`primitives.kernels.losses`), and only
those rows: on random logits there are none and the cost is torch's plus a comparison.

The backward uses softmax (composed from ``torch.sum``, as the activations': ``torch.softmax``
sums a row in running sums, 100 ULPs off on 8192 alike logits) and one ``scatter_add``
(softmax minus the weighted one-hot, scaled per row), the generic kernel's formula with fused
passes. (``F.cross_entropy``'s own log S has the same running sums: 21 ULPs off on 32000 alike
logits in float32, inside the losses' bound of about 35 units of roundoff, but not for
arbitrarily long rows.) Both kernels zero
the rows of ignored targets and padded tokens before any arithmetic when there are any
(their contents, NaN included, reach neither the loss nor the gradient, as the generic
kernel guarantees). Probability targets, float16/bfloat16 and inputs with fewer than two
axes take the generic kernels.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F

from .torch_activations import row_softmax

CONFIDENT = 0.25
"""Rows whose fast loss is below this are recomputed accurately: above it the fast form's
relative error is at most a few ulps (its absolute error is a few ulps of log(1 + rest) and
of s[y], each at most the loss)."""

_LOW = (torch.float16, torch.bfloat16)


def _as_rows(z: torch.Tensor, target: torch.Tensor, axis: int) -> tuple[torch.Tensor, ...]:
    """``z`` as ``(rows, classes)`` (a view when the class axis is last) and ``target`` flat."""
    classes = z.shape[axis]
    return z.movedim(axis, -1).reshape(-1, classes), target.reshape(-1)


def _unrows(grad: torch.Tensor, z: torch.Tensor, axis: int) -> torch.Tensor:
    moved = z.movedim(axis, -1).shape
    return grad.reshape(moved).movedim(-1, axis)


def _sanitized(z2: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """``z2`` with the rows that are not kept zeroed (no copy when every row is kept)."""
    return z2 if bool(kept.all()) else torch.where(kept[:, None], z2, 0.0)


class _Fallback:
    """The generic kernels, called on the torch backend (bound lazily: the backend object
    is made after this module's kernels)."""

    def __init__(self, backend_of: Callable) -> None:
        self.backend_of = backend_of

    def __getattr__(self, name: str) -> Callable:
        from ..kernels import losses as generic

        return partial(getattr(generic, name), self.backend_of())


def _row_losses(
    fallback: _Fallback,
    z2: torch.Tensor,
    t2: torch.Tensor,
    kept: torch.Tensor,
    label_smoothing: float,
    weight: torch.Tensor | None,
) -> torch.Tensor:
    """Per-row weighted (smoothed) cross-entropy; 0 where not kept."""
    zk = _sanitized(z2, kept)
    tk = torch.where(kept, t2, -100)
    fast = F.cross_entropy(
        zk, tk, weight=weight, ignore_index=-100, reduction="none", label_smoothing=label_smoothing
    )
    redo = (fast < CONFIDENT) & kept
    if bool(redo.any()):
        rows = redo.nonzero().squeeze(1)
        exact = fallback.cross_entropy(zk[rows], tk[rows], 1, -100, label_smoothing, weight, "none")
        fast = fast.index_put((rows,), exact)
    return fast


def _row_gradient(
    z2: torch.Tensor,
    t2: torch.Tensor,
    kept: torch.Tensor,
    c: torch.Tensor,
    label_smoothing: float,
    weight: torch.Tensor | None,
) -> torch.Tensor:
    """``c_n (S_n p_n - q_n)`` per row (see the generic ``cross_entropy_backward``), 0 where not
    kept; ``c`` is grad_output spread over the rows."""
    eps = label_smoothing
    classes = z2.shape[1]
    safe = torch.where(kept, t2, 0)
    c = torch.where(kept, c, 0.0)
    w_target = kept.to(z2.dtype) if weight is None else torch.where(kept, weight[safe], 0.0)
    total = (1.0 - eps) * w_target
    if eps:
        total = total + (eps if weight is None else (eps / classes) * weight.sum())
    grad = row_softmax(_sanitized(z2, kept), 1) * (total * c)[:, None]
    if eps:
        spread = (eps / classes) * (1.0 if weight is None else weight[None, :])
        grad = grad - spread * c[:, None]
    hot = (-(1.0 - eps) * w_target * c)[:, None]
    return grad.scatter_add_(1, safe[:, None], hot)


def _denominator(kept: torch.Tensor, t2: torch.Tensor, weight: torch.Tensor | None, dtype):
    if weight is None:
        return kept.sum().to(dtype)
    return torch.where(kept, weight[torch.where(kept, t2, 0)], 0.0).sum()


def _generic_only(z: torch.Tensor, target: torch.Tensor) -> bool:
    return target.is_floating_point() or z.dtype in _LOW or z.ndim < 2


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
        if reduction == "none":
            c = g.reshape(-1)
        elif reduction == "sum":
            c = g.expand(t2.shape)
        else:
            c = (g / _denominator(kept, t2, weight, z.dtype)).expand(t2.shape)
        grad = _row_gradient(z2, t2, kept, c, label_smoothing, weight)
        return _unrows(grad, z, axis)

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

    return {
        "cross_entropy": cross_entropy,
        "cross_entropy_backward": cross_entropy_backward,
        "sequence_cross_entropy": sequence_cross_entropy,
        "sequence_cross_entropy_backward": sequence_cross_entropy_backward,
    }
