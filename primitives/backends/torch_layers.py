"""Native torch kernels for layer norm: the generic kernels' formulas (the two-pass variance,
the compact backward; :mod:`primitives.kernels.layers`) run on CPU blocks of whole rows.

Composed from torch's element-wise kernels, layer norm writes a full-size temporary per
intermediate, and on the CPU a fresh full-size buffer costs more in page faults than the
arithmetic (``torch_activations.in_blocks``). On blocks of about ``rows`` elements
(``torch_activations.row_blocks``) the temporaries are small and reused, and the passes over
a block stay in cache. Every block is computed by the generic kernel itself, so the results
are the generic kernel's, row for row; the weight and bias gradients are the sums of the
blocks' partial sums. Inputs that are small, not contiguous, off the CPU, float16/bfloat16
(whose partial sums would round once per block), or recorded by autograd take the generic
kernel whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..kernels import layers as generic
from .torch_activations import row_blocks


def _rows(
    x: torch.Tensor, k: int, *others: torch.Tensor | None
) -> tuple[torch.Tensor, list[slice]] | None:
    """``x`` as ``(rows, n)`` with its row blocks, or ``None`` where the generic kernel should
    take the call whole."""
    tensors = [x, *(t for t in others if t is not None)]
    if (
        x.dtype not in (torch.float32, torch.float64)
        or x.ndim <= k
        or not all(t.is_contiguous() for t in tensors)
        or (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))
    ):
        return None
    x2 = x.view(-1, math.prod(x.shape[x.ndim - k :]))
    blocks = row_blocks(x2)
    return None if blocks is None or len(blocks) < 2 else (x2, blocks)


def _flat(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.view(-1)


def _summed(parts: list[torch.Tensor | None], like: torch.Tensor | None) -> torch.Tensor | None:
    return None if like is None else torch.stack(parts).sum(0).view(like.shape)


def kernels(backend_of: Callable) -> dict[str, Callable]:
    """``layer_norm`` and ``layer_norm_backward`` taking the generic kernels' arguments
    (without the backend); ``backend_of()`` returns the torch backend."""

    def layer_norm(x, weight, bias, k, eps):
        b = backend_of()
        rows = _rows(x, k, weight, bias)
        if rows is None:
            return generic.layer_norm(b, x, weight, bias, k, eps)
        x2, blocks = rows
        w, c = _flat(weight), _flat(bias)
        out = torch.empty_like(x2)
        for s in blocks:
            out[s] = generic.layer_norm(b, x2[s], w, c, 1, eps)
        return out.view(x.shape)

    def layer_norm_backward(g, x, weight, bias, k, eps):
        b = backend_of()
        rows = _rows(x, k, g, weight, bias) if g.shape == x.shape else None
        if rows is None:
            return generic.layer_norm_backward(b, g, x, weight, bias, k, eps)
        x2, blocks = rows
        g2, w, c = g.view(x2.shape), _flat(weight), _flat(bias)
        dx = torch.empty_like(x2)
        dweights, dbiases = [], []
        for s in blocks:
            dx[s], dweight, dbias = generic.layer_norm_backward(b, g2[s], x2[s], w, c, 1, eps)
            dweights.append(dweight)
            dbiases.append(dbias)
        return dx.view(x.shape), _summed(dweights, weight), _summed(dbiases, bias)

    return {"layer_norm": layer_norm, "layer_norm_backward": layer_norm_backward}
