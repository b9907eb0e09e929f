"""Batch normalization on every backend against the float64 reference: the output and the new
running statistics (training and evaluation, (N, C), (N, C, L), (N, C, H, W), channels first
and last), the gradients (against the reference, finite differences and the frameworks'
autodiff), dtype preservation and untouched inputs.

The properties are plain functions of (implementation, dtype, problem) so that
``test_batch_norm_self.py`` can feed them deliberately wrong implementations. An
implementation's ``ops`` must offer ``batch_norm`` and ``batch_norm_backward`` with the
signatures of :mod:`primitives.batch_norm`.

Tolerance (``tolerances.BATCH_NORM_RTOL``): |a - b| <= rtol (|b| + terms) + tiny, ``terms`` the
size of what each result is computed from (see :func:`output_terms` and :func:`grad_terms`).
The problems, the terms and the comparison are in :mod:`properties.batch_norm_cases` (shared
with the accuracy atlas).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import batch_norm as R

from . import strategies as S
from .batch_norm_cases import (
    Problem,
    Run,
    along,
    close,
    grad_terms,
    output_terms,
    rounded,
    running_terms,
)
from .batch_norm_cases import _w as _w
from .batch_norm_cases import others as others
from .batch_norm_cases import stats as stats
from .checks import check_vjp
from .implementations import PUBLIC_API, Implementation, framework_of
from .test_losses import dtype_name

# judged through the public API (no native kernels; torch's and flax's own are compared in
# test_batch_norm_frameworks.py, torch's measured by the atlas)
IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = ("float32", "float64")

# --- problems --------------------------------------------------------------------------------


def moderate(lo: float, hi: float):
    """Floats in [lo, hi], those below 2^-10 in magnitude replaced by 0: no subnormal
    intermediates (XLA flushes them to zero, which the division by sigma would amplify)."""
    return st.floats(lo, hi).map(lambda v: 0.0 if abs(v) < 2.0**-10 else v)


def _channel_array(draw, dtype: str, c: int, lo: float, hi: float, label: str) -> np.ndarray:
    a = draw(S.arrays("float64", (c,), moderate(lo, hi)), label=label)
    return rounded(a, dtype)


# (shape, channel axis): (N, C), (N, C, L), (N, C, H, W), channels first and last (-1 or the
# positive index), one value per channel along N with the rest spatial, C = 1. A fixed list:
# every new shape compiles anew under jax.jit, and the suite must stay fast.
SHAPES = [
    ((2, 3), 1),
    ((5, 1), 1),
    ((2, 4, 3), -1),
    ((3, 2, 2, 2), 1),
    ((1, 2, 3, 2), 3),
]
SMALL_SHAPES = [((2, 3), 1), ((5, 1), 1), ((2, 2, 3), -1), ((2, 2, 1, 2), 1)]  # finite diffs


@st.composite
def channel_data(draw, dtype: str, shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Values of ``dtype``: per channel, a center in [-100, 100] plus a spread of 2^-6..2^4
    times values in [-1, 1] (so both the mean and the variance vary between channels; a
    channel may come out constant)."""
    c = shape[axis]
    base = draw(S.arrays("float64", shape, moderate(-1, 1)), label="x base")
    center = _channel_array(draw, "float64", c, -100, 100, "centers")
    spread = 2.0 ** draw(S.arrays("float64", (c,), st.integers(-6, 4)), label="spreads")
    ndim = len(shape)
    return rounded(base * along(spread, axis, ndim) + along(center, axis, ndim), dtype)


@st.composite
def problems(
    draw,
    dtype: str,
    training: bool | None = None,
    running: bool | None = None,
    shapes=SHAPES,
    whole_domain: bool = False,
):
    """(``whole_domain``: momentum over [0, 1] and eps over (0, 100], not a few values.)"""
    shape, axis = draw(st.sampled_from(shapes), label="shape, axis")
    ndim, c = len(shape), shape[axis]
    x = draw(channel_data(dtype, shape, axis))
    if training is None:
        training = draw(st.booleans(), label="training")
    if running is None:
        running = (not training) or draw(st.booleans(), label="running stats")
    rm = rv = None
    if running:
        rm = _channel_array(draw, dtype, c, -5, 5, "running_mean")
        rv = _channel_array(draw, dtype, c, 0.01, 10, "running_var")
    weight = bias = None
    if draw(st.booleans(), label="affine"):  # both or neither: fewer jax.jit compilations
        weight = _channel_array(draw, dtype, c, -2, 2, "weight")
        bias = _channel_array(draw, dtype, c, -2, 2, "bias")
    # a few values: momentum and eps are static under jax.jit (each new value compiles)
    momentum = draw(
        S.fractions() if whole_domain else st.sampled_from([0.1, 0.0, 1.0, 0.3, 0.99]),
        label="momentum",
    )
    eps = draw(
        S.magnitudes(1e-12, 1e2) if whole_domain else st.sampled_from([1e-5, 1e-3, 0.25]),
        label="eps",
    )
    del ndim
    return Problem(x, rm, rv, weight, bias, training, momentum, eps, axis)


