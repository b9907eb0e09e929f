"""The JAX backend: each primitive jitted (parameters static) with a ``jax.custom_vjp`` whose
backward is the hand-written one, so ``jax.grad`` uses this library's derivatives.

float64: the library never changes jax's configuration. jax arrays are float64 only when the
user has enabled ``jax_enable_x64``; whatever dtype arrives is preserved.

XLA on the CPU flushes subnormal inputs and results to zero; results follow that arithmetic
there. On a GPU XLA keeps subnormals, and the kernels keep subnormal results accurate
(float32 GELU's tail only with ``jax_enable_x64``: it is computed in float64).
"""

from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np

from ..backend import Backend, RandomSource

_LOW = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))


def _tanh(x):
    """tanh(x) = sign(x) (1 - e)/(1 + e), e = exp(-2|x|), with 1 - e = -expm1(-2|x|).

    XLA's float64 tanh is up to 7 ULP off near |x| = 20 (0.9999999999999992 at 19.99, where
    the true value rounds to 1); this form stays within a few ULPs everywhere.
    """
    t = jnp.expm1(-2.0 * jnp.abs(x))
    return jnp.copysign(-t / (2.0 + t), x)


# Below this many terms a row is summed by XLA's own reduction; above, in blocks of it whose
# sums are added pairwise (see _row_sum)
_ROW_BLOCK = 8


def _row_sum(x, axis):
    """Sum along ``axis`` (kept, length 1): XLA's reduction over blocks of 8 entries, then the
    blocks' sums added pairwise (halving: log2 levels).

    XLA on the CPU sums a row of 1000-2048 entries with running sums that round alike terms
    the same way every time (5.7 ULPs off on a float32 row of 2047 zeros' exps and one 1;
    softmax 7.1, against a bound of 4.1); pairwise, the error grows with the logarithm of
    the length (1.3 ULPs there). It costs softmax about 1.8x on 4e6 float32 entries.
    """
    x = jnp.moveaxis(x, axis, -1)
    n = x.shape[-1]
    padded = -(-n // _ROW_BLOCK) * _ROW_BLOCK
    if padded != n:
        x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, padded - n)])
    y = jnp.sum(x.reshape((*x.shape[:-1], padded // _ROW_BLOCK, _ROW_BLOCK)), axis=-1)
    size = 1 << max(0, (y.shape[-1] - 1).bit_length())
    if size != y.shape[-1]:
        y = jnp.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, size - y.shape[-1])])
    while y.shape[-1] > 1:
        half = y.shape[-1] // 2
        y = y[..., :half] + y[..., half:]
    return jnp.moveaxis(y, -1, axis)


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


def _wrap_function(spec, forward, backward):
    """A ``jax.custom_vjp`` whose cotangents for the arguments at ``spec.grads`` are the
    hand-written backward's; a perturbed floating argument besides them (a probability
    target, a class weight) gets the forward's own derivative (``jax.vjp`` with the others
    fixed), integer and boolean ones none."""
    static = tuple(spec.static_argnums)
    grads = tuple(spec.grads)
    f = jax.custom_vjp(forward, nondiff_argnums=static)

    def f_fwd(*primals):
        args = [getattr(a, "value", a) for a in primals]
        # residuals: the arguments, with None in place of those no cotangent is wanted for
        others = [
            a if i not in static and getattr(p, "perturbed", False) else None
            for i, (a, p) in enumerate(zip(args, primals, strict=True))
        ]
        others[0] = args[0]
        dynamic = [args[i] for i in range(len(args)) if i not in static]
        return forward(*args), (dynamic, others)

    def f_bwd(*bwd_args):
        *fixed, (dynamic, others), g = bwd_args
        fixed, dynamic = iter(fixed), iter(dynamic)
        args = [next(fixed) if i in static else next(dynamic) for i in range(len(others))]
        hand = backward(g, *args)
        found = dict(zip(grads, hand if grads != (0,) else (hand,), strict=True))
        wanted = [
            i
            for i in range(len(args))
            if i not in grads
            and i not in static
            and others[i] is not None
            and _is_floating(args[i])
        ]
        if wanted:

            def of_others(*values):
                full = list(args)
                for i, v in zip(wanted, values, strict=True):
                    full[i] = v
                return forward(*full)

            _, vjp = jax.vjp(of_others, *(args[i] for i in wanted))
            found.update(zip(wanted, vjp(g), strict=True))
        return tuple(found.get(i) for i in range(len(args)) if i not in static)

    f.defvjp(f_fwd, f_bwd, symbolic_zeros=True)
    wrapped = jax.jit(f, static_argnums=static)
    wrapped.__name__ = spec.name
    return wrapped


