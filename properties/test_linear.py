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
The problems and bounds are in :mod:`properties.linear_cases` (shared with the accuracy atlas).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import primitives as P
from reference import layers as R

from . import strategies as S
from . import test_layer_norm
from .checks import check_vjp, fold_cotangent
from .implementations import Implementation, framework_of, installed, library_backends, resolve
from .linear_cases import (
    Problem,
    Run,
    _k,
    forward_bound,
    grad_bounds,
)
from .test_layer_norm import (
    backend_arrays,
    cotangents,
    dtype_name,
    finite_values,
    gamma,
    within,
)

# the family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = test_layer_norm.IMPLEMENTATION_KINDS
DTYPES = test_layer_norm.DTYPES


# (x shape, weight shape): batch dims of several ranks, a 1-d x, square weights (where a missing
# transpose would go unnoticed by the shapes)
CONFIGS = [((4, 3), (5, 3)), ((2, 3, 4), (2, 4)), ((3,), (3, 3)), ((2, 4), (4, 4))]


@st.composite
def problems(draw, dtype: str):
    xs, ws = draw(st.sampled_from(CONFIGS))
    x = draw(S.arrays("float64", xs, finite_values(dtype, -10.0, 10.0)))
    w = draw(S.arrays("float64", ws, finite_values(dtype, -3.0, 3.0)))
    b = draw(st.none() | S.arrays("float64", ws[:1], finite_values(dtype, -10.0, 10.0)))
    return Problem(x, w, b)


# --- the properties --------------------------------------------------------------------------


def forward_matches_reference(impl: Implementation, dtype: str, p: Problem) -> None:
    """z = x W^T + b within Higham's dot-product bound, with x's dtype; inputs unchanged."""
    run = Run(impl, p, dtype)
    out = run.forward()
    what = f"linear{p.x.shape}x{p.weight.shape} on {impl.id}"
    assert dtype_name(out) == dtype, f"{what}: dtype {out.dtype}, expected {dtype}"
    run.check_unchanged()
    e = run.exact
    within(what, dtype, impl.numpy(out), R.linear(e.x, e.weight, e.bias), forward_bound(e, dtype))


def backward_matches_reference(impl: Implementation, dtype: str, p: Problem, g) -> None:
    run = Run(impl, p, dtype)
    grads = run.backward(g)
    run.check_unchanged()
    e = run.exact
    g_seen = impl.numpy(impl.array(g, dtype))
    expected = R.linear_grad(g_seen, e.x, e.weight, e.bias)
    bounds = grad_bounds(g_seen, e, dtype)
    for name, a, ex, bound in zip(("dx", "dweight", "dbias"), grads, expected, bounds, strict=True):
        what = f"linear_backward{p.x.shape}x{p.weight.shape} on {impl.id}: {name}"
        if ex is None:
            assert a is None, f"{what}: expected None (no bias), got {type(a)}"
            continue
        assert dtype_name(a) == dtype, f"{what}: dtype {a.dtype}, expected {dtype}"
        within(what, dtype, impl.numpy(a), ex, bound)


def backward_matches_finite_differences(impl: Implementation, p: Problem, g) -> None:
    run = Run(impl, p, "float64")
    grads = run.backward(g)
    for i, name in enumerate(("x", "weight", "bias")):
        if run.exact[i] is None:
            continue

        def f(v, i=i):
            args = list(run.args)
            args[i] = impl.array(v, "float64")
            return impl.numpy(run.forward(*args))

        x = run.exact[i]
        # the checker reports the cotangent at the input's worst index: where g is smaller than
        # the input, fold it into the input's shape (<ones, f'> = <g, f>), as the losses do
        fun, cot = fold_cotangent(f, g, x) if np.size(g) < x.size else (f, g)
        report = check_vjp(
            f"linear_backward on {impl.id}: d{name} [float64]", fun, impl.numpy(grads[i]), cot, x
        )
        assert report.ok, report.message


