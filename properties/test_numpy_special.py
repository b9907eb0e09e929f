"""The NumPy erf/erfc port (``primitives._numpy_special``) against mpmath, in ulps.

float64 results must be within 1 ulp of the exact value (2 ulps of the subnormal spacing
where the result is subnormal, erfc(x) for x > 26.5); float32 and float16 results, computed
in float64 and rounded once, must be correctly rounded up to a double rounding (error at
most a hair above half an ulp).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from primitives._numpy_special import erf, erfc

_FUNCTIONS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], Callable]] = {
    "erf": (erf, mpmath.erf),
    "erfc": (erfc, mpmath.erfc),
}
# Interval edges of fdlibm's s_erf.c (erf and erfc test 1/0.35 slightly differently), the
# x < 1/4 split of erfc, the tiny-argument edges of erf, and the deep erfc tail.
_EDGES = (
    2.0**-1015,
    2.0**-56,
    2.0**-28,
    0.25,
    0.84375,
    1.25,
    1 / 0.35,
    float.fromhex("0x1.6db6d00000000p+1"),
    float.fromhex("0x1.6db6e00000000p+1"),
    6.0,
    26.5,
    27.0,
    27.25,
    28.0,
)
_NARROW_TOLERANCE = 0.5 + 1e-6  # correctly rounded, but for a double rounding


def _ulp_errors(got: np.ndarray, x: np.ndarray, exact_fn: Callable) -> np.ndarray:
    """|got - exact| in units of the last place of the exact value, in ``got``'s format."""
    info = np.finfo(got.dtype)
    precision, min_exponent = info.nmant + 1, info.minexp
    errors = []
    with mpmath.workprec(200):
        for g, xi in zip(got.ravel().tolist(), x.ravel().tolist(), strict=True):
            # mpmath's erfc fails on huge arguments; beyond 100 nothing changes in any format.
            exact = exact_fn(mpmath.mpf(min(max(xi, -100.0), 100.0)))
            if exact == 0:
                exponent = min_exponent
            else:
                exponent = max(int(mpmath.frexp(exact)[1]) - 1, min_exponent)
            ulp = mpmath.ldexp(1, exponent - precision + 1)
            errors.append(float(abs(mpmath.mpf(g) - exact) / ulp))
    return np.array(errors).reshape(x.shape)


def _check_float64(name: str, x: np.ndarray) -> None:
    fn, exact_fn = _FUNCTIONS[name]
    got = fn(x)
    errors = _ulp_errors(got, x, exact_fn)
    tolerance = np.where(np.abs(got) < np.finfo(np.float64).tiny, 2.0, 1.0)
    worst = int(np.argmax(errors - tolerance))
    assert errors.flat[worst] <= tolerance.flat[worst], (
        f"{name}({x.flat[worst]!r}) = {got.flat[worst]!r}: {errors.flat[worst]:.3f} ulp"
    )


def _check_narrow(name: str, x: np.ndarray) -> None:
    fn, exact_fn = _FUNCTIONS[name]
    got = fn(x)
    assert got.dtype == x.dtype
    errors = _ulp_errors(got, x, exact_fn)
    worst = int(np.argmax(errors))
    assert errors.flat[worst] <= _NARROW_TOLERANCE, (
        f"{name}({x.flat[worst]!r}) = {got.flat[worst]!r}: {errors.flat[worst]:.3f} ulp"
    )


def _arrays(dtype: type[np.floating], bound: float = 30.0) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(
        dtype,
        hnp.array_shapes(max_dims=1, min_side=1, max_side=200),
        elements=st.floats(-bound, bound, width=np.finfo(dtype).bits),
    )


@pytest.mark.parametrize("name", ["erf", "erfc"])
@settings(deadline=None)
@given(x=_arrays(np.float64))
def test_float64_within_one_ulp(name: str, x: np.ndarray) -> None:
    _check_float64(name, x)


@pytest.mark.parametrize("name", ["erf", "erfc"])
@settings(deadline=None)
@given(x=_arrays(np.float64, bound=6.0))
def test_float64_within_one_ulp_central(name: str, x: np.ndarray) -> None:
    _check_float64(name, x)


