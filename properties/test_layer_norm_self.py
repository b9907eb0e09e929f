"""The layer-norm properties test themselves: deliberately wrong layer norms must be rejected by
the same property functions that judge the library, on Hypothesis-drawn inputs (generation only,
derandomized) and on a fixed input. A property that let one through would be too weak."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

import primitives as P
from primitives import _dispatch

from . import layer_norm_properties as L
from . import strategies as S
from .implementations import Implementation
from .layer_norm_cases import Problem
from .mutants import drawn

_B = _dispatch.kernels("numpy").backend


def mutant(**overrides) -> Implementation:
    """The library on numpy with some public functions replaced by wrong ones."""
    ops = {"layer_norm": P.layer_norm, "layer_norm_backward": P.layer_norm_backward}
    return Implementation("mutant", _B, SimpleNamespace(**{**ops, **overrides}), "mutant")


def _stats(x, shape, eps, *, ddof=0, eps_outside=False, one_pass=False):
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    if one_pass:  # E[x^2] - E[x]^2 in the input's precision
        var = (x * x).mean(axis=axes, keepdims=True) - mean * mean
    else:
        var = x.var(axis=axes, keepdims=True, ddof=ddof)
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    return (x - mean) / std


def _forward(**how):
    def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
        y = _stats(x, tuple(shape), eps, **how)
        y = y if weight is None else y * weight
        return (y if bias is None else y + bias).astype(x.dtype)

    return layer_norm


def _backward_without_projection(g, x, normalized_shape, weight=None, bias=None, eps=1e-5):
    # the classic slip: dx = rstd (gw - mean(gw)), forgetting the x_hat * mean(gw x_hat) term
    dx, dw, db = P.layer_norm_backward(g, x, normalized_shape, weight, bias, eps)
    k = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    axes = tuple(range(x.ndim - k, x.ndim))
    n = math.prod(x.shape[x.ndim - k :])
    x_hat = P.layer_norm(x, normalized_shape, None, None, eps)
    gw = g if weight is None else g * weight
    rstd = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    dx = dx + (rstd * x_hat * np.sum(gw * x_hat, axis=axes, keepdims=True) / n).astype(x.dtype)
    return dx, dw, db


MUTANTS = {
    "unbiased variance": mutant(layer_norm=_forward(ddof=1)),
    "eps outside the square root": mutant(layer_norm=_forward(eps_outside=True)),
    "one-pass variance": mutant(layer_norm=_forward(one_pass=True)),
    "backward without the x_hat projection": mutant(
        layer_norm_backward=_backward_without_projection
    ),
}


def _with_g(dtype):
    from hypothesis import strategies as st

    @st.composite
    def draw(draw_, dtype=dtype):
        p = draw_(L.problems(dtype))
        g = draw_(S.arrays("float64", p.x.shape, st.floats(-2, 2)))
        return p, g

    return draw()


X = np.array([[0.5, -1.0, 2.0, 3.0], [1.0, 1.5, -2.0, 0.25]])
FIXED = Problem(X, 1, np.array([1.0, 2.0, -0.5, 0.75]), np.array([0.1, 0.0, -0.2, 0.3]), 1e-5)
G = np.array([[1.0, -0.5, 0.25, 2.0], [0.5, 0.5, -1.0, 1.5]])


def test_unbiased_variance_is_rejected():
    m = MUTANTS["unbiased variance"]
    drawn(L.problems("float64"), lambda p: L.forward_matches_reference(m, "float64", p))
    with pytest.raises(AssertionError):
        L.rows_are_standardized(m, "float32", FIXED)


def test_eps_outside_the_square_root_is_rejected():
    m = MUTANTS["eps outside the square root"]
    drawn(L.problems("float64"), lambda p: L.forward_matches_reference(m, "float64", p))
    with pytest.raises(AssertionError):
        L.matches_torch(m, "float64", FIXED, G)


def test_one_pass_variance_is_rejected():
    m = MUTANTS["one-pass variance"]
    drawn(L.problems("float32"), lambda p: L.forward_matches_reference(m, "float32", p))


def test_backward_without_projection_is_rejected():
    m = MUTANTS["backward without the x_hat projection"]
    drawn(_with_g("float64"), lambda pg: L.backward_matches_reference(m, "float64", *pg))
    drawn(_with_g("float64"), lambda pg: L.backward_matches_finite_differences(m, *pg))
    with pytest.raises(AssertionError):
        L.input_gradient_laws(m, "float64", FIXED, G)


def test_the_library_passes_the_same_fixed_checks():
    lib = mutant()
    L.rows_are_standardized(lib, "float32", FIXED)
    L.input_gradient_laws(lib, "float64", FIXED, G)
    L.matches_torch(lib, "float64", FIXED, G)


def test_every_mutant_is_exercised():
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for name in MUTANTS:
        assert source.count(f'MUTANTS["{name}"]') >= 1, name
