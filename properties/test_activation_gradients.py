"""Derivatives: hand-written backwards against finite differences (float64), against the
frameworks' autodiff, and the exact conventions at kinks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import activation_checks as checks
from . import strategies as S
from .activation_checks import KINK_CONVENTIONS
from .cases import ELEMENTWISE, ROWS
from .implementations import framework_of

ids = [c.id for c in ELEMENTWISE]
# grad_output for finite-difference checks: rounded to 1e-3 so that no product underflows into
# the subnormal range, which is about flushing (judged elsewhere), not about derivatives
_grad_values = st.floats(-3, 3).map(lambda v: round(v, 3))


def _float64(impl):
    if "float64" not in impl.dtypes:
        pytest.fail(f"{impl.id} offers no float64, which finite-difference checks need")


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
@given(data=st.data())
def test_backward_matches_finite_differences(impl, case, data):
    _float64(impl)
    x = np.array(data.draw(st.lists(S.off_kinks(case.kinks), min_size=6, max_size=6)))
    g = np.array(data.draw(st.lists(_grad_values, min_size=6, max_size=6)))
    checks.backward_finite_differences(impl, case.name, case.params, g, x)


@pytest.mark.parametrize("name", ROWS)
@given(data=st.data())
def test_row_backward_matches_finite_differences(impl, name, data):
    _float64(impl)
    x = data.draw(S.arrays("float64", (2, 4), st.floats(-20, 20)))
    g = data.draw(S.arrays("float64", (2, 4), _grad_values))
    checks.backward_finite_differences(impl, name, (-1,), g, x)


@pytest.mark.parametrize(("case_id", "x0", "expected"), KINK_CONVENTIONS)
def test_derivative_convention_at_kinks(impl, dtype, case_id, x0, expected):
    checks.derivative_at_kink(impl, dtype, case_id, x0, expected)


@pytest.mark.parametrize(("beta", "threshold"), [(1.0, 20.0), (2.0, 5.0)])
def test_softplus_threshold_is_tested_on_the_input_and_strict(impl, beta, threshold):
    """At beta x == threshold softplus is still the smooth branch (torch: beta x > threshold
    switches): the value is log1p(exp(threshold))/beta, not x, and the derivative sigma(t) < 1.
    Seen in float64, where the two branches differ by ~2e-9."""
    _float64(impl)
    x = impl.array(np.array([threshold / beta]), "float64")
    value = impl.numpy(impl.call("softplus", x, beta, threshold))[0]
    slope = impl.numpy(
        impl.call("softplus_backward", impl.array(np.ones(1), "float64"), x, beta, threshold)
    )[0]
    assert value == pytest.approx(np.log1p(np.exp(threshold)) / beta, rel=1e-15)
    assert value != threshold / beta and slope < 1.0, (impl.id, value, slope)


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
@given(data=st.data())
def test_autodiff_uses_the_backward(impl, dtype, case, data):
    """On torch and jax, the framework's autodiff through the forward gives exactly the
    hand-written backward (the library registers it: autograd.Function / custom_vjp)."""
    fw = framework_of(impl)
    if fw is None or impl.kind == "framework":
        pytest.skip(f"{impl.id}: no framework autodiff through this library's kernels")
    x = data.draw(S.arrays(dtype, 8, S.values(dtype, -30, 30)), label="x")
    g = data.draw(S.arrays(dtype, 8, S.values(dtype, -4, 4)), label="grad_output")
    xa, ga = impl.array(x, dtype), impl.array(g, dtype)
    grad = _autodiff(fw, lambda v: impl.call(case.name, v, *case.params), ga, xa)
    expected = impl.call(case.backward, ga, xa, *case.params)
    np.testing.assert_array_equal(impl.numpy(grad), impl.numpy(expected))


def _autodiff(fw, f, g, x):
    if fw == "torch":
        import torch

        x = x.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(f(x), x, g)
        return grad
    import jax

    return jax.vjp(f, x)[1](g)[0]


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
@given(data=st.data())
def test_backward_agrees_with_framework_autodiff(impl, dtype, case, data):
    """Differential oracle: this library's backward against the framework's autodiff of the
    framework's own function, on inputs where both are well conditioned (|x| <= 4)."""
    native = _native_peer(impl)
    x = _off_kinks(case, data.draw(S.arrays(dtype, 8, S.values(dtype, -4, 4)), label="x"))
    # rounded to 1e-3: products far from the subnormal range, where flushing differs
    g = np.array(data.draw(st.lists(_grad_values, min_size=8, max_size=8), label="grad_output"))
    xa, ga = impl.array(x, dtype), impl.array(g, dtype)
    xs, gs = impl.numpy(xa), impl.numpy(ga)
    ours = impl.numpy(impl.call(case.backward, ga, xa, *case.params))
    theirs = native.numpy(native.call(case.backward, ga, xa, *case.params))
    checks.close(
        f"{case.backward} on {impl.id} vs {native.id}",
        dtype,
        ours,
        theirs,
        {"x": xs, "grad_output": gs},
        scale=np.abs(gs) * np.maximum(1.0, np.abs(xs)),
    )


@pytest.mark.parametrize("case", ELEMENTWISE, ids=ids)
@given(data=st.data())
def test_forward_agrees_with_framework_function(impl, dtype, case, data):
    """Differential oracle: values against ``torch.nn.functional`` / ``jax.nn`` (jax's gelu
    mapped with ``approximate=(form == "tanh")``), on well-conditioned inputs (|x| <= 4)."""
    native = _native_peer(impl)
    x = _off_kinks(case, data.draw(S.arrays(dtype, 8, S.values(dtype, -4, 4)), label="x"))
    xa = impl.array(x, dtype)
    xs = impl.numpy(xa)
    checks.close(
        f"{case.id} on {impl.id} vs {native.id}",
        dtype,
        impl.numpy(impl.call(case.name, xa, *case.params)),
        native.numpy(native.call(case.name, xa, *case.params)),
        {"x": xs},
        scale=np.maximum(1.0, np.abs(xs)),
    )


def _off_kinks(case, x):
    """x with values at a kink moved by 0.5: conventions there differ between frameworks and
    are tested exactly in test_derivative_convention_at_kinks. "At" includes values within
    1e-30 of it, which arithmetic that flushes subnormals (XLA) reads as the kink itself."""
    near = np.zeros(x.shape, dtype=bool)
    for k in case.kinks:
        near |= np.abs(x - k) < 1e-30
    return np.where(near, x + 0.5, x)


def _native_peer(impl):
    fw = framework_of(impl)
    if fw is None or impl.kind == "framework":
        pytest.skip(f"{impl.id}: compared only where a framework's own function exists")
    from .implementations import resolve

    return resolve(f"{fw}-native")
