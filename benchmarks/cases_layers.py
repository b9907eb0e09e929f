"""Benchmark rows of the layer pieces (appended to :data:`benchmarks.cases.CASES`).

Targets (issue 6): the torch backend within 1.2x of the native function, the jax backend
within 1.2x of the jitted native one, the numpy backend's batch norm within 3x of torch's
native CPU time. Sizes count the input's elements:

* ``layer_norm`` on (8192, 4096) float32 rows, normalized over the last axis, with weight and
  bias; the backward returns dx, dweight and dbias, and so does every peer's;
* ``linear``: x (rows, 1024) times W (1024, 1024) plus b; 2048 rows (2M elements) and 8192
  rows on a GPU; backward dx, dW and db;
* ``batch_norm`` (training, (N, C, H, W), running statistics updated): (16, 64, 56, 56) on the
  CPU (3.2M elements), the issue's (64, 256, 56, 56) on a GPU; backward dx, dweight, dbias;
* ``dropout`` on 4 * 10^6 elements, p = 0.5, with each backend's own random source; the
  backward applies the forward's mask.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .case import Case, Inputs, shape_of

FEATURES = 4096
LAYER_NORM_SIZES = (8192 * FEATURES,)
IN_FEATURES = 1024
LINEAR_SIZES = (2048 * IN_FEATURES,)
LINEAR_GPU_SIZES = (8192 * IN_FEATURES,)
BN_CPU = (16, 64, 56, 56)
BN_GPU = (64, 256, 56, 56)
DROPOUT_SIZES = (4 * 10**6,)
_LAYERS = {"family": "layers", "target_torch": 1.2, "target_jax": 1.2, "numpy_target": None}


def _rows(size: int, width: int) -> tuple[int, int]:
    width = min(width, size)
    return max(size // width, 1), width


def rows_with_affine(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    """x (rows, features), normalized_shape, weight, bias; the backward for x, weight, bias."""
    rows, width = _rows(size, FEATURES)
    x = rng.standard_normal((rows, width), dtype=dtype)
    w = (1.0 + 0.1 * rng.standard_normal(width)).astype(dtype)
    b = (0.1 * rng.standard_normal(width)).astype(dtype)
    g = rng.standard_normal((rows, width), dtype=dtype)
    return Inputs((x, (width,), w, b), g, wrt=(0, 2, 3))


def inputs_and_weights(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    rows, width = _rows(size, IN_FEATURES)
    x = rng.standard_normal((rows, width), dtype=dtype)
    w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(dtype)
    b = rng.standard_normal(width, dtype=dtype)
    g = rng.standard_normal((rows, width), dtype=dtype)
    return Inputs((x, w, b), g, wrt=(0, 1, 2))


# --- layer norm -------------------------------------------------------------------------------


def _np_layer_norm(m: Any, x: Any, shape: Any, w: Any, b: Any, eps: float) -> Any:
    mu = x.mean(-1, keepdims=True)
    d = x - mu
    return d / m.np.sqrt((d * d).mean(-1, keepdims=True) + eps) * w + b


def _np_layer_norm_backward(m: Any, g: Any, x: Any, shape: Any, w: Any, b: Any, eps: float):
    mu = x.mean(-1, keepdims=True)
    d = x - mu
    rstd = 1.0 / m.np.sqrt((d * d).mean(-1, keepdims=True) + eps)
    xhat = d * rstd
    gw = g * w
    dx = rstd * (gw - gw.mean(-1, keepdims=True) - xhat * (gw * xhat).mean(-1, keepdims=True))
    return dx, (g * xhat).sum(0), g.sum(0)


def _jax_layer_norm(m: Any, x: Any, shape: Any, w: Any, b: Any, eps: float) -> Any:
    mu = x.mean(-1, keepdims=True)
    d = x - mu
    return d * m.jax.lax.rsqrt((d * d).mean(-1, keepdims=True) + eps) * w + b


# --- batch norm (training) ------------------------------------------------------------------


def _bn_shape(size: int) -> tuple[int, int, int, int]:
    n, c, h, w = BN_GPU if size == int(np.prod(BN_GPU)) else BN_CPU
    if size >= n * c * h * w:
        return n, c, h, w
    return 2, min(c, max(size // 2, 1)), 1, 1  # small sizes (the smoke test): (2, C, 1, 1)


def channels(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    """x (N, C, H, W), running mean and variance, weight, bias; backward for x, weight, bias."""
    shape = _bn_shape(size)
    c = shape[1]
    x = rng.standard_normal(shape, dtype=dtype)
    stats = (np.zeros(c, dtype), np.ones(c, dtype))
    w = (1.0 + 0.1 * rng.standard_normal(c)).astype(dtype)
    b = (0.1 * rng.standard_normal(c)).astype(dtype)
    return Inputs((x, *stats, w, b), rng.standard_normal(shape, dtype=dtype), wrt=(0, 3, 4))


_AXES = (0, 2, 3)


def _np_batch_norm(m: Any, x: Any, rm: Any, rv: Any, w: Any, b: Any) -> Any:
    mu = x.mean(_AXES)
    d = x - mu[:, None, None]
    var = (d * d).mean(_AXES)
    n = x.size // x.shape[1]
    new_rm, new_rv = 0.9 * rm + 0.1 * mu, 0.9 * rv + 0.1 * var * (n / (n - 1))
    out = d * (w / m.np.sqrt(var + 1e-5))[:, None, None] + b[:, None, None]
    return out, new_rm, new_rv


def _np_batch_norm_backward(m: Any, g: Any, x: Any, rm: Any, rv: Any, w: Any, b: Any) -> Any:
    mu = x.mean(_AXES)
    d = x - mu[:, None, None]
    rstd = 1.0 / m.np.sqrt((d * d).mean(_AXES) + 1e-5)
    xhat = d * rstd[:, None, None]
    db = g.sum(_AXES)
    dw = (g * xhat).sum(_AXES)
    n = x.size // x.shape[1]
    dx = (w * rstd / n)[:, None, None] * (n * g - db[:, None, None] - xhat * dw[:, None, None])
    return dx, dw, db


def _jax_batch_norm(m: Any, x: Any, rm: Any, rv: Any, w: Any, b: Any) -> Any:
    jnp = m.jnp
    mu = x.mean(_AXES)
    d = x - mu[:, None, None]
    var = (d * d).mean(_AXES)
    n = x.size // x.shape[1]
    out = d * (w * m.jax.lax.rsqrt(var + 1e-5))[:, None, None] + b[:, None, None]
    return out, 0.9 * rm + 0.1 * mu, 0.9 * rv + 0.1 * var * jnp.asarray(n / (n - 1), x.dtype)


def _batch_norm_calls(m: Any, backend: str, impl: str, data: Inputs) -> dict[str, Callable]:
    from .harness import train_step  # (the harness imports the cases)

    (x, rm, rv, w, b), g, _ = data
    if impl == "project":
        import primitives as P

        def project(*a: Any) -> Any:
            return P.batch_norm(*a, training=True)

        def project_backward(gv: Any, x: Any, rm: Any, rv: Any, w: Any, b: Any) -> Any:
            return P.batch_norm_backward(gv, x, w, training=True)

        return {
            "forward": lambda: P.batch_norm(x, rm, rv, w, b, training=True),
            "backward": lambda: P.batch_norm_backward(g, x, w, training=True),
            "train": train_step(backend, project, data, project_backward),
        }
    if backend == "torch":
        leaves = [a.detach().clone().requires_grad_(True) for a in (x, w, b)]
        with m.torch.enable_grad():
            y = m.F.batch_norm(leaves[0], rm.clone(), rv.clone(), leaves[1], leaves[2], True)

        def native(x: Any, rm: Any, rv: Any, w: Any, b: Any) -> Any:
            return m.F.batch_norm(x, rm, rv, w, b, training=True)

        return {
            # torch updates the running statistics in place: time it on its own buffers
            "forward": lambda: m.F.batch_norm(x, rm, rv, w, b, training=True),
            "backward": lambda: m.torch.autograd.grad(y, leaves, g, retain_graph=True),
            "train": train_step(backend, native, data),
        }
    if backend == "jax":

        def bn(*a: Any) -> Any:
            return _jax_batch_norm(m, *a)

        def vjp(gv: Any, x: Any, w: Any, b: Any) -> Any:
            return m.jax.vjp(lambda x, w, b: bn(x, rm, rv, w, b)[0], x, w, b)[1](gv)

        forward, backward = m.jax.jit(bn), m.jax.jit(vjp)
        return {
            "forward": lambda: forward(x, rm, rv, w, b),
            "backward": lambda: backward(g, x, w, b),
            "train": train_step(backend, bn, data),
        }

    def np_backward(gv: Any, *a: Any) -> Any:
        return _np_batch_norm_backward(m, gv, *a)

    return {
        "forward": lambda: _np_batch_norm(m, x, rm, rv, w, b),
        "backward": lambda: _np_batch_norm_backward(m, g, x, rm, rv, w, b),
        "train": train_step(backend, lambda *a: _np_batch_norm(m, *a), data, np_backward),
    }


# --- dropout ------------------------------------------------------------------------------------


def elementwise_half(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    shape = shape_of(size)
    x, g = (rng.standard_normal(shape, dtype=dtype) for _ in range(2))
    return Inputs((x,), g)


def _source(m: Any, backend: str, x: Any) -> Any:
    if backend == "numpy":
        return np.random.default_rng(0)
    if backend == "torch":
        return m.torch.Generator(device=x.device).manual_seed(0)
    return m.jax.random.key(0)


def _dropout_calls(m: Any, backend: str, impl: str, data: Inputs, p: float) -> dict:
    from .harness import train_step  # (the harness imports the cases)

    (x,), g, _ = data
    if impl == "project":
        import primitives as P

        rng = _source(m, backend, x)
        mask = P.dropout_mask(x, p, rng=_source(m, backend, x))
        if backend == "numpy":  # a fresh mask, and the backward with it, as a step would

            def numpy_train() -> Any:
                y, drawn = P.dropout(x, p, rng=rng, return_mask=True)
                return y, P.dropout_backward(g, drawn, p)

            train = numpy_train
        else:
            train = train_step(backend, lambda v: P.dropout(v, p, rng=rng), data)
        return {
            "forward": lambda: P.dropout(x, p, rng=rng),
            "backward": lambda: P.dropout_backward(g, mask, p),
            "train": train,
        }
    if backend == "torch":
        leaf = x.detach().clone().requires_grad_(True)
        with m.torch.enable_grad():
            y = m.F.dropout(leaf, p, training=True)
        return {
            "forward": lambda: m.F.dropout(x, p, training=True),
            "backward": lambda: m.torch.autograd.grad(y, leaf, g, retain_graph=True)[0],
            "train": train_step(backend, lambda v: m.F.dropout(v, p, training=True), data),
        }
    if backend == "jax":
        jax, jnp = m.jax, m.jnp

        def f(key: Any, x: Any) -> Any:
            keep = jax.random.bernoulli(key, 1.0 - p, x.shape)
            return jnp.where(keep, x / (1.0 - p), 0.0)

        key = jax.random.key(0)
        forward = jax.jit(f)
        backward = jax.jit(lambda key, g, x: jax.vjp(lambda v: f(key, v), x)[1](g)[0])
        return {
            "forward": lambda: forward(key, x),
            "backward": lambda: backward(key, g, x),
            "train": train_step(backend, lambda v: f(key, v), data),
        }
    rng = np.random.default_rng(0)
    keep = rng.random(x.shape) < 1.0 - p
    return {
        "forward": lambda: x * (rng.random(x.shape) < 1.0 - p) / (1.0 - p),
        "backward": lambda: g * keep / (1.0 - p),
        "train": train_step(
            backend,
            lambda v: v * (rng.random(v.shape) < 1.0 - p) / (1.0 - p),
            data,
            lambda gv, v: gv * keep / (1.0 - p),
        ),
    }


LAYER_CASES: tuple[Case, ...] = (
    Case(
        "layer_norm",
        build=rows_with_affine,
        sizes=LAYER_NORM_SIZES,
        params={"eps": 1e-5},
        torch=lambda m, x, shape, w, b, eps: m.F.layer_norm(x, shape, w, b, eps),
        jax=_jax_layer_norm,
        numpy=_np_layer_norm,
        numpy_backward=_np_layer_norm_backward,
        **_LAYERS,
    ),
    Case(
        "linear",
        build=inputs_and_weights,
        sizes=LINEAR_SIZES,
        gpu_sizes=LINEAR_GPU_SIZES,
        torch=lambda m, x, w, b: m.F.linear(x, w, b),
        jax=lambda m, x, w, b: x @ w.T + b,
        numpy=lambda m, x, w, b: x @ w.T + b,
        numpy_backward=lambda m, g, x, w, b: (g @ w, g.T @ x, g.sum(0)),
        **_LAYERS,
    ),
    Case(
        "batch_norm",
        build=channels,
        calls=_batch_norm_calls,
        sizes=(int(np.prod(BN_CPU)),),
        gpu_sizes=(int(np.prod(BN_GPU)),),
        **{**_LAYERS, "numpy_target": 3.0},
    ),
    Case(
        "dropout",
        build=elementwise_half,
        calls=_dropout_calls,
        params={"p": 0.5},
        sizes=DROPOUT_SIZES,
        **_LAYERS,
    ),
)
