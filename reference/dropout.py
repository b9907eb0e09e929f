"""Dropout references, written from the definition with no code shared with ``primitives``.

* :func:`apply_mask`: inverted dropout with a given keep-mask, evaluated in the input's dtype
  exactly as defined (kept: ``x * s`` with ``s = 1 / (1 - p)`` rounded once to the dtype; one
  IEEE multiplication, so the result is exact and unique; dropped: ``x * 0``, i.e. a zero of
  x's sign, NaN for NaN and +-inf).
* :func:`binomial_interval`: the exact acceptance interval of a kept count
  K ~ Binomial(n, 1 - p) at false-failure probability ``delta`` (SciPy's exact quantiles).

Sources: Srivastava et al., "Dropout", JMLR 15 (2014), with the "inverted" scaling at training
time of torch ``F.dropout`` / flax ``nn.Dropout``; binomial quantiles: scipy.stats.binom.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def apply_mask(x: np.ndarray, mask: np.ndarray, p: float) -> np.ndarray:
    """``x * fl(1 / (1 - p))`` where ``mask``, ``x * 0`` elsewhere, in x's dtype (p = 1: all
    dropped)."""
    x = np.asarray(x)
    mask = np.asarray(mask, dtype=bool) & (p < 1.0)
    with np.errstate(invalid="ignore", over="ignore"):
        dropped = x * x.dtype.type(0.0)
        if p == 1.0:
            return dropped
        kept = x * x.dtype.type(1.0 / (1.0 - p))
    return np.where(mask, kept, dropped)


def binomial_interval(n: int, keep: float, delta: float) -> tuple[int, int]:
    """[lo, hi] with P(K < lo) <= delta / 2 and P(K > hi) <= delta / 2 for
    K ~ Binomial(n, keep): so P(K outside [lo, hi]) <= delta, exactly (no normal approximation).

    ``binom.ppf(q)`` is the least k with CDF(k) >= q, hence P(K < lo) = CDF(lo - 1) < q;
    ``binom.isf(q)`` the least k with SF(k) = P(K > k) <= q.
    """
    lo = int(stats.binom.ppf(delta / 2, n, keep))
    hi = int(stats.binom.isf(delta / 2, n, keep))
    return lo, hi
