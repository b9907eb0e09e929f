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
implementations.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import layers as R

from . import strategies as S
from . import tolerances
from .checks import check_vjp
from .checks.rounding import LOW_PRECISION, rounds_once_within
from .implementations import PUBLIC_API, Implementation, framework_of

DTYPES = ("float32", "float64")
# judged through the public API (no native kernels; the framework tables are activations),
# in float32 and float64 (float16/bfloat16 run, computed in float32, but are not judged)
IMPLEMENTATION_KINDS = PUBLIC_API


# --- shared helpers (also used by test_linear*.py and test_penalties*.py) ---------------------


def unit(dtype: str) -> float:
    """Unit roundoff of the precision ``dtype`` is computed in plus that of float64 (the
    reference's own rounding)."""
    working = tolerances.working_dtype(dtype)
    return float(np.finfo(working).eps) / 2 + float(np.finfo(np.float64).eps) / 2


def gamma(k: int, dtype: str) -> float:
    """Higham's gamma_k (a sum or dot product of k terms, any order) in the precision ``dtype``
    is computed in, plus the float64 reference's, times ``DOT_PRODUCT_SLACK``."""
    u = float(np.finfo(tolerances.working_dtype(dtype)).eps) / 2
    u64 = float(np.finfo(np.float64).eps) / 2
    return tolerances.DOT_PRODUCT_SLACK * (R.gamma(k, u) + R.gamma(k, u64))


def dtype_name(x: Any) -> str:
    return str(x.dtype).rsplit(".", 1)[-1]


