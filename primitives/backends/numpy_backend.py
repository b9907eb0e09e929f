"""The NumPy backend: ``numpy`` plus a vectorized port of fdlibm's erf/erfc.

Floating dtypes: numpy's float16/32/64 and ``ml_dtypes.bfloat16`` (what ``np.asarray`` of a
jax bfloat16 array gives). float16 and bfloat16 are computed in float32 and rounded once, as
on torch and jax. bfloat16 is accepted as input only (the suite judges numpy in float16,
float32 and float64); ml_dtypes is never imported here: an array can only have its dtype once
it is loaded.
"""

from __future__ import annotations

import sys
from functools import wraps
from types import SimpleNamespace

import numpy as np

from .._numpy_special import erf, erfc
from ..backend import Backend, RandomSource
from . import numpy_blocks, numpy_fast

# Kernels whose operations cannot raise floating-point warnings for any input; the others run
# under np.errstate, since overflow in an unselected np.where branch is expected and harmless.
_WARNING_FREE = frozenset({"relu", "tanh"})  # (relu_backward: inf * 0 = NaN warns)


def _astype(x, dtype):
    return x.astype(dtype, copy=False)


def _arange(stop, *, dtype=None, device=None):
    return np.arange(stop, dtype=dtype)


_xp = SimpleNamespace(
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
            "where",
            "isnan",
            "max",
            "sum",
            "asarray",
            "float32",
            "float64",
        )
    },
    astype=_astype,
    arange=_arange,
    take_along_axis=lambda a, indices, axis: np.take_along_axis(a, indices, axis=axis),
)


def _quiet(kernel):
    @wraps(kernel)
    def run(*args):
        with np.errstate(all="ignore"):
            return kernel(*args)

    return run


def _wrap(spec, forward, backward):
    return (
        forward if spec.name in _WARNING_FREE else _quiet(forward),
        backward if spec.name + "_backward" in _WARNING_FREE else _quiet(backward),
    )


def _is_bfloat16(dtype: np.dtype) -> bool:
    """``ml_dtypes.bfloat16`` (a numpy dtype of kind "V"); False where ml_dtypes is not loaded,
    as then no array can have it."""
    ml_dtypes = sys.modules.get("ml_dtypes")
    return ml_dtypes is not None and dtype == ml_dtypes.bfloat16


def _is_floating(x) -> bool:
    kind = x.dtype.kind
    return kind == "f" or (kind == "V" and _is_bfloat16(x.dtype))


def _low_precision(x) -> bool:
    dtype = x.dtype
    return dtype == np.float16 or (dtype.kind == "V" and _is_bfloat16(dtype))


def _asarray(obj):
    a = np.asarray(obj)
    return a if a.dtype.kind == "f" else a.astype(np.float64)


def _bernoulli(x, keep: float, rng) -> np.ndarray:
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)  # an int seed
    return rng.random(x.shape) < keep


_RANDOM = RandomSource(
    description="a numpy.random.Generator or an int seed",
    is_source=lambda rng: isinstance(rng, np.random.Generator),
    bernoulli=_bernoulli,
    from_seed=lambda seed, like: np.random.default_rng(seed),
    advances=True,
)


BACKEND = Backend(
    name="numpy",
    array_types=(np.ndarray, np.generic),
    xp=_xp,
    erf=erf,
    erfc=erfc,
    is_floating=_is_floating,
    low_precision=_low_precision,
    asarray=_asarray,
    to_numpy=np.asarray,
    from_numpy=lambda a, dtype: np.asarray(a, dtype=dtype),
    dtypes=("float16", "float32", "float64"),
    wrap=_wrap,
    random=_RANDOM,
    errors_ignored=lambda: np.errstate(all="ignore"),
    full_like=np.full_like,
    integer_zero=lambda like: np.zeros((), np.int64),
    ensure_array=np.asarray,
)
# branch-free, in-place activations on cache-sized blocks across threads (numpy_fast)
BACKEND.native.update(numpy_fast.kernels(BACKEND))


_blocked_relu = BACKEND.native["relu"]


def _relu(x):
    # exact in every precision, so float16 needs no float32 detour: small arrays call the
    # generic formula directly (what is left of P.relu's cost on them is dispatch), large
    # ones go to numpy_fast, which runs it on the threads' blocks
    if x.size < numpy_blocks.settings().min_size:
        return np.maximum(x, 0.0)
    return _blocked_relu(x)


if np.lib.NumpyVersion(np.__version__) >= "2.0.0":  # (NumPy 1 promotes float16 scalars here)
    BACKEND.native["relu"] = _relu
