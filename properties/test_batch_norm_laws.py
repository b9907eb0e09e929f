"""Laws of batch normalization, on every backend (float32 and float64):

* training output per channel: mean 0 and biased variance var / (var + eps);
* invariance to a per-channel shift and a positive scale a of the input (with eps scaled by
  a^2: the only exact form of the law, since eps does not scale with the data);
* a constant channel gives exactly ``bias``, whatever its magnitude (the frameworks do not:
  :func:`test_framework_constant_channel_gives_exactly_bias`, a strict expected failure);
* the input gradient of each channel sums to 0, and its product with x_hat sums to
  eps / (var + eps) sum(g_hat x_hat) / sigma (orthogonal as eps -> 0);
* evaluation with the batch's own mean and biased variance as running statistics gives the
  training output; evaluation returns the running statistics unchanged;
* one value per channel in training is a clear error (as torch), in evaluation it is fine.

Tolerances: ``BATCH_NORM_RTOL`` times the terms of ``test_batch_norm``.

The laws that ``test_batch_norm_self.py`` reuses are in :mod:`properties.batch_norm_properties`.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import strategies as S
from .batch_norm_cases import Problem, Run, abs_weight, along, close, output_terms, rounded, stats
from .batch_norm_properties import (
    CONSTANT_SHAPES,
    CONSTANT_VALUES,
    constant_channel_gives_bias,
    draw_g,
    evaluation_with_batch_statistics_is_training,
    flax_batch_norm,
    input_gradient_laws,
    label,
    moderate,
    normalized_moments,
    problems,
)
from .implementations import PUBLIC_API, Implementation

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = ("float32", "float64")


# --- the properties --------------------------------------------------------------------------


def affine_invariance(
    impl: Implementation, dtype: str, p: Problem, shift: np.ndarray, k: int
) -> None:
    """batch_norm(2^k x + shift, eps 4^k) = batch_norm(x, eps) in training (per-channel
    ``shift``; the scale is a power of two, so 2^k x and 4^k eps are exact)."""
    p = p._replace(training=True)
    a, ax, nd = 2.0**k, p.channel_axis, p.x.ndim
    moved = rounded(a * p.x + along(shift, ax, nd), dtype)
    q = p._replace(x=moved, eps=p.eps * a * a)
    out_p = impl.numpy(Run(impl, p, dtype).forward()[0])
    run_q = Run(impl, q, dtype)
    out_q = impl.numpy(run_q.forward()[0])
    # both sides' rounding, plus the rounding of 2^k x + shift (an ulp of it, over sigma)
    s_q = stats(run_q.seen)
    w = abs_weight(p)
    terms = output_terms(Run(impl, p, dtype).seen) + output_terms(run_q.seen)
    terms = terms + w * np.abs(moved) / s_q.sigma
    what = label(impl, p, f"output vs the input scaled by 2^{k} and shifted")
    close(what, dtype, out_q, out_p, terms)


def one_value_per_channel(impl: Implementation, dtype: str, shape: tuple[int, ...], axis: int):
    """Training with one value per channel is a ValueError naming the problem; evaluation of the
    same input works."""
    c = shape[axis]
    x = impl.array(np.arange(np.prod(shape), dtype=np.float64).reshape(shape), dtype)
    rm, rv = impl.array(np.zeros(c), dtype), impl.array(np.ones(c), dtype)
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        impl.ops.batch_norm(x, rm, rv, axis=axis)
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        impl.ops.batch_norm_backward(x, x, axis=axis)
    out, _, _ = impl.ops.batch_norm(x, rm, rv, training=False, axis=axis)
    expected = np.arange(np.prod(shape)).reshape(shape) / np.sqrt(1.0 + 1e-5)
    close(f"batch_norm evaluation, one value per channel, on {impl.id}", dtype, impl.numpy(out),
          expected, 0.0)  # fmt: skip


# --- the tests -------------------------------------------------------------------------------


@given(data=st.data())
def test_training_output_has_mean_0_and_variance_var_over_var_plus_eps(impl, dtype, data):
    normalized_moments(impl, dtype, data.draw(problems(dtype, training=True), label="problem"))


@given(data=st.data())
def test_invariant_to_per_channel_shift_and_positive_scale(impl, dtype, data):
    p = data.draw(problems(dtype, training=True), label="problem")
    c = p.x.shape[p.channel_axis]
    shift = data.draw(S.arrays("float64", (c,), moderate(-50, 50)), label="shift")
    k = data.draw(st.integers(-3, 3), label="log2 scale")
    affine_invariance(impl, dtype, p, rounded(shift, dtype), k)


@pytest.mark.parametrize("shape", CONSTANT_SHAPES, ids=str)
def test_constant_channel_gives_exactly_bias(impl, dtype, shape):
    for value in CONSTANT_VALUES:
        for eps in (1e-5, 0.5):
            constant_channel_gives_bias(impl, dtype, shape, value, eps)


@pytest.mark.parametrize("impl_id", ["torch-native", "flax"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case_id", ["batch_norm"])  # (what known_deviations matches)
def test_framework_constant_channel_gives_exactly_bias(case_id, impl_id, dtype):
    """torch ``F.batch_norm`` and flax ``nn.BatchNorm`` on a constant channel of 1e6 (eps 1e-5):
    they centre x - mean with an inexact mean, which the division by sqrt(eps) amplifies (torch
    float32 gives 8.7 instead of 0). A strict expected failure (known_deviations.py)."""
    shape, value = (7, 2), 1e6
    x = np.full(shape, value) * np.array([1.0, 3.0])
    if impl_id == "torch-native":
        torch = pytest.importorskip("torch")
        import torch.nn.functional as F

        t = torch.tensor(x, dtype=getattr(torch, dtype))
        out = F.batch_norm(t, None, None, training=True, eps=1e-5).numpy()
    else:
        pytest.importorskip("flax")
        p = Problem(x, np.zeros(2), np.ones(2), None, None, True, 0.1, 1e-5, 1)
        out = flax_batch_norm(p, dtype)[0]
    assert np.array_equal(out, np.zeros(shape)), f"{impl_id} gives {np.unique(out).tolist()}"


@given(data=st.data())
def test_input_gradient_sums_to_zero_and_is_orthogonal_to_x_hat_up_to_eps(impl, dtype, data):
    p = data.draw(problems(dtype, training=True), label="problem")
    input_gradient_laws(impl, dtype, p, draw_g(data, p.x.shape))


@given(data=st.data())
def test_evaluation_with_the_batch_statistics_equals_training(impl, dtype, data):
    p = data.draw(problems(dtype, training=True), label="problem")
    evaluation_with_batch_statistics_is_training(impl, dtype, p)


@pytest.mark.parametrize(
    ("shape", "axis"), [((1, 3), 1), ((1, 2, 1, 1), 1), ((1, 1, 1, 4), -1), ((1, 1), 1)]
)
def test_one_value_per_channel_in_training_is_an_error(impl, dtype, shape, axis):
    one_value_per_channel(impl, dtype, shape, axis)
