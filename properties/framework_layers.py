"""The frameworks' own layers in this library's signatures, for ``torch-native`` and
``jax-native`` (:mod:`properties.framework_backends`): each backward is the framework's autodiff
of its layer (``torch.autograd.grad``, ``jax.vjp``), returning the gradients this library's
backward returns.

=================  ====================================  =======================================
primitive          torch-native                          jax-native
=================  ====================================  =======================================
layer_norm         ``F.layer_norm``                      flax ``nn.LayerNorm`` (its defaults:
                                                         ``use_fast_variance=True``, the
                                                         variance as E[x^2] - E[x]^2)
batch_norm         ``F.batch_norm`` (channels moved to   none: flax's ``nn.BatchNorm`` keeps the
                   axis 1; the running statistics        biased batch variance in its running
                   updated on copies, returned as this   variance, another quantity than this
                   library returns them)                 library's and torch's unbiased one
linear             ``F.linear``                          flax ``nn.Dense`` (kernel = weight.T)
l1/l2 penalties    none                                  none
=================  ====================================  =======================================

``test_layer_norm.py``, ``test_batch_norm_frameworks.py`` and ``test_linear.py`` compare the
library with the frameworks on drawn problems; ``properties.atlas.layers`` measures these tables
against the float64 references with the properties' bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _shape(normalized_shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)


def torch_table() -> dict[str, Callable]:
    """layer_norm, batch_norm and linear, each with its backward, from torch.nn.functional."""
    import torch
    import torch.nn.functional as F

    def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
        return F.layer_norm(x, _shape(normalized_shape), weight, bias, eps)

    def batch_norm(
        x,
        running_mean,
        running_var,
        weight=None,
        bias=None,
        training=True,
        momentum=0.1,
        eps=1e-5,
        axis=1,
    ):
        rm = None if running_mean is None else running_mean.clone()
        rv = None if running_var is None else running_var.clone()
        out = F.batch_norm(x.movedim(axis, 1), rm, rv, weight, bias, training, momentum, eps)
        return out.movedim(1, axis), rm, rv

    def linear(x, weight, bias=None):
        return F.linear(x, weight, bias)

    def gradients(out: Any, g: Any, inputs: list) -> list:
        """d(out)/d(each input) against g, None for the inputs that are None."""
        wanted = [a for a in inputs if a is not None]
        grads = iter(torch.autograd.grad(out, wanted, g))
        return [None if a is None else next(grads) for a in inputs]

    def leaf(a):
        return None if a is None else a.detach().requires_grad_(True)

    def layer_norm_backward(g, x, normalized_shape, weight=None, bias=None, eps=1e-5):
        with torch.enable_grad():
            x, weight, bias = leaf(x), leaf(weight), leaf(bias)
            out = layer_norm(x, normalized_shape, weight, bias, eps)
            return tuple(gradients(out, g, [x, weight, bias]))

    def batch_norm_backward(
        g, x, weight=None, running_mean=None, running_var=None, training=True, eps=1e-5, axis=1
    ):
        channels = x.shape[axis]
        like = {"dtype": x.dtype, "device": x.device}
        w = torch.ones(channels, **like) if weight is None else weight
        with torch.enable_grad():  # (dweight and dbias as if both were given: this library's)
            x, w, b = leaf(x), leaf(w), leaf(torch.zeros(channels, **like))
            out, _, _ = batch_norm(x, running_mean, running_var, w, b, training, 0.0, eps, axis)
            return tuple(gradients(out, g, [x, w, b]))

    def linear_backward(g, x, weight, bias=None):
        with torch.enable_grad():
            x, weight, bias = leaf(x), leaf(weight), leaf(bias)
            return tuple(gradients(linear(x, weight, bias), g, [x, weight, bias]))

    return {
        "layer_norm": layer_norm,
        "layer_norm_backward": layer_norm_backward,
        "batch_norm": batch_norm,
        "batch_norm_backward": batch_norm_backward,
        "linear": linear,
        "linear_backward": linear_backward,
    }


def jax_table() -> dict[str, Callable]:
    """layer_norm and linear, each with its backward, from flax.linen (see the module's table:
    no batch norm)."""
    import flax.linen as nn
    import jax

    def layer_norm_of(normalized_shape, has_weight: bool, has_bias: bool, eps: float):
        axes = tuple(range(-len(_shape(normalized_shape)), 0))
        module = nn.LayerNorm(
            epsilon=eps,
            use_scale=has_weight,
            use_bias=has_bias,
            reduction_axes=axes,
            feature_axes=axes,
        )

        def f(x, weight, bias):
            params = {}
            if has_weight:
                params["scale"] = weight
            if has_bias:
                params["bias"] = bias
            return module.apply({"params": params}, x)

        return f

    def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
        f = layer_norm_of(normalized_shape, weight is not None, bias is not None, eps)
        return f(x, weight, bias)

    def layer_norm_backward(g, x, normalized_shape, weight=None, bias=None, eps=1e-5):
        f = layer_norm_of(normalized_shape, weight is not None, bias is not None, eps)
        _, pullback = jax.vjp(f, x, weight, bias)
        return tuple(pullback(g))

    def dense(x, weight, bias):
        module = nn.Dense(weight.shape[0], use_bias=bias is not None)
        params = {"kernel": weight.T} | ({} if bias is None else {"bias": bias})
        return module.apply({"params": params}, x)

    def linear(x, weight, bias=None):
        return dense(x, weight, bias)

    def linear_backward(g, x, weight, bias=None):
        _, pullback = jax.vjp(dense, x, weight, bias)
        return tuple(pullback(g))

    return {
        "layer_norm": layer_norm,
        "layer_norm_backward": layer_norm_backward,
        "linear": linear,
        "linear_backward": linear_backward,
    }
