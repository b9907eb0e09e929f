"""Rounding to float16/bfloat16, exactly: what "computed in float32 and rounded once" means.

The library (and torch) computes float16/bfloat16 inputs in float32 and rounds each result
once to the input's dtype. A result ``a`` is then judged against the float64 (or exact)
reference ``r`` by :func:`rounds_once_within`: ``a`` must be the correct rounding (to nearest,
ties to even; ±inf beyond the range) of some value within ``slack`` of ``r``, where ``slack``
is what the float32 computation may lose (the family's float32 bound). Rounding is monotone,
so that set of dtype values is the interval ``[round(r - slack), round(r + slack)]``: where
``r`` is far from a midpoint between two neighbours of the dtype only its correct rounding
passes, and near one either neighbour does. Computing in the low precision itself rounds
every intermediate to 8 or 11 bits, which that interval does not admit.
"""

from __future__ import annotations

import functools

import numpy as np

LOW_PRECISION = ("float16", "bfloat16")


def numpy_dtype(name: str) -> np.dtype:
    """float16, or ``ml_dtypes.bfloat16`` (installed with jax) for bfloat16."""
    if name == "float16":
        return np.dtype(np.float16)
    import ml_dtypes

    return np.dtype(ml_dtypes.bfloat16)


def as_float64(a: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # (ml_dtypes warns on casting its NaNs)
        return np.asarray(a).astype(np.float64)


def every_value(name: str) -> np.ndarray:
    """Every value of the dtype (both zeros, ±inf, NaN), as a numpy array of that dtype."""
    return np.arange(2**16, dtype=np.uint32).astype(np.uint16).view(numpy_dtype(name))


@functools.cache
def rounding_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The dtype's finite values in increasing order (one zero) with ``+-(max + ulp(max))``
    added at the ends, and whether each has an even significand (its last bit is 0). Values
    beyond the ends round to ±inf, which the sentinels stand for (they are even)."""
    bits = np.arange(2**16, dtype=np.uint32).astype(np.uint16)
    values = as_float64(bits.view(numpy_dtype(name)))
    finite = np.isfinite(values) & ~((values == 0) & (bits != 0))  # one zero: +0
    order = np.argsort(values[finite], kind="stable")
    v, even = values[finite][order], (bits[finite][order] & 1) == 0
    top = v[-1] + (v[-1] - v[-2])  # max + ulp(max): the next value if the exponent went on
    return np.concatenate([[-top], v, [top]]), np.concatenate([[True], even, [True]])


def neighbours(r, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For finite float64 ``r``: its correct rounding to the dtype (nearest, ties to even;
    ±inf beyond the range), the two neighbours of the dtype that enclose it (equal where ``r``
    is a value of the dtype; ±inf past the largest value) and the midpoint between them (past
    the largest value: the overflow threshold max + ulp(max)/2)."""
    table, even = rounding_table(name)
    r = np.clip(np.asarray(r, np.float64), table[0], table[-1])
    hi = np.searchsorted(table, r, side="left")
    lo = np.where(table[hi] == r, hi, hi - 1)
    d_lo, d_hi = r - table[lo], table[hi] - r
    pick_hi = (d_hi < d_lo) | ((d_hi == d_lo) & even[hi])
    rounded = np.where(pick_hi, table[hi], table[lo])
    mid = (table[lo] + table[hi]) / 2

    def as_inf(v):
        return np.where(np.abs(v) == table[-1], np.copysign(np.inf, v), v)

    return as_inf(rounded), as_inf(table[lo]), as_inf(table[hi]), mid


def round_to(r, name: str) -> np.ndarray:
    """float64 ``r`` correctly rounded to the dtype (as float64): nearest, ties to even, ±inf
    beyond the range; NaN and ±inf stay."""
    r = np.asarray(r, np.float64)
    finite = np.isfinite(r)
    out = r.copy()
    out[finite] = neighbours(r[finite], name)[0]
    return out


def rounds_once_within(actual, expected, slack, name: str) -> np.ndarray:
    """Per element, whether ``actual`` (float64 copy of a dtype result) is the correct rounding
    of a value within ``slack`` (>= 0) of the float64 ``expected``: ``round(e - slack) <= a <=
    round(e + slack)``; NaN exactly where ``expected`` is NaN, an infinite ``expected`` exactly.
    A zero passes with either sign."""
    a, e, s = np.broadcast_arrays(
        np.asarray(actual, np.float64), np.asarray(expected, np.float64), slack
    )
    with np.errstate(invalid="ignore"):
        lo, hi = round_to(e - s, name), round_to(e + s, name)
        inside = (lo <= a) & (a <= hi)
    return np.where(np.isnan(e), np.isnan(a), np.where(np.isinf(e), a == e, inside))