def draw_g(data, shape: tuple[int, ...]) -> np.ndarray:
    # no subnormal cotangents: finite differences of g * f underflow there
    values = st.floats(-2, 2).map(lambda v: 0.0 if abs(v) < 1e-3 else v)
    return data.draw(S.arrays("float64", shape, values), label="grad_output")


def label(impl: Implementation, p: Problem, what: str) -> str:
    mode = "training" if p.training else "evaluation"
    return (
        f"batch_norm {what} on {impl.id} ({mode}, x shape {p.x.shape}, axis {p.axis}, "
        f"momentum {p.momentum!r}, eps {p.eps!r})"
    )


# --- the properties --------------------------------------------------------------------------


def batch_norm_matches_reference(impl: Implementation, dtype: str, p: Problem) -> None:
    """Output and new running statistics agree with the float64 reference, with x's dtype,
    and the inputs are left unchanged; in evaluation the running statistics come back as they
    went in."""
    run = Run(impl, p, dtype)
    out, rm, rv = run.forward()
    run.check_unchanged()
    s = run.seen
    ref_out, ref_rm, ref_rv = R.batch_norm(
        s.x, s.running_mean, s.running_var, s.weight, s.bias, axis=p.axis, **p.kwargs()
    )
    assert dtype_name(out) == dtype, f"{label(impl, p, 'output')}: dtype {out.dtype}"
    close(label(impl, p, "output"), dtype, impl.numpy(out), ref_out, output_terms(s))
    if p.running_mean is None:
        assert rm is None and rv is None, f"{label(impl, p, 'running stats')}: expected None"
        return
    if not p.training:
        assert rm is run.arrays["running_mean"] and rv is run.arrays["running_var"], (
            f"{label(impl, p, 'running stats')}: evaluation must return them unchanged"
        )
        return
    t_mean, t_var = running_terms(s)
    for name, a, e, t in (("running_mean", rm, ref_rm, t_mean), ("running_var", rv, ref_rv, t_var)):
        assert dtype_name(a) == dtype, f"{label(impl, p, name)}: dtype {a.dtype}"
        close(label(impl, p, "new " + name), dtype, impl.numpy(a), e, t)


def backward_matches_reference(impl: Implementation, dtype: str, p: Problem, g) -> None:
    """(dx, dweight, dbias) agree with the reference's chain rule, with x's dtype."""
    run = Run(impl, p, dtype)
    ga, g_seen = run.g(g)
    grads = run.backward(ga)
    run.check_unchanged()
    s = run.seen
    expected = R.batch_norm_grad(
        g_seen, s.x, s.weight, s.running_mean, s.running_var, p.training, p.eps, p.axis
    )
    terms = grad_terms(s, g_seen)
    for name, a, e, t in zip(("dx", "dweight", "dbias"), grads, expected, terms, strict=True):
        assert dtype_name(a) == dtype, f"{label(impl, p, name)}: dtype {a.dtype}"
        close(label(impl, p, name), dtype, impl.numpy(a), e, t)


def _fold(f, g: np.ndarray, like: np.ndarray):
    """(f', ones) with <ones, f'(v)> = <g, f(v)> and f' of ``like``'s shape, for the checker
    (which wants a cotangent of the input's shape): f'(v) holds the products g_k f_k(v) in a
    flat array padded with zeros, or summed into it where there are more outputs than inputs."""

    def folded(v: np.ndarray) -> np.ndarray:
        terms = (g * f(v)).ravel()
        out = np.zeros(like.size)
        if terms.size <= like.size:
            out[: terms.size] = terms
        else:
            np.add.at(out, np.arange(terms.size) % like.size, terms)
        return out.reshape(like.shape)

    return folded, np.ones(like.shape)