def within(what: str, dtype: str, actual, expected, allowed) -> None:
    """|actual - expected| <= allowed + tiny elementwise (``tiny`` the dtype's smallest normal:
    subnormal results may be flushed); NaN only against NaN. ``allowed`` and ``tiny`` are the
    working precision's: a float16/bfloat16 result must be the correct rounding of a value
    within them of ``expected`` (``rounds_once_within``)."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    if expected.ndim == 0:  # a law's constant (0 for row sums)
        expected = np.broadcast_to(expected, actual.shape)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    tiny = float(np.finfo(tolerances.working_dtype(dtype)).tiny)
    with np.errstate(invalid="ignore"):
        err = np.abs(actual - expected)
        bound = np.broadcast_to(np.asarray(allowed, np.float64) + tiny, err.shape)
        if dtype in LOW_PRECISION:
            good = rounds_once_within(actual, expected, bound, dtype)
        else:
            good = (err <= bound) | (np.isnan(actual) & np.isnan(expected))
    if not good.all():
        i = int(np.argmin(good.ravel()))
        raise AssertionError(
            f"{what} [{dtype}]: {int((~good).sum())} of {good.size} element(s) out of bound; "
            f"first at flat index {i}: expected {expected.ravel()[i]!r}, got "
            f"{actual.ravel()[i]!r}, abs error {err.ravel()[i]:.3g} (allowed "
            f"{bound.ravel()[i]:.3g})"
        )


def finite_values(dtype: str, lo: float, hi: float):
    """Finite floats of ``dtype`` in [lo, hi], with magnitudes below 1e-3 replaced by exact
    zeros: no products in the underflow range, where XLA flushes subnormal results to zero and
    implementations legitimately differ by the smallest normal number (these layers are judged
    on their arithmetic, not on gradual underflow)."""
    width = 32 if dtype == "float32" else 64
    return st.floats(lo, hi, width=width).map(lambda v: 0.0 if abs(v) < 1e-3 else v)


def backend_arrays(impl: Implementation, dtype: str, *arrays):
    """Backend arrays (None stays None) and the exact values they hold, read back."""
    out, exact = [], []
    for a in arrays:
        if a is None:
            out.append(None)
            exact.append(None)
        else:
            b = impl.array(np.asarray(a, np.float64), dtype)
            out.append(b)
            exact.append(impl.numpy(b))
    return out, exact


def check_unchanged(impl: Implementation, arrays, exact, what: str) -> None:
    for i, (a, e) in enumerate(zip(arrays, exact, strict=True)):
        if a is not None:
            assert np.array_equal(impl.numpy(a), e, equal_nan=True), f"{what}: input {i} changed"


# --- problems --------------------------------------------------------------------------------


class Problem(NamedTuple):
    x: np.ndarray
    k: int  # trailing axes normalized
    weight: np.ndarray | None
    bias: np.ndarray | None
    eps: float

    @property
    def normalized_shape(self) -> tuple[int, ...]:
        return self.x.shape[self.x.ndim - self.k :]


# (shape of x, k): a few fixed configurations (jax compiles once per shape and static argument)
CONFIGS = [((4, 5), 1), ((2, 3, 4), 1), ((2, 3, 4), 2), ((6,), 1)]
EPS = [1e-5, 0.5]


@st.composite
def problems(draw, dtype: str, configs=tuple(CONFIGS), whole_domain: bool = False):
    """(``whole_domain``: eps drawn over (0, 100], not from EPS; jax compiles each anew.)"""
    shape, k = draw(st.sampled_from(configs))
    x = draw(S.arrays("float64", shape, finite_values(dtype, -10.0, 10.0)))
    # a common offset, large against the spread in some rows: the two-pass variance's case
    x = x + draw(st.sampled_from([0.0, 0.0, 40.0, -1000.0]))
    norm = shape[len(shape) - k :]
    weight = draw(st.none() | S.arrays("float64", norm, finite_values(dtype, -3.0, 3.0)))
    bias = draw(st.none() | S.arrays("float64", norm, finite_values(dtype, -3.0, 3.0)))
    eps = S.magnitudes(1e-12, 1e2) if whole_domain else st.sampled_from(EPS)
    return Problem(x, k, weight, bias, draw(eps, label="eps"))


def cotangents(data, shape) -> np.ndarray:
    values = st.floats(-2, 2).map(lambda v: 0.0 if abs(v) < 1e-3 else v)
    return data.draw(S.arrays("float64", shape, values), label="g")


class Run:
    """A problem on one implementation: backend arrays and the exact values they hold."""

    def __init__(self, impl: Implementation, p: Problem, dtype: str):
        self.impl, self.dtype, self.p = impl, dtype, p
        self.args, exact = backend_arrays(impl, dtype, p.x, p.weight, p.bias)
        self.exact = Problem(exact[0], p.k, exact[1], exact[2], p.eps)

    def forward(self, x=None, weight=None, bias=None):
        x = self.args[0] if x is None else x
        w = self.args[1] if weight is None else weight
        b = self.args[2] if bias is None else bias
        return self.impl.ops.layer_norm(x, self.p.normalized_shape, w, b, self.p.eps)

    def backward(self, g: np.ndarray):
        ga = self.impl.array(g, self.dtype)
        x, w, b = self.args
        return self.impl.ops.layer_norm_backward(ga, x, self.p.normalized_shape, w, b, self.p.eps)

    def check_unchanged(self) -> None:
        e = self.exact
        check_unchanged(self.impl, self.args, [e.x, e.weight, e.bias], "layer_norm")


def _per_row(a: np.ndarray, p: Problem) -> np.ndarray:
    """A per-row value (rows,) broadcast back to x's shape."""
    lead = p.x.shape[: p.x.ndim - p.k]
    return np.broadcast_to(a.reshape(lead + (1,) * p.k), p.x.shape)


def _amplification(p: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x_hat, rstd, R) in x's shape: R = max_row |x| * rstd."""
    x_hat, rstd, _ = R.layer_norm_stats(p.x, p.k, p.eps)
    rows = x_hat.shape[0]
    big = np.max(np.abs(p.x.reshape(rows, -1)), axis=1)
    return x_hat.reshape(p.x.shape), _per_row(rstd, p), _per_row(big * rstd, p)


def _m(p: Problem) -> int:
    n = math.prod(p.normalized_shape)
    return n + p.x.size // n


def forward_bound(p: Problem, dtype: str) -> np.ndarray:
    x_hat, _, amp = _amplification(p)
    w = 1.0 if p.weight is None else np.abs(p.weight)
    b = 0.0 if p.bias is None else np.abs(p.bias)
    mag = w * (np.abs(x_hat) + amp * (1 + np.abs(x_hat))) + b
    return tolerances.LAYER_NORM_ROUNDING * _m(p) * unit(dtype) * mag