def backward_matches_autodiff(impl: Implementation, dtype: str, p: Problem, g) -> None:
    fw = framework_of(impl)
    run = Run(impl, p, dtype)
    present = [i for i, a in enumerate(run.args) if a is not None]
    ga = impl.array(g, dtype)
    if fw == "torch":
        args = list(run.args)
        for i in present:
            args[i] = args[i].detach().clone().requires_grad_(True)
        run.forward(*args).backward(ga)
        auto = [args[i].grad for i in present]
    else:
        import jax

        def f(*leaves):
            args = list(run.args)
            for i, leaf in zip(present, leaves, strict=True):
                args[i] = leaf
            return run.forward(*args)

        _, vjp = jax.vjp(f, *[run.args[i] for i in present])
        auto = vjp(ga)
    grads = run.backward(g)
    bounds = grad_bounds(impl.numpy(ga), run.exact, dtype, factor=2.0)
    for i, h in zip(present, auto, strict=True):
        what = f"linear on {impl.id}: {fw} autodiff, gradient {i}"
        within(what, dtype, impl.numpy(h), impl.numpy(grads[i]), bounds[i])


def matches_torch(impl: Implementation, dtype: str, p: Problem, g) -> None:
    """The library on ``impl`` against F.linear (values and autograd gradients)."""
    import torch
    import torch.nn.functional as F

    run = Run(impl, p, dtype)
    e = run.exact
    leaves = [
        None if a is None else torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True)
        for a in e
    ]
    z = F.linear(*leaves)
    allowed = 2 * gamma(_k(e), dtype) * R.linear_magnitude(*e)
    within(
        f"linear on {impl.id} vs F.linear",
        dtype,
        impl.numpy(run.forward()),
        z.detach().double().numpy(),
        allowed,
    )
    g_seen = impl.numpy(impl.array(g, dtype))
    z.backward(torch.tensor(g_seen, dtype=getattr(torch, dtype)))
    bounds = grad_bounds(g_seen, e, dtype, factor=2.0)
    for name, leaf, a, bound in zip(
        ("dx", "dweight", "dbias"), leaves, run.backward(g), bounds, strict=True
    ):
        if leaf is not None:
            what = f"linear_backward on {impl.id} vs torch autograd of F.linear: {name}"
            within(what, dtype, impl.numpy(a), leaf.grad.double().numpy(), bound)


def matches_flax(impl: Implementation, dtype: str, p: Problem) -> None:
    """The library on ``impl`` against flax nn.Dense with kernel = W^T (flax's layout)."""
    import flax.linen as nn
    import jax.numpy as jnp

    run = Run(impl, p, dtype)
    e = run.exact
    n_out = e.weight.shape[0]
    dense = nn.Dense(n_out, use_bias=e.bias is not None, dtype=dtype, param_dtype=dtype)
    params = {"kernel": jnp.asarray(e.weight.T, dtype=dtype)}
    if e.bias is not None:
        params["bias"] = jnp.asarray(e.bias, dtype=dtype)
    z = np.asarray(dense.apply({"params": params}, jnp.asarray(e.x, dtype=dtype)), np.float64)
    allowed = 2 * gamma(_k(e), dtype) * R.linear_magnitude(*e)
    within(f"linear on {impl.id} vs flax Dense", dtype, impl.numpy(run.forward()), z, allowed)


# --- the tests -------------------------------------------------------------------------------


@given(data=st.data())
def test_forward_matches_reference(impl, dtype, data):
    forward_matches_reference(impl, dtype, data.draw(problems(dtype), label="problem"))


def _output_shape(p: Problem) -> tuple[int, ...]:
    return p.x.shape[:-1] + p.weight.shape[:1]


@given(data=st.data())
def test_backward_matches_reference(impl, dtype, data):
    p = data.draw(problems(dtype), label="problem")
    backward_matches_reference(impl, dtype, p, cotangents(data, _output_shape(p)))


@given(data=st.data())
def test_backward_matches_finite_differences(impl, data):
    p = data.draw(problems("float64"), label="problem")
    backward_matches_finite_differences(impl, p, cotangents(data, _output_shape(p)))


@given(data=st.data())
def test_backward_matches_framework_autodiff(impl, dtype, data):
    if framework_of(impl) is None:
        pytest.skip(f"{impl.id}: no framework autodiff (numpy is judged by finite differences)")
    p = data.draw(problems(dtype), label="problem")
    backward_matches_autodiff(impl, dtype, p, cotangents(data, _output_shape(p)))


@given(data=st.data())
def test_matches_torch_linear(impl, dtype, data):
    if not installed("torch"):
        pytest.skip("torch is not installed")
    p = data.draw(problems(dtype), label="problem")
    matches_torch(impl, dtype, p, cotangents(data, _output_shape(p)))


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
    allowed = gamma(_k(p), "float32") * R.linear_magnitude(p.x, w)
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
