"""Bad input: one error for one mistake, of the same builtin type and with the same message on
every backend (the table in ``properties/bad_inputs.py``); parameters validated, never coerced;
inputs that are not bad (0-d parameters, empty arrays, 0-d arrays) working everywhere."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import primitives as P

from .bad_inputs import EXEMPT, ROWS, Row, public_callables
from .implementations import PUBLIC_API, Implementation, library_backends

IMPLEMENTATION_KINDS = PUBLIC_API

IDS = [r.id for r in ROWS]


def _raised(row: Row, impl: Implementation) -> BaseException:
    call = row.build(impl)
    with pytest.raises(Exception) as info:
        call()
    return info.value


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_bad_input_raises_the_error_of_its_row(impl, row):
    """Exactly the row's builtin type (not numpy's AxisError, torch's IndexError, ...), with a
    message that starts with the function's name and says what was wrong."""
    error = _raised(row, impl)
    assert type(error) is row.error, f"{type(error).__module__}.{type(error).__name__}: {error}"
    message = str(error)
    assert message.startswith(row.prefix), message
    assert row.message in message, message


@pytest.mark.parametrize("row", ROWS, ids=IDS)
def test_bad_input_gives_one_message_on_every_backend(row):
    messages = {impl.id: str(_raised(row, impl)) for impl in library_backends()}
    assert len(set(messages.values())) == 1, messages


def test_every_public_callable_has_a_row():
    """A new primitive cannot join the library without its bad-input row."""
    covered = {r.primitive for r in ROWS}
    missing = [n for n in public_callables() if n not in covered and n not in EXEMPT]
    assert not missing, f"add rows to properties/bad_inputs.py for: {missing}"
    stale = sorted(covered - set(public_callables()))
    assert not stale, f"rows for names that are not public: {stale}"


# --- parameters: validated, never coerced, 0-d arrays accepted ---------------------------------


def _x(impl: Implementation) -> object:
    return impl.array(np.linspace(-3.0, 3.0, 12).reshape(3, 4), "float64")


def _zero_d_numbers(impl: Implementation, value: float) -> dict[str, object]:
    """One number as a 0-d array of each library (and a NumPy scalar)."""
    out: dict[str, object] = {"numpy scalar": np.float64(value), "numpy 0-d": np.array(value)}
    for other in library_backends():
        out[f"{other.id} 0-d"] = other.array(np.array(value), "float64")
    out[f"{impl.id} 0-d (the input's own)"] = impl.array(np.array(value), "float64")
    return out


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("softplus", {"beta": 2.0}),
        ("softplus", {"threshold": 1.5}),
        ("elu", {"alpha": 0.5}),
        ("leaky_relu", {"negative_slope": 0.2}),
    ],
)
def test_a_parameter_given_as_a_0d_array_is_the_same_number(impl, name, kwargs):
    ((param, value),) = kwargs.items()
    x = _x(impl)
    expected = impl.numpy(getattr(P, name)(x, **kwargs))
    for what, number in _zero_d_numbers(impl, value).items():
        got = impl.numpy(getattr(P, name)(x, **{param: number}))
        np.testing.assert_array_equal(got, expected, err_msg=f"{param} as a {what}")


def test_integer_parameters_accept_0d_integer_arrays(impl):
    x = _x(impl)
    t = impl.exact(np.array([0, 3, 1]))
    expected = impl.numpy(P.cross_entropy(x, t, ignore_index=3, axis=1))
    for other in library_backends():
        got = P.cross_entropy(
            x, t, ignore_index=other.exact(np.array(3)), axis=other.exact(np.array(1))
        )
        np.testing.assert_array_equal(impl.numpy(got), expected, err_msg=other.id)


def test_dropout_p_true_is_refused_not_read_as_one(impl):
    """dropout(x, True) was p = 1 (all zeros); a bool is no probability."""
    with pytest.raises(TypeError, match=r"dropout: p must be a real number, got True"):
        P.dropout(_x(impl), True, rng=0)