@pytest.mark.parametrize("name", ["erf", "erfc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@settings(deadline=None)
@given(data=st.data())
def test_narrow_dtypes_correctly_rounded(
    name: str, dtype: type[np.floating], data: st.DataObject
) -> None:
    bound = 12.0 if dtype is np.float32 else 8.0  # beyond, the results are saturated
    _check_narrow(name, data.draw(_arrays(dtype, bound)))


@given(x=_arrays(np.float64))
def test_erf_is_odd(x: np.ndarray) -> None:
    np.testing.assert_array_equal(erf(-x), -erf(x))


def _sweep() -> np.ndarray:
    """Every interval edge and its neighbours, both signs, plus random points between."""
    edges = np.sort(_EDGES)
    near = np.concatenate(
        [edges, np.nextafter(edges, 0.0), np.nextafter(edges, np.inf), edges * (1 + 1e-9)]
    )
    rng = np.random.default_rng(20240917)
    bounds = np.concatenate([[0.0], edges, [30.0]])
    between = np.concatenate([rng.uniform(lo, hi, 60) for lo, hi in itertools.pairwise(bounds)])
    subnormal = np.array([5e-324, 1e-320, 1e-310, np.finfo(np.float64).tiny, 1e-300])
    large = np.array([29.9, 100.0, 1e10, 1e300, np.finfo(np.float64).max])
    points = np.concatenate([near, between, subnormal, large, np.linspace(0.0, 30.0, 301)])
    return np.concatenate([points, -points])


@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_float64_sweep_of_intervals(name: str) -> None:
    _check_float64(name, _sweep())


@pytest.mark.parametrize("name", ["erf", "erfc"])
@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_narrow_sweep_of_intervals(name: str, dtype: type[np.floating]) -> None:
    x = _sweep()
    _check_narrow(name, np.unique(x[np.abs(x) <= np.finfo(dtype).max].astype(dtype)))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_special_values(dtype: type[np.floating]) -> None:
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], dtype=dtype)
    y = erf(x)
    np.testing.assert_array_equal(y, np.array([0.0, -0.0, 1.0, -1.0, np.nan], dtype=dtype))
    assert not np.signbit(y[0]) and np.signbit(y[1])
    np.testing.assert_array_equal(erfc(x), np.array([1.0, 1.0, 0.0, 2.0, np.nan], dtype=dtype))


def test_saturation() -> None:
    x = np.array([6.0, 28.0, 1e300])
    np.testing.assert_array_equal(erf(x), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(erf(-x), [-1.0, -1.0, -1.0])
    np.testing.assert_array_equal(erfc(x), [erfc(np.array(6.0)), 0.0, 0.0])
    np.testing.assert_array_equal(erfc(-x), [2.0, 2.0, 2.0])
    assert 0.0 < erfc(np.array(27.0)) < np.finfo(np.float64).tiny  # subnormal, not flushed


@pytest.mark.parametrize("fn", [erf, erfc])
@pytest.mark.parametrize(
    "x",
    [
        np.array(0.5),
        np.array([], dtype=np.float32),
        np.linspace(-3, 3, 24, dtype=np.float16).reshape(2, 3, 4),
        np.asfortranarray(np.linspace(-30, 30, 60).reshape(6, 10)),
        np.linspace(-30, 30, 101)[::3],  # not contiguous
    ],
    ids=["0-d", "empty", "float16-3d", "fortran", "strided"],
)
def test_shape_and_dtype_preserved(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> None:
    y = fn(x)
    assert isinstance(y, np.ndarray)
    assert y.shape == x.shape and y.dtype == x.dtype
    np.testing.assert_array_equal(y, fn(x.astype(np.float64)).astype(x.dtype))


@pytest.mark.parametrize("fn", [erf, erfc])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_input_not_modified(fn: Callable[[np.ndarray], np.ndarray], dtype: type) -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-30, 30, 5000), [np.nan, np.inf, -np.inf, -0.0]])
    x = x.astype(dtype)
    before = x.copy()
    fn(x)
    np.testing.assert_array_equal(x, before)
    x.flags.writeable = False  # a read-only input is fine too
    fn(x[::2])
