"""Laws of layer norm on every backend (standardized rows, invariance to a per-row affine
change, the input gradient's rows summing to 0 and orthogonal to x_hat, NaN rows, absent
weight/bias), the differential checks against ``torch.nn.functional.layer_norm`` and flax's
``nn.LayerNorm`` (values and autodiff gradients), and bad input.

Every bound is the one of ``test_layer_norm.py`` (``forward_bound``, ``grad_magnitudes``):
where two computed values are compared, each may be off the exact value by its bound.

The laws and the comparison with torch that ``test_layer_norm_self.py`` reuses are in
:mod:`properties.layer_norm_properties`.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import primitives as P

from . import layer_properties
from .implementations import Implementation, installed, library_backends, resolve
from .layer_norm_cases import Problem, Run, backend_arrays, forward_bound, within
from .layer_norm_properties import (
    as_rows,
    input_gradient_laws,
    matches_torch,
    problems,
    rows_are_standardized,
)
from .layer_properties import cotangents

# the family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = layer_properties.IMPLEMENTATION_KINDS
DTYPES = layer_properties.DTYPES

# --- laws ------------------------------------------------------------------------------------


def invariant_to_row_affine(impl: Implementation, dtype: str, p: Problem, a, c) -> None:
    """layer_norm(a x + c, eps a^2) = layer_norm(x, eps) for a > 0 and a per-row shift c."""
    c = np.asarray(c, np.float64).reshape(p.x.shape[: p.x.ndim - p.k] + (1,) * p.k)
    run = Run(impl, p, dtype)
    moved = Problem(a * run.exact.x + c, p.k, p.weight, p.bias, p.eps * a * a)
    run2 = Run(impl, moved, dtype)
    y1, y2 = impl.numpy(run.forward()), impl.numpy(run2.forward())
    allowed = forward_bound(run.exact, dtype) + 2 * forward_bound(run2.exact, dtype)
    within(f"layer_norm on {impl.id}: a x + c (a={a})", dtype, y2, y1, allowed)


def nan_stays_in_its_row(impl: Implementation, dtype: str, p: Problem, g: np.ndarray) -> None:
    """A NaN in one row makes that row's output and dx NaN, leaves the other rows as they were,
    and makes dweight NaN (it sums g * x_hat over the rows)."""
    x = p.x.copy()
    x.reshape(-1, math.prod(p.normalized_shape))[0, 0] = np.nan
    clean, dirty = Run(impl, p, dtype), Run(impl, p._replace(x=x), dtype)
    y0, y1 = impl.numpy(clean.forward()), impl.numpy(dirty.forward())
    d0, d1 = clean.backward(g), dirty.backward(g)
    what = f"layer_norm on {impl.id} with a NaN in row 0"
    for name, a, b in (("output", y0, y1), ("dx", impl.numpy(d0[0]), impl.numpy(d1[0]))):
        a, b = as_rows(a, p.k), as_rows(b, p.k)
        assert np.isnan(b[0]).all(), f"{what}: {name} of row 0 is not all NaN: {b[0]}"
        assert np.array_equal(a[1:], b[1:]), f"{what}: {name} of the other rows changed"
    if d1[1] is not None:  # dweight sums g * x_hat over rows (dbias does not involve x)
        assert np.isnan(impl.numpy(d1[1])).all(), f"{what}: dweight hides the NaN"


def absent_parameters_are_identity(impl: Implementation, dtype: str, p: Problem) -> None:
    """weight=None is weight=1 and bias=None is bias=0, bitwise."""
    ones, zeros = np.ones(p.normalized_shape), np.zeros(p.normalized_shape)
    plain = Run(impl, p._replace(weight=None, bias=None), dtype)
    full = Run(impl, p._replace(weight=ones, bias=zeros), dtype)
    a, b = impl.numpy(plain.forward()), impl.numpy(full.forward())
    assert np.array_equal(a, b), f"layer_norm on {impl.id}: weight=None/bias=None differ from 1/0"


@given(data=st.data())
def test_rows_are_standardized(impl, dtype, data):
    rows_are_standardized(impl, dtype, data.draw(problems(dtype), label="problem"))


@given(data=st.data())
def test_invariant_to_a_per_row_affine_change(impl, dtype, data):
    p = data.draw(problems(dtype), label="problem")
    a = data.draw(st.sampled_from([0.25, 3.0, 16.0]), label="a")
    lead = p.x.shape[: p.x.ndim - p.k]
    c = data.draw(st.lists(st.floats(-50, 50), min_size=math.prod(lead), max_size=math.prod(lead)))
    invariant_to_row_affine(impl, dtype, p, a, c)


@given(data=st.data())
def test_input_gradient_rows_sum_to_zero_and_are_orthogonal_to_x_hat(impl, dtype, data):
    p = data.draw(problems(dtype), label="problem")
    input_gradient_laws(impl, dtype, p, cotangents(data, p.x.shape))


@given(data=st.data())
def test_nan_stays_in_its_row(impl, dtype, data):
    p = data.draw(problems(dtype, configs=(((4, 5), 1), ((2, 3, 4), 2))), label="problem")
    nan_stays_in_its_row(impl, dtype, p, cotangents(data, p.x.shape))


@given(data=st.data())
def test_absent_weight_and_bias_are_one_and_zero(impl, dtype, data):
    absent_parameters_are_identity(impl, dtype, data.draw(problems(dtype), label="problem"))


# --- against the frameworks ------------------------------------------------------------------


def _flax_layer_norm(p: Problem, dtype: str, fast_variance: bool):
    import flax.linen as nn
    import jax.numpy as jnp

    axes = tuple(range(-p.k, 0))
    module = nn.LayerNorm(
        epsilon=p.eps,
        dtype=dtype,
        param_dtype=dtype,
        use_bias=p.bias is not None,
        use_scale=p.weight is not None,
        reduction_axes=axes,
        feature_axes=axes,
        use_fast_variance=fast_variance,
    )
    params = {}
    if p.weight is not None:
        params["scale"] = jnp.asarray(p.weight, dtype=dtype)
    if p.bias is not None:
        params["bias"] = jnp.asarray(p.bias, dtype=dtype)
    return np.asarray(module.apply({"params": params}, jnp.asarray(p.x, dtype=dtype)), np.float64)


def matches_flax(impl: Implementation, dtype: str, p: Problem, fast_variance: bool) -> None:
    """The library on ``impl`` against flax's nn.LayerNorm with eps, scale and bias mapped."""
    run = Run(impl, p, dtype)
    e = run.exact
    y = impl.numpy(run.forward())
    what = f"layer_norm on {impl.id} vs flax LayerNorm(use_fast_variance={fast_variance})"
    within(what, dtype, y, _flax_layer_norm(e, dtype, fast_variance), 2 * forward_bound(e, dtype))