def grad_magnitudes(g: np.ndarray, p: Problem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sizes that scale the rounding of (dx, dweight, dbias): the terms each is formed from,
    with x_hat's own rounding amplified by R."""
    x_hat, rstd, amp = _amplification(p)
    gw = np.abs(g) if p.weight is None else np.abs(g * p.weight)
    n = math.prod(p.normalized_shape)
    rows = p.x.size // n
    axes = tuple(range(p.x.ndim - p.k, p.x.ndim))
    mean_gw = np.mean(gw, axis=axes, keepdims=True)
    max_hat = np.max(np.abs(x_hat), axis=axes, keepdims=True)
    dx = rstd * (gw + mean_gw * (1 + np.abs(x_hat)) * (1 + max_hat)) * (1 + amp)
    flat = (rows, *p.normalized_shape)
    dw = np.sum((np.abs(g) * (np.abs(x_hat) + amp * (1 + np.abs(x_hat)))).reshape(flat), axis=0)
    db = np.sum(np.abs(g).reshape(flat), axis=0)
    return dx, dw, db


# --- the properties --------------------------------------------------------------------------


def forward_matches_reference(impl: Implementation, dtype: str, p: Problem) -> None:
    """The output agrees with the float64 reference within the bound, keeps x's dtype and leaves
    the inputs unchanged."""
    run = Run(impl, p, dtype)
    out = run.forward()
    what = f"layer_norm{p.normalized_shape} on {impl.id}"
    assert dtype_name(out) == dtype, f"{what}: dtype {out.dtype}, expected {dtype}"
    run.check_unchanged()
    e = run.exact
    expected = R.layer_norm(e.x, e.k, e.weight, e.bias, e.eps)
    within(what, dtype, impl.numpy(out), expected, forward_bound(e, dtype))


def backward_matches_reference(impl: Implementation, dtype: str, p: Problem, g) -> None:
    """(dx, dweight, dbias) agree with the reference (explicit Jacobian), None where absent."""
    run = Run(impl, p, dtype)
    grads = run.backward(g)
    run.check_unchanged()
    e = run.exact
    g_seen = impl.numpy(impl.array(g, dtype))
    expected = R.layer_norm_grad(g_seen, e.x, e.k, e.weight, e.bias, e.eps)
    scale = tolerances.LAYER_NORM_ROUNDING * _m(e) * unit(dtype)
    mags = grad_magnitudes(g_seen, e)
    for name, a, ex, mag in zip(("dx", "dweight", "dbias"), grads, expected, mags, strict=True):
        what = f"layer_norm_backward{p.normalized_shape} on {impl.id}: {name}"
        if ex is None:
            assert a is None, f"{what}: expected None (no such parameter), got {type(a)}"
            continue
        assert dtype_name(a) == dtype, f"{what}: dtype {a.dtype}, expected {dtype}"
        within(what, dtype, impl.numpy(a), ex, scale * mag)


def backward_matches_finite_differences(impl: Implementation, p: Problem, g) -> None:
    """In float64, each gradient agrees with finite differences of the implementation's own
    forward with respect to that input."""
    run = Run(impl, p, "float64")
    grads = run.backward(g)
    for i, name in enumerate(("x", "weight", "bias")):
        if run.exact[[0, 2, 3][i]] is None:
            continue

        def f(v, i=i):
            args = list(run.args)
            args[i] = impl.array(v, "float64")
            return impl.numpy(run.forward(*args))

        report = check_vjp(
            f"layer_norm_backward on {impl.id}: d{name} [float64]",
            f,
            impl.numpy(grads[i]),
            g,
            run.exact[[0, 2, 3][i]],
        )
        assert report.ok, report.message


def backward_matches_autodiff(impl: Implementation, dtype: str, p: Problem, g) -> None:
    """torch.autograd / jax.vjp through the forward equal the hand-written backward."""
    fw = framework_of(impl)
    run = Run(impl, p, dtype)
    present = [i for i, a in enumerate(run.args) if a is not None]
    ga = impl.array(g, dtype)
    if fw == "torch":
        leaves = [run.args[i].detach().clone().requires_grad_(True) for i in present]
        args = list(run.args)
        for i, leaf in zip(present, leaves, strict=True):
            args[i] = leaf
        run.forward(*args).backward(ga)
        auto = [leaf.grad for leaf in leaves]
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
    g_seen = impl.numpy(ga)
    mags = grad_magnitudes(g_seen, run.exact)
    scale = 2 * tolerances.LAYER_NORM_ROUNDING * _m(run.exact) * unit(dtype)
    for i, h in zip(present, auto, strict=True):
        what = f"layer_norm on {impl.id}: {fw} autodiff, gradient {i}"
        within(what, dtype, impl.numpy(h), impl.numpy(grads[i]), scale * mags[i])


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
