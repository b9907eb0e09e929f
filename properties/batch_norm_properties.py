"""Batch normalization's properties: plain functions of (implementation, dtype, problem),
judged on the library by ``test_batch_norm.py``, ``test_batch_norm_laws.py`` and
``test_batch_norm_frameworks.py``, in float16/bfloat16 by ``test_layers_low_precision.py``, and
on deliberately wrong batch norms by ``test_batch_norm_self.py``: the problems drawn, the
agreement with the float64 reference (output, running statistics, gradients), finite
differences and the frameworks' autodiff, the laws the self-tests reuse, and the comparisons
with torch's ``F.batch_norm`` and flax's ``nn.BatchNorm`` (conventions mapped).

The tolerance (stated in ``test_batch_norm.py``), its terms and the comparison are in
:mod:`properties.batch_norm_cases`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from reference import batch_norm as R

from . import strategies as S
from . import tolerances
from .batch_norm_cases import (
    Problem,
    Run,
    abs_weight,
    along,
    close,
    grad_terms,
    others,
    output_terms,
    rounded,
    running_terms,
    stats,
)
from .checks import check_vjp
from .implementations import Implementation, framework_of
from .loss_cases import dtype_name

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


# --- laws (also judged by test_batch_norm_laws.py) -------------------------------------------


def _channel_sum(p: Problem, a: np.ndarray) -> np.ndarray:
    return np.sum(a, axis=others(p))


def _within(what: str, dtype: str, err: np.ndarray, terms: np.ndarray) -> None:
    rtol = tolerances.BATCH_NORM_RTOL[dtype]
    bad = ~(np.abs(err) <= rtol * terms + np.finfo(dtype).tiny)
    if bad.any():
        i = int(np.argmax(bad.ravel()))
        raise AssertionError(
            f"{what} [{dtype}]: {int(bad.sum())} channel(s) off; first {i}: {err.ravel()[i]!r} "
            f"(allowed {rtol * terms.ravel()[i]:.3g})"
        )


def normalized_moments(impl: Implementation, dtype: str, p: Problem) -> None:
    """Training without weight and bias: per channel, mean(out) = 0 and
    mean(out^2) - mean(out)^2 = var / (var + eps), var the biased batch variance."""
    p = p._replace(weight=None, bias=None, training=True)
    run = Run(impl, p, dtype)
    out = impl.numpy(run.forward()[0])
    s, n = run.seen, p.per_channel
    terms = output_terms(s)
    mean = _channel_sum(p, out) / n
    _within(label(impl, p, "mean of the output"), dtype, mean, _channel_sum(p, terms) / n)
    _, var = R.batch_stats(s.x, p.channel_axis)
    second = _channel_sum(p, out * out) / n - mean * mean
    expected = var / (var + p.eps)
    bound = 2 * _channel_sum(p, np.abs(out) * terms) / n + expected
    _within(label(impl, p, "variance of the output"), dtype, second - expected, bound)


def constant_channel_gives_bias(
    impl: Implementation, dtype: str, shape: tuple[int, ...], value: float, eps: float
) -> None:
    """Training, every channel constant (channel c = value * (c + 1)): the output is exactly
    ``bias`` (bitwise), whatever the weight and the magnitude."""
    c = shape[1]
    x = np.broadcast_to(along(value * (np.arange(c) + 1.0), 1, len(shape)), shape)
    x = rounded(x, dtype)
    weight = rounded(np.linspace(-2.0, 3.0, c), dtype)
    bias = rounded(np.linspace(0.5, -1.25, c), dtype)
    p = Problem(x, None, None, weight, bias, True, 0.1, eps, 1)
    out = impl.numpy(Run(impl, p, dtype).forward()[0])
    expected = np.broadcast_to(along(bias, 1, len(shape)), shape)
    assert np.array_equal(out, expected), (
        f"{label(impl, p, 'output of constant channels')} [{dtype}]: expected exactly the "
        f"bias {bias.tolist()}, got {np.unique(out).tolist()} for value {value!r}"
    )


def input_gradient_laws(impl: Implementation, dtype: str, p: Problem, g: np.ndarray) -> None:
    """Training: per channel, sum(dx) = 0 and sum(dx * x_hat) = eps / (var + eps) *
    sum(g_hat * x_hat) / sigma (g_hat = grad_output * weight): dx is orthogonal to x_hat exactly
    only as eps -> 0, since sum(x_hat^2) = n var / (var + eps), not n."""
    p = p._replace(training=True)
    run = Run(impl, p, dtype)
    ga, g_seen = run.g(g)
    dx = impl.numpy(run.backward(ga)[0])
    s = run.seen
    x_hat = stats(s).x_hat
    t_dx = grad_terms(s, g_seen)[0]
    _within(label(impl, p, "sum of dx"), dtype, _channel_sum(p, dx), _channel_sum(p, t_dx))
    st_ = stats(s)
    rel = np.abs(x_hat) + st_.spread / st_.sigma
    _, var = R.batch_stats(s.x, p.channel_axis)
    g_hat = g_seen
    if s.weight is not None:
        g_hat = g_seen * along(s.weight, p.channel_axis, p.x.ndim)
    sigma = np.sqrt(var + p.eps)
    expected = p.eps / (var + p.eps) * _channel_sum(p, g_hat * x_hat) / sigma
    _within(
        label(impl, p, "sum of dx * x_hat - eps/(var + eps) sum(g_hat x_hat)/sigma"),
        dtype,
        _channel_sum(p, dx * x_hat) - expected,
        _channel_sum(p, t_dx * rel + np.abs(dx) * rel),
    )


def evaluation_with_batch_statistics_is_training(
    impl: Implementation, dtype: str, p: Problem
) -> None:
    """Evaluation with running_mean = the batch mean and running_var = the biased batch
    variance gives the training output; the running statistics come back unchanged."""
    p = p._replace(training=True)
    mean, var = R.batch_stats(p.x, p.channel_axis)
    train = Run(impl, p, dtype)
    out_t = impl.numpy(train.forward()[0])
    # the statistics rounded to the dtype: evaluation normalizes with those
    e = p._replace(training=False, running_mean=rounded(mean, dtype))
    e = e._replace(running_var=rounded(var, dtype))
    run = Run(impl, e, dtype)
    out_e, rm, rv = run.forward()
    assert rm is run.arrays["running_mean"] and rv is run.arrays["running_var"], (
        f"{label(impl, e, 'running statistics')}: evaluation must return them unchanged"
    )
    # rounding the statistics to the dtype moves the output by an ulp of |x - mean| / sigma
    s = stats(run.seen)
    terms = output_terms(train.seen) + output_terms(run.seen) + abs_weight(p) * s.spread / s.sigma
    what = label(impl, e, "evaluation output with the batch's statistics vs training")
    close(what, dtype, impl.numpy(out_e), out_t, terms)


# n = 7, 10 and 6 values per channel: numpy's mean of 7 copies of 0.1 (float32) or of 0.7
# (float64) is not the value itself, so an implementation centring on the mean is caught
CONSTANT_SHAPES = [(7, 3), (5, 3, 2), (2, 3, 3, 1)]
CONSTANT_VALUES = [0.0, -1e-5, 0.1, 0.7, 123.456, -1000000.1, 3e30]


# --- against the frameworks (also judged by test_batch_norm_frameworks.py) -------------------


def _torch(a: np.ndarray | None, dtype: str, axis: int | None = None, grad: bool = False):
    import torch

    if a is None:
        return None
    t = torch.tensor(a, dtype=getattr(torch, dtype))
    if axis is not None:
        t = t.movedim(axis, 1)
    return t.requires_grad_(True) if grad else t


def _from_torch(t, axis: int | None = None) -> np.ndarray:
    t = t.detach()
    if axis is not None:
        t = t.movedim(1, axis)
    return t.to(dtype=t.dtype).numpy().astype(np.float64)


def matches_torch(impl: Implementation, dtype: str, p: Problem, g: np.ndarray) -> None:
    """Output, running statistics and the three gradients equal torch's on the same values."""
    import torch.nn.functional as F

    run = Run(impl, p, dtype)
    ga, g_seen = run.g(g)
    out, rm, rv = run.forward()
    grads = run.backward(ga)
    s, ax = run.seen, p.channel_axis
    c = p.x.shape[ax]
    x = _torch(s.x, dtype, ax, grad=True)
    w = _torch(np.ones(c) if s.weight is None else s.weight, dtype, grad=True)
    b = _torch(np.zeros(c) if s.bias is None else s.bias, dtype, grad=True)
    t_rm, t_rv = _torch(s.running_mean, dtype), _torch(s.running_var, dtype)  # fresh copies
    t_out = F.batch_norm(x, t_rm, t_rv, w, b, p.training, p.momentum, p.eps)
    t_out.backward(_torch(g_seen, dtype, ax))
    what = lambda name: label(impl, p, f"{name} vs torch F.batch_norm")  # noqa: E731
    close(
        what("output"),
        dtype,
        impl.numpy(out),
        _from_torch(t_out, ax),
        output_terms(s, unshifted=True),
    )
    if p.training and p.running_mean is not None:
        t_mean, t_var = running_terms(s, unshifted=True, u=float(np.finfo(dtype).eps))
        close(what("running_mean"), dtype, impl.numpy(rm), _from_torch(t_rm), t_mean)
        close(what("running_var"), dtype, impl.numpy(rv), _from_torch(t_rv), t_var)
    terms = grad_terms(s, g_seen, unshifted=True)
    torch_grads = (_from_torch(x.grad, ax), _from_torch(w.grad), _from_torch(b.grad))
    for name, a, t, tt in zip(("dx", "dweight", "dbias"), grads, torch_grads, terms, strict=True):
        close(what(name), dtype, impl.numpy(a), t, tt)


