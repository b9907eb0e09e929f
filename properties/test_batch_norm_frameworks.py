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

The comparisons, which ``test_batch_norm_self.py`` also feeds wrong implementations, are in
:mod:`properties.batch_norm_properties`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from .batch_norm_cases import Problem, close, grad_terms, output_terms, running_terms
from .batch_norm_properties import draw_g, flax_batch_norm, matches_flax, matches_torch, problems
from .implementations import PUBLIC_API

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = ("float32", "float64")


# --- torch -----------------------------------------------------------------------------------


@given(data=st.data())
def test_matches_torch_functional(impl, dtype, data):
    pytest.importorskip("torch")
    p = data.draw(problems(dtype), label="problem")
    matches_torch(impl, dtype, p, draw_g(data, p.x.shape))


# --- flax ------------------------------------------------------------------------------------


@given(data=st.data())
def test_matches_flax_batch_norm(impl, dtype, data):
    pytest.importorskip("flax")
    matches_flax(impl, dtype, data.draw(problems(dtype, running=True), label="problem"))


def test_flax_running_var_is_biased():
    """On fixed numbers: one channel [1, 2, 3, 4] (biased variance 1.25, unbiased 5/3), running
    var 1, m = 0.5: flax stores 0.5 + 0.5 * 1.25 = 1.125, torch and this library
    0.5 + 0.5 * 5/3 = 1.3333..."""
    pytest.importorskip("flax")
    import primitives as P

    x = np.array([[1.0], [2.0], [3.0], [4.0]])
    p = Problem(x, np.zeros(1), np.ones(1), None, None, True, 0.5, 1e-5, 1)
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
    p = Problem(np.asarray(x), np.zeros(3), np.ones(3), np.asarray(w), None, True, 0.3, 1e-5, 1)
    t_mean, t_var = running_terms(p)
    terms = (output_terms(p), t_mean, t_var)
    # XLA fuses the whole jitted function differently: equal up to rounding
    for name, e, j, t in zip(("out", "mean", "var"), eager, jitted, terms, strict=True):
        close(f"jax.jit(batch_norm) {name}", "float64", np.asarray(j), np.asarray(e), t)
    g = jnp.cos(x)
    auto = jax.grad(lambda v: jnp.sum(P.batch_norm(v, rm, rv, w)[0] * g))(x)
    dx = P.batch_norm_backward(g, x, w)[0]
    t_dx = grad_terms(p, np.asarray(g))[0]
    close("jax.grad through batch_norm", "float64", np.asarray(auto), np.asarray(dx), t_dx)


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
