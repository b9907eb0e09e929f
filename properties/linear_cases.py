"""The linear layer's problems, references and bounds: the support of ``test_linear.py``
(which states the bound), shared with the accuracy atlas (``properties.atlas.layers``), which
must not import test modules. The comparison is :func:`properties.layer_norm_cases.within`
(per element: ``within_elements``)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from reference import layers as R

from .implementations import Implementation
from .layer_norm_cases import backend_arrays, check_unchanged, gamma


class Problem(NamedTuple):
    x: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None


class Run:
    def __init__(self, impl: Implementation, p: Problem, dtype: str):
        self.impl, self.dtype = impl, dtype
        self.args, exact = backend_arrays(impl, dtype, p.x, p.weight, p.bias)
        self.exact = Problem(*exact)

    def forward(self, *args):
        return self.impl.ops.linear(*(args or self.args))

    def backward(self, g: np.ndarray):
        return self.impl.ops.linear_backward(self.impl.array(g, self.dtype), *self.args)

    def check_unchanged(self) -> None:
        check_unchanged(self.impl, self.args, list(self.exact), f"linear on {self.impl.id}")


def dot_terms(p: Problem) -> int:
    return p.weight.shape[1] + (p.bias is not None)


def _rows(p: Problem) -> int:
    return max(1, math.prod(p.x.shape[:-1]))


def forward_bound(p: Problem, dtype: str) -> np.ndarray:
    """The allowed error of z = x W^T + b: gamma of the dot product's length (in_features, plus
    one for the bias) times the sums of absolute products."""
    return gamma(dot_terms(p), dtype) * R.linear_magnitude(p.x, p.weight, p.bias)


def grad_bounds(g: np.ndarray, p: Problem, dtype: str, factor: float = 1.0):
    """Allowed errors of (dx, dweight, dbias): gamma of each dot product's length times the
    sums of absolute products."""
    mdx, mdw, mdb = R.linear_grad_magnitude(g, p.x, p.weight, p.bias)
    n_out, rows = p.weight.shape[0], _rows(p)
    return (
        factor * gamma(n_out, dtype) * mdx,
        factor * gamma(rows, dtype) * mdw,
        None if mdb is None else factor * gamma(rows, dtype) * mdb,
    )
