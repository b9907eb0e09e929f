"""L1 and L2 penalties on every backend: values and gradients against the float64 references,
gradients against finite differences (away from 0) and the frameworks' autodiff (at 0 too), the
parameter structures, the L1 subgradient at 0, NaN, bad input, and deliberately wrong penalties
that the same properties reject. The problems and bounds are in :mod:`properties.penalty_cases`
(shared with the accuracy atlas), the properties in :mod:`properties.penalty_properties`.

Error bounds: the penalties are sums of N nonnegative terms over L arrays, then scaled by lam
(and squared entries for L2): within ``gamma_(N + L + 2)`` relative (Higham, eq. (3.4), every
term nonnegative so sum|terms| = the result) of the dtype, plus the float64 reference's
``gamma``. The gradients ``(lam g) sign(x)`` and ``(lam g) x`` take at most three roundings
(lam to the dtype, lam g, the product): ``gamma_3`` relative.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import primitives as P
from primitives import _dispatch

from . import layer_properties
from .implementations import Implementation, framework_of, library_backends, resolve
from .mutants import drawn
from .penalty_cases import NAMES, flatten
from .penalty_properties import (
    backward_matches_autodiff,
    backward_matches_finite_differences,
    backward_matches_reference,
    draw_grad_output,
    forward_matches_reference,
    problems,
)

# the family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = layer_properties.IMPLEMENTATION_KINDS
DTYPES = layer_properties.DTYPES


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_forward_matches_reference(impl, dtype, name, data):
    forward_matches_reference(impl, name, dtype, data.draw(problems(dtype), label="problem"))


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_backward_matches_reference(impl, dtype, name, data):
    p = data.draw(problems(dtype), label="problem")
    backward_matches_reference(impl, name, dtype, p, draw_grad_output(data))


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=6)  # (jax compiles each drawn lam anew)
@given(data=st.data())
def test_lam_over_its_domain(impl, dtype, name, data):
    p = data.draw(problems(dtype, whole_domain=True), label="problem")
    forward_matches_reference(impl, name, dtype, p)
    backward_matches_reference(impl, name, dtype, p, draw_grad_output(data))


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_backward_matches_finite_differences_away_from_zero(impl, name, data):
    p = data.draw(problems("float64", away_from_zero=True), label="problem")
    backward_matches_finite_differences(impl, name, p, draw_grad_output(data))


@pytest.mark.parametrize("name", NAMES)
@given(data=st.data())
def test_backward_matches_framework_autodiff(impl, dtype, name, data):
    if framework_of(impl) is None:
        pytest.skip(f"{impl.id}: no framework autodiff (numpy is judged by finite differences)")
    p = data.draw(problems(dtype), label="problem")
    backward_matches_autodiff(impl, name, dtype, p, draw_grad_output(data))


def l1_subgradient_at_zero_is_zero(impl: Implementation, dtype: str) -> None:
    x = impl.array(np.array([0.0, -0.0, 2.0, -3.0]), dtype)
    grad = impl.numpy(impl.ops.l1_penalty_backward(1.0, {"w": x}, 0.5)["w"])
    assert np.array_equal(grad, [0.0, 0.0, 0.5, -0.5]), f"L1 gradient on {impl.id}: {grad}"


def nan_propagates(impl: Implementation, name: str, dtype: str) -> None:
    x = impl.array(np.array([1.0, np.nan, 0.0]), dtype)
    other = impl.array(np.array([2.0]), dtype)
    out = impl.numpy(getattr(impl.ops, name)([x, other], 0.5))
    assert np.isnan(out), f"{name} on {impl.id}: a NaN parameter gave {out}"
    gx, go = getattr(impl.ops, name + "_backward")(1.0, [x, other], 0.5)
    gx, go = impl.numpy(gx), impl.numpy(go)
    assert np.isnan(gx[1]) and not np.isnan(gx[[0, 2]]).any() and not np.isnan(go).any(), (
        f"{name}_backward on {impl.id}: NaN must stay at its entry: {gx}, {go}"
    )


def test_l1_subgradient_at_zero_is_zero(impl, dtype):
    l1_subgradient_at_zero_is_zero(impl, dtype)


@pytest.mark.parametrize("name", NAMES)
def test_nan_is_never_turned_into_a_number(impl, dtype, name):
    nan_propagates(impl, name, dtype)


def test_l2_convention_half_lambda():
    """Documented: l2 = lam/2 sum x^2 (so its gradient is lam x, torch's weight_decay)."""
    x = np.array([3.0, -4.0])
    assert P.l2_penalty(x, 0.1) == pytest.approx(0.5 * 0.1 * 25.0, rel=1e-15)
    np.testing.assert_array_equal(P.l2_penalty_backward(1.0, x, 0.1), 0.1 * x)
    assert P.l1_penalty(x, 0.1) == pytest.approx(0.7, rel=1e-15)


# --- bad input -------------------------------------------------------------------------------

BAD = [
    ("negative lam", lambda a: a(np.ones(3)), -0.1, ValueError,
     r"lam must be a finite number >= 0, got -0.1"),
    ("NaN lam", lambda a: a(np.ones(3)), float("nan"), ValueError, r"got nan"),
    ("infinite lam", lambda a: a(np.ones(3)), float("inf"), ValueError, r"got inf"),
    ("no arrays", lambda a: {"w": [], "b": ()}, 0.1, ValueError, r"params holds no array"),
    ("a number among the arrays", lambda a: {"w": a(np.ones(2)), "b": 1.0}, 0.1, TypeError,
     r"params must hold arrays \(in dicts, lists or tuples\); got a Python number at \['b'\]"),
    ("a set", lambda a: {"w": {a(np.ones(2)).shape}}, 0.1, TypeError,
     r"params must hold arrays .* got builtins.set at \['w'\]"),
    ("two dtypes", lambda a: [a(np.ones(2)), a(np.ones(2), "float32")], 0.1, TypeError,
     r"params mix dtypes \(float64 at \[0\] and float32 at \[1\]\)"),
    ("integer params", lambda a: [a(np.ones(2, np.int64))], 0.1, TypeError,
     r"params must have a floating dtype, got int64 at \[0\]"),
]  # fmt: skip


def _maker(impl: Implementation):
    def make(a: np.ndarray, dtype: str = "float64"):
        if a.dtype.kind == "f":
            return impl.array(a, dtype)
        return impl.exact(a)

    return make


@pytest.mark.parametrize("name", [*NAMES, "l1_penalty_backward", "l2_penalty_backward"])
@pytest.mark.parametrize("bad", BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_the_same_clear_error_on_every_backend(name, bad):
    _, build, lam, error, match = bad
    messages = set()
    for impl in library_backends():
        params = build(_maker(impl))
        args = (1.0, params, lam) if name.endswith("_backward") else (params, lam)
        with pytest.raises(error, match=match) as info:
            getattr(P, name)(*args)
        assert str(info.value).startswith(f"{name}: "), str(info.value)
        messages.add(str(info.value).replace("int32", "int64"))
    assert len(messages) == 1, messages


def test_mixing_backends_and_bad_grad_output():
    torch = pytest.importorskip("torch")
    t = torch.ones(2, dtype=torch.float64)
    with pytest.raises(
        TypeError,
        match=r"l1_penalty: params mixes backends \(numpy.ndarray at "
        r"\['a'\] and torch.Tensor at \['b'\]\)",
    ):
        P.l1_penalty({"a": np.ones(2), "b": t}, 0.1)
    with pytest.raises(TypeError, match="grad_output and params belong to different backends"):
        P.l2_penalty_backward(np.float64(1.0), t, 0.1)
    with pytest.raises(ValueError, match=r"grad_output must be a scalar \(0-d\), got shape"):
        P.l2_penalty_backward(torch.ones(2, dtype=torch.float64), t, 0.1)


def test_bad_input_is_rejected_before_any_kernel_runs(monkeypatch):
    table = _dispatch.kernels("numpy")

    def ran(*args, **kwargs):
        raise AssertionError("a kernel ran before the input was validated")

    for name in NAMES:
        monkeypatch.setattr(table, name, ran)
        monkeypatch.setattr(table, name + "_backward", ran)
    numpy = resolve("numpy")
    for _, build, lam, error, match in BAD:
        with pytest.raises(error, match=match):
            P.l1_penalty(build(_maker(numpy)), lam)
        with pytest.raises(error, match=match):
            P.l2_penalty_backward(1.0, build(_maker(numpy)), lam)


# --- self-tests: wrong penalties are rejected --------------------------------------------------

_B = _dispatch.kernels("numpy").backend


def mutant(**overrides) -> Implementation:
    ops = {n: getattr(P, n) for n in (*NAMES, "l1_penalty_backward", "l2_penalty_backward")}
    return Implementation("mutant", _B, SimpleNamespace(**{**ops, **overrides}), "mutant")


def _sign_zero_is_one(g, params, lam):
    # np.where(x >= 0, 1, -1): the subgradient +1 at x = 0
    grads = P.l1_penalty_backward(g, params, lam)
    leaves = flatten(params)
    fixed = [
        np.where(x == 0, np.asarray(g * lam, x.dtype), d)
        for x, d in zip(leaves, flatten(grads), strict=True)
    ]
    return _rebuild(params, fixed)


def _rebuild(params, leaves):
    it = iter(leaves)

    def build(p):
        if isinstance(p, dict):
            return {k: build(v) for k, v in p.items()}
        if isinstance(p, (list, tuple)):
            return type(p)(build(v) for v in p)
        return next(it)

    return build(params)


def _l2_without_half(params, lam):
    return P.l2_penalty(params, 2 * lam)


def _l2_without_half_both(g, params, lam):
    return P.l2_penalty_backward(g, params, 2 * lam)


def _l1_ignoring_grad_output(g, params, lam):
    return P.l1_penalty_backward(1.0, params, lam)


MUTANTS = {
    "L1 subgradient 1 at 0": mutant(l1_penalty_backward=_sign_zero_is_one),
    "L2 forward without the 1/2": mutant(l2_penalty=_l2_without_half),
    "L2 without the 1/2, forward and backward": mutant(
        l2_penalty=_l2_without_half, l2_penalty_backward=_l2_without_half_both
    ),
    "L1 backward ignoring grad_output": mutant(l1_penalty_backward=_l1_ignoring_grad_output),
}


def test_l1_subgradient_one_at_zero_is_rejected():
    m = MUTANTS["L1 subgradient 1 at 0"]
    with pytest.raises(AssertionError):
        l1_subgradient_at_zero_is_zero(m, "float64")
    drawn(
        problems("float32"),
        lambda p: backward_matches_reference(m, "l1_penalty", "float32", p, 1.0),
    )


def test_l2_without_half_is_rejected():
    m = MUTANTS["L2 forward without the 1/2"]
    drawn(
        problems("float64", True),
        lambda p: backward_matches_finite_differences(m, "l2_penalty", p, 1.0),
    )
    both = MUTANTS["L2 without the 1/2, forward and backward"]
    f64 = problems("float64")
    drawn(f64, lambda p: forward_matches_reference(both, "l2_penalty", "float64", p))
    drawn(f64, lambda p: backward_matches_reference(both, "l2_penalty", "float64", p, 1.0))


def test_l1_backward_ignoring_grad_output_is_rejected():
    m = MUTANTS["L1 backward ignoring grad_output"]
    drawn(
        problems("float64"),
        lambda p: backward_matches_reference(m, "l1_penalty", "float64", p, -0.5),
    )


def test_the_library_passes_the_fixed_checks():
    l1_subgradient_at_zero_is_zero(mutant(), "float64")


def test_every_mutant_is_exercised():
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for name in MUTANTS:
        assert source.count(f'MUTANTS["{name}"]') >= 1, name