@given(data=st.data())
def test_matches_torch_layer_norm(impl, dtype, data):
    if not installed("torch"):
        pytest.skip("torch is not installed")
    p = data.draw(problems(dtype), label="problem")
    matches_torch(impl, dtype, p, cotangents(data, p.x.shape))


@given(data=st.data())
def test_matches_flax_layer_norm(impl, dtype, data):
    if not installed("flax"):
        pytest.skip("flax is not installed")
    matches_flax(impl, dtype, data.draw(problems(dtype), label="problem"), fast_variance=False)


def test_flax_default_fast_variance_loses_the_variance():
    """Documented deviation: flax's default ``use_fast_variance=True`` computes
    E[x^2] - E[x]^2, which cancels when the mean is large against the spread (float32 rows
    around 1000 with spread 1e-3 come out about 5x too small); the two-pass variance keeps them."""
    pytest.importorskip("flax")
    x = np.array([[1000.0, 1000.001, 1000.002, 999.9]])
    p = Problem(x, 1, None, None, 1e-5)
    lib = resolve("jax")
    matches_flax(lib, "float32", p, fast_variance=False)
    with pytest.raises(AssertionError):
        matches_flax(lib, "float32", p, fast_variance=True)


# --- bad input -------------------------------------------------------------------------------

X = np.zeros((2, 3, 4))
BAD = [
    ("normalized_shape not trailing", (X, (3,)), {},
     r"layer_norm: x has shape \(2, 3, 4\), whose trailing dimensions must equal "
     r"normalized_shape \(3,\)"),
    ("normalized_shape longer than x", (X, (1, 2, 3, 4)), {}, r"trailing dimensions"),
    ("empty normalized_shape", (X, ()), {}, r"nonempty tuple of positive sizes"),
    ("zero size", (np.zeros((2, 0)), (0,)), {}, r"nonempty tuple of positive sizes, got \(0,\)"),
    ("weight of the wrong shape", (X, 4, np.ones(3)), {},
     r"weight has shape \(3,\) but must have shape \(4,\) \(normalized_shape\)"),
    ("bias of the wrong shape", (X, (3, 4), None, np.ones(4)), {},
     r"bias has shape \(4,\) but must have shape \(3, 4\)"),
    ("negative eps", (X, 4), {"eps": -1e-5}, r"eps must be a finite number >= 0, got -1e-05"),
    ("NaN eps", (X, 4), {"eps": float("nan")}, r"eps must be a finite number >= 0, got nan"),
]  # fmt: skip