def test_pos_weight_as_one_number_broadcasts_as_in_torch(impl):
    """pos_weight=2.0 (or a 0-d array) weighs every positive term by 2, as a pos_weight array
    of 2s (torch broadcasts a 0-d pos_weight)."""
    x = _x(impl)
    y = impl.array(np.tile([0.0, 0.25, 0.75, 1.0], (3, 1)), "float64")
    full = impl.array(np.full(4, 2.0), "float64")
    for reduction in ("none", "mean"):
        expected = impl.numpy(
            P.binary_cross_entropy_with_logits(x, y, pos_weight=full, reduction=reduction)
        )
        grad = impl.numpy(
            P.binary_cross_entropy_with_logits_backward(
                impl.array(np.ones((3, 4)), "float64") if reduction == "none" else 1.0,
                x,
                y,
                pos_weight=full,
                reduction=reduction,
            )
        )
        for what, number in {
            "Python float": 2.0,
            "Python int": 2,
            **_zero_d_numbers(impl, 2.0),
        }.items():
            got = P.binary_cross_entropy_with_logits(x, y, pos_weight=number, reduction=reduction)
            np.testing.assert_allclose(impl.numpy(got), expected, rtol=0, atol=0, err_msg=what)
            g = P.binary_cross_entropy_with_logits_backward(
                impl.array(np.ones((3, 4)), "float64") if reduction == "none" else 1.0,
                x,
                y,
                pos_weight=number,
                reduction=reduction,
            )
            np.testing.assert_allclose(impl.numpy(g), grad, rtol=0, atol=0, err_msg=what)
    # the value itself, against the formula: (1 - y) softplus(x) + 2 y softplus(-x)
    xs, ys = impl.numpy(x), impl.numpy(y)
    softplus = np.logaddexp(0.0, xs)
    formula = (1 - ys) * softplus + 2.0 * ys * np.logaddexp(0.0, -xs)
    got = impl.numpy(P.binary_cross_entropy_with_logits(x, y, pos_weight=2.0, reduction="none"))
    np.testing.assert_allclose(got, formula, rtol=1e-14)


def test_a_traced_parameter_is_a_clear_type_error():
    """Under jax.jit a parameter passed as a traced array has no value to check: a TypeError
    that says so (not a jax-internal error)."""
    jax_impl = library_backends()[2]
    import jax

    x = _x(jax_impl)
    with pytest.raises(TypeError, match=r"softplus: beta must be a concrete number.*Python number"):
        jax.jit(lambda x, beta: P.softplus(x, beta=beta))(x, 2.0)
    with pytest.raises(TypeError, match=r"huber_loss: delta must be a concrete number"):
        jax.jit(lambda x, d: P.huber_loss(x, x, delta=d))(x, 1.0)


def test_a_bool_0d_array_is_no_number(impl):
    flag = impl.exact(np.array(True))
    with pytest.raises(TypeError, match=r"softplus: beta must be a real number, got"):
        P.softplus(_x(impl), beta=flag)
    with pytest.raises(TypeError, match=r"cross_entropy: ignore_index must be an integer, got"):
        P.cross_entropy(_x(impl), impl.exact(np.array([0, 1, 2])), ignore_index=flag)


# --- softmax and log_softmax on degenerate shapes ------------------------------------------------

SOFTMAX = ("softmax", "log_softmax")


@pytest.mark.parametrize("name", SOFTMAX)
@pytest.mark.parametrize(
    ("shape", "axis"), [((5, 0, 0), 1), ((5, 0, 0), -1), ((5, 0, 0), 0), ((0,), 0), ((0, 3), 1)]
)
def test_empty_in_empty_out(impl, dtype, name, shape, axis):
    """A zero-length axis holds no rows: an empty result of the input's shape and dtype (as
    torch), forward and backward."""
    x = impl.array(np.zeros(shape), dtype)
    out = getattr(P, name)(x, axis)
    assert tuple(out.shape) == shape and out.dtype == x.dtype
    grad = getattr(P, name + "_backward")(x, x, axis)
    assert tuple(grad.shape) == shape and grad.dtype == x.dtype


@pytest.mark.parametrize("name", SOFTMAX)
@pytest.mark.parametrize("axis", [0, -1])
def test_a_0d_input_is_a_row_of_one_entry(impl, dtype, name, axis):
    """softmax of one entry is 1 and log_softmax 0 (torch's answer for a 0-d tensor); NaN stays
    NaN; the gradient is 0 (a row's entries sum to a constant)."""
    values = np.array([-2.5, 0.0, 7.0, np.inf, -np.inf, np.nan])
    expected = 1.0 if name == "softmax" else 0.0
    for v in values:
        x = impl.array(np.array(v), dtype)
        out = getattr(P, name)(x, axis)
        assert tuple(out.shape) == () and out.dtype == x.dtype
        got = float(impl.numpy(out))
        if math.isnan(v):
            assert math.isnan(got)
        else:
            assert got == expected, (v, got)
        g = impl.array(np.array(1.5), dtype)
        grad = getattr(P, name + "_backward")(g, x, axis)
        assert tuple(grad.shape) == () and grad.dtype == x.dtype
        back = float(impl.numpy(grad))
        assert math.isnan(back) if math.isnan(v) else back == 0.0, (v, back)


@pytest.mark.parametrize("name", SOFTMAX)
def test_a_0d_input_has_only_the_axes_0_and_minus_1(impl, name):
    x = impl.array(np.array(1.0), "float64")
    for axis in (1, -2):
        with pytest.raises(
            ValueError,
            match=re.escape(
                f"{name}: axis {axis} is out of range for 0-d x (a row of one entry) with 1 "
            ),
        ):
            getattr(P, name)(x, axis)
