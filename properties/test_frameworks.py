"""The primitives inside users' models: torch.autograd, torch.compile and nn.Module training;
jax.jit, jax.grad and jax.vmap. Device and dtype are preserved."""

from __future__ import annotations

import numpy as np
import pytest

import primitives as P

torch = pytest.importorskip("torch", reason="torch is not installed")


def test_torch_model_trains_with_primitives():
    """A small MLP built from P.linear-free torch layers and P activations: loss decreases and
    gradients flow through P.gelu / P.log_softmax (autograd uses their backwards)."""
    torch.manual_seed(0)

    class MLP(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a = torch.nn.Linear(4, 16)
            self.b = torch.nn.Linear(16, 3)

        def forward(self, x):
            return P.log_softmax(self.b(P.gelu(self.a(x))), -1)

    model = MLP()
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(30):
        opt.zero_grad()
        loss = torch.nn.functional.nll_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.parametrize("name", ["gelu", "silu", "softplus", "sigmoid", "log_softmax"])
def test_torch_compile(name):
    f = getattr(P, name)
    compiled = torch.compile(lambda v: f(v) * 2.0, fullgraph=False, backend="aot_eager")
    x = torch.linspace(-6, 6, 24, dtype=torch.float32).reshape(4, 6).requires_grad_(True)
    out = compiled(x)
    out.sum().backward()
    expected = f(x.detach()) * 2.0
    torch.testing.assert_close(out.detach(), expected)
    g = getattr(P, name + "_backward")(torch.full_like(x, 2.0), x.detach())
    torch.testing.assert_close(x.grad, g)


@pytest.mark.slow
def test_torch_compile_inductor():
    compiled = torch.compile(lambda v: P.gelu(v) + P.sigmoid(v))
    x = torch.linspace(-6, 6, 32, dtype=torch.float32)
    torch.testing.assert_close(compiled(x), P.gelu(x) + P.sigmoid(x))


def test_torch_gradcheck_double_precision():
    x = torch.linspace(-3, 3, 7, dtype=torch.float64).add(0.05).requires_grad_(True)
    for f in (P.gelu, P.silu, P.elu, P.tanh, P.sigmoid, P.softmax):
        assert torch.autograd.gradcheck(f, (x,))


def test_torch_dtype_and_device_preserved():
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        x = torch.randn(5, dtype=dtype, device="cpu")
        y = P.gelu(x)
        assert y.dtype == dtype and y.device == x.device and isinstance(y, torch.Tensor)


def test_torch_no_grad_path_builds_no_graph():
    x = torch.randn(5, requires_grad=True)
    with torch.no_grad():
        y = P.gelu(x)
    assert y.grad_fn is None and not y.requires_grad


jax = pytest.importorskip("jax", reason="jax is not installed")
jnp = pytest.importorskip("jax.numpy")


def test_jax_jit_grad_vmap():
    x = jnp.linspace(-5.0, 5.0, 12).reshape(3, 4)
    loss = lambda v: jnp.sum(P.log_softmax(P.gelu(v), -1) * jnp.arange(4.0))  # noqa: E731
    g = jax.jit(jax.grad(loss))(x)
    # the same gradient from the hand-written backwards, chained by hand
    h = P.gelu(x)
    upstream = jnp.broadcast_to(jnp.arange(4.0), x.shape).astype(x.dtype)
    expected = P.gelu_backward(P.log_softmax_backward(upstream, h, -1), x)
    np.testing.assert_allclose(np.asarray(g), np.asarray(expected), rtol=1e-12)
    rows = jax.vmap(P.softmax)(x)
    np.testing.assert_allclose(np.asarray(rows), np.asarray(P.softmax(x, -1)), rtol=1e-12)
    per_example = jax.vmap(jax.grad(lambda v: jnp.sum(P.silu(v))))(x)
    np.testing.assert_allclose(
        np.asarray(per_example), np.asarray(P.silu_backward(jnp.ones_like(x), x)), rtol=1e-12
    )


def test_jax_flax_style_training_step():
    key = jax.random.PRNGKey(0)
    w1 = jax.random.normal(key, (4, 16)) * 0.5
    w2 = jax.random.normal(jax.random.PRNGKey(1), (16, 3)) * 0.5
    x = jax.random.normal(jax.random.PRNGKey(2), (64, 4))
    y = (x[:, 0] > 0).astype(jnp.int32) + (x[:, 1] > 0).astype(jnp.int32)

    def loss(params):
        a, b = params
        logp = P.log_softmax(P.silu(x @ a) @ b, -1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    @jax.jit
    def step(params):
        grads = jax.grad(loss)(params)
        return tuple(p - 0.5 * g for p, g in zip(params, grads, strict=True))

    params = (w1, w2)
    first = loss(params)
    for _ in range(30):
        params = step(params)
    assert loss(params) < 0.7 * first


def test_jax_dtypes_preserved():
    for dtype in (jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64):
        x = jnp.linspace(-3, 3, 5, dtype=dtype)
        assert P.gelu(x).dtype == dtype and P.softmax(x).dtype == dtype