def _to_numpy(x) -> np.ndarray:
    a = np.asarray(x)
    return a.astype(np.float32) if a.dtype in _LOW else a


def _is_floating(x) -> bool:
    return jnp.issubdtype(x.dtype, jnp.floating)


def _dtypes() -> tuple[str, ...]:
    low = ("float16", "bfloat16", "float32")
    return (*low, "float64") if jax.config.jax_enable_x64 else low


def _flushes_subnormals() -> bool:
    """XLA on the CPU flushes subnormals to zero; on a GPU it keeps them (seen on an H200 with
    jax 0.11: a subnormal param survives x - 0 u, and GELU's subnormal tail comes out with the
    direct formulas' 6-800,000 ULP errors unless computed as on numpy and torch). Asked while
    tracing, of the default platform: arrays committed to a GPU while the default platform is
    the CPU (``JAX_PLATFORMS=cpu,cuda``) get the flushing formulas.
    ``jax.lax.platform_dependent`` would choose per computation; not done, untested on a GPU."""
    return jax.default_backend() == "cpu"


def _is_concrete(x) -> bool:
    """False for the tracers of ``jit``/``grad``/``vmap`` (their values cannot be read)."""
    return not isinstance(x, jax.core.Tracer)


def _has_float64() -> bool:
    """Whether float64 is float64 now (``jax_enable_x64``, or inside ``jax.enable_x64``)."""
    return jax.dtypes.canonicalize_dtype(np.float64) == np.float64


def _is_key(rng) -> bool:
    """A typed PRNG key (0-d) or a raw ``jax.random.PRNGKey`` (uint32, shape (2,))."""
    if not isinstance(rng, jax.Array):
        return False
    typed = jax.dtypes.issubdtype(rng.dtype, jax.dtypes.prng_key)
    raw = str(rng.dtype) == "uint32" and tuple(rng.shape) == (2,)
    return (typed and rng.ndim == 0) or raw


def _bernoulli(x, keep: float, rng):
    if not _is_key(rng):
        rng = jax.random.key(rng)  # an int seed
    elif _is_concrete(rng) and _is_concrete(x) and rng.devices() != x.devices():
        raise ValueError(
            f"the PRNG key is on {rng.devices()} but x is on {x.devices()}; "
            "put them on one device (jax.device_put)"
        )
    return jax.random.bernoulli(rng, keep, tuple(x.shape))


def _from_seed(seed: int, like):
    key = jax.random.key(seed)
    return jax.device_put(key, like.sharding) if _is_concrete(like) else key


_RANDOM = RandomSource(
    description="a jax PRNG key (jax.random.key / jax.random.PRNGKey) or an int seed",
    is_source=_is_key,
    bernoulli=_bernoulli,
    from_seed=_from_seed,
    advances=False,
)


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
    wrap_function=_wrap_function,
    flushes_subnormals=_flushes_subnormals,
    has_float64=_has_float64,
    is_concrete=_is_concrete,
    stop_gradient=jax.lax.stop_gradient,
    compile=lambda kernel, static: jax.jit(kernel, static_argnums=static),
    row_sum=_row_sum,
    random=_RANDOM,
    full_like=jnp.full_like,
    integer_zero=lambda like: jnp.zeros((), dtype=int),  # int64 with x64 enabled, else int32
    register_tree=jax.tree_util.register_pytree_node,
)
