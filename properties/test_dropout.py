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

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference import dropout as R

from . import strategies as S
from .dropout_properties import (
    DROPOUT_DTYPES,
    backward_matches_autodiff,
    backward_uses_the_forward_mask,
    given_mask_is_applied,
    identity_cases,
    kept_values_are_exact,
    non_finite_values,
    p_one,
    same_bits,
    same_source_same_mask,
    source,
)
from .implementations import PUBLIC_API, framework_of

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = DROPOUT_DTYPES

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
