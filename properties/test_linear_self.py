"""The linear-layer properties test themselves: deliberately wrong linear layers must be
rejected by the same property functions that judge the library, on Hypothesis-drawn inputs
(generation only, derandomized). A property that let one through would be too weak."""

from __future__ import annotations

from types import SimpleNamespace

from hypothesis import strategies as st

import primitives as P
from primitives import _dispatch

from . import linear_properties as L
from . import strategies as S
from .implementations import Implementation
from .mutants import drawn

_B = _dispatch.kernels("numpy").backend


def mutant(**overrides) -> Implementation:
    ops = {"linear": P.linear, "linear_backward": P.linear_backward}
    return Implementation("mutant", _B, SimpleNamespace(**{**ops, **overrides}), "mutant")


def _no_transpose(x, weight, bias=None):
    # x @ W instead of x @ W^T: only square weights get past the shapes
    if weight.shape[0] != weight.shape[1]:
        return P.linear(x, weight, bias)
    z = x @ weight
    return z if bias is None else z + bias


def _transposed_dweight(g, x, weight, bias=None):
    dx, dw, db = P.linear_backward(g, x, weight, bias)
    return dx, (dw.T if dw.shape[0] == dw.shape[1] else dw), db


def _mean_dbias(g, x, weight, bias=None):
    dx, dw, db = P.linear_backward(g, x, weight, bias)
    rows = max(1, g.size // g.shape[-1])
    return dx, dw, None if db is None else db / rows


MUTANTS = {
    "no transpose of a square weight": mutant(linear=_no_transpose),
    "dweight transposed": mutant(linear_backward=_transposed_dweight),
    "dbias averaged over the batch": mutant(linear_backward=_mean_dbias),
}


@st.composite
def _with_g(draw, dtype):
    p = draw(L.problems(dtype))
    shape = p.x.shape[:-1] + p.weight.shape[:1]
    return p, draw(S.arrays("float64", shape, st.floats(-2, 2)))


def test_no_transpose_is_rejected():
    m = MUTANTS["no transpose of a square weight"]
    drawn(L.problems("float32"), lambda p: L.forward_matches_reference(m, "float32", p))
    drawn(L.problems("float64"), lambda p: L.matches_flax(m, "float64", p))


def test_transposed_dweight_is_rejected():
    m = MUTANTS["dweight transposed"]
    drawn(_with_g("float64"), lambda pg: L.backward_matches_reference(m, "float64", *pg))
    drawn(_with_g("float64"), lambda pg: L.backward_matches_finite_differences(m, *pg))


def test_mean_dbias_is_rejected():
    m = MUTANTS["dbias averaged over the batch"]
    drawn(_with_g("float32"), lambda pg: L.backward_matches_reference(m, "float32", *pg))
    drawn(_with_g("float64"), lambda pg: L.matches_torch(m, "float64", *pg))


def test_every_mutant_is_exercised():
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for name in MUTANTS:
        assert source.count(f'MUTANTS["{name}"]') >= 1, name
