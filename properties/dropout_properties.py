"""Dropout's property functions and the helpers they share: random sources of a backend, the
mask as numpy, bitwise comparison, and the statistical checks of the masks with their budget.

The properties are plain functions of (implementation, dtype, inputs), driven with Hypothesis by
``test_dropout.py`` and with fixed seeds by ``test_dropout_stats.py`` (whose module docstring
states the statistical budget and power that the constants below implement), and with
deliberately wrong dropouts by ``test_dropout_self.py``; ``test_dropout_errors.py`` uses the
sources and masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from reference import dropout as R

from . import tolerances
from .implementations import Implementation, framework_of
from .loss_cases import dtype_name

# the dtypes that test_dropout.py and test_dropout_stats.py judge (their DTYPES)
DROPOUT_DTYPES = ("float32", "float64")

# --- helpers ---------------------------------------------------------------------------------


def source(impl: Implementation, seed: int, kind: str) -> Any:
    """A fresh random source of the backend: ``kind`` "seed" (the int) or "native" (a numpy
    Generator, a torch Generator on the implementation's device, a jax key), from ``seed``."""
    if kind == "seed":
        return seed
    return random_source(impl).from_seed(seed, impl.array(np.zeros(1), "float32"))


def random_source(impl: Implementation) -> Any:
    """The backend's :class:`primitives.RandomSource`; a backend without one skips the tests
    that draw masks (its ``dropout`` needs ``mask=``, which the other tests judge)."""
    if impl.backend.random is None:
        pytest.skip(f"{impl.id} declares no random source (Backend.random is None)")
    return impl.backend.random


def as_bool(impl: Implementation, m: np.ndarray) -> Any:
    return impl.exact(np.asarray(m, dtype=bool))


def mask_numpy(impl: Implementation, m: Any) -> np.ndarray:
    assert dtype_name(m) == "bool", f"dropout on {impl.id}: mask dtype {m.dtype}, expected bool"
    return np.asarray(impl.backend.to_numpy(m)).astype(bool)


def same_bits(what: str, actual: np.ndarray, expected: np.ndarray) -> None:
    """Equality of values and of the signs of zeros (+0 differs from -0); NaN equals NaN
    (whatever its sign bit and payload: inf * 0 gives -NaN on x86)."""
    a, e = np.asarray(actual), np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    good = ((a == e) & (np.signbit(a) == np.signbit(e))) | (np.isnan(a) & np.isnan(e))
    if not good.all():
        i = int(np.argmin(good.ravel()))
        raise AssertionError(
            f"{what}: {int((~good).sum())} of {good.size} element(s) differ; first at flat index "
            f"{i}: expected {e.ravel()[i]!r}, got {a.ravel()[i]!r}"
        )


def check_unchanged(impl: Implementation, a: Any, before: np.ndarray, what: str) -> None:
    same_bits(f"dropout on {impl.id}: input {what} was modified", impl.numpy(a), before)


# --- the properties --------------------------------------------------------------------------


def kept_values_are_exact(
    impl: Implementation, dtype: str, x: np.ndarray, p: float, rng: Any
) -> np.ndarray:
    """dropout(x, p, rng, return_mask=True) = (apply_mask(x, mask, p), mask), bitwise, with x's
    dtype; x is unchanged. Returns the mask."""
    xa = impl.array(x, dtype)
    out, mask = impl.ops.dropout(xa, p, rng=rng, return_mask=True)
    m = mask_numpy(impl, mask)
    what = f"dropout(p={p!r}) on {impl.id} [{dtype}]"
    assert dtype_name(out) == dtype, f"{what}: dtype {out.dtype}"
    assert m.shape == x.shape, f"{what}: mask shape {m.shape}"
    seen = np.asarray(x, dtype=dtype)
    same_bits(what, impl.numpy(out), R.apply_mask(seen, m, p).astype(np.float64))
    check_unchanged(impl, xa, seen.astype(np.float64), "x")
    return m


def given_mask_is_applied(impl: Implementation, dtype: str, x, m: np.ndarray, p: float) -> None:
    """dropout(x, p, mask=m) = apply_mask(x, m, p), bitwise; the mask is returned as given."""
    xa, ma = impl.array(x, dtype), as_bool(impl, m)
    out, back = impl.ops.dropout(xa, p, mask=ma, return_mask=True)
    what = f"dropout(p={p!r}, mask=...) on {impl.id} [{dtype}]"
    expected = R.apply_mask(np.asarray(x, dtype), m, p)
    same_bits(what, impl.numpy(out), expected.astype(np.float64))
    assert np.array_equal(mask_numpy(impl, back), m), f"{what}: returned another mask"


def backward_uses_the_forward_mask(
    impl: Implementation, dtype: str, x, g, p: float, rng: Any
) -> None:
    """dropout_backward(g, mask, p) with the forward's mask = apply_mask(g, mask, p), bitwise,
    with g's dtype; g and the mask are unchanged."""
    _, mask = impl.ops.dropout(impl.array(x, dtype), p, rng=rng, return_mask=True)
    m = mask_numpy(impl, mask)
    ga = impl.array(g, dtype)
    grad = impl.ops.dropout_backward(ga, mask, p)
    what = f"dropout_backward(p={p!r}) on {impl.id} [{dtype}]"
    assert dtype_name(grad) == dtype, f"{what}: dtype {grad.dtype}"
    g_seen = np.asarray(g, dtype)
    same_bits(what, impl.numpy(grad), R.apply_mask(g_seen, m, p).astype(np.float64))
    check_unchanged(impl, ga, g_seen.astype(np.float64), "grad_output")
    assert np.array_equal(mask_numpy(impl, mask), m), f"{what}: the mask was modified"


def backward_matches_autodiff(impl: Implementation, dtype: str, x, g, m, p: float) -> None:
    """torch.autograd / jax.vjp through dropout(x, mask=m) = dropout_backward(g, m, p)."""
    fw = framework_of(impl)
    xa, ga, ma = impl.array(x, dtype), impl.array(g, dtype), as_bool(impl, m)
    if fw == "torch":
        leaf = xa.detach().clone().requires_grad_(True)
        impl.ops.dropout(leaf, p, mask=ma).backward(ga)
        auto = leaf.grad
    else:
        import jax

        _, vjp = jax.vjp(lambda v: impl.ops.dropout(v, p, mask=ma), xa)
        (auto,) = vjp(ga)
    what = f"dropout(p={p!r}) on {impl.id} [{dtype}]: {fw} autodiff vs dropout_backward"
    same_bits(what, impl.numpy(impl.ops.dropout_backward(ga, ma, p)), impl.numpy(auto))


def same_source_same_mask(impl: Implementation, shape, p: float, seed: int, kind: str) -> None:
    """Fresh sources from one seed give one mask (dropout's and dropout_mask's); another seed
    gives another mask (equal with probability (p^2 + (1-p)^2)^n < 1e-80 here); a numpy or torch
    generator advances, so its second draw differs from its first."""
    x = impl.array(np.ones(shape), "float32")
    what = f"dropout masks (p={p!r}, seed {seed}, {kind} source) on {impl.id}"
    m1 = mask_numpy(impl, impl.ops.dropout(x, p, rng=source(impl, seed, kind), return_mask=True)[1])
    m2 = mask_numpy(impl, impl.ops.dropout_mask(x, p, rng=source(impl, seed, kind)))
    assert np.array_equal(m1, m2), f"{what}: the same source gave different masks"
    m3 = mask_numpy(impl, impl.ops.dropout_mask(x, p, rng=source(impl, seed + 1, kind)))
    assert not np.array_equal(m1, m3), f"{what}: seeds {seed} and {seed + 1} gave one mask"
    if kind == "native" and random_source(impl).advances:
        gen = source(impl, seed, kind)
        first = mask_numpy(impl, impl.ops.dropout_mask(x, p, rng=gen))
        second = mask_numpy(impl, impl.ops.dropout_mask(x, p, rng=gen))
        assert np.array_equal(first, m1), f"{what}: a fresh generator gave another mask"
        assert not np.array_equal(first, second), f"{what}: the generator's state did not advance"


def identity_cases(impl: Implementation, dtype: str, x: np.ndarray) -> None:
    """p = 0 (training) and evaluation (any p) return x itself and no mask; the backward with
    no mask returns grad_output itself."""
    xa = impl.array(x, dtype)
    for p, training in ((0.0, True), (0.0, False), (0.5, False), (1.0, False)):
        what = f"dropout(p={p}, training={training}) on {impl.id} [{dtype}]"
        assert impl.ops.dropout(xa, p, training, rng=0) is xa, f"{what}: not x itself"
        out, mask = impl.ops.dropout(xa, p, training, return_mask=True)
        assert out is xa and mask is None, f"{what}: expected (x, None) with return_mask"
    assert impl.ops.dropout_backward(xa, None, 0.3) is xa, "dropout_backward(g, None): not g"


def p_one(impl: Implementation, dtype: str) -> None:
    """p = 1: x * 0 everywhere (zeros of x's sign; NaN only for NaN or infinite x, never 0/0),
    an all-False mask, a zero gradient; no random source needed; a given mask is overridden
    (nothing can be kept at p = 1)."""
    x = np.array([[1.0, -2.0, np.nan], [-0.0, np.inf, 3.5]])
    g = np.array([[-1.0, 1.0, -1e30], [2.0, 0.5, 1e30]])
    expected_out = np.array([[0.0, -0.0, np.nan], [-0.0, np.nan, 0.0]])
    expected_grad = np.array([[-0.0, 0.0, -0.0], [0.0, 0.0, 0.0]])
    xa, ga = impl.array(x, dtype), impl.array(g, dtype)
    what = f"dropout(p=1) on {impl.id} [{dtype}]"
    out, mask = impl.ops.dropout(xa, 1.0, return_mask=True)
    same_bits(what, impl.numpy(out), expected_out)
    assert not mask_numpy(impl, mask).any(), f"{what}: mask keeps something"
    every = as_bool(impl, np.ones(x.shape, bool))
    same_bits(what + " with an all-True mask", impl.numpy(impl.ops.dropout(xa, 1.0, mask=every)),
              expected_out)  # fmt: skip
    for m in (mask, every):
        grad = impl.numpy(impl.ops.dropout_backward(ga, m, 1.0))
        same_bits(f"dropout_backward(p=1) on {impl.id} [{dtype}]", grad, expected_grad)


def non_finite_values(impl: Implementation, dtype: str, p: float) -> None:
    """Kept: NaN and +-inf unchanged (times s); dropped: x * 0, so a NaN stays NaN and +-inf
    becomes NaN (as torch), a negative number -0."""
    x = np.array([np.nan, np.inf, -np.inf, np.nan, np.inf, -np.inf, -1.5, 2.0])
    m = np.array([True, True, True, False, False, False, False, True])
    given_mask_is_applied(impl, dtype, x, m, p)
    expected = np.array([np.nan, np.inf, -np.inf, np.nan, np.nan, np.nan, -0.0, 0.0])
    expected[-1] = float(np.asarray(2.0, dtype) * np.asarray(1 / (1 - p), dtype))
    out = impl.numpy(impl.ops.dropout(impl.array(x, dtype), p, mask=as_bool(impl, m)))
    same_bits(f"dropout of NaN/inf on {impl.id} [{dtype}]", out, expected)


# --- the statistics of the masks ------------------------------------------------------------

# the budget and power of test_dropout_stats.py's module docstring
BACKENDS, P_VALUES = 3, (0.1, 0.5, 0.9)
X = np.array([1.0, -2.0, 0.5, 3.25, -0.125, 7.0, -1.5, 100.0])
N_KEPT = 2**23  # draws per kept-fraction check (the power stated there)
OFF_BY = 0.01  # the alternative the power is stated against: keep probability off by 1 %
POWER = 0.99
REPEATS = 4000  # rows of the tiled x for the expectation check
SELF_CHECKS = 2 + 3 * X.size  # the library in test_dropout_self.py
N_CHECKS = BACKENDS * len(DROPOUT_DTYPES) * len(P_VALUES) * (1 + X.size) + SELF_CHECKS
DELTA = tolerances.STATISTICAL_FALSE_FAILURE / N_CHECKS


def kept_fraction(impl: Implementation, dtype: str, p: float, n: int, rng, delta: float) -> None:
    """The number of kept elements (mask True; also nonzero outputs of x = 1) lies in the exact
    binomial interval of Binomial(n, 1 - p) at false-failure probability ``delta``."""
    x = impl.array(np.ones(n), dtype)
    out, mask = impl.ops.dropout(x, p, rng=rng, return_mask=True)
    k = int(mask_numpy(impl, mask).sum())
    lo, hi = R.binomial_interval(n, 1.0 - p, delta)
    what = f"dropout(p={p}) on {impl.id} [{dtype}]"
    assert lo <= k <= hi, (
        f"{what}: kept {k} of {n}, outside the exact binomial interval [{lo}, {hi}] of "
        f"Binomial({n}, {1 - p:g}) at false-failure probability {delta:.3g}"
    )
    assert int(np.count_nonzero(impl.numpy(out))) == k, f"{what}: nonzero outputs != kept count"


def expectation_is_x(impl: Implementation, dtype: str, p: float, rng, delta: float) -> None:
    """Column means of dropout(tile(X)) lie in X_i s [lo, hi] / R (see test_dropout_stats.py's
    docstring), widened by 4 units of roundoff of the dtype for the rounding of s and of x_i s."""
    tiled = np.tile(X, (REPEATS, 1))
    out = impl.numpy(impl.ops.dropout(impl.array(tiled, dtype), p, rng=rng))
    means = out.sum(axis=0) / REPEATS
    lo, hi = R.binomial_interval(REPEATS, 1.0 - p, delta)
    u = 4 * float(np.finfo(dtype).eps)
    a = X / (1.0 - p) * lo / REPEATS
    b = X / (1.0 - p) * hi / REPEATS
    low = np.minimum(a, b) - u * np.abs(a)
    high = np.maximum(a, b) + u * np.abs(b)
    bad = (means < low) | (means > high)
    if bad.any():
        i = int(np.argmax(bad))
        raise AssertionError(
            f"dropout(p={p}) on {impl.id} [{dtype}]: the mean of {REPEATS} draws of x = {X[i]!r} "
            f"is {means[i]!r}, outside [{low[i]!r}, {high[i]!r}] (E = x within the exact binomial "
            f"bound at false-failure probability {delta:.3g})"
        )
