"""float16 and bfloat16 inputs on every backend: dropout's edge values and numpy bfloat16.

The library computes float16/bfloat16 in float32 and rounds once. Judged here, on numpy, torch
and jax alike (numpy's bfloat16 is ``ml_dtypes.bfloat16``, what ``np.asarray`` of a jax
bfloat16 array gives; the suite's ``dtypes`` for numpy stay float16/32/64, so bfloat16 is
judged on numpy only by these tests):

* dropout at every finite value of the dtype, with p close to 1 (0.99999, 0.9999999: the scale
  1/(1 - p) overflows float16) and a common p (0.1): a dropped element is ``x * 0``, exactly
  ±0 with x's sign (NaN only for a NaN or infinite x); a kept one is the float64 reference
  ``x / (1 - p)`` rounded once to the dtype, to nearest, ties to even (inf exactly where the
  reference is beyond the dtype's largest value plus half an ULP: the correct rounding there).
  Computing in float32 rounds twice (the product to float32, then to the dtype): where the
  reference lies within 2^-22 (relative) of a midpoint between two neighbours of the dtype, the
  float32 product may fall on the other side, so there either neighbour is accepted (such
  midpoints occur, e.g. 1233 * 2^-24 / 0.3 is one, for p = 0.7). The backward is the same map.
* numpy ``ml_dtypes.bfloat16`` arrays are accepted and give what the same primitive gives on
  the float32 copy, rounded once to bfloat16 (an activation forward and backward, a loss,
  layer_norm, optimizer steps), as torch and jax bfloat16 do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import primitives as P

from .checks.rounding import LOW_PRECISION as LOW
from .checks.rounding import as_float64, every_value, neighbours, numpy_dtype
from .implementations import PUBLIC_API, Implementation

IMPLEMENTATION_KINDS = PUBLIC_API

P_VALUES = (0.1, 0.99999, 0.9999999)
FLOAT32_TINY = 2.0**-126


# --- arrays of a low-precision dtype on each backend -----------------------------------------


def on_backend(impl: Implementation, a: np.ndarray) -> Any:
    """The numpy array ``a`` (float16, bfloat16, or an integer/bool array) as the backend's:
    numpy's own low-precision arrays as they are, the other backends' through the suite's
    conversions (exact: every value is one of the dtype's)."""
    if a.dtype.kind not in "fV":
        return impl.exact(a)
    if impl.backend.name == "numpy":
        return a
    name = str(a.dtype)
    if name not in impl.dtypes:
        pytest.skip(f"{impl.id} has no {name} arrays")  # (a third-party backend)
    return impl.array(as_float64(a), name)


def dtype_of(x: Any) -> str:
    return str(x.dtype).rsplit(".", 1)[-1]


# --- dropout ---------------------------------------------------------------------------------


def check_dropout(
    what: str, out: np.ndarray, x: np.ndarray, keep: np.ndarray, p: float, name: str, flushes: bool
) -> None:
    """``out`` (float64 copy) of dropout on ``x`` (float64 copy of every value of the dtype)."""
    nan_x, inf_x = np.isnan(x), np.isinf(x)
    finite = ~nan_x & ~inf_x
    dropped = ~keep & finite
    bad = dropped & ~((out == 0) & (np.signbit(out) == np.signbit(x)))
    assert not bad.any(), (
        f"{what}: dropped elements must be x * 0 (a zero of x's sign); x = {x[bad][:4]} gave "
        f"{out[bad][:4]} ({bad.sum()} elements)"
    )
    assert np.isnan(out[~keep & ~finite]).all(), f"{what}: a dropped NaN/inf must give NaN"
    assert np.isnan(out[keep & nan_x]).all(), f"{what}: a kept NaN must stay NaN"
    assert np.array_equal(out[keep & inf_x], x[keep & inf_x]), f"{what}: a kept ±inf stays ±inf"

    kept = keep & finite
    xk, ok = x[kept], out[kept]
    r = xk / (1.0 - p)  # the float64 reference
    rounded, lo, hi, mid = neighbours(r, name)
    near_tie = np.abs(r - mid) <= 2.0**-22 * np.abs(r)
    exact = ok == rounded
    either = near_tie & ((ok == lo) | (ok == hi))
    flushed = flushes & (np.abs(xk) < FLOAT32_TINY) & (ok == 0)  # XLA on the CPU flushes
    wrong = ~(exact | either | flushed)
    assert not wrong.any(), (
        f"{what}: kept values must be x / (1 - p) rounded once to {name}; x = {xk[wrong][:4]}, "
        f"got {ok[wrong][:4]}, expected {rounded[wrong][:4]} ({wrong.sum()} of {kept.sum()})"
    )
    assert np.array_equal(np.signbit(ok[ok == 0]), np.signbit(xk[ok == 0]))


@pytest.mark.parametrize("p", P_VALUES)
@pytest.mark.parametrize("low", LOW)
def test_low_precision_dropout_rounds_x_over_1_minus_p_once(impl, low, p):
    """Every value of float16/bfloat16 once kept and once dropped, forward and backward: dropped
    ones are exactly ±0 (never 0 * inf = NaN, as float16 arithmetic would give for p above
    1 - 1/65520), kept ones the float64 ``x / (1 - p)`` rounded once to the dtype."""
    a = every_value(low)
    x_np = np.concatenate([a, a])
    keep = np.concatenate([np.ones(a.size, bool), np.zeros(a.size, bool)])
    x, mask = on_backend(impl, x_np), on_backend(impl, keep)
    x64 = as_float64(x_np)
    out = P.dropout(x, p, mask=mask)
    grad = P.dropout_backward(x, mask, p)
    assert dtype_of(out) == low and dtype_of(grad) == low
    for what, y in (("dropout", out), ("dropout_backward", grad)):
        check_dropout(
            f"{impl.id} {what} {low} p={p}",
            impl.numpy(y),
            x64,
            keep,
            p,
            low,
            impl.flushes_subnormals,
        )


# --- bfloat16 inputs, numpy's included -------------------------------------------------------


def _adam_step(x, t):
    opt = P.optim.adam(0.01, weight_decay=0.1)
    return opt.step(x, x, opt.init(x))[0]  # the gradient x: a nonzero one of x's dtype


def _sgd_step(x, t):
    opt = P.optim.sgd(0.01, momentum=0.9, nesterov=True)
    return opt.step(x, x, opt.init(x))[0]


BFLOAT16_CASES = {
    "gelu": lambda x, t: P.gelu(x),
    "gelu_backward": lambda x, t: P.gelu_backward(x, x),
    "cross_entropy": lambda x, t: P.cross_entropy(x, t),
    "mse_loss": lambda x, t: P.mse_loss(x, x * 0.5),
    "layer_norm": lambda x, t: P.layer_norm(x, (x.shape[-1],)),
    "adam step": _adam_step,
    "sgd step": _sgd_step,
}


def bfloat16_data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A (16, 33) bfloat16 array of normal values at scales 0.01, 1 and 10, and class indices."""
    rng = np.random.default_rng(seed)
    scale = rng.choice([0.01, 1.0, 10.0], size=(16, 33))
    x = (rng.standard_normal((16, 33)) * scale).astype(np.float32)
    return x.astype(numpy_dtype("bfloat16")), rng.integers(0, 33, 16)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("case", sorted(BFLOAT16_CASES))
def test_bfloat16_is_computed_in_float32_and_rounded_once(impl, case, seed):
    """A bfloat16 array (numpy: ``ml_dtypes.bfloat16``) gives a bfloat16 array of the same
    backend, equal to the same primitive on the float32 copy (exact) rounded once."""
    f = BFLOAT16_CASES[case]
    x, t = bfloat16_data(seed)
    target = on_backend(impl, t)
    y = f(on_backend(impl, x), target)
    y32 = f(on_backend(impl, x.astype(np.float32)), target)
    assert isinstance(y, impl.backend.array_types) and dtype_of(y) == "bfloat16", type(y)
    rounded = as_float64(impl.numpy(y32).astype(np.float32).astype(numpy_dtype("bfloat16")))
    got = impl.numpy(y)
    assert np.array_equal(got, rounded, equal_nan=True), (
        f"{impl.id} {case}: bfloat16 result differs from the float32 one rounded once at "
        f"{np.flatnonzero(got != rounded)[:5]}: {got[got != rounded][:5]} vs "
        f"{rounded[got != rounded][:5]}"
    )


def test_numpy_of_a_jax_bfloat16_array_is_a_numpy_input():
    """``np.asarray(jax_bfloat16_array)`` (an ``ml_dtypes.bfloat16`` numpy array) goes to the
    numpy backend and comes back a numpy bfloat16 array, as the float32 result rounded once."""
    import jax.numpy as jnp

    a = np.asarray(jnp.asarray([[-3.0, -0.5, 0.0, 0.25, 2.0, 7.5]], dtype=jnp.bfloat16))
    assert a.dtype == numpy_dtype("bfloat16")
    for y, y32 in (
        (P.gelu(a), P.gelu(a.astype(np.float32))),
        (P.softmax(a), P.softmax(a.astype(np.float32))),
        (P.dropout(a, 0.5, rng=0), P.dropout(a.astype(np.float32), 0.5, rng=0)),
    ):
        assert isinstance(y, np.ndarray) and y.dtype == a.dtype
        assert np.array_equal(as_float64(y), as_float64(y32.astype(a.dtype)))