def _call(impl: Implementation, name: str, args, kwargs):
    conv, _ = backend_arrays(
        impl, "float64", *[a if isinstance(a, np.ndarray) else None for a in args]
    )
    args = [c if isinstance(a, np.ndarray) else a for a, c in zip(args, conv, strict=True)]
    if name.endswith("_backward"):
        args = [impl.array(np.ones(args[0].shape), "float64"), *args]
    return getattr(P, name)(*args, **kwargs)


@pytest.mark.parametrize("name", ["layer_norm", "layer_norm_backward"])
@pytest.mark.parametrize("bad", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_the_same_clear_error_on_every_backend(name, bad):
    _, args, kwargs, match = bad
    messages = set()
    for impl in library_backends():
        with pytest.raises(ValueError, match=match.replace("layer_norm:", f"{name}:")) as info:
            _call(impl, name, args, kwargs)
        messages.add(str(info.value))
    assert len(messages) == 1, messages


def test_type_errors():
    x32 = np.zeros((2, 4), np.float32)
    with pytest.raises(TypeError, match="layer_norm: x must have a floating dtype"):
        P.layer_norm(np.zeros((2, 4), np.int64), 4)
    with pytest.raises(TypeError, match="weight has dtype float64 but x has float32"):
        P.layer_norm(x32, 4, np.ones(4))
    with pytest.raises(TypeError, match="normalized_shape must be an int or a tuple of ints"):
        P.layer_norm(x32, 4.0)
    with pytest.raises(TypeError, match="normalized_shape must hold ints"):
        P.layer_norm(x32, (True,))
    with pytest.raises(TypeError, match="grad_output has dtype float64 but x has float32"):
        P.layer_norm_backward(np.ones((2, 4)), x32, 4)
    with pytest.raises(ValueError, match=r"grad_output has shape \(4,\) but must have shape"):
        P.layer_norm_backward(np.ones(4, np.float32), x32, 4)


def test_mixing_backends_is_a_type_error():
    torch = pytest.importorskip("torch")
    x = torch.zeros(2, 4, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"layer_norm: weight and x belong to different backends"):
        P.layer_norm(x, 4, np.ones(4))
    with pytest.raises(TypeError, match="grad_output and x belong to different backends"):
        P.layer_norm_backward(np.ones((2, 4)), x, 4)


def test_bad_input_is_rejected_before_any_kernel_runs(monkeypatch):
    from primitives import _dispatch

    table = _dispatch.kernels("numpy")

    def ran(*args, **kwargs):
        raise AssertionError("a kernel ran before the input was validated")

    monkeypatch.setattr(table, "layer_norm", ran)
    monkeypatch.setattr(table, "layer_norm_backward", ran)
    for _, args, kwargs, match in BAD:
        for name in ("layer_norm", "layer_norm_backward"):
            with pytest.raises(ValueError, match=match.split(":", 1)[-1]):
                _call(resolve("numpy"), name, args, kwargs)
