"""Native torch kernels for layer norm in float32 and float64: torch's fused kernels on rows
centred first, on CPU blocks of rows.

Each row is centred with its mean, ``xc = x - mean(x)`` (exact where x and the mean are
within a factor of 2 of each other, as on rows far from zero), then given to
``torch.native_layer_norm`` (Welford's statistics of ``xc``: its small residual mean and its
rstd) and, for the backward, to ``torch.ops.aten.native_layer_norm_backward`` with those
statistics. Layer norm is shift-invariant, so the results are those of x; the centring is a
second pass that removes the float32 rounding of the mean, which otherwise dominates on rows
far from zero. On rows ``c + N(0, 1)`` of 1024 float32 values, the largest error of dx
relative to the row's largest |dx|, median over 64 rows (float64 reference; u = 2^-24):

=============================================  ==========  ===========  ===========
backward                                       c = 1e2     c = 1e3      c = 1e4
=============================================  ==========  ===========  ===========
the generic kernel with one float32 mean       2 u         16 u         153 u
(before d03ef71; it now corrects it: 2 u)
``native_layer_norm_backward`` on x            12 u        108 u        1212 u
the same on ``x - mean``, centred here         2 u         2 u          2 u
=============================================  ==========  ===========  ===========

(the forward likewise). On the CPU the rows run in blocks of about ``rows`` elements
(``torch_activations.row_blocks``): the centred copy is a small temporary that stays in cache
(a full-size one costs more in page faults than the arithmetic); the weight and bias gradients
are the sums of the blocks' partial sums. The generic kernels (:mod:`primitives.kernels.layers`)
take float16 and bfloat16, weights of another shape than the normalized one, a grad_output of
another shape than x, rows of one element (whose dx is exactly 0 there; torch's kernel leaves
a rounding of ``rstd g w``), and an ``eps`` below ``tiny^(2/3)`` of the dtype (5e-26 in
float32), where torch's backward can overflow to NaN on a row whose spread is as small (it
does from rstd of about 1.8e19 in float32, a spread of 5e-20 with eps 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..kernels import layers as generic
from .torch_activations import row_blocks


def _rows(x: torch.Tensor, k: int, eps: float, *params: torch.Tensor | None) -> torch.Tensor | None:
    """``x`` as ``(rows, n)`` where torch's kernels take the call (n the normalized size),
    else None (the module docstring says which calls)."""
    if x.dtype not in (torch.float32, torch.float64) or x.ndim < k:
        return None
    shape = x.shape[x.ndim - k :]
    n = math.prod(shape)
    if (
        n < 2
        or eps < torch.finfo(x.dtype).tiny ** (2 / 3)
        or any(p is not None and p.shape != shape for p in params)
    ):
        return None
    return x.reshape(-1, n)


def _flat(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.reshape(-1)


def _centred(x2: torch.Tensor) -> torch.Tensor:
    return x2 - x2.mean(-1, keepdim=True)


def kernels(backend_of: Callable) -> dict[str, Callable]:
    """``layer_norm`` and ``layer_norm_backward`` taking the generic kernels' arguments
    (without the backend); ``backend_of()`` returns the torch backend."""

    def layer_norm(x, weight, bias, k, eps):
        x2 = _rows(x, k, eps, weight, bias)
        if x2 is None:
            return generic.layer_norm(backend_of(), x, weight, bias, k, eps)
        n, w, c = [x2.shape[1]], _flat(weight), _flat(bias)
        blocks = row_blocks(x2)
        if not blocks:  # (one piece: off the CPU, small, recorded by autograd, or no rows)
            return torch.native_layer_norm(_centred(x2), n, w, c, eps)[0].view(x.shape)
        out = torch.empty_like(x2)
        for s in blocks:
            out[s] = torch.native_layer_norm(_centred(x2[s]), n, w, c, eps)[0]
        return out.view(x.shape)

    def layer_norm_backward(g, x, weight, bias, k, eps):
        x2 = _rows(x, k, eps, weight, bias) if g.shape == x.shape else None
        if x2 is None:
            return generic.layer_norm_backward(backend_of(), g, x, weight, bias, k, eps)
        n, w, c = [x2.shape[1]], _flat(weight), _flat(bias)
        g2 = g.reshape(x2.shape)
        wanted = [True, w is not None, c is not None]

        def block(gb: torch.Tensor, xb: torch.Tensor) -> tuple:
            xc = _centred(xb)
            _, mean, rstd = torch.native_layer_norm(xc, n, None, None, eps)
            return torch.ops.aten.native_layer_norm_backward(
                gb.contiguous(), xc, n, mean, rstd, w, c, wanted
            )

        blocks = row_blocks(x2)
        if not blocks:
            dx, dweight, dbias = block(g2, x2)
            return dx.view(x.shape), _shaped(dweight, weight), _shaped(dbias, bias)
        dx = torch.empty_like(x2)
        dweights, dbiases = [], []
        for s in blocks:
            dx[s], dweight, dbias = block(g2[s], x2[s])
            dweights.append(dweight)
            dbiases.append(dbias)
        return dx.view(x.shape), _summed(dweights, weight), _summed(dbiases, bias)

    return {"layer_norm": layer_norm, "layer_norm_backward": layer_norm_backward}


def _shaped(t: torch.Tensor | None, like: torch.Tensor | None) -> torch.Tensor | None:
    return None if like is None else t.view(like.shape)


def _summed(parts: list[torch.Tensor | None], like: torch.Tensor | None) -> torch.Tensor | None:
    return None if like is None else torch.stack(parts).sum(0).view(like.shape)
