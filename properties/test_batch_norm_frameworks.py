"""Batch normalization against the frameworks' own, with the conventions mapped, on every
backend of the library (its result compared with the framework's on the same values):

* ``torch.nn.functional.batch_norm`` (channels on dim 1: channels-last inputs are moved there):
  the output, the new running statistics (torch updates its buffers in place: it gets copies)
  and the gradients for x, weight and bias (torch.autograd through ``F.batch_norm``);
* flax ``nn.BatchNorm`` with ``momentum = 1 - m``: the output and the running mean agree; flax
  stores the *biased* batch variance in its running variance, so its running variance is
  ``(1 - m) r + m var_biased`` where this library's (torch's) is ``(1 - m) r + m var n/(n-1)``:
  the test checks exactly that relation (and :func:`test_flax_running_var_is_biased` shows the
  difference on fixed numbers).

Tolerance: ``BATCH_NORM_RTOL`` with the terms of ``test_batch_norm`` for implementations that
centre without a shift (``unshifted=True``): torch and flax compute ``x - mean`` directly, which
loses an ulp of |x| + |mean| (not of the channel's spread) before the division by sigma
amplifies it. So a constant channel far from 0 does not come out as exactly ``bias`` there
(torch float32: 8.7 instead of 0 for a channel of 1e6 values, eps 1e-5; see
``test_batch_norm_laws.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import batch_norm as R

from . import test_batch_norm as B
from .implementations import PUBLIC_API, Implementation

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = ("float32", "float64")


# --- torch -----------------------------------------------------------------------------------


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


def matches_torch(impl: Implementation, dtype: str, p: B.Problem, g: np.ndarray) -> None:
    """Output, running statistics and the three gradients equal torch's on the same values."""
    import torch.nn.functional as F

    run = B.Run(impl, p, dtype)
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
    what = lambda name: B.label(impl, p, f"{name} vs torch F.batch_norm")  # noqa: E731
    B.close(
        what("output"),
        dtype,
        impl.numpy(out),
        _from_torch(t_out, ax),
        B.output_terms(s, unshifted=True),
    )
    if p.training and p.running_mean is not None:
        t_mean, t_var = B.running_terms(s, unshifted=True, u=float(np.finfo(dtype).eps))
        B.close(what("running_mean"), dtype, impl.numpy(rm), _from_torch(t_rm), t_mean)
        B.close(what("running_var"), dtype, impl.numpy(rv), _from_torch(t_rv), t_var)
    terms = B.grad_terms(s, g_seen, unshifted=True)
    torch_grads = (_from_torch(x.grad, ax), _from_torch(w.grad), _from_torch(b.grad))
    for name, a, t, tt in zip(("dx", "dweight", "dbias"), grads, torch_grads, terms, strict=True):
        B.close(what(name), dtype, impl.numpy(a), t, tt)


@given(data=st.data())
def test_matches_torch_functional(impl, dtype, data):
    pytest.importorskip("torch")
    p = data.draw(B.problems(dtype), label="problem")
    matches_torch(impl, dtype, p, B.draw_g(data, p.x.shape))


# --- flax ------------------------------------------------------------------------------------


