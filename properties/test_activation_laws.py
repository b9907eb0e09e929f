"""Algebraic laws and contracts: bounds, monotonicity, symmetries, softmax invariances, NaN
propagation, dtype/shape preservation, no mutation, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import activation_checks as checks
from . import strategies as S
from .cases import ELEMENTWISE, ROWS

ids = [c.id for c in ELEMENTWISE]


def _eval(impl, dtype, name, x, *params):
    xa = impl.array(x, dtype)
    return impl.numpy(xa), impl.numpy(impl.call(name, xa, *params))


BOUNDS = [  # (case id, lower, upper) over the whole floating range
    ("relu", 0.0, np.inf),
    ("sigmoid", 0.0, 1.0),
    ("tanh", -1.0, 1.0),
    ("softplus(1.0,20.0)", 0.0, np.inf),
    ("elu(1.0)", -1.0, np.inf),
    ("elu(0.5)", -0.5, np.inf),
]


@pytest.mark.parametrize(("case_id", "lo", "hi"), BOUNDS)
@given(data=st.data())
def test_bounds(impl, dtype, case_id, lo, hi, data):
    case = next(c for c in ELEMENTWISE if c.id == case_id)
    x, y = _eval(impl, dtype, case.name, data.draw(S.arrays(dtype, 16)), *case.params)
    bad = (y < lo) | (y > hi) | np.isnan(y)
    assert not bad.any(), (
        f"{case_id} on {impl.id} [{dtype}] left [{lo}, {hi}] at x={x[bad]}: {y[bad]}"
    )


MONOTONE = ["relu", "leaky_relu(0.01)", "sigmoid", "tanh", "softplus(1.0,20.0)", "elu(1.0)"]


@pytest.mark.parametrize("case_id", MONOTONE)
@given(data=st.data())
def test_monotone_non_decreasing(impl, dtype, case_id, data):
    case = next(c for c in ELEMENTWISE if c.id == case_id)
    x = np.sort(data.draw(S.arrays(dtype, 16)))
    xs, y = _eval(impl, dtype, case.name, x, *case.params)
    # compared, not subtracted: two equal infinities (bfloat16 overflow) are no drop, and
    # inf - inf would warn
    drops = np.flatnonzero(y[1:] < y[:-1])
    assert drops.size == 0, (
        f"{case_id} on {impl.id} [{dtype}] decreases between x={xs[drops[0]]!r} -> "
        f"{y[drops[0]]!r} and x={xs[drops[0] + 1]!r} -> {y[drops[0] + 1]!r}"
    )


@given(data=st.data())
def test_sigmoid_symmetry(impl, dtype, data):
    """sigma(-x) = 1 - sigma(x) to rounding: |sigma(x) + sigma(-x) - 1| <= 2 ulp(1)."""
    x = data.draw(S.arrays(dtype, 16))
    _, a = _eval(impl, dtype, "sigmoid", x)
    _, b = _eval(impl, dtype, "sigmoid", -x)
    err = np.abs(a + b - 1.0)
    assert np.all(err <= 2 * _eps(dtype)), f"sigmoid symmetry on {impl.id} [{dtype}]: {err.max()}"


@given(data=st.data())
def test_softplus_difference_is_identity(impl, dtype, data):
    """softplus(x) - softplus(-x) = x (threshold = inf, beta = 1), to a few ULPs of the terms
    subtracted (they cancel for small |x|)."""
    x = data.draw(S.arrays(dtype, 16, S.values(dtype, -50, 50)))
    xs, a = _eval(impl, dtype, "softplus", x, 1.0, np.inf)
    _, b = _eval(impl, dtype, "softplus", -x, 1.0, np.inf)
    label = f"softplus(x) - softplus(-x) on {impl.id}"
    checks.close(label, dtype, a - b, xs, {"x": xs}, rtol=4 * _eps(dtype), scale=a + b)


def _eps(dtype: str) -> float:
    return {"float64": 2.0**-52, "float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}[
        dtype
    ]


@given(data=st.data())
def test_tanh_is_odd(impl, dtype, data):
    x = data.draw(S.arrays(dtype, 16))
    _, a = _eval(impl, dtype, "tanh", x)
    _, b = _eval(impl, dtype, "tanh", -x)
    np.testing.assert_array_equal(a, -b, err_msg=f"tanh(-x) != -tanh(x) on {impl.id} [{dtype}]")


@pytest.mark.parametrize("name", ROWS)
@given(data=st.data())
def test_softmax_shift_invariance(impl, dtype, name, data):
    """softmax(x + c) = softmax(x) and log_softmax likewise, for exact integer shifts."""
    x = data.draw(S.arrays(dtype, (3, 5), st.integers(-8, 8).map(float)))
    c = float(data.draw(st.integers(-20, 20)))
    xs, a = _eval(impl, dtype, name, x, -1)
    _, b = _eval(impl, dtype, name, x + c, -1)
    checks.close(
        f"{name}(x + {c}) vs {name}(x) on {impl.id}", dtype, b, a, {"x": xs}, rtol=16 * _eps(dtype)
    )


@given(data=st.data())
def test_softmax_rows_sum_to_one_and_log_softmax_is_consistent(impl, dtype, data):
    x = data.draw(S.arrays(dtype, (3, 6), S.values(dtype, -30, 30)))
    xs, y = _eval(impl, dtype, "softmax", x, -1)
    _, ly = _eval(impl, dtype, "log_softmax", x, -1)
    eps = _eps(dtype)
    # six probabilities, each rounded once: the sum is 1 within a few ULPs of 1
    checks.close(
        f"softmax row sums on {impl.id}",
        dtype,
        y.sum(-1),
        np.ones(3),
        {"x": xs[:, 0]},
        rtol=8 * eps,
    )
    # log_softmax's absolute error ~ u max|x| becomes relative error under exp
    checks.close(
        f"exp(log_softmax) vs softmax on {impl.id}",
        dtype,
        np.exp(ly),
        y,
        {"x": xs},
        rtol=8 * eps * (1 + np.abs(xs).max()),
        scale=eps,
    )


@pytest.mark.parametrize("name", ROWS)
@pytest.mark.parametrize("axis", [0, 1, -1, 2])
def test_row_functions_along_any_axis(impl, dtype, name, axis):
    from reference import activations as ref64

    rng = np.random.default_rng(axis + 7)
    x = rng.normal(scale=3.0, size=(2, 3, 4))
    xs, y = _eval(impl, dtype, name, x, axis)
    size = 1 + np.abs(xs).max()
    checks.close(
        f"{name}(axis={axis}) on {impl.id}",
        dtype,
        y,
        getattr(ref64, name)(xs, axis=axis),
        {"x": xs},
        rtol=16 * _eps(dtype),
        scale=size,
    )
    ga = impl.array(rng.normal(size=x.shape), dtype)
    gs = impl.numpy(ga)
    gx = impl.numpy(impl.call(name + "_backward", ga, impl.array(x, dtype), axis))
    checks.close(
        f"{name}_backward(axis={axis}) on {impl.id}",
        dtype,
        gx,
        getattr(ref64, name + "_vjp")(gs, xs, axis=axis),
        {"x": xs},
        rtol=16 * _eps(dtype),
        scale=np.abs(gs).max() * size,
    )


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
def test_nan_propagates(impl, dtype, case):
    x = np.array([np.nan, 1.0, -1.0, np.nan])
    _, y = _eval(impl, dtype, case.name, x, *case.params)
    assert np.isnan(y[[0, 3]]).all() and not np.isnan(y[[1, 2]]).any(), (
        f"{case.id} on {impl.id} [{dtype}]: NaN in -> {y}"
    )
    xa = impl.array(x, dtype)
    gx = impl.numpy(impl.call(case.backward, impl.array(np.ones(4), dtype), xa, *case.params))
    assert np.isnan(gx[[0, 3]]).all() and not np.isnan(gx[[1, 2]]).any(), (
        f"{case.backward} on {impl.id} [{dtype}]: NaN in -> {gx}"
    )


@pytest.mark.parametrize("name", ROWS)
def test_nan_poisons_only_its_row(impl, dtype, name):
    x = np.array([[np.nan, 0.0, 1.0], [0.0, 1.0, 2.0]])
    _, y = _eval(impl, dtype, name, x, -1)
    assert np.isnan(y[0]).all() and np.isfinite(y[1]).all(), f"{name} on {impl.id}: {y}"


# Every kind of shape a kernel may mishandle (0-d, one element, size-1 axes, 1-d to 4-d), not
# dozens of drawn ones: on a backend that compiles per shape (jax.jit) each new shape costs a
# compilation of the forward and the backward, and a shape bug shows on one of each kind.
SHAPES = [(), (1,), (7,), (2, 3), (4, 1, 2), (1, 2, 1, 3)]


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
@given(shape=st.sampled_from(SHAPES))
def test_dtype_shape_and_type_preserved_and_input_untouched(impl, dtype, case, shape):
    rng = np.random.default_rng(0)
    x = rng.normal(scale=4.0, size=shape)
    xa, ga = impl.array(x, dtype), impl.array(np.ones(shape), dtype)
    before = impl.numpy(xa).copy()
    for out in (
        impl.call(case.name, xa, *case.params),
        impl.call(case.backward, ga, xa, *case.params),
    ):
        assert type(out) is type(xa) or isinstance(out, impl.backend.array_types)
        assert out.dtype == xa.dtype, f"{case.id} on {impl.id}: dtype {out.dtype} != {xa.dtype}"
        assert tuple(out.shape) == tuple(shape)
    np.testing.assert_array_equal(impl.numpy(xa), before, err_msg="input was mutated")
    np.testing.assert_array_equal(impl.numpy(ga), np.ones(shape), err_msg="grad was mutated")


@pytest.mark.parametrize("name", [c.name for c in ELEMENTWISE[:1]] + ROWS)
@pytest.mark.parametrize("bad", ["int32", "int64", "bool"])
def test_integer_and_bool_arrays_are_rejected(impl, name, bad):
    if impl.kind == "framework":
        pytest.skip("the frameworks' own functions have their own promotion rules")
    import primitives

    arr = impl.exact(np.array([1, 0, 2]).astype(bad))
    with pytest.raises(TypeError, match="floating dtype"):
        getattr(primitives, name)(arr)
