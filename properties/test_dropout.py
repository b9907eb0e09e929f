"""Dropout on every backend (float32, float64): exact values, masks, identity cases and gradients.

* kept values are exactly ``x * fl(1 / (1 - p))`` (one multiplication, the reference computes the
  same IEEE operation), dropped ones ``x * 0`` (a NaN stays NaN): compared bitwise, and the kept
  values equal torch's ``F.dropout``'s;
* the mask comes back with ``return_mask=True`` (boolean, x's shape and backend) and is what
  ``dropout_mask`` draws from the same source; ``dropout(x, mask=m)`` applies a given one;
* the same source (seed, or generator/key in the same state) gives the same mask on the same
  backend; a generator's state advances (two draws differ);
* ``dropout_backward(g, mask, p)`` is the same map on g with the forward's mask, and equals
  torch.autograd / jax.vjp through ``dropout(x, mask=m)``;
* p = 0 and evaluation return x itself and no mask; p = 1 gives x * 0 everywhere and a zero
  gradient, never NaN from 0/0;
* inputs are not mutated.

The statistics of the masks are in ``test_dropout_stats.py``; bad input in
``test_dropout_errors.py``; the properties reject wrong dropouts in ``test_dropout_self.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference import dropout as R

from . import strategies as S
from .implementations import PUBLIC_API, Implementation, framework_of
from .loss_cases import dtype_name

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = ("float32", "float64")

SHAPES = [(7,), (3, 5), (2, 3, 4)]


# --- helpers ---------------------------------------------------------------------------------


def values(dtype: str):
    """Finite values of the dtype, no subnormals (XLA flushes them: the exactness property is
    about the scaling, not about flushing), at most 2^100 (x / (1 - p) stays finite)."""
    tiny = float(np.finfo(dtype).tiny)
    return S.values(dtype, -(2.0**100), 2.0**100).map(lambda v: 0.0 if abs(v) < tiny else v)


def arrays(dtype: str, shape):
    return S.arrays(dtype, shape, values(dtype))


probabilities = st.one_of(st.sampled_from([0.1, 0.5, 0.9, 0.25]), st.floats(0.01, 0.99))


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


# --- the tests -------------------------------------------------------------------------------


@given(data=st.data())
def test_kept_values_are_exactly_x_times_the_scale(impl, dtype, data):
    x = data.draw(arrays(dtype, data.draw(st.sampled_from(SHAPES), label="shape")), label="x")
    p = data.draw(probabilities, label="p")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    kind = data.draw(st.sampled_from(["seed", "native"]), label="source")
    kept_values_are_exact(impl, dtype, x, p, source(impl, seed, kind))


@given(data=st.data())
def test_a_given_mask_is_applied(impl, dtype, data):
    shape = data.draw(st.sampled_from(SHAPES), label="shape")
    x = data.draw(arrays(dtype, shape), label="x")
    m = data.draw(hnp.arrays(np.bool_, shape), label="mask")
    given_mask_is_applied(impl, dtype, x, m, data.draw(probabilities, label="p"))


@given(data=st.data())
def test_backward_uses_the_forward_mask(impl, dtype, data):
    shape = data.draw(st.sampled_from(SHAPES), label="shape")
    x, g = data.draw(arrays(dtype, shape), label="x"), data.draw(arrays(dtype, shape), label="g")
    p = data.draw(probabilities, label="p")
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    backward_uses_the_forward_mask(impl, dtype, x, g, p, source(impl, seed, "native"))


@given(data=st.data())
def test_backward_matches_framework_autodiff(impl, dtype, data):
    if framework_of(impl) is None:
        pytest.skip(f"{impl.id}: no framework autodiff (numpy is judged by the other tests)")
    shape = data.draw(st.sampled_from(SHAPES), label="shape")
    x, g = data.draw(arrays(dtype, shape), label="x"), data.draw(arrays(dtype, shape), label="g")
    m = data.draw(hnp.arrays(np.bool_, shape), label="mask")
    backward_matches_autodiff(impl, dtype, x, g, m, data.draw(probabilities, label="p"))


@pytest.mark.parametrize("kind", ["seed", "native"])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_same_source_gives_the_same_mask(impl, kind, p):
    for seed in (0, 12345):
        same_source_same_mask(impl, (40, 50), p, seed, kind)


def test_p_zero_and_evaluation_are_the_identity(impl, dtype):
    identity_cases(impl, dtype, np.array([[1.0, -2.0, np.nan], [0.0, np.inf, 3.5]]))


def test_p_one_gives_zeros_and_a_zero_gradient(impl, dtype):
    p_one(impl, dtype)


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_nan_is_never_turned_into_a_number(impl, dtype, p):
    non_finite_values(impl, dtype, p)


def test_jax_dropout_under_jit_with_a_traced_key():
    """Under jax.jit the key is traced: the same key gives the eager mask."""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import primitives as P

    x, key = jnp.ones((8, 16), jnp.float32), jax.random.key(3)
    eager = P.dropout(x, 0.25, rng=key)
    jitted = jax.jit(lambda v, k: P.dropout(v, 0.25, rng=k))(x, key)
    assert np.array_equal(np.asarray(eager), np.asarray(jitted))


def test_torch_dropout_keeps_the_device_and_dtype():
    torch = pytest.importorskip("torch")
    import primitives as P

    x = torch.ones(4, 5, dtype=torch.float32)
    out, mask = P.dropout(x, 0.3, rng=torch.Generator(device=x.device).manual_seed(1),
                          return_mask=True)  # fmt: skip
    assert out.device == x.device and mask.device == x.device and out.dtype == x.dtype
    assert mask.dtype == torch.bool


@pytest.mark.parametrize("dtype", DTYPES)
def test_kept_values_equal_torch_f_dropout(dtype):
    """Where torch's F.dropout keeps a value (its mask differs from ours), it equals ours: x * s
    with s = 1 / (1 - p) rounded to the dtype."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    x = np.random.default_rng(5).standard_normal(20_000).astype(dtype)
    torch.manual_seed(0)
    for p in (0.1, 0.3, 0.5, 0.7, 0.123456789):
        out = F.dropout(torch.from_numpy(x), p).numpy()
        kept = out != 0
        expected = R.apply_mask(x, np.ones(x.shape, bool), p)
        same_bits(f"torch F.dropout(p={p}) kept values [{dtype}]", out[kept], expected[kept])