def flax_batch_norm(p: Problem, dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """flax ``nn.BatchNorm`` on the problem's values with ``momentum = 1 - m`` (two-pass
    variance, ``use_fast_variance=False``): (out, new running mean, new running var)."""
    import flax.linen as nn
    import jax.numpy as jnp

    jdt = getattr(jnp, dtype)
    bn = nn.BatchNorm(
        use_running_average=not p.training,
        axis=p.axis,
        momentum=1.0 - p.momentum,
        epsilon=p.eps,
        dtype=jdt,
        param_dtype=jdt,
        use_scale=p.weight is not None,
        use_bias=p.bias is not None,
        use_fast_variance=False,
    )
    params = {}
    if p.weight is not None:
        params["scale"] = jnp.asarray(p.weight, jdt)
    if p.bias is not None:
        params["bias"] = jnp.asarray(p.bias, jdt)
    stats = {"mean": jnp.asarray(p.running_mean, jdt), "var": jnp.asarray(p.running_var, jdt)}
    x = jnp.asarray(p.x, jdt)
    out, state = bn.apply({"params": params, "batch_stats": stats}, x, mutable=["batch_stats"])
    new = state["batch_stats"]
    return tuple(np.asarray(a, np.float64) for a in (out, new["mean"], new["var"]))


def matches_flax(impl: Implementation, dtype: str, p: Problem) -> None:
    """Output and running mean equal flax's; flax's running variance is torch's with the biased
    batch variance: ours = flax's + m var_biased / (n - 1)."""
    run = Run(impl, p, dtype)
    out, rm, rv = run.forward()
    s = run.seen
    f_out, f_rm, f_rv = flax_batch_norm(s, dtype)
    what = lambda name: label(impl, p, f"{name} vs flax nn.BatchNorm(momentum=1-m)")  # noqa: E731
    close(what("output"), dtype, impl.numpy(out), f_out, output_terms(s, unshifted=True))
    if not p.training:
        return
    t_mean, t_var = running_terms(s, unshifted=True, u=float(np.finfo(dtype).eps))
    close(what("running_mean"), dtype, impl.numpy(rm), f_rm, t_mean)
    _, var = R.batch_stats(s.x, p.channel_axis)
    n = p.per_channel
    unbiased_from_flax = f_rv + p.momentum * var / (n - 1)
    close(what("running_var (+ m var/(n-1))"), dtype, impl.numpy(rv), unbiased_from_flax, t_var)
