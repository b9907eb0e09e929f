"""Every elementwise activation and its backward on arrays of the sizes and layouts kernels
branch on, for every implementation and dtype, in ULPs against mpmath.

The accuracy tests draw at most a few dozen fresh, C-contiguous elements, so a kernel that
takes another path for large arrays (vector blocks, thresholds such as 4096 or 2^17 elements,
thread splits) or for strided, offset, transposed, reversed, broadcast or Fortran-ordered
inputs was never judged on that path. Here:

* sizes: one array of 2^17 + 3 elements per primitive, with the library's own block sizes
  (the rest of the suite shrinks them, so that small arrays mix paths), and every size just
  below, at and above the powers of two a kernel may split at; the values span the dtype's
  range, with the edge points and Hypothesis-drawn probes at random places, and are judged at
  a sample of positions (the probes, the block boundaries, random ones): mpmath per element
  is too slow for all. (One example each: Hypothesis's first is its simplest, seed 0 and
  probes 0, so the edge points are what makes the first one search the tails);
* layouts: views of a drawn (8, 6) array, judged whole; the inputs must be left unchanged.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from . import activation_checks as checks
from . import strategies as S
from .cases import EDGE_POINTS, ELEMENTWISE, WITHOUT_EDGE_POINTS
from .checks import FORMATS
from .implementations import Implementation
from .views import LAYOUTS, layouts_of

ids = [c.id for c in ELEMENTWISE]

LARGE = 2**17 + 3
BOUNDARIES = (8, 16, 32, 64, 128, 256, 1024, 4096, 8192, 16384, 65536)
PROBES = 8
SAMPLED = 24


def filled(n: int, dtype: str, seed: int, near: float = 0.25) -> np.ndarray:
    """n distinct values over the dtype's range: magnitudes log-uniform from 2^-24 to below its
    largest binade, both signs, with a fraction ``near`` of them in [-8, 8], where the
    activations bend (a saturating function gives one value for all the large ones)."""
    rng = np.random.default_rng(seed)
    top = -FORMATS[dtype].emin  # the largest binade is 2^(1 - emin); stay below it
    magnitudes = np.exp2(rng.uniform(-24, top, n))
    x = np.where(rng.random(n) < 0.5, -magnitudes, magnitudes)
    close = rng.random(n) < near
    x[close] = rng.uniform(-8, 8, int(close.sum()))
    return x  # (rounded to the dtype by the backend; the checks read back what it holds)


def _grad_output(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-4, 4, n)


def _edge_probes(dtype: str) -> np.ndarray:
    """The finite edge points the accuracy tests always see, representable in the dtype (none
    where ``PRIMITIVES_WITHOUT_EDGE_POINTS`` is set: ``properties.mutation_score``'s check that
    the drawn inputs find the bugs by themselves)."""
    if os.environ.get(WITHOUT_EDGE_POINTS):
        return np.zeros(0)
    big = float(FORMATS[dtype].max_finite)
    return np.array([p for p in EDGE_POINTS if np.isfinite(p) and abs(p) <= big])


@st.composite
def large_problem(
    draw, n: int, dtype: str, probes: int = PROBES, sampled: int = SAMPLED, edges: bool = True
):
    """(x, g, positions to judge): ``filled`` values from a drawn seed, with the edge points
    (``edges``) and Hypothesis-drawn probes at random places, judged there, at the block
    boundaries, the ends and ``sampled`` random places."""
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    x, g = filled(n, dtype, seed), _grad_output(n, seed + 1)
    fixed = _edge_probes(dtype) if edges else np.zeros(0)
    values = np.concatenate([fixed, draw(S.arrays(dtype, probes), label="probes")])[-n:]
    rng = np.random.default_rng(seed + 2)
    places = rng.choice(n, len(values), replace=False)
    x[places] = values
    ends = [b + d for b in BOUNDARIES for d in (-1, 0) if 0 <= b + d < n] + [0, n - 1]
    sample = rng.choice(n, min(sampled, n), replace=False)
    return x, g, np.unique(np.concatenate([places, ends, sample]).astype(int))


def _judge(impl: Implementation, dtype: str, case, problem) -> None:
    x, g, at = problem
    checks.forward_ulps(impl, case, dtype, x, at=at)
    checks.backward_ulps(impl, case, dtype, g, x, at=at)


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
# 2^17 elements per call: one array judges the path (and a failure is not shrunk: each try
# would cost seconds, and the message already names the worst element)
@settings(max_examples=1, phases=[Phase.explicit, Phase.generate])
@given(data=st.data())
def test_large_arrays(impl, dtype, case, production_blocks, data):
    _judge(impl, dtype, case, data.draw(large_problem(LARGE, dtype), label="problem"))


SIZES = sorted({b + d for b in BOUNDARIES for d in (-1, 0, 1)} | {1, 2, 3})


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
@settings(max_examples=1, phases=[Phase.explicit, Phase.generate])
@given(data=st.data())
def test_sizes_around_block_boundaries(impl, dtype, case, production_blocks, data):
    """Every size of ``SIZES`` (powers of two -1, 0, +1, and 1 to 3), each judged at a few
    places: 2 drawn probes, the block boundaries, the ends, 4 random places (a size's path
    is wrong for most of its elements; the tails are the large-array test's edge points)."""
    for n in SIZES:
        problem = data.draw(
            large_problem(n, dtype, probes=2, sampled=4, edges=False), label=f"size {n}"
        )
        try:
            _judge(impl, dtype, case, problem)
        except AssertionError as e:
            raise AssertionError(f"{n} elements: {e}") from None


# --- layouts ---------------------------------------------------------------------------------


def test_every_library_backend_has_the_strided_layouts():
    """The layouts skipped above are only those a backend cannot make."""
    from .implementations import resolve

    assert set(layouts_of(resolve("numpy"), "float32")) == set(LAYOUTS) - {"channels_last"}
    pytest.importorskip("torch")
    assert set(layouts_of(resolve("torch"), "float32")) == set(LAYOUTS) - {"reversed"}


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
# distinct values in every place show a misplaced element (a seed is not worth shrinking)
@settings(max_examples=2, phases=[Phase.explicit, Phase.generate])
@given(seed=st.integers(0, 2**32 - 1))
def test_layouts(impl, dtype, case, seed):
    """(A drawn array would be all zeros in Hypothesis's first example: an element read from
    the wrong place would not show.)"""
    x = filled(48, dtype, seed, near=0.75).reshape(8, 6)
    g = _grad_output(48, seed + 1).reshape(8, 6)
    for name, view in layouts_of(impl, dtype).items():
        try:
            checks.forward_ulps(impl, case, dtype, x, layout=view)
            checks.backward_ulps(impl, case, dtype, g, x, layout=view)
        except AssertionError as e:
            raise AssertionError(f"{name} layout: {e}") from None
