"""Layer norm on every backend: values and gradients against the float64 reference, gradients
against finite differences and the frameworks' autodiff, against ``F.layer_norm`` and flax's
``LayerNorm``, its laws, NaN rows, and deliberately wrong layer norms that the same properties
reject.

Error bound (per element; ``tolerances.LAYER_NORM_ROUNDING`` = K): with ``u`` the unit
roundoff of the dtype plus that of float64 (the implementation's rounding and the
reference's), ``n`` the row length, ``R = max_row |x| * rstd`` (how much the rounding of x and
of its mean is amplified by the normalization: large when the mean is large against the
spread) and ``m = n + rows``:

    |y - y_ref| <= K m u (|w| (|x_hat| + R (1 + |x_hat|)) + |b|) + tiny

and for the gradients the same with the magnitudes of :func:`grad_magnitudes`. The properties
are plain functions of (implementation, dtype, problem) so the self-tests can feed them wrong
implementations (:mod:`properties.layer_norm_properties`); the problems, the bounds and the
comparison are in :mod:`properties.layer_norm_cases` (shared with the accuracy atlas).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import primitives as P

from . import layer_properties
from .implementations import framework_of
from .layer_norm_properties import (
    backward_matches_autodiff,
    backward_matches_finite_differences,
    backward_matches_reference,
    forward_matches_reference,
    problems,
)
from .layer_properties import cotangents

# the family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = layer_properties.IMPLEMENTATION_KINDS
DTYPES = layer_properties.DTYPES


# --- the tests -------------------------------------------------------------------------------


@given(data=st.data())
def test_forward_matches_reference(impl, dtype, data):
    forward_matches_reference(impl, dtype, data.draw(problems(dtype), label="problem"))


@given(data=st.data())
def test_backward_matches_reference(impl, dtype, data):
    p = data.draw(problems(dtype), label="problem")
    backward_matches_reference(impl, dtype, p, cotangents(data, p.x.shape))


@settings(max_examples=6)  # (jax compiles each drawn eps anew)
@given(data=st.data())
def test_eps_over_its_domain(impl, dtype, data):
    p = data.draw(problems(dtype, whole_domain=True), label="problem")
    forward_matches_reference(impl, dtype, p)
    backward_matches_reference(impl, dtype, p, cotangents(data, p.x.shape))


@given(data=st.data())
def test_backward_matches_finite_differences(impl, data):
    p = data.draw(problems("float64"), label="problem")
    backward_matches_finite_differences(impl, p, cotangents(data, p.x.shape))


@given(data=st.data())
def test_backward_matches_framework_autodiff(impl, dtype, data):
    if framework_of(impl) is None:
        pytest.skip(f"{impl.id}: no framework autodiff (numpy is judged by finite differences)")
    p = data.draw(problems(dtype), label="problem")
    backward_matches_autodiff(impl, dtype, p, cotangents(data, p.x.shape))


@pytest.mark.parametrize(
    ("wanted", "affine"),
    [
        ("x", True),
        ("weight", True),
        ("bias", True),
        ("x,weight,bias", True),
        ("weight,bias", True),
        ("x", False),
    ],
)
def test_loss_backward_gets_the_hand_written_gradients(wanted, affine):
    """``loss.backward()`` through ``P.layer_norm`` with any of x, weight and bias requiring
    grad (a first layer's input does not; ``nn.Parameter`` weights do), or x alone without
    weight and bias, gives exactly ``layer_norm_backward``'s gradients for those: the
    autograd Function runs that kernel, not autograd through the forward's operations, whose
    rounding differs (this test fails when layer norm names no backward: torch's own
    ``native_layer_norm_backward`` is not given the centred rows)."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    rng = np.random.default_rng(7)
    x0 = torch.from_numpy(rng.normal(size=(300, 2000)) + 50.0).float()
    w0, b0 = (torch.from_numpy(rng.normal(size=2000)).float() if affine else None for _ in range(2))
    g = torch.from_numpy(rng.normal(size=(300, 2000))).float()
    leaves = {"x": x0.clone(), "weight": w0, "bias": b0}
    leaves = {k: None if v is None else v.clone() for k, v in leaves.items()}
    for name in wanted.split(","):
        leaves[name].requires_grad_(True)
    P.layer_norm(leaves["x"], (2000,), leaves["weight"], leaves["bias"]).backward(g)
    expected = dict(zip(leaves, P.layer_norm_backward(g, x0, (2000,), w0, b0), strict=True))
    for name in wanted.split(","):
        assert torch.equal(leaves[name].grad, expected[name]), f"{name}: not the hand-written one"


def _offset_rows(offset: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    return offset + rng.normal(size=(64, 1024)), rng.normal(size=(64, 1024))


def _float64_layer_norm(
    x: np.ndarray, g: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray]:
    """y and dx of layer norm without affine in float64, from the float32 values."""
    m = x.mean(-1, keepdims=True)
    rstd = 1 / np.sqrt(((x - m) ** 2).mean(-1, keepdims=True) + eps)
    y = (x - m) * rstd
    return y, rstd * (g - g.mean(-1, keepdims=True) - y * (g * y).mean(-1, keepdims=True))


def _row_errors(got: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """Per row, the largest error in units of 2^-24 of the row's largest |value|."""
    return np.abs(got - expected).max(-1) / np.abs(expected).max(-1) / 2.0**-24


@pytest.mark.parametrize("offset", [1e2, 1e3, 1e4])
def test_accurate_on_rows_far_from_zero(impl, offset):
    """float32 rows ``offset + N(0, 1)`` of 1024 values: the output and dx within 8 units of
    2^-24 of the row's largest value (a float64 reference from the same float32 inputs). Both
    kernels remove the rounded mean's residual (the generic one subtracts ``mean(x - mean)``,
    torch's centres each row before its fused kernels); with one rounded mean the generic dx
    was 2, 16 and 153 units off at the median row, and torch's own
    ``native_layer_norm_backward`` given x is 12, 108 and 1212 (its ``b x + c`` cancels): the
    second assertion shows this test rejecting the latter."""
    x64, g64 = _offset_rows(offset)
    x, g = impl.array(x64, "float32"), impl.array(g64, "float32")
    y_ref, dx_ref = _float64_layer_norm(impl.numpy(x), impl.numpy(g))
    y = impl.numpy(impl.ops.layer_norm(x, 1024))
    dx = impl.numpy(impl.ops.layer_norm_backward(g, x, 1024)[0])
    assert _row_errors(y, y_ref).max() <= 8, _row_errors(y, y_ref).max()
    assert _row_errors(dx, dx_ref).max() <= 8, _row_errors(dx, dx_ref).max()
    if impl.id == "torch":
        import torch

        _, mean, rstd = torch.native_layer_norm(x, [1024], None, None, 1e-5)
        uncentred = torch.ops.aten.native_layer_norm_backward(
            g, x, [1024], mean, rstd, None, None, [True, False, False]
        )[0]
        assert _row_errors(uncentred.double().numpy(), dx_ref).max() > 8  # (the test's power)


def test_rows_of_one_element_give_the_bias_and_a_zero_gradient(impl):
    """n = 1: x_hat is 0 whatever x, so y is the bias and dx exactly 0 (torch's fused
    backward leaves a rounding of ``rstd g w`` there; the torch backend takes the generic
    kernel for such rows)."""
    rng = np.random.default_rng(2)
    x, g = (impl.array(rng.normal(size=(5, 1)), "float32") for _ in range(2))
    w, b = impl.array(np.array([1.5]), "float32"), impl.array(np.array([0.25]), "float32")
    assert np.array_equal(impl.numpy(impl.ops.layer_norm(x, 1, w, b)), np.full((5, 1), 0.25))
    dx, _, _ = impl.ops.layer_norm_backward(g, x, 1, w, b)
    assert np.array_equal(impl.numpy(dx), np.zeros((5, 1)))


def test_eps_zero_and_a_tiny_spread_give_finite_gradients(impl):
    """eps = 0 on a float32 row whose spread is 3e-20 (rstd about 3e19, rstd^2 beyond
    float32): dx is about 5e19, finite, and within float32 rounding of float64 (torch's fused
    backward overflows to NaN there; the torch backend takes the generic kernel below
    eps = tiny^(2/3)). The squared deviations are subnormal: arithmetic that flushes them
    (XLA on the CPU) has a variance of 0 and an infinite rstd, which this test does not
    judge."""
    if impl.flushes_subnormals:
        pytest.skip(f"{impl.id} flushes the subnormal squared deviations to 0 (rstd = inf)")
    x64 = np.array([[2e-20, -2e-20, 6e-20, 0.0]])
    x, g = impl.array(x64, "float32"), impl.array(np.array([[1.0, 2.0, 3.0, 4.0]]), "float32")
    _, expected = _float64_layer_norm(impl.numpy(x), impl.numpy(g), eps=0.0)
    dx = impl.numpy(impl.ops.layer_norm_backward(g, x, 4, eps=0.0)[0])
    assert np.isfinite(dx).all() and _row_errors(dx, expected).max() <= 8, dx
