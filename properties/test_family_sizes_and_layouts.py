"""Sizes and layouts for every family beside the activations (losses, batch norm, layer norm,
linear, penalties, optimizers), forward and backward, on every backend through ``primitives``:

* layouts: each floating argument in each memory layout of :func:`properties.views.holding`
  (strided with NaN between the rows, offset with NaN before, transposed, reversed, Fortran,
  torch's channels_last) gives the result of the same call on fresh C-contiguous arrays, to
  64 ULPs of the result's largest element (a kernel that reads raw memory, or assumes
  contiguity, reads other elements or the NaN: wrong by far more);
* sizes: a call with 43 691 rows (2^17 + 1 elements in an (n, 3) argument, more in the wider
  ones), with the library's own block sizes, gives row for row the results of the same call
  on pieces of 256 rows: a kernel that takes another path for large arrays (vector blocks,
  thresholds, thread splits) must agree with its small-array path, which the rest of the
  suite judges against the references; a result summed over the rows (a weight's gradient,
  a penalty) equals the sum of the pieces' to 64 ULPs of the sum of their magnitudes. Batch
  norm in training, whose rows are not independent, is judged by its own tests only.

The fresh-array results are the comparison, not a reference: the family's own tests judge
those against the references.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from .checks import FORMATS
from .family_calls import FAMILIES, Call, calls, run
from .implementations import PUBLIC_API, Implementation
from .views import HOLDING, holding

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = ("float32", "float64")  # (float16/bfloat16 rounding: test_*_low_precision.py)

ULPS = 64
LARGE_ROWS = 2**17 // 3 + 1
PIECE = 256


def same(what: str, dtype: str, got: list[np.ndarray], fresh: list[np.ndarray]) -> None:
    """Each result array equal to the fresh one within ULPS units of its largest element (NaN
    exactly where the fresh one has NaN)."""
    assert len(got) == len(fresh), f"{what}: {len(got)} results, {len(fresh)} expected"
    eps = 2.0 ** (1 - FORMATS[dtype].precision)  # (machine epsilon)
    for i, (a, b) in enumerate(zip(got, fresh, strict=True)):
        assert a.shape == b.shape, f"{what}, result {i}: shape {a.shape} != {b.shape}"
        finite = b[np.isfinite(b)]
        scale = max(float(np.abs(finite).max()) if finite.size else 0.0, 2.0 ** FORMATS[dtype].emin)
        with np.errstate(invalid="ignore"):
            ok = (np.abs(a - b) <= ULPS * eps * scale) | (a == b) | (np.isnan(a) & np.isnan(b))
        if not ok.all():
            j = int(np.argmin(ok.ravel()))
            raise AssertionError(
                f"{what}, result {i}: {int((~ok).sum())} of {ok.size} element(s) differ; first "
                f"at flat index {j}: {a.ravel()[j]!r} where the fresh arrays give "
                f"{b.ravel()[j]!r} (allowed {ULPS * eps * scale:.3g})"
            )


def _label(impl: Implementation, call: Call) -> str:
    return f"{call.function}({', '.join(sorted(call.kwargs))}) on {impl.id}"


@pytest.mark.parametrize("family", list(FAMILIES))
# distinct values everywhere show a misplaced element (a seed is not worth shrinking)
@settings(max_examples=2, phases=[Phase.explicit, Phase.generate])
@given(seed=st.integers(0, 2**32 - 1))
def test_every_layout_gives_the_fresh_arrays_result(impl, dtype, family, seed):
    for call in calls(family, seed):
        fresh = run(impl, call, lambda a: impl.array(a, dtype))
        for layout in HOLDING:
            made = []

            def make(a, layout=layout, made=made):
                try:
                    view = holding(impl, a, dtype, layout)
                except (NotImplementedError, ValueError):
                    return impl.array(a, dtype)  # (this argument keeps a fresh array)
                made.append(a.shape)
                return view

            got = run(impl, call, make)
            if made:
                same(f"{_label(impl, call)}, {layout} layout", dtype, got, fresh)


def _piece(a, rows: slice, n: int):
    if isinstance(a, list):
        return [_piece(v, rows, n) for v in a]
    if isinstance(a, np.ndarray) and a.ndim and a.shape[0] == n:
        return a[rows]
    return a


@pytest.mark.parametrize("family", list(FAMILIES))
def test_large_batches_give_the_small_batches_results(impl, dtype, family, production_blocks):
    n = LARGE_ROWS
    fresh = lambda a: impl.array(a, dtype)  # noqa: E731
    for call in calls(family, seed=20261207, n=n):
        if not call.rows:
            continue
        whole = run(impl, call, fresh)
        pieces = []
        for start in range(0, n, PIECE):
            rows = slice(start, start + PIECE)
            part = Call(
                call.function,
                tuple(_piece(a, rows, n) for a in call.args),
                {k: _piece(v, rows, n) for k, v in call.kwargs.items()},
                True,
            )
            pieces.append(run(impl, part, fresh))
        what = f"{_label(impl, call)}, {n} rows against pieces of {PIECE}"
        per_row = [w.ndim > 0 and w.shape[0] == n for w in whole]
        joined = []
        for i, parts in enumerate(zip(*pieces, strict=True)):
            if per_row[i]:
                joined.append(np.concatenate(parts))
            elif call.summed:  # (to ULPS of the sum of the magnitudes: rounding in any order)
                _within_sum(what, dtype, whole[i], np.sum(parts, 0), np.abs(parts).sum(0))
                joined.append(whole[i])
            else:
                for p in parts[1:]:
                    same(what + " (alike for any rows)", dtype, [p], [parts[0]])
                joined.append(parts[0])
        same(what, dtype, whole, joined)


def _within_sum(what: str, dtype: str, got, total, magnitude) -> None:
    eps = 2.0 ** (1 - FORMATS[dtype].precision)
    bad = ~(np.abs(got - total) <= ULPS * eps * magnitude)
    assert not bad.any(), (
        f"{what}: the sum over rows is {got.ravel()[np.argmax(bad.ravel())]!r} where the pieces "
        f"add up to {total.ravel()[np.argmax(bad.ravel())]!r}"
    )
