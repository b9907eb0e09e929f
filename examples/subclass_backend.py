"""A worked third-party backend: arrays of a NumPy subclass, with erf/erfc from ``math``.

Register it and every primitive dispatches ``ExampleArray`` inputs here::

    import primitives as P
    P.load_backend("examples.subclass_backend")
    P.gelu(ExampleArray.of([-1.0, 0.5]))        # -> ExampleArray

and the whole property suite judges it::

    pytest --backend=examples.subclass_backend

A backend module defines ``BACKEND = primitives.Backend(...)``; the fields are documented on
:class:`primitives.Backend`. This one shows each of them.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np

from primitives import Backend, RandomSource


class ExampleArray(np.ndarray):
    """A NumPy array of another type, standing in for an array library of your own."""

    @classmethod
    def of(cls, data, dtype=np.float64) -> ExampleArray:
        return np.asarray(data, dtype=dtype).view(cls)


def _vectorized(fn):
    ufunc = np.frompyfunc(fn, 1, 1)

    def apply(x):
        x = np.asarray(x)
        # (on a 0-d array, frompyfunc returns a Python float: asarray makes it an array again)
        return np.asarray(ufunc(x.astype(np.float64))).astype(x.dtype).view(ExampleArray)

    return apply


def _quiet(spec, forward, backward):
    """``wrap``: the generic kernels may overflow in a branch that ``where`` then discards
    (softplus of 3e38 computes beta * x); NumPy warns on that, so run them under errstate."""

    def quietly(kernel):
        def run(*args):
            with np.errstate(all="ignore"):
                return kernel(*args)

        return run

    return quietly(forward), quietly(backward)


def _own(fn):
    """``fn`` returning this library's array type: NumPy's ufuncs keep the subclass, but
    ``where``, ``asarray`` and full reductions (a NumPy scalar) do not; an array library's own
    functions return its own arrays."""

    def run(*args, **kwargs):
        return np.asarray(fn(*args, **kwargs)).view(ExampleArray)

    run.__name__ = fn.__name__
    return run


# The array API namespace: NumPy's functions, which keep the subclass through ufuncs.
xp = SimpleNamespace(
    **{
        n: getattr(np, n)
        for n in (
            "abs",
            "exp",
            "expm1",
            "log",
            "log1p",
            "tanh",
            "sqrt",
            "maximum",
            "minimum",
            "isnan",
            "float32",
            "float64",
        )
    },
    **{n: _own(getattr(np, n)) for n in ("where", "max", "sum", "asarray")},
    astype=lambda x, dtype: np.asarray(x).astype(dtype).view(ExampleArray),
    arange=lambda stop, *, dtype=None, device=None: np.arange(stop, dtype=dtype).view(ExampleArray),
    take_along_axis=lambda a, idx, axis: np.take_along_axis(a, idx, axis).view(ExampleArray),
)


def _bernoulli(x, keep: float, rng) -> ExampleArray:
    """A keep-mask from a NumPy Generator (or a fresh one from an int seed)."""
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    return (rng.random(np.shape(x)) < keep).view(ExampleArray)


# Dropout's random source: here NumPy's generators; an array library passes its own.
RANDOM = RandomSource(
    description="a numpy.random.Generator or an int seed",
    is_source=lambda rng: isinstance(rng, np.random.Generator),
    bernoulli=_bernoulli,
    from_seed=lambda seed, like: np.random.default_rng(seed),
    advances=True,
)

BACKEND = Backend(
    name="subclass-example",
    array_types=(ExampleArray,),
    xp=xp,
    erf=_vectorized(math.erf),
    erfc=_vectorized(math.erfc),
    is_floating=lambda x: x.dtype.kind == "f",
    low_precision=lambda x: x.dtype == np.float16,
    asarray=lambda obj: ExampleArray.of(obj),
    to_numpy=lambda x: np.asarray(x).view(np.ndarray),
    from_numpy=lambda a, dtype: ExampleArray.of(a, dtype=dtype),
    # float16 is computed in float32 and rounded once (low_precision above)
    dtypes=("float16", "float32", "float64"),
    wrap=_quiet,
    random=RANDOM,
    # the optimizers and dropout let NaN and inf propagate: no warnings about them
    errors_ignored=lambda: np.errstate(all="ignore"),
    # NumPy's arithmetic on 0-d arrays returns scalars: the optimizers' results as arrays
    ensure_array=lambda value: np.asarray(value).view(ExampleArray),
)