def backward_matches_finite_differences(impl: Implementation, p: Problem, g: np.ndarray) -> None:
    """float64: each of dx, dweight, dbias agrees with finite differences of the
    implementation's own forward output with respect to x, weight, bias."""
    run = Run(impl, p, "float64")
    grads = run.backward(impl.array(g, "float64"))
    c = p.x.shape[p.channel_axis]
    points = {
        "x": p.x,
        "weight": np.ones(c) if p.weight is None else p.weight,
        "bias": np.zeros(c) if p.bias is None else p.bias,
    }
    for (name, at), grad in zip(points.items(), grads, strict=True):

        def f(v: np.ndarray, name: str = name) -> np.ndarray:
            return impl.numpy(run.forward(**{name: impl.array(v, "float64")})[0])

        folded, ones = _fold(f, g, at)
        report = check_vjp(
            label(impl, p, f"d{name}") + " [float64]", folded, impl.numpy(grad), ones, at
        )
        assert report.ok, report.message


def backward_matches_autodiff(impl: Implementation, dtype: str, p: Problem, g) -> None:
    """On torch and jax, the framework's autodiff through the forward output (with respect to
    x, weight and bias) equals the hand-written backward."""
    fw = framework_of(impl)
    run = Run(impl, p, dtype)
    c = p.x.shape[p.channel_axis]
    point = {
        "x": run.arrays["x"],
        "weight": impl.array(np.ones(c) if p.weight is None else p.weight, dtype),
        "bias": impl.array(np.zeros(c) if p.bias is None else p.bias, dtype),
    }
    ga, g_seen = run.g(g)
    if fw == "torch":
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in point.items()}
        run.forward(**leaves)[0].backward(ga)
        auto = [leaves[k].grad for k in point]
    else:
        import jax

        def out(x, weight, bias):
            return run.forward(x=x, weight=weight, bias=bias)[0]

        _, vjp = jax.vjp(out, *point.values())
        auto = vjp(ga)
    grads = run.backward(ga) if p.weight is not None else _with_weight(run, point, ga)
    terms = grad_terms(run.seen._replace(weight=impl.numpy(point["weight"])), g_seen)
    for name, a, h, t in zip(("dx", "dweight", "dbias"), grads, auto, terms, strict=True):
        close(label(impl, p, f"{name} vs {fw} autodiff"), dtype, impl.numpy(h), impl.numpy(a), t)


def _with_weight(run: Run, point: dict, ga: Any):
    """The backward at an explicit weight of ones (what autodiff differentiated at)."""
    p = run.p
    return run.impl.ops.batch_norm_backward(
        ga, point["x"], point["weight"], run.arrays["running_mean"], run.arrays["running_var"],
        training=p.training, eps=p.eps, axis=p.axis,
    )  # fmt: skip


# --- the tests -------------------------------------------------------------------------------


@given(data=st.data())
def test_batch_norm_matches_reference(impl, dtype, data):
    batch_norm_matches_reference(impl, dtype, data.draw(problems(dtype), label="problem"))


@given(data=st.data())
def test_backward_matches_reference(impl, dtype, data):
    p = data.draw(problems(dtype), label="problem")
    backward_matches_reference(impl, dtype, p, draw_g(data, p.x.shape))


@settings(max_examples=6)  # (jax compiles each drawn momentum and eps anew)
@given(data=st.data())
def test_momentum_and_eps_over_their_domain(impl, dtype, data):
    p = data.draw(problems(dtype, whole_domain=True), label="problem")
    batch_norm_matches_reference(impl, dtype, p)
    backward_matches_reference(impl, dtype, p, draw_g(data, p.x.shape))


@given(data=st.data())
def test_backward_matches_finite_differences(impl, data):
    p = data.draw(problems("float64", shapes=SMALL_SHAPES), label="problem")
    backward_matches_finite_differences(impl, p, draw_g(data, p.x.shape))


@given(data=st.data())
def test_backward_matches_framework_autodiff(impl, dtype, data):
    if framework_of(impl) is None:
        pytest.skip(f"{impl.id}: no framework autodiff (numpy is judged by the other tests)")
    p = data.draw(problems(dtype), label="problem")
    backward_matches_autodiff(impl, dtype, p, draw_g(data, p.x.shape))
