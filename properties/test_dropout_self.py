"""The dropout properties test themselves: deliberately wrong dropouts must be rejected by the
same property functions that judge the library. A property that let one through would be too
weak.

The statistical checks reject the wrong scaling and the swapped keep probability by a wide
margin: dropout without the 1 / (1 - p) scale has column means x (1 - p), and even its largest
likely kept count (the upper end of its own binomial interval) gives a mean of at most 0.931 x
for p = 0.1, below the correct interval's 0.962 x (``test_dropout_stats.py``'s arithmetic), so a
false pass has probability below the stated 5.3e-12.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

import primitives as P
from primitives import _dispatch

from . import dropout_properties as D
from .implementations import Implementation
from .mutants import rejects

_B = _dispatch.kernels("numpy").backend
_PUBLIC = {name: getattr(P, name) for name in P.__all__ if not name[0].isupper()}


def mutant(**overrides) -> Implementation:
    """The library on numpy with some public functions replaced by wrong ones."""
    return Implementation("mutant", _B, SimpleNamespace(**{**_PUBLIC, **overrides}), "mutant")


def _zero_or_nan(x):
    """x * 0, as the library drops (so only the mutation differs)."""
    with np.errstate(invalid="ignore"):
        return x * x.dtype.type(0.0)


# --- the wrong dropouts (numpy) --------------------------------------------------------------


def _no_scale(x, p=0.5, training=True, *, rng=None, mask=None, return_mask=False):
    out, m = P.dropout(x, p, training, rng=rng, mask=mask, return_mask=True)
    if m is not None:
        out = np.where(m, x, _zero_or_nan(x))  # kept values not divided by 1 - p
    return (out, m) if return_mask else out


def _no_scale_backward(g, mask, p=0.5):
    return g if mask is None else np.where(mask, g, _zero_or_nan(g))


def _keeps_with_probability_p(x, p=0.5, training=True, *, rng=None, mask=None,
                              return_mask=False):  # fmt: skip
    if mask is None and rng is not None and training and 0 < p < 1:
        mask = P.dropout_mask(x, 1.0 - p, rng=rng)  # P(keep) = p: drop and keep swapped
        rng = None
    return P.dropout(x, p, training, rng=rng, mask=mask, return_mask=return_mask)


def _keeps_1_percent_more(x, p=0.5, training=True, *, rng=None, mask=None,
                          return_mask=False):  # fmt: skip
    if mask is None and rng is not None and training and 0 < p < 1:
        keep = (1.0 - p) * (1 + D.OFF_BY)  # a keep probability off by 1 %
        mask = P.dropout_mask(x, 1.0 - keep, rng=rng)  # (its p is the drop probability)
        rng = None
    return P.dropout(x, p, training, rng=rng, mask=mask, return_mask=return_mask)


def _backward_with_a_fresh_mask(g, mask, p=0.5):
    if mask is None or p in (0.0, 1.0):
        return P.dropout_backward(g, mask, p)
    return P.dropout(g, p, rng=np.random.default_rng())


def _divides_by_zero_at_p_one(x, p=0.5, training=True, *, rng=None, mask=None, return_mask=False):
    if p != 1.0 or not training:
        return P.dropout(x, p, training, rng=rng, mask=mask, return_mask=return_mask)
    m = np.zeros(x.shape, bool)
    with np.errstate(all="ignore"):
        out = (x * m / np.float64(1.0 - p)).astype(x.dtype)  # 0 / 0 = NaN
    return (out, m) if return_mask else out


def _divides_by_zero_at_p_one_backward(g, mask, p=0.5):
    if p != 1.0 or mask is None:
        return P.dropout_backward(g, mask, p)
    with np.errstate(all="ignore"):
        return (g * mask / np.float64(1.0 - p)).astype(g.dtype)


def _drops_nan_to_zero(x, p=0.5, training=True, *, rng=None, mask=None, return_mask=False):
    out, m = P.dropout(x, p, training, rng=rng, mask=mask, return_mask=True)
    if m is not None:
        out = np.where(m, out, 0.0).astype(x.dtype)  # a dropped NaN quietly becomes 0
    return (out, m) if return_mask else out


_GLOBAL = np.random.default_rng(99)


def _ignores_the_source(x, p=0.5, training=True, *, rng=None, mask=None, return_mask=False):
    if rng is not None:
        rng = _GLOBAL  # a global generator: the given source does not determine the mask
    return P.dropout(x, p, training, rng=rng, mask=mask, return_mask=return_mask)


def _mask_ignoring_the_source(x, p=0.5, *, rng):
    return P.dropout_mask(x, p, rng=_GLOBAL)


MUTANTS = {
    "no 1/(1-p) scale": mutant(dropout=_no_scale, dropout_backward=_no_scale_backward),
    "keeps with probability p": mutant(dropout=_keeps_with_probability_p),
    "keep probability 1 % high": mutant(dropout=_keeps_1_percent_more),
    "backward with a fresh mask": mutant(dropout_backward=_backward_with_a_fresh_mask),
    "0/0 at p = 1": mutant(
        dropout=_divides_by_zero_at_p_one, dropout_backward=_divides_by_zero_at_p_one_backward
    ),
    "dropped NaN becomes 0": mutant(dropout=_drops_nan_to_zero),
    "mask ignores the source": mutant(
        dropout=_ignores_the_source, dropout_mask=_mask_ignoring_the_source
    ),
}


X = np.array([[1.0, -2.0, 0.5, 3.0], [0.0, 0.25, -1.0, 2.0], [4.0, 1.0, 1.0, -3.0]])
G = np.array([[0.5, 1.0, -1.0, 2.0], [1.0, -0.25, 3.0, 1.0], [-2.0, 1.0, 0.75, 1.5]])
NP = "numpy"


def test_no_scale_is_rejected():
    m = MUTANTS["no 1/(1-p) scale"]
    rejects(lambda: D.kept_values_are_exact(m, "float32", X, 0.3, 5))
    rejects(lambda: D.backward_uses_the_forward_mask(m, "float64", X, G, 0.3, 5))
    for p in D.P_VALUES:
        rejects(lambda p=p: D.expectation_is_x(m, "float32", p, 11, D.DELTA))


def test_swapped_keep_probability_is_rejected():
    m = MUTANTS["keeps with probability p"]
    for p in (0.1, 0.9):
        rejects(lambda p=p: D.kept_fraction(m, "float64", p, D.N_KEPT, 3, D.DELTA))


def test_keep_probability_off_by_1_percent_is_rejected():
    """The stated power, shown: a keep probability 1 % high is rejected at every p (each
    rejection has probability above 0.99; the seeds are fixed)."""
    m = MUTANTS["keep probability 1 % high"]
    for p in D.P_VALUES:
        rejects(lambda p=p: D.kept_fraction(m, "float64", p, D.N_KEPT, 3, D.DELTA))


def test_backward_with_a_fresh_mask_is_rejected():
    m = MUTANTS["backward with a fresh mask"]
    big_x, big_g = np.tile(X, (10, 10)), np.tile(G, (10, 10))
    rejects(lambda: D.backward_uses_the_forward_mask(m, "float32", big_x, big_g, 0.5, 1))


def test_zero_over_zero_at_p_one_is_rejected():
    m = MUTANTS["0/0 at p = 1"]
    rejects(lambda: D.p_one(m, "float64"))


def test_dropped_nan_becoming_zero_is_rejected():
    m = MUTANTS["dropped NaN becomes 0"]
    rejects(lambda: D.non_finite_values(m, "float32", 0.5))


def test_mask_ignoring_the_source_is_rejected():
    m = MUTANTS["mask ignores the source"]
    rejects(lambda: D.same_source_same_mask(m, (40, 50), 0.5, 0, "seed"))


def test_the_library_passes_the_same_checks():
    """The same checks accept the library itself (so the rejections above are the mutations',
    not the inputs')."""
    lib = mutant()
    D.kept_values_are_exact(lib, "float32", X, 0.3, 5)
    D.backward_uses_the_forward_mask(lib, "float64", X, G, 0.3, 5)
    D.backward_uses_the_forward_mask(lib, "float32", np.tile(X, (10, 10)), np.tile(G, (10, 10)),
                                     0.5, 1)  # fmt: skip
    for p in D.P_VALUES:
        D.expectation_is_x(lib, "float32", p, 11, D.DELTA)
    for p in (0.1, 0.9):
        D.kept_fraction(lib, "float64", p, D.N_KEPT, 3, D.DELTA)
    D.p_one(lib, "float64")
    D.non_finite_values(lib, "float32", 0.5)
    D.same_source_same_mask(lib, (40, 50), 0.5, 0, "seed")


def test_every_mutant_is_exercised():
    """Each mutant above is rejected by some test in this module (kept in sync by name)."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for name in MUTANTS:
        assert source.count(f'MUTANTS["{name}"]') >= 1, name
