"""Tests of the suite's own instruments: the ULP measure, the finite-difference checker and the
low-precision rounding."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from .checks import (
    FORMATS,
    bounds,
    check_ulps,
    check_vjp,
    finite_difference_vjp,
    ulp,
    ulp_error,
    ulp_errors,
)
from .checks.rounding import neighbours, round_to, rounding_table, rounds_once_within
from .loss_cases import close


@pytest.mark.parametrize(
    ("dtype", "value", "expected"),
    [
        ("float64", 1.0, 2.0**-52),
        ("float64", 1.5, 2.0**-52),
        ("float64", 2.0, 2.0**-51),  # exact power of two: the spacing above it
        ("float64", 0.0, 2.0**-1074),
        ("float64", 1e-310, 2.0**-1074),  # subnormal: fixed spacing
        ("float32", 1.0, 2.0**-23),
        ("float32", 0.75, 2.0**-24),
        ("float32", 1e-40, 2.0**-149),
        ("float16", 1.0, 2.0**-10),
        ("float16", 65504.0, 32.0),
        ("bfloat16", 1.0, 2.0**-7),
    ],
)
def test_ulp_matches_the_format(dtype, value, expected):
    assert ulp(value, dtype) == mpmath.mpf(expected)


@given(st.floats(min_value=1e-300, max_value=1e300))
def test_ulp_equals_numpy_spacing_for_normal_float64(x):
    assert float(ulp(x, "float64")) == float(np.spacing(x))


@given(st.floats(min_value=2.0**-120, max_value=2.0**120, width=32))
def test_ulp_equals_numpy_spacing_for_normal_float32(x):
    assert float(ulp(x, "float32")) == float(np.spacing(np.float32(x)))


def test_ulp_error_counts_spacings():
    assert ulp_error(1.0 + 2.0**-52, 1, "float64") == 1.0
    with mpmath.workprec(100):
        quarter_ulp_above_one = mpmath.mpf(1) + mpmath.ldexp(1, -54)
    assert ulp_error(1.0, quarter_ulp_above_one, "float64") == 0.25
    assert ulp_error(float(np.float32(1) + np.float32(2**-23) * 3), 1, "float32") == 3.0


def test_ulp_error_specials():
    assert ulp_error(math.nan, mpmath.mpf("nan"), "float64") == 0.0
    assert ulp_error(0.0, mpmath.mpf("nan"), "float64") == math.inf
    assert ulp_error(math.nan, 1, "float64") == math.inf
    assert ulp_error(math.inf, mpmath.mpf("1e400"), "float64") == 0.0  # overflows to inf
    assert ulp_error(math.inf, mpmath.mpf("1e39"), "float32") == 0.0
    assert ulp_error(-math.inf, mpmath.mpf("1e400"), "float64") == math.inf
    assert ulp_error(math.inf, 1, "float64") == math.inf
    assert ulp_error(3.4e38, mpmath.mpf("1e400"), "float32") == math.inf


def test_formats_match_numpy():
    for name, dt in (("float64", np.float64), ("float32", np.float32), ("float16", np.float16)):
        info = np.finfo(dt)
        assert FORMATS[name].precision == info.nmant + 1
        assert 2.0 ** FORMATS[name].emin == float(info.tiny)
        assert float(FORMATS[name].max_finite) == float(info.max)


def test_check_ulps_reports_the_worst_element():
    out = np.array([1.0, 2.0, 3.0 + 2.0**-48])
    report = check_ulps("f", "float64", out, [1, 2, 3], {"x": np.array([0.1, 0.2, 0.3])})
    assert not report.ok
    assert report.worst_index == (2,)
    assert report.worst_ulps == 8.0
    for piece in ("f [float64]", "index (2,)", "x=", "0.3", "expected 3.0", "ULPs"):
        assert piece in report.message, report.message


def test_check_ulps_sensitivity_widens_the_bound_only_where_given():
    out = np.array([1.0 + 10 * 2.0**-52])
    assert not check_ulps("f", "float64", out, [1], {"x": out}).ok
    assert check_ulps("f", "float64", out, [1], {"x": out}, sensitivity=[4]).ok


def test_ulp_errors_are_what_check_ulps_judges_element_by_element():
    """The atlas's per-element errors and bounds (``ulp_errors``) are check_ulps's: an array
    passes check_ulps exactly when every element is within its bound, and the worst element
    check_ulps names has the largest error relative to its bound."""
    exact = [1, 2, 3, "1e-310", "inf", "nan"]  # a subnormal, an infinity, a NaN reference
    base = np.array([1.0, 2.0, 3.0, 1e-310, np.inf, np.nan])
    sens = [0, 0, 40, 0, 0, 0]
    for moved, expect_ok in (
        ((), True),
        ((2, 3.0 + 2.0**-46), True),  # 16 ULPs at 3: inside the bound that S = 40 gives
        ((0, 1.0 + 2.0**-49), False),  # 8 ULPs at 1, where the bound is 4
        ((4, -np.inf), False),  # the wrong infinity
        ((5, 0.0), False),  # a number for NaN
    ):
        out = base.copy()
        if moved:
            out[moved[0]] = moved[1]
        errors, allowed = ulp_errors("float64", out, exact, sens)
        report = check_ulps("f", "float64", out, exact, {"x": out}, sens)
        assert report.ok == expect_ok == bool(np.all(errors <= allowed)), (moved, errors)
        if not expect_ok:
            assert report.worst_index == (moved[0],) and report.worst_ulps == errors[moved[0]]


def test_finite_differences_of_known_functions():
    x = np.array([-2.0, -0.3, 0.5, 3.0, 40.0])
    g = np.array([1.0, -2.0, 0.5, 1.5, 1.0])
    numeric, estimate = finite_difference_vjp(np.sin, g, x)
    np.testing.assert_allclose(numeric, g * np.cos(x), rtol=1e-9, atol=1e-12)
    assert np.all(estimate < 1e-6)
    report = check_vjp("sin", np.sin, g * np.cos(x), g, x)
    assert report.ok, report.message


def test_finite_differences_on_a_coupled_function():
    def f(v):
        return np.array([v[0] * v[1], np.exp(v[1]) + v[2] ** 2])

    x = np.array([0.3, -1.2, 2.0])
    g = np.array([2.0, -1.0])
    vjp = np.array([2 * x[1], 2 * x[0] - np.exp(x[1]), -2 * x[2]])
    assert check_vjp("coupled", f, vjp, g, x).ok


def test_finite_differences_reject_a_slightly_wrong_gradient():
    x = np.linspace(-3, 3, 7) + 0.1
    g = np.ones_like(x)
    wrong = np.cos(x) * (1 + 1e-6)
    report = check_vjp("sin", np.sin, wrong, g, x)
    assert not report.ok
    for piece in ("sin", "worst index", "x=", "analytic", "numeric", "rel error"):
        assert piece in report.message, report.message


def test_finite_differences_allow_for_a_forward_that_underflows():
    # exp(1000 x) underflows to 0 at x = -0.75 (exp(-750) = 1.9e-326) while its derivative,
    # 1000 exp(-750) = 2e-323, does not: the difference quotient is 0 there, within the
    # rounding of the forward (half the smallest subnormal per value); 1e-310 is not
    x, g = np.array([-0.75]), np.ones(1)
    exact = np.array([float(1000 * mpmath.exp(-750))])
    assert exact[0] > 0

    def f(v):
        return np.exp(1000.0 * v)

    report = check_vjp("exp(1000x)", f, exact, g, x)
    assert report.ok, report.message
    assert not check_vjp("exp(1000x)", f, np.array([1e-310]), g, x).ok


def test_finite_differences_scale_the_step_with_x():
    # at |x| = 1e6 a fixed step of 1e-6 would lose most digits; the scaled step does not
    x = np.array([1e6, -3e7])
    report = check_vjp("x^2", lambda v: v * v, 2 * x, np.ones(2), x)
    assert report.ok, report.message


def test_closed_form_row_sensitivities_agree_with_the_numeric_one():
    from reference import mp as ref_mp

    row = [-2.5, 0.0, 1.5, 3.0, -7.0]
    for name in ("softmax", "log_softmax"):
        closed = getattr(ref_mp, name + "_sensitivity")(row)
        fn = getattr(ref_mp, name)
        for i, c in enumerate(closed):
            numeric = ref_mp.sensitivity(lambda *a, i=i, fn=fn: fn(a)[i], row)
            assert abs(c - numeric) <= 1e-30 * abs(numeric), (name, i)


def test_the_reference_rounding_agrees_with_numpys_float16_cast():
    """numpy's float64 -> float16 cast rounds once to nearest, ties to even: the table's rounding
    must agree with it, ties and overflow included (a check of the checker)."""
    table, _ = rounding_table("float16")
    mids = (table[:-1] + table[1:]) / 2  # every tie, the overflow threshold included
    r = np.concatenate([mids, table[1:-1], np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf)])
    with np.errstate(over="ignore"):
        expected = r.astype(np.float16).astype(np.float64)
    assert np.array_equal(neighbours(r, "float16")[0], expected)
    assert neighbours(np.array([65520.0]), "float16")[0][0] == np.inf  # the overflow tie
    assert neighbours(np.array([65519.99]), "float16")[0][0] == 65504.0


@pytest.mark.parametrize("name", ["float16", "bfloat16"])
def test_round_to_agrees_with_a_float32_detour_where_that_cannot_double_round(name):
    """Values of float32 (one rounding to float32 is then exact, so float32 -> dtype is the one
    rounding): ml_dtypes and numpy cast float32 to the dtype to nearest, ties to even."""
    from .checks.rounding import numpy_dtype

    rng = np.random.default_rng(0)
    r = rng.standard_normal(20000).astype(np.float32) * np.float32(2.0) ** rng.integers(
        -20, 20, 20000
    )
    with np.errstate(over="ignore"):
        expected = r.astype(numpy_dtype(name)).astype(np.float32).astype(np.float64)
    assert np.array_equal(round_to(r.astype(np.float64), name), expected)
    assert np.isnan(round_to(np.array([np.nan]), name)[0])


def test_rounds_once_within_admits_a_midpoint_neighbour_only_within_the_slack():
    one, next_up = 1.0, 1.0 + 2.0**-10  # float16 neighbours; their midpoint 1 + 2^-11
    mid = 1.0 + 2.0**-11
    near = mid - 2.0**-20  # rounds to 1.0; within 2^-20 of the midpoint
    assert rounds_once_within(one, near, 0.0, "float16")
    assert not rounds_once_within(next_up, near, 0.0, "float16")
    assert rounds_once_within(next_up, near, 2.0**-19, "float16")  # could cross the midpoint
    far = 1.0 + 2.0**-13
    assert not rounds_once_within(next_up, far, 2.0**-19, "float16")
    assert rounds_once_within(np.inf, 65520.0, 0.0, "float16")  # the overflow tie rounds up
    assert not rounds_once_within(65504.0, 65520.0, 0.0, "float16")
    assert rounds_once_within(np.nan, np.nan, 1.0, "float16")
    assert not rounds_once_within(0.0, np.nan, 1.0, "float16")
    assert not rounds_once_within(np.nan, 1.0, 1.0, "float16")
    assert rounds_once_within(-0.0, 0.0, 0.0, "float16")


def test_rounds_once_within_rejects_a_sum_in_float16_arithmetic():
    """Summing 64 values one by one in float16 rounds every partial sum to 11 bits; in float32
    and rounded
    once, the result is within the float32 slack of a correct rounding (the low-precision
    properties' criterion, checked here on one drawn array)."""
    rng = np.random.default_rng(1)
    x = (rng.random(64) * 10).astype(np.float16)
    exact = float(np.sum(x.astype(np.float64)))
    slack = 64 * 2.0**-24 * exact
    in_float32 = float(np.float16(np.sum(x.astype(np.float32))))
    in_float16 = float(np.cumsum(x, dtype=np.float16)[-1])
    assert rounds_once_within(in_float32, exact, slack, "float16")
    assert not rounds_once_within(in_float16, exact, slack, "float16")


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_a_relative_bound_does_not_pass_an_infinity_against_a_finite_reference(dtype):
    """rtol max(|actual|, |expected|) is infinite for an infinite result: the comparison must
    still reject it where the reference is finite in the dtype (it passed before, hiding a
    float32 batch-norm running_var of inf where the reference is 7.5e37), accept it where the
    reference overflows the dtype (its float64 value is finite: the dtype holds inf), and hold
    an absolute bound to the same rules."""
    big = float(np.finfo(np.float32).max) * 4  # overflows every dtype here but float64
    actual = np.array([np.inf, -np.inf, np.inf, 1.0, np.nan])
    expected = np.array([1.0, 1.0, big, 1.0, np.nan])
    good = bounds.close_elements(dtype, actual, expected, rtol=1e-3).good
    assert good.tolist() == [False, False, dtype != "float64", True, True]
    good = bounds.within_elements(dtype, actual, expected, 1e-3).good
    assert good.tolist() == [False, False, dtype != "float64", True, True]
    with pytest.raises(AssertionError, match="1 of 1 element"):
        close("loss", dtype, np.array([np.inf]), np.array([1.0]))
    # the other infinity, where the dtype holds the reference as one: never
    good = bounds.close_elements(dtype, np.array([-np.inf]), np.array([np.inf]), rtol=1e-3).good
    assert not good.any()


def test_a_low_precision_result_may_round_to_infinity_within_the_float32_slack():
    """65500 within 1% rounds to float16's inf (from 65520 up): inf is a correct rounding there
    (``rounds_once_within``), and the infinity rule must not reject it."""
    assert bounds.close_elements("float16", np.array([np.inf]), np.array([65500.0]), 1e-2).good
    assert not bounds.close_elements("float16", np.array([np.inf]), np.array([6e4]), 1e-3).good


def test_an_absolute_bound_refuses_a_reference_of_another_shape():
    with pytest.raises(ValueError, match="shape"):
        bounds.within_elements("float32", np.zeros(3), np.zeros(1), 1.0)
