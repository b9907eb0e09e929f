"""The JAX backend: each primitive jitted (parameters static) with a ``jax.custom_vjp`` whose
backward is the hand-written one, so ``jax.grad`` uses this library's derivatives.

float64: the library never changes jax's configuration. jax arrays are float64 only when the
user has enabled ``jax_enable_x64``; whatever dtype arrives is preserved.

XLA on the CPU flushes subnormal inputs and results to zero; results follow that arithmetic.
"""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np

from ..backend import Backend

_LOW = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


def _tanh(x):
    """tanh(x) = sign(x) (1 - e)/(1 + e), e = exp(-2|x|), with 1 - e = -expm1(-2|x|).

    XLA's float64 tanh is up to 7 ULP off near |x| = 20 (0.9999999999999992 at 19.99, where
    the true value rounds to 1); this form stays within a few ULPs everywhere.
    """
    t = jnp.expm1(-2.0 * jnp.abs(x))
    return jnp.copysign(-t / (2.0 + t), x)


_xp = SimpleNamespace(
    **{
        n: getattr(jnp, n)
        for n in (
            "abs",
            "exp",
            "expm1",
            "log",
            "log1p",
            "sqrt",
            "maximum",
            "minimum",
            "where",
            "isnan",
            "max",
            "sum",
            "asarray",
            "astype",
            "float32",
            "float64",
        )
    },
    tanh=_tanh,
    # jax places the result itself (and a traced array has no ``device``)
    arange=lambda stop, *, dtype=None, device=None: jnp.arange(stop, dtype=dtype),
    take_along_axis=lambda a, indices, axis: jnp.take_along_axis(a, indices, axis=axis),
)


def _wrap(spec, forward, backward):
    n = len(spec.params)
    static = tuple(range(1, n + 1))
    f = jax.custom_vjp(forward, nondiff_argnums=static)

    def f_fwd(x, *params):
        return forward(x, *params), x

    def f_bwd(*args):
        *params, x, g = args
        return (backward(g, x, *params),)

    f.defvjp(f_fwd, f_bwd)
    return (
        jax.jit(f, static_argnums=static),
        jax.jit(backward, static_argnums=tuple(range(2, n + 2))),
    )


def _to_numpy(x) -> np.ndarray:
    a = np.asarray(x)
    return a.astype(np.float32) if a.dtype in _LOW else a


def _is_floating(x) -> bool:
    return jnp.issubdtype(x.dtype, jnp.floating)


def _dtypes() -> tuple[str, ...]:
    low = ("float16", "bfloat16", "float32")
    return (*low, "float64") if jax.config.jax_enable_x64 else low


BACKEND = Backend(
    name="jax",
    array_types=(jax.Array,),
    xp=_xp,
    erf=jax.lax.erf,
    erfc=jax.lax.erfc,
    is_floating=_is_floating,
    low_precision=lambda x: x.dtype in _LOW,
    asarray=lambda obj: jnp.asarray(obj, dtype=jnp.result_type(float)),
    to_numpy=_to_numpy,
    from_numpy=lambda a, dtype: jnp.asarray(np.asarray(a, dtype=np.float64), dtype=dtype),
    dtypes=_dtypes(),
    wrap=_wrap,
    module_prefixes=("jax", "jaxlib"),
    flushes_subnormals=True,
    compile=lambda kernel, static: jax.jit(kernel, static_argnums=static),
)
