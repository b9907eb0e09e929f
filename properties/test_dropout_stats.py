"""Statistical properties of dropout's masks, with exact binomial bounds.

Budget: the whole file may fail a correct implementation by bad luck with probability at most
``tolerances.STATISTICAL_FALSE_FAILURE`` = 1e-9. The checks in a default run:

* kept fraction: 3 backends x 2 dtypes x 3 values of p = 18 checks;
* E[dropout(x)] = x: the same 18 runs x 8 elements of x = 144 checks;
* the library run through the same checks in ``test_dropout_self.py``: 2 kept fractions and
  3 expectations of 8 elements = 26 checks;

N_CHECKS = 18 + 144 + 26 = 188, so each check gets delta = 1e-9 / 188 = 5.3e-12 (a union
bound: P(any check fails) <= sum of the deltas = 1e-9). A check accepts the kept count K of n
Bernoulli(1 - p) draws iff lo <= K <= hi with ``reference.dropout.binomial_interval``:
P(K < lo) <= delta / 2 and P(K > hi) <= delta / 2 exactly (SciPy's binomial quantiles, no normal
approximation). The seeds are fixed (reproducible; the bound is what a random seed would give);
the environment variable ``PRIMITIVES_STATS_SEED`` (an integer, default 0) shifts every seed,
so that repeated runs draw anew (docs/dropout_batch_norm.md: 20 runs, 0 failures).

Power: each kept-fraction check draws n = 2^23 elements, so a dropout whose keep probability
is off by 1 % (relative: (1 - p) * 0.99 or * 1.01) passes it with probability below 0.01 at
every p here (0.0031 at worst, p = 0.9; exactly, from the binomial distribution:
``test_the_power_against_a_keep_probability_off_by_1_percent``), and ``test_dropout_self.py``
shows such a dropout rejected.

For E[dropout(x)] = x: x has 8 nonzero entries, tiled R = 4000 times (one dropout call of
R x 8 values); column i's mean is x_i * s * K_i / R with K_i ~ Binomial(R, 1 - p) and s the
rounded scale, so the matching bound is mean_i in x_i s [lo, hi] / R. With R = 4000 and delta =
5.3e-12 that interval is [0.962, 1.035] x_i for p = 0.1, while dropout without the 1 / (1 - p)
scale has mean x_i K / R <= 0.931 x_i even at the top of its own interval: rejected in
``test_dropout_self.py``.
"""

from __future__ import annotations

import os

import pytest
from scipy import stats as scipy_stats

from reference import dropout as R

from .dropout_properties import (
    DELTA,
    DROPOUT_DTYPES,
    N_CHECKS,
    N_KEPT,
    OFF_BY,
    P_VALUES,
    POWER,
    expectation_is_x,
    kept_fraction,
    source,
)
from .implementations import PUBLIC_API

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = DROPOUT_DTYPES

_SEEDS = {"float32": 20240601, "float64": 31415926}


SEED_SHIFT = int(os.environ.get("PRIMITIVES_STATS_SEED", "0"))


def _seed(dtype: str, p: float) -> int:
    return _SEEDS[dtype] + round(p * 1000) + 7919 * SEED_SHIFT


def test_the_budget_is_spent_as_stated():
    """The module docstring's arithmetic: 188 checks share 1e-9."""
    assert N_CHECKS == 188
    assert DELTA == pytest.approx(1e-9 / 188)


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("factor", [1 - OFF_BY, 1 + OFF_BY])
def test_the_power_against_a_keep_probability_off_by_1_percent(p, factor):
    """The module docstring's power: K ~ Binomial(N_KEPT, (1 - p) * factor) lands in the
    correct interval with probability below 1 - POWER."""
    lo, hi = R.binomial_interval(N_KEPT, 1.0 - p, DELTA)
    wrong = (1.0 - p) * factor
    accept = scipy_stats.binom.cdf(hi, N_KEPT, wrong) - scipy_stats.binom.cdf(lo - 1, N_KEPT, wrong)
    assert accept < 1 - POWER, f"p = {p}, keep x {factor}: passes with probability {accept:.3g}"


@pytest.mark.parametrize("p", P_VALUES)
def test_kept_fraction_is_binomial(impl, dtype, p):
    kept_fraction(impl, dtype, p, N_KEPT, source(impl, _seed(dtype, p), "native"), DELTA)


@pytest.mark.parametrize("p", P_VALUES)
def test_expectation_is_x(impl, dtype, p):
    expectation_is_x(impl, dtype, p, source(impl, _seed(dtype, p) + 1, "native"), DELTA)