def flax_batch_norm(p: B.Problem, dtype: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def matches_flax(impl: Implementation, dtype: str, p: B.Problem) -> None:
    """Output and running mean equal flax's; flax's running variance is torch's with the biased
    batch variance: ours = flax's + m var_biased / (n - 1)."""
    run = B.Run(impl, p, dtype)
    out, rm, rv = run.forward()
    s = run.seen
    f_out, f_rm, f_rv = flax_batch_norm(s, dtype)
    what = lambda name: B.label(impl, p, f"{name} vs flax nn.BatchNorm(momentum=1-m)")  # noqa: E731
    B.close(what("output"), dtype, impl.numpy(out), f_out, B.output_terms(s, unshifted=True))
    if not p.training:
        return
    t_mean, t_var = B.running_terms(s, unshifted=True, u=float(np.finfo(dtype).eps))
    B.close(what("running_mean"), dtype, impl.numpy(rm), f_rm, t_mean)
    _, var = R.batch_stats(s.x, p.channel_axis)
    n = p.per_channel
    unbiased_from_flax = f_rv + p.momentum * var / (n - 1)
    B.close(what("running_var (+ m var/(n-1))"), dtype, impl.numpy(rv), unbiased_from_flax, t_var)


@given(data=st.data())
def test_matches_flax_batch_norm(impl, dtype, data):
    pytest.importorskip("flax")
    matches_flax(impl, dtype, data.draw(B.problems(dtype, running=True), label="problem"))


def test_flax_running_var_is_biased():
    """On fixed numbers: one channel [1, 2, 3, 4] (biased variance 1.25, unbiased 5/3), running
    var 1, m = 0.5: flax stores 0.5 + 0.5 * 1.25 = 1.125, torch and this library
    0.5 + 0.5 * 5/3 = 1.3333..."""
    pytest.importorskip("flax")
    import primitives as P

    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    p = B.Problem(x, np.zeros(1), np.ones(1), None, None, True, 0.5, 1e-5, 1)
    _, _, f_rv = flax_batch_norm(p, "float64")
    _, _, rv = P.batch_norm(x, np.zeros(1), np.ones(1), momentum=0.5)
    assert f_rv[0] == 1.125
    assert abs(rv[0] - (0.5 + 0.5 * 5 / 3)) <= 4e-16


def test_jax_jit_and_grad_through_batch_norm():
    """Under jax.jit (shapes checked, momentum and eps traced) the results equal the eager ones,
    and jax.grad through the output equals batch_norm_backward."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import primitives as P

    x = jnp.asarray(np.linspace(-2.0, 3.0, 24).reshape(4, 3, 2) ** 2)
    rm, rv, w = jnp.zeros(3), jnp.ones(3), jnp.asarray([1.0, -0.5, 2.0])
    eager = P.batch_norm(x, rm, rv, w, momentum=0.3)
    jitted = jax.jit(lambda *a: P.batch_norm(*a, momentum=0.3))(x, rm, rv, w)
    p = B.Problem(np.asarray(x), np.zeros(3), np.ones(3), np.asarray(w), None, True, 0.3, 1e-5, 1)
    t_mean, t_var = B.running_terms(p)
    terms = (B.output_terms(p), t_mean, t_var)
    # XLA fuses the whole jitted function differently: equal up to rounding
    for name, e, j, t in zip(("out", "mean", "var"), eager, jitted, terms, strict=True):
        B.close(f"jax.jit(batch_norm) {name}", "float64", np.asarray(j), np.asarray(e), t)
    g = jnp.cos(x)
    auto = jax.grad(lambda v: jnp.sum(P.batch_norm(v, rm, rv, w)[0] * g))(x)
    dx = P.batch_norm_backward(g, x, w)[0]
    t_dx = B.grad_terms(p, np.asarray(g))[0]
    B.close("jax.grad through batch_norm", "float64", np.asarray(auto), np.asarray(dx), t_dx)


def test_running_statistics_are_state_not_differentiated():
    """The new running statistics are state (torch's buffers): under torch autograd they carry
    no graph (a training loop would otherwise keep every step's graph alive through them) and
    under jax.grad no gradient flows through them; the output is still differentiated."""
    torch = pytest.importorskip("torch")
    import primitives as P

    f64 = torch.float64
    x = torch.randn(8, 3, dtype=f64, requires_grad=True)
    w = torch.ones(3, dtype=f64, requires_grad=True)
    out, mean, var = P.batch_norm(x, torch.zeros(3, dtype=f64), torch.ones(3, dtype=f64), w)
    assert out.grad_fn is not None
    for s in (mean, var):
        assert s.grad_fn is None and not s.requires_grad
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    xj = jnp.asarray(np.random.default_rng(0).normal(size=(8, 3)))
    grad = jax.grad(lambda v: jnp.sum(P.batch_norm(v, jnp.zeros(3), jnp.ones(3))[1]))(xj)
    assert not np.asarray(grad).any()
