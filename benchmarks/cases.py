"""The benchmark table: every case both runners (asv and pytest-benchmark) are generated from.

A case names a project primitive (``primitives.<primitive>`` and ``<primitive>_backward``),
its keyword parameters, and the "native" peer a user would otherwise call on each backend:

* ``torch``: ``torch.nn.functional`` (its backward is autograd of that call);
* ``jax``: ``jax.nn`` (jitted; its backward is a jitted ``jax.vjp`` of it);
* ``numpy``: the plain NumPy expression, with ``numpy_backward`` written out by hand.

Peers are ``lambda m, x, **params`` where ``m`` holds the loaded modules (``m.np``,
``m.torch``, ``m.F``, ``m.jax``, ``m.jnp``, ``m.erf``), so this module imports neither torch
nor jax. Adding a primitive is adding one :class:`Case` row to :data:`CASES`; every runner,
the report and its targets pick it up.

Families other than the activations take other inputs (logits and integer targets; an input,
weight and bias): a case's ``build`` makes them as host NumPy arrays (:class:`Inputs`), the
project is called as ``primitives.<primitive>(*arrays, **params)`` and
``<primitive>_backward(grad_output, *arrays, **params)``, and every peer as
``peer(m, *arrays, **params)`` (``numpy_backward(m, grad_output, *arrays, **params)``); the
native backward differentiates the peer with respect to ``arrays[wrt]``. Their cases live in
``benchmarks/cases_<family>.py`` and are appended to :data:`CASES` at the end of this module.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from .case import (
    BACKENDS,
    DEVICES,
    DIRECTIONS,
    DTYPES,
    IMPLS,
    ROW,
    SIZES,
    Build,
    Case,
    Inputs,
    Peer,
    devices,
    elementwise,
    shape_of,
)

# the runners import the table and its axes from here
__all__ = [
    "BACKENDS",
    "BY_ID",
    "CASES",
    "DEVICES",
    "DIRECTIONS",
    "DTYPES",
    "IMPLS",
    "ROW",
    "SIZES",
    "Build",
    "Case",
    "Inputs",
    "Peer",
    "devices",
    "elementwise",
    "shape_of",
]

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_C = math.sqrt(2.0 / math.pi)  # the tanh form of gelu: tanh(_C (x + 0.044715 x^3))


def _np_sigmoid(m: Any, x: Any) -> Any:
    return 1.0 / (1.0 + m.np.exp(-x))


def _np_sigmoid_backward(m: Any, g: Any, x: Any) -> Any:
    s = _np_sigmoid(m, x)
    return g * s * (1.0 - s)


def _np_gelu_tanh_backward(m: Any, g: Any, x: Any) -> Any:
    t = m.np.tanh(_C * (x + 0.044715 * x**3))
    return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _C * (1.0 + 3 * 0.044715 * x * x))


def _np_silu_backward(m: Any, g: Any, x: Any) -> Any:
    s = _np_sigmoid(m, x)
    return g * s * (1.0 + x * (1.0 - s))


def _np_softmax(m: Any, x: Any, axis: int) -> Any:
    e = m.np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(m: Any, x: Any, axis: int) -> Any:
    s = x - x.max(axis=axis, keepdims=True)
    return s - m.np.log(m.np.exp(s).sum(axis=axis, keepdims=True))


def _jax_softplus(m: Any, x: Any, beta: float, threshold: float) -> Any:
    # jax.nn.softplus has neither beta nor threshold: torch's convention composed around it
    return m.jnp.where(beta * x > threshold, x, m.jax.nn.softplus(beta * x) / beta)


_BOTH = frozenset({"forward", "backward"})

CASES: tuple[Case, ...] = (
    Case(
        "relu",
        torch=lambda m, x: m.F.relu(x),
        jax=lambda m, x: m.jax.nn.relu(x),
        numpy=lambda m, x: m.np.maximum(x, 0),
        numpy_backward=lambda m, g, x: g * (x > 0),
    ),
    Case(
        "leaky_relu",
        params={"negative_slope": 0.01},
        torch=lambda m, x, negative_slope: m.F.leaky_relu(x, negative_slope),
        jax=lambda m, x, negative_slope: m.jax.nn.leaky_relu(x, negative_slope),
        numpy=lambda m, x, negative_slope: m.np.where(x > 0, x, x * negative_slope),
        numpy_backward=lambda m, g, x, negative_slope: m.np.where(x > 0, g, g * negative_slope),
    ),
    Case(
        "sigmoid",
        torch=lambda m, x: m.torch.sigmoid(x),
        jax=lambda m, x: m.jax.nn.sigmoid(x),
        numpy=_np_sigmoid,
        numpy_backward=_np_sigmoid_backward,
        torch_inaccurate=frozenset({"backward"}),
    ),
    Case(
        "tanh",
        torch=lambda m, x: m.torch.tanh(x),
        jax=lambda m, x: m.jnp.tanh(x),
        numpy=lambda m, x: m.np.tanh(x),
        numpy_backward=lambda m, g, x: g * (1.0 - m.np.tanh(x) ** 2),
    ),
    Case(
        "gelu",
        params={"approximate": "none"},
        torch=lambda m, x, approximate: m.F.gelu(x, approximate=approximate),
        jax=lambda m, x, approximate: m.jax.nn.gelu(x, approximate=approximate == "tanh"),
        numpy=lambda m, x, approximate: x * 0.5 * (1.0 + m.erf(x * _SQRT_HALF)),
        numpy_backward=lambda m, g, x, approximate: (
            g * (0.5 * (1.0 + m.erf(x * _SQRT_HALF)) + x * _INV_SQRT_2PI * m.np.exp(-0.5 * x * x))
        ),
        numpy_target=4.0,
        torch_inaccurate=_BOTH,
    ),
    Case(
        "gelu_tanh",
        primitive="gelu",
        params={"approximate": "tanh"},
        torch=lambda m, x, approximate: m.F.gelu(x, approximate=approximate),
        jax=lambda m, x, approximate: m.jax.nn.gelu(x, approximate=approximate == "tanh"),
        numpy=lambda m, x, approximate: 0.5 * x * (1.0 + m.np.tanh(_C * (x + 0.044715 * x**3))),
        numpy_backward=lambda m, g, x, approximate: _np_gelu_tanh_backward(m, g, x),
        numpy_target=4.0,
        torch_inaccurate=_BOTH,
    ),
    Case(
        "silu",
        torch=lambda m, x: m.F.silu(x),
        jax=lambda m, x: m.jax.nn.silu(x),
        numpy=lambda m, x: x / (1.0 + m.np.exp(-x)),
        numpy_backward=_np_silu_backward,
    ),
    Case(
        "softplus",
        params={"beta": 1.0, "threshold": 20.0},
        torch=lambda m, x, beta, threshold: m.F.softplus(x, beta, threshold),
        jax=_jax_softplus,
        numpy=lambda m, x, beta, threshold: m.np.where(
            x * beta > threshold, x, m.np.log1p(m.np.exp(beta * x)) / beta
        ),
        numpy_backward=lambda m, g, x, beta, threshold: m.np.where(
            x * beta > threshold, g, g / (1.0 + m.np.exp(-beta * x))
        ),
    ),
    Case(
        "elu",
        params={"alpha": 1.0},
        torch=lambda m, x, alpha: m.F.elu(x, alpha),
        jax=lambda m, x, alpha: m.jax.nn.elu(x, alpha),
        numpy=lambda m, x, alpha: m.np.where(x > 0, x, alpha * m.np.expm1(x)),
        numpy_backward=lambda m, g, x, alpha: m.np.where(x > 0, g, g * alpha * m.np.exp(x)),
    ),
    Case(
        "softmax",
        params={"axis": -1},
        torch=lambda m, x, axis: m.torch.softmax(x, axis),
        jax=lambda m, x, axis: m.jax.nn.softmax(x, axis=axis),
        numpy=_np_softmax,
        numpy_backward=lambda m, g, x, axis: (
            (y := _np_softmax(m, x, axis)) * (g - (g * y).sum(axis=axis, keepdims=True))
        ),
        numpy_target=4.0,
    ),
    Case(
        "log_softmax",
        params={"axis": -1},
        torch=lambda m, x, axis: m.torch.log_softmax(x, axis),
        jax=lambda m, x, axis: m.jax.nn.log_softmax(x, axis=axis),
        numpy=_np_log_softmax,
        numpy_backward=lambda m, g, x, axis: (
            g - _np_softmax(m, x, axis) * g.sum(axis=axis, keepdims=True)
        ),
        numpy_target=4.0,
    ),
)

ACTIVATION_GPU_SIZES = (2**27,)
"""Where a GPU is present the activations also run at 2^27 elements (512 MB in float32, ten
times an H100's L2 cache), where the kernels are bandwidth-bound and the issue's GPU target
(throughput against the native kernel's) is read; at 4e6 elements a launch is a large part of
a GPU call."""
CASES = tuple(replace(case, gpu_sizes=ACTIVATION_GPU_SIZES) for case in CASES)

from .cases_layers import LAYER_CASES  # noqa: E402
from .cases_losses import LOSS_CASES  # noqa: E402
from .cases_optim import OPTIM_CASES  # noqa: E402

CASES += LOSS_CASES + OPTIM_CASES + LAYER_CASES
BY_ID: dict[str, Case] = {case.id: case for case in CASES}
