"""EarlyStopping: Hypothesis-driven properties against an independent oracle (the rule written
as a function of the whole history), on Python floats and on 0-d arrays of every backend and
dtype; the documented NaN handling; bad arguments; and deliberately wrong state machines that
the same properties reject.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from primitives import EarlyStopping

from . import layer_properties
from .implementations import Implementation

# the family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = layer_properties.IMPLEMENTATION_KINDS
DTYPES = layer_properties.DTYPES

# --- the oracle ------------------------------------------------------------------------------


def oracle(metrics: list[float], patience: int, min_delta: float, mode: str):
    """Per epoch t: (stop, best_epoch), from the definition: epoch t improves when its metric
    beats every earlier improving epoch's by more than min_delta (the first finite one improves);
    stop at t when none of the last ``patience`` epochs (t - patience, t] improved."""
    sign = 1.0 if mode == "min" else -1.0
    out, best, best_epoch = [], math.inf, None
    improving = []
    for t, m in enumerate(metrics):
        v = sign * m
        better = not math.isnan(v) and v < best - min_delta
        if better:
            best, best_epoch = v, t
        improving.append(better)
        window = improving[max(0, t - patience + 1) : t + 1]
        stop = len(window) == patience and not any(window)
        out.append((stop, best_epoch))
    return out


def run(stopper: EarlyStopping, metrics) -> list[tuple[bool, int | None]]:
    return [(stopper.step(m), stopper.best_epoch) for m in metrics]


# --- strategies ------------------------------------------------------------------------------

# metrics on a coarse grid so that ties and differences equal to min_delta occur
_grid = st.integers(-8, 8).map(lambda i: i / 4)
metric_values = st.one_of(_grid, _grid, _grid, st.sampled_from([math.nan, math.inf, -math.inf]))
histories = st.lists(metric_values, max_size=25)
configs = st.tuples(
    st.integers(1, 5), st.sampled_from([0.0, 0.25, 0.5]), st.sampled_from(["min", "max"])
)


def as_metric(impl: Implementation | None, dtype: str | None, v: float) -> Any:
    """``v`` as a Python float or a 0-d array of the implementation (values on the grid are
    exact in every dtype)."""
    if impl is None:
        return v
    return impl.array(np.float64(v), dtype)


# --- the properties --------------------------------------------------------------------------


def follows_the_oracle(make, impl, dtype, config, metrics) -> None:
    patience, min_delta, mode = config
    got = run(make(patience, min_delta, mode), [as_metric(impl, dtype, m) for m in metrics])
    expected = oracle(metrics, patience, min_delta, mode)
    assert got == expected, (
        f"EarlyStopping{config} on {metrics}: got (stop, best_epoch) {got}, expected {expected}"
    )


def stops_exactly_after_patience(make, config, improving: list[float], flat: int) -> None:
    """Improving epochs, then ``flat`` epochs repeating the last value: no stop while improving,
    and the first stop is exactly ``patience`` epochs after the last improvement."""
    patience, min_delta, mode = config
    sign = 1.0 if mode == "min" else -1.0
    metrics = list(improving) + [improving[-1]] * flat
    metrics = [sign * m for m in metrics]
    stopper = make(patience, min_delta, mode)
    stops = [stopper.step(m) for m in metrics]
    last = len(improving) - 1
    assert not any(stops[: last + 1]), f"{config}: stopped while improving: {stops}"
    first = stops.index(True) if True in stops else None
    expected = last + patience if flat >= patience else None
    assert first == expected, f"{config}: first stop at epoch {first}, expected {expected}"
    assert stopper.best_epoch == last, f"{config}: best epoch {stopper.best_epoch} != {last}"


def max_mirrors_min(make, config, metrics: list[float]) -> None:
    patience, min_delta, _ = config
    a = run(make(patience, min_delta, "min"), metrics)
    b = run(make(patience, min_delta, "max"), [-m for m in metrics])
    assert a == b, f"{config}: mode='max' on -metrics {b} != mode='min' {a}"


def nan_counts_as_no_improvement(make) -> None:
    stopper = make(2, 0.0, "min")
    assert [stopper.step(m) for m in (1.0, math.nan, math.nan)] == [False, False, True]
    assert stopper.best == 1.0 and stopper.best_epoch == 0
    stopper = make(2, 0.0, "min")
    assert [stopper.step(m) for m in (math.nan, 3.0, math.nan, 2.0)] == [False, False, False, False]
    assert stopper.best_epoch == 3


# --- the tests -------------------------------------------------------------------------------


@given(config=configs, metrics=histories)
def test_follows_the_oracle_on_python_floats(config, metrics):
    follows_the_oracle(EarlyStopping, None, None, config, metrics)


@given(data=st.data())
def test_follows_the_oracle_on_0d_arrays(impl, dtype, data):
    config = data.draw(configs, label="config")
    metrics = data.draw(st.lists(metric_values, max_size=12), label="metrics")
    follows_the_oracle(EarlyStopping, impl, dtype, config, metrics)


@given(
    config=configs,
    steps=st.lists(st.sampled_from([1.0, 2.0, 3.5]), min_size=1, max_size=10),
    flat=st.integers(0, 8),
)
def test_stops_exactly_patience_epochs_after_the_last_improvement(config, steps, flat):
    # strictly improving by more than min_delta (steps >= 1 > every min_delta drawn)
    improving = list(np.cumsum([-s for s in steps]))
    stops_exactly_after_patience(EarlyStopping, config, [float(v) for v in improving], flat)


@given(config=configs, metrics=histories)
def test_max_mirrors_min(config, metrics):
    max_mirrors_min(EarlyStopping, config, metrics)


def test_nan_counts_as_no_improvement():
    nan_counts_as_no_improvement(EarlyStopping)


def test_state_and_repr():
    s = EarlyStopping(patience=2, min_delta=0.1, mode="max")
    assert (s.epoch, s.best, s.best_epoch, s.wait, s.should_stop) == (0, None, None, 0, False)
    s.step(0.5)
    s.step(0.55)  # not more than min_delta better
    assert (s.epoch, s.best, s.best_epoch, s.wait, s.should_stop) == (2, 0.5, 0, 1, False)
    assert s.step(0.6) is True
    assert "best_epoch=0" in repr(s)


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"patience": 0}, ValueError, r"patience must be >= 1"),
        ({"patience": -3}, ValueError, r"patience must be >= 1 .* got -3"),
        ({"patience": 2.5}, TypeError, r"patience must be an integer, got 2.5"),
        ({"patience": True}, TypeError, r"patience must be an integer, got True"),
        ({"patience": 2, "min_delta": -0.1}, ValueError, r"min_delta must be a finite number >= 0"),
        ({"patience": 2, "min_delta": math.nan}, ValueError, r"min_delta .* got nan"),
        ({"patience": 2, "min_delta": "0.1"}, TypeError, r"min_delta must be a real number"),
        ({"patience": 2, "mode": "minimize"}, ValueError, r"mode must be 'min' or 'max'"),
    ],
)
def test_bad_arguments_raise(kwargs, error, match):
    with pytest.raises(error, match=match):
        EarlyStopping(**kwargs)


def test_bad_metrics_raise_and_leave_the_state_unchanged(impl, dtype):
    s = EarlyStopping(patience=1)
    s.step(1.0)
    before = repr(s)
    with pytest.raises(ValueError, match=r"single number \(a 0-d array\), got an array of shape"):
        s.step(impl.array(np.array([0.5, 0.25]), dtype))
    for bad in ("0.5", None, True):
        with pytest.raises(TypeError, match="metric must be a real number"):
            s.step(bad)
    assert repr(s) == before


def test_a_traced_metric_is_a_clear_error():
    jax = pytest.importorskip("jax")
    s = EarlyStopping(patience=1)

    def f(v):
        s.step(v)
        return v

    with pytest.raises(TypeError, match="call step outside the traced function"):
        jax.jit(f)(jax.numpy.float32(1.0))
    assert s.epoch == 0


# --- self-tests: wrong state machines are rejected -------------------------------------------


class _OffByOne(EarlyStopping):
    def step(self, metric):  # stops one epoch late: wait > patience
        super().step(metric)
        self.should_stop = self.wait > self.patience
        return self.should_stop


class _NonStrictDelta(EarlyStopping):
    def improves(self, metric):  # an improvement of exactly min_delta counts
        if self.mode == "min":
            return metric <= (math.inf if self.best is None else self.best) - self.min_delta
        return metric >= (-math.inf if self.best is None else self.best) + self.min_delta


class _NanImproves(EarlyStopping):
    def improves(self, metric):  # written as "not worse": NaN passes
        if self.mode == "min":
            best = math.inf if self.best is None else self.best
            return not metric >= best - self.min_delta
        best = -math.inf if self.best is None else self.best
        return not metric <= best + self.min_delta


class _MaxLikeMin(EarlyStopping):
    def improves(self, metric):  # mode ignored
        best = math.inf if self.best is None else self.best
        return metric < best - self.min_delta


MUTANTS = {
    "off by one": _OffByOne,
    "non-strict min_delta": _NonStrictDelta,
    "NaN counts as an improvement": _NanImproves,
    "mode max ignored": _MaxLikeMin,
}


def _rejected(strategy, check) -> None:
    @settings(max_examples=300, phases=[Phase.generate], database=None, derandomize=True)
    @given(strategy)
    def search(value):
        check(value)

    with pytest.raises(AssertionError):
        search()


def test_off_by_one_is_rejected():
    m = MUTANTS["off by one"]
    _rejected(st.tuples(configs, histories), lambda a: follows_the_oracle(m, None, None, *a))
    with pytest.raises(AssertionError):
        stops_exactly_after_patience(m, (2, 0.0, "min"), [3.0, 2.0], 4)


def test_non_strict_min_delta_is_rejected():
    m = MUTANTS["non-strict min_delta"]
    _rejected(st.tuples(configs, histories), lambda a: follows_the_oracle(m, None, None, *a))


def test_nan_as_improvement_is_rejected():
    m = MUTANTS["NaN counts as an improvement"]
    with pytest.raises(AssertionError):
        nan_counts_as_no_improvement(m)
    _rejected(st.tuples(configs, histories), lambda a: follows_the_oracle(m, None, None, *a))


def test_mode_max_ignored_is_rejected():
    m = MUTANTS["mode max ignored"]
    _rejected(st.tuples(configs, histories), lambda a: max_mirrors_min(m, a[0], a[1]))


def test_every_mutant_is_exercised():
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for name in MUTANTS:
        assert source.count(f'MUTANTS["{name}"]') >= 1, name
