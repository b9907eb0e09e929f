"""The frameworks' own functions as implementations, so the suite can judge them too.

Each primitive maps to the framework's function with this library's convention expressed in
the framework's parameters; each backward is the framework's autodiff of that function
(``torch.autograd.grad``, ``jax.vjp``). Where a framework lacks a parameter the mapping is
stated: ``jax.nn.softplus`` has neither ``beta`` nor ``threshold``, so it is composed as
``where(beta x > threshold, x, jax.nn.softplus(beta x) / beta)``; ``jax.nn.gelu`` takes
``approximate=True`` for the tanh form (its default), ``False`` for the exact one.

The losses are ``torch.nn.functional``'s and optax's (:mod:`properties.framework_losses`), the
layers ``torch.nn.functional``'s and flax's (:mod:`properties.framework_layers`), the
optimizers torch.optim's and optax's (:mod:`properties.framework_optim`).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from primitives import _dispatch
from primitives.backend import Backend
from primitives.kernels import SPECS

from . import framework_layers, framework_losses, framework_optim


def torch_native() -> tuple[Backend, Any]:
    import torch
    import torch.nn.functional as F

    forward = {
        "relu": F.relu,
        "leaky_relu": lambda x, s: F.leaky_relu(x, s),
        "sigmoid": torch.sigmoid,
        "tanh": torch.tanh,
        "gelu": lambda x, a: F.gelu(x, approximate=a),
        "silu": F.silu,
        "softplus": lambda x, b, t: F.softplus(x, b, t),
        "elu": lambda x, a: F.elu(x, a),
        "softmax": lambda x, axis: torch.softmax(x, axis),
        "log_softmax": lambda x, axis: torch.log_softmax(x, axis),
    }

    def autograd_vjp(f):
        def vjp(g, x, *params):
            with torch.enable_grad():
                x = x.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(f(x, *params), x, g)
            return grad

        return vjp

    ops = SimpleNamespace(**framework_losses.torch_table(), **framework_layers.torch_table())
    ops.optim = framework_optim.torch_optim()
    for name, f in forward.items():
        setattr(ops, name, f)
        setattr(ops, name + "_backward", autograd_vjp(f))
    return _dispatch.kernels("torch").backend, ops


def jax_native() -> tuple[Backend, Any]:
    import jax
    import jax.numpy as jnp

    def softplus(x, beta, threshold):
        return jnp.where(beta * x > threshold, x, jax.nn.softplus(beta * x) / beta)

    forward = {
        "relu": jax.nn.relu,
        "leaky_relu": lambda x, s: jax.nn.leaky_relu(x, s),
        "sigmoid": jax.nn.sigmoid,
        "tanh": jnp.tanh,
        "gelu": lambda x, a: jax.nn.gelu(x, approximate=(a == "tanh")),
        "silu": jax.nn.silu,
        "softplus": softplus,
        "elu": lambda x, a: jax.nn.elu(x, a),
        "softmax": lambda x, axis: jax.nn.softmax(x, axis=axis),
        "log_softmax": lambda x, axis: jax.nn.log_softmax(x, axis=axis),
    }

    ops = SimpleNamespace(**framework_losses.jax_table(), **framework_layers.jax_table())
    ops.optim = framework_optim.optax_optim()
    for name, f in forward.items():
        n = len(SPECS[name].params)

        def vjp(g, x, *params, f=f):
            _, pullback = jax.vjp(lambda v: f(v, *params), x)
            return pullback(g)[0]

        setattr(ops, name, jax.jit(f, static_argnums=tuple(range(1, n + 1))))
        setattr(ops, name + "_backward", jax.jit(vjp, static_argnums=tuple(range(2, n + 2))))
    return _dispatch.kernels("jax").backend, ops
