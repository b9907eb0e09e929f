"""Layer norm's properties: plain functions of (implementation, dtype, problem), judged on the
library by ``test_layer_norm.py`` and ``test_layer_norm_laws.py`` (float16/bfloat16:
``test_layers_low_precision.py``) and on deliberately wrong layer norms by
``test_layer_norm_self.py``: the problems, the agreement with the float64 reference,
finite differences and the frameworks' autodiff, and the laws and the comparison with
``F.layer_norm`` that the self-tests reuse.

The bounds (stated in ``test_layer_norm.py``) and the comparison are in
:mod:`properties.layer_norm_cases`.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from reference import layers as R

from . import strategies as S
from . import tolerances
from .checks import check_vjp
from .implementations import Implementation, framework_of
from .layer_norm_cases import (
    Problem,
    Run,
    dtype_name,
    forward_bound,
    grad_bounds,
    grad_magnitudes,
    sum_terms,
    unit,
    within,
)
from .layer_properties import finite_values

# --- problems --------------------------------------------------------------------------------


# (shape of x, k): a few fixed configurations (jax compiles once per shape and static argument);
CONFIGS = [((4, 5), 1), ((2, 3, 4), 1), ((2, 3, 4), 2), ((6,), 1), ((5, 2, 6), 1), ((4, 3, 5), 2)]
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
    bounds = grad_bounds(g_seen, e, dtype)
    for name, a, ex, bound in zip(("dx", "dweight", "dbias"), grads, expected, bounds, strict=True):
        what = f"layer_norm_backward{p.normalized_shape} on {impl.id}: {name}"
        if ex is None:
            assert a is None, f"{what}: expected None (no such parameter), got {type(a)}"
            continue
        assert dtype_name(a) == dtype, f"{what}: dtype {a.dtype}, expected {dtype}"
        within(what, dtype, impl.numpy(a), ex, bound)


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
    """The frameworks' autodiff equals the hand-written backward: torch.func.vjp, which
    differentiates the forward's own operations (torch.func bypasses the autograd
    Function, whose gradients ``test_loss_backward_gets_the_hand_written_gradients``
    checks), and jax.vjp through the ``custom_vjp`` under jit."""
    fw = framework_of(impl)
    run = Run(impl, p, dtype)
    present = [i for i, a in enumerate(run.args) if a is not None]
    ga = impl.array(g, dtype)

    def f(*leaves):
        args = list(run.args)
        for i, leaf in zip(present, leaves, strict=True):
            args[i] = leaf
        return run.forward(*args)

    if fw == "torch":
        import torch

        _, vjp = torch.func.vjp(f, *[run.args[i] for i in present])
    else:
        import jax

        _, vjp = jax.vjp(f, *[run.args[i] for i in present])
    auto = vjp(ga)
    grads = run.backward(g)
    g_seen = impl.numpy(ga)
    mags = grad_magnitudes(g_seen, run.exact)
    scale = 2 * tolerances.LAYER_NORM_ROUNDING * sum_terms(run.exact) * unit(dtype)
    for i, h in zip(present, auto, strict=True):
        what = f"layer_norm on {impl.id}: {fw} autodiff, gradient {i}"
        within(what, dtype, impl.numpy(h), impl.numpy(grads[i]), scale * mags[i])


# --- laws (also judged by test_layer_norm_laws.py) -------------------------------------------


def as_rows(a: np.ndarray, k: int) -> np.ndarray:
    n = math.prod(a.shape[a.ndim - k :])
    return a.reshape(-1, n)


def rows_are_standardized(impl: Implementation, dtype: str, p: Problem) -> None:
    """Without weight and bias each output row has mean 0 and biased variance
    var / (var + eps), within the bound of its elements."""
    p = p._replace(weight=None, bias=None)
    run = Run(impl, p, dtype)
    y = as_rows(impl.numpy(run.forward()), p.k)
    e = run.exact
    bound = as_rows(forward_bound(e, dtype), p.k).max(axis=1)
    var = np.var(as_rows(e.x, p.k), axis=1)
    what = f"layer_norm on {impl.id}"
    within(f"{what}: row means", dtype, y.mean(axis=1), 0.0, bound)
    target = var / (var + e.eps)
    # var(y) = mean(y^2) - mean(y)^2 moves by about 2 max|y| per unit error of y
    allowed = 2 * np.abs(y).max(axis=1) * bound + bound**2 + sum_terms(e) * unit(dtype)
    within(f"{what}: row variances", dtype, y.var(axis=1), target, allowed)


def input_gradient_laws(impl: Implementation, dtype: str, p: Problem, g: np.ndarray) -> None:
    """Each row of dx sums to 0, and <dx, x_hat> = n rstd mean(gw x_hat) eps / (var + eps)
    (0 for eps = 0)."""
    run = Run(impl, p, dtype)
    dx = as_rows(impl.numpy(run.backward(g)[0]), p.k)
    e = run.exact
    g_seen = impl.numpy(impl.array(g, dtype))
    x_hat, rstd, _ = R.layer_norm_stats(e.x, p.k, e.eps)
    gw = as_rows(g_seen if e.weight is None else g_seen * e.weight, p.k)
    n = dx.shape[1]
    var = np.var(as_rows(e.x, p.k), axis=1)
    scale = tolerances.LAYER_NORM_ROUNDING * sum_terms(e) * unit(dtype)
    mag = as_rows(grad_magnitudes(g_seen, e)[0], p.k)
    what = f"layer_norm_backward on {impl.id}"
    within(f"{what}: row sums of dx", dtype, dx.sum(axis=1), 0.0, n * scale * mag.max(axis=1))
    expected = n * rstd * np.mean(gw * x_hat, axis=1) * e.eps / (var + e.eps)
    allowed = n * scale * np.max(mag * (1 + np.abs(x_hat)), axis=1)
    within(f"{what}: <dx, x_hat>", dtype, np.sum(dx * x_hat, axis=1), expected, allowed)


# --- against the frameworks ------------------------------------------------------------------


def _torch_layer_norm(p: Problem, dtype: str):
    """F.layer_norm's output and autograd gradients (None where absent) on the exact values."""
    import torch
    import torch.nn.functional as F

    def t(a):
        if a is None:
            return None
        return torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True)

    x, w, b = t(p.x), t(p.weight), t(p.bias)
    y = F.layer_norm(x, p.normalized_shape, w, b, p.eps)
    return y, [x, w, b]


def matches_torch(impl: Implementation, dtype: str, p: Problem, g: np.ndarray) -> None:
    """The library on ``impl`` against torch's F.layer_norm (values and autograd gradients)."""
    import torch

    run = Run(impl, p, dtype)
    e = run.exact
    y_t, leaves = _torch_layer_norm(e, dtype)
    y = impl.numpy(run.forward())
    within(
        f"layer_norm on {impl.id} vs F.layer_norm",
        dtype,
        y,
        y_t.detach().double().numpy(),
        2 * forward_bound(e, dtype),
    )
    g_seen = impl.numpy(impl.array(g, dtype))
    y_t.backward(torch.tensor(g_seen, dtype=getattr(torch, dtype)))
    ours = run.backward(g)
    scale = 2 * tolerances.LAYER_NORM_ROUNDING * sum_terms(e) * unit(dtype)
    for name, leaf, a, mag in zip(
        ("dx", "dweight", "dbias"), leaves, ours, grad_magnitudes(g_seen, e), strict=True
    ):
        if leaf is None:
            continue
        what = f"layer_norm_backward on {impl.id} vs torch autograd of F.layer_norm: {name}"
        within(what, dtype, impl.numpy(a), leaf.grad.double().numpy(), scale * mag)
