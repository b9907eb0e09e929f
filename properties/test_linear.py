"""The linear layer on every backend: values and gradients against the float64 reference,
gradients against finite differences and the frameworks' autodiff, against
``torch.nn.functional.linear`` and flax's ``nn.Dense`` (kernel = W^T), and bad input.

Error bound (rigorous, no fitted constant): each output is a dot product of ``k`` terms
(``in_features``, plus one for the bias), and any floating-point evaluation of it, in any
order, with or without FMA, satisfies

    |fl(z) - z| <= gamma_k * (sum |x| |W| + |b|),   gamma_k = k u / (1 - k u)

(Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed. 2002, eq. (3.4) / Lemma
3.1). A check allows ``gamma_k(u_dtype) + gamma_k(u_float64)``: the implementation's error plus
the float64 reference's. The gradients are dot products too: ``dx = g W`` (length
``out_features``), ``dweight = g^T x`` and ``dbias = sum g`` (length = the number of rows).
The problems and bounds are in :mod:`properties.linear_cases` (shared with the accuracy atlas),
the properties in :mod:`properties.linear_properties` (shared with the self-tests).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import primitives as P
from reference import layers as R

from . import layer_properties
from .implementations import Implementation, framework_of, installed, library_backends, resolve
from .layer_norm_cases import backend_arrays, gamma, within
from .layer_properties import cotangents
from .linear_cases import Problem, dot_terms
from .linear_properties import (
    backward_matches_autodiff,
    backward_matches_finite_differences,
    backward_matches_reference,
    forward_matches_reference,
    matches_flax,
    matches_torch,
    output_shape,
    problems,
)

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
    backward_matches_reference(impl, dtype, p, cotangents(data, output_shape(p)))


@given(data=st.data())
def test_backward_matches_finite_differences(impl, data):
    p = data.draw(problems("float64"), label="problem")
    backward_matches_finite_differences(impl, p, cotangents(data, output_shape(p)))


@given(data=st.data())
def test_backward_matches_framework_autodiff(impl, dtype, data):
    if framework_of(impl) is None:
        pytest.skip(f"{impl.id}: no framework autodiff (numpy is judged by finite differences)")
    p = data.draw(problems(dtype), label="problem")
    backward_matches_autodiff(impl, dtype, p, cotangents(data, output_shape(p)))


@given(data=st.data())
def test_matches_torch_linear(impl, dtype, data):
    if not installed("torch"):
        pytest.skip("torch is not installed")
    p = data.draw(problems(dtype), label="problem")
    matches_torch(impl, dtype, p, cotangents(data, output_shape(p)))


@given(data=st.data())
def test_matches_flax_dense(impl, dtype, data):
    if not installed("flax"):
        pytest.skip("flax is not installed")
    matches_flax(impl, dtype, data.draw(problems(dtype), label="problem"))


def test_the_bound_is_tight_enough_to_see_one_rounding_of_the_inputs():
    """The bound is not loose: float32 products of inputs that were rounded once more (to
    bfloat16 precision, an 8-bit significand) fall outside it on a plain case."""
    x = np.linspace(-1, 1, 12).reshape(3, 4) + 1 / 3
    w = np.linspace(0.3, -0.7, 8).reshape(2, 4)
    p = Problem(x.astype(np.float32).astype(np.float64), w, None)
    rough = np.round(p.x * 256) / 256
    allowed = gamma(dot_terms(p), "float32") * R.linear_magnitude(p.x, w)
    with pytest.raises(AssertionError):
        within("rounded inputs", "float32", R.linear(rough, w), R.linear(p.x, w), allowed)


# --- bad input -------------------------------------------------------------------------------

X = np.zeros((2, 3))
W = np.zeros((4, 3))
BAD = [
    ("x of 0 dimensions", (np.float64(1.0), W), r"x must have at least one dimension"),
    ("weight not 2-d", (X, np.zeros(3)), r"weight must have shape \(out_features, in_features\), "
     r"got \(3,\)"),
    ("weight transposed", (X, np.zeros((3, 4))),
     r"x has shape \(2, 3\) but weight \(3, 4\) needs x's last dimension to be in_features = 4"),
    ("bias of the wrong length", (X, W, np.zeros(3)),
     r"bias has shape \(3,\) but must have shape \(4,\) \(\(out_features,\)\)"),
]  # fmt: skip


def _call(impl: Implementation, name: str, args):
    conv, _ = backend_arrays(impl, "float64", *args)
    if name.endswith("_backward"):
        shape = (*conv[0].shape[:-1], W.shape[0])
        conv = [impl.array(np.ones(shape), "float64"), *conv]
    return getattr(P, name)(*conv)


@pytest.mark.parametrize("name", ["linear", "linear_backward"])
@pytest.mark.parametrize("bad", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_the_same_clear_error_on_every_backend(name, bad):
    _, args, match = bad
    messages = set()
    for impl in library_backends():
        with pytest.raises(ValueError, match=match) as info:
            _call(impl, name, args)
        messages.add(str(info.value))
        assert str(info.value).startswith(f"{name}: "), str(info.value)
    assert len(messages) == 1, messages


def test_bad_input_is_rejected_before_any_kernel_runs(monkeypatch):
    from primitives import _dispatch

    table = _dispatch.kernels("numpy")

    def ran(*args, **kwargs):
        raise AssertionError("a kernel ran before the input was validated")

    monkeypatch.setattr(table, "linear", ran)
    monkeypatch.setattr(table, "linear_backward", ran)
    for _, args, match in BAD:
        for name in ("linear", "linear_backward"):
            with pytest.raises(ValueError, match=match):
                _call(resolve("numpy"), name, args)


def test_type_and_shape_errors():
    x32 = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="linear: x must have a floating dtype"):
        P.linear(np.zeros((2, 3), np.int32), W)
    with pytest.raises(TypeError, match="linear: weight must have a floating dtype like x"):
        P.linear(X, np.zeros((4, 3), np.int64))
    with pytest.raises(TypeError, match="weight has dtype float64 but x has float32"):
        P.linear(x32, W)
    with pytest.raises(
        ValueError,
        match=r"grad_output has shape \(2, 3\) but must have shape "
        r"\(2, 4\)",
    ):
        P.linear_backward(X, X, W)


def test_mixing_backends_is_a_type_error():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match="linear: weight and x belong to different backends"):
        P.linear(torch.zeros(2, 3, dtype=torch.float64), W)
    with pytest.raises(TypeError, match="grad_output and x belong to different backends"):
        P.linear_backward(torch.ones(2, 4, dtype=torch.float64), X, W)
