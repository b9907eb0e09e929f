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
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import batch_norm as R

from . import test_batch_norm as B
from . import tolerances
from .implementations import PUBLIC_API, Implementation

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = ("float32", "float64")


def _channel_sum(p: B.Problem, a: np.ndarray) -> np.ndarray:
    return np.sum(a, axis=B.others(p))


def _within(what: str, dtype: str, err: np.ndarray, terms: np.ndarray) -> None:
    rtol = tolerances.BATCH_NORM_RTOL[dtype]
    bad = ~(np.abs(err) <= rtol * terms + np.finfo(dtype).tiny)
    if bad.any():
        i = int(np.argmax(bad.ravel()))
        raise AssertionError(
            f"{what} [{dtype}]: {int(bad.sum())} channel(s) off; first {i}: {err.ravel()[i]!r} "
            f"(allowed {rtol * terms.ravel()[i]:.3g})"
        )


# --- the properties --------------------------------------------------------------------------


def normalized_moments(impl: Implementation, dtype: str, p: B.Problem) -> None:
    """Training without weight and bias: per channel, mean(out) = 0 and
    mean(out^2) - mean(out)^2 = var / (var + eps), var the biased batch variance."""
    p = p._replace(weight=None, bias=None, training=True)
    run = B.Run(impl, p, dtype)
    out = impl.numpy(run.forward()[0])
    s, n = run.seen, p.per_channel
    terms = B.output_terms(s)
    mean = _channel_sum(p, out) / n
    _within(B.label(impl, p, "mean of the output"), dtype, mean, _channel_sum(p, terms) / n)
    _, var = R.batch_stats(s.x, p.channel_axis)
    second = _channel_sum(p, out * out) / n - mean * mean
    expected = var / (var + p.eps)
    bound = 2 * _channel_sum(p, np.abs(out) * terms) / n + expected
    _within(B.label(impl, p, "variance of the output"), dtype, second - expected, bound)


def affine_invariance(
    impl: Implementation, dtype: str, p: B.Problem, shift: np.ndarray, k: int
) -> None:
    """batch_norm(2^k x + shift, eps 4^k) = batch_norm(x, eps) in training (per-channel
    ``shift``; the scale is a power of two, so 2^k x and 4^k eps are exact)."""
    p = p._replace(training=True)
    a, ax, nd = 2.0**k, p.channel_axis, p.x.ndim
    moved = B.rounded(a * p.x + B.along(shift, ax, nd), dtype)
    q = p._replace(x=moved, eps=p.eps * a * a)
    out_p = impl.numpy(B.Run(impl, p, dtype).forward()[0])
    run_q = B.Run(impl, q, dtype)
    out_q = impl.numpy(run_q.forward()[0])
    # both sides' rounding, plus the rounding of 2^k x + shift (an ulp of it, over sigma)
    s_q = B.stats(run_q.seen)
    w = B._w(p)
    terms = B.output_terms(B.Run(impl, p, dtype).seen) + B.output_terms(run_q.seen)
    terms = terms + w * np.abs(moved) / s_q.sigma
    what = B.label(impl, p, f"output vs the input scaled by 2^{k} and shifted")
    B.close(what, dtype, out_q, out_p, terms)


def constant_channel_gives_bias(
    impl: Implementation, dtype: str, shape: tuple[int, ...], value: float, eps: float
) -> None:
    """Training, every channel constant (channel c = value * (c + 1)): the output is exactly
    ``bias`` (bitwise), whatever the weight and the magnitude."""
    c = shape[1]
    x = np.broadcast_to(B.along(value * (np.arange(c) + 1.0), 1, len(shape)), shape)
    x = B.rounded(x, dtype)
    weight = B.rounded(np.linspace(-2.0, 3.0, c), dtype)
    bias = B.rounded(np.linspace(0.5, -1.25, c), dtype)
    p = B.Problem(x, None, None, weight, bias, True, 0.1, eps, 1)
    out = impl.numpy(B.Run(impl, p, dtype).forward()[0])
    expected = np.broadcast_to(B.along(bias, 1, len(shape)), shape)
    assert np.array_equal(out, expected), (
        f"{B.label(impl, p, 'output of constant channels')} [{dtype}]: expected exactly the "
        f"bias {bias.tolist()}, got {np.unique(out).tolist()} for value {value!r}"
    )


def input_gradient_laws(impl: Implementation, dtype: str, p: B.Problem, g: np.ndarray) -> None:
    """Training: per channel, sum(dx) = 0 and sum(dx * x_hat) = eps / (var + eps) *
    sum(g_hat * x_hat) / sigma (g_hat = grad_output * weight): dx is orthogonal to x_hat exactly
    only as eps -> 0, since sum(x_hat^2) = n var / (var + eps), not n."""
    p = p._replace(training=True)
    run = B.Run(impl, p, dtype)
    ga, g_seen = run.g(g)
    dx = impl.numpy(run.backward(ga)[0])
    s = run.seen
    x_hat = B.stats(s).x_hat
    t_dx = B.grad_terms(s, g_seen)[0]
    _within(B.label(impl, p, "sum of dx"), dtype, _channel_sum(p, dx), _channel_sum(p, t_dx))
    st_ = B.stats(s)
    rel = np.abs(x_hat) + st_.spread / st_.sigma
    _, var = R.batch_stats(s.x, p.channel_axis)
    g_hat = g_seen
    if s.weight is not None:
        g_hat = g_seen * B.along(s.weight, p.channel_axis, p.x.ndim)
    sigma = np.sqrt(var + p.eps)
    expected = p.eps / (var + p.eps) * _channel_sum(p, g_hat * x_hat) / sigma
    _within(
        B.label(impl, p, "sum of dx * x_hat - eps/(var + eps) sum(g_hat x_hat)/sigma"),
        dtype,
        _channel_sum(p, dx * x_hat) - expected,
        _channel_sum(p, t_dx * rel + np.abs(dx) * rel),
    )


def evaluation_with_batch_statistics_is_training(
    impl: Implementation, dtype: str, p: B.Problem
) -> None:
    """Evaluation with running_mean = the batch mean and running_var = the biased batch
    variance gives the training output; the running statistics come back unchanged."""
    p = p._replace(training=True)
    mean, var = R.batch_stats(p.x, p.channel_axis)
    train = B.Run(impl, p, dtype)
    out_t = impl.numpy(train.forward()[0])
    # the statistics rounded to the dtype: evaluation normalizes with those
    e = p._replace(training=False, running_mean=B.rounded(mean, dtype))
    e = e._replace(running_var=B.rounded(var, dtype))
    run = B.Run(impl, e, dtype)
    out_e, rm, rv = run.forward()
    assert rm is run.arrays["running_mean"] and rv is run.arrays["running_var"], (
        f"{B.label(impl, e, 'running statistics')}: evaluation must return them unchanged"
    )
    # rounding the statistics to the dtype moves the output by an ulp of |x - mean| / sigma
    s = B.stats(run.seen)
    terms = B.output_terms(train.seen) + B.output_terms(run.seen) + B._w(p) * s.spread / s.sigma
    what = B.label(impl, e, "evaluation output with the batch's statistics vs training")
    B.close(what, dtype, impl.numpy(out_e), out_t, terms)


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
    B.close(f"batch_norm evaluation, one value per channel, on {impl.id}", dtype, impl.numpy(out),
            expected, 0.0)  # fmt: skip


# --- the tests -------------------------------------------------------------------------------


@given(data=st.data())
def test_training_output_has_mean_0_and_variance_var_over_var_plus_eps(impl, dtype, data):
    normalized_moments(impl, dtype, data.draw(B.problems(dtype, training=True), label="problem"))


@given(data=st.data())
def test_invariant_to_per_channel_shift_and_positive_scale(impl, dtype, data):
    p = data.draw(B.problems(dtype, training=True), label="problem")
    c = p.x.shape[p.channel_axis]
    shift = data.draw(B.S.arrays("float64", (c,), B.moderate(-50, 50)), label="shift")
    k = data.draw(st.integers(-3, 3), label="log2 scale")
    affine_invariance(impl, dtype, p, B.rounded(shift, dtype), k)


# n = 7, 10 and 6 values per channel: numpy's mean of 7 copies of 0.1 (float32) or of 0.7
# (float64) is not the value itself, so an implementation centring on the mean is caught
CONSTANT_SHAPES = [(7, 3), (5, 3, 2), (2, 3, 3, 1)]
CONSTANT_VALUES = [0.0, -1e-5, 0.1, 0.7, 123.456, -1000000.1, 3e30]


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
        from .test_batch_norm_frameworks import flax_batch_norm

        p = B.Problem(x, np.zeros(2), np.ones(2), None, None, True, 0.1, 1e-5, 1)
        out = flax_batch_norm(p, dtype)[0]
    assert np.array_equal(out, np.zeros(shape)), f"{impl_id} gives {np.unique(out).tolist()}"


@given(data=st.data())
def test_input_gradient_sums_to_zero_and_is_orthogonal_to_x_hat_up_to_eps(impl, dtype, data):
    p = data.draw(B.problems(dtype, training=True), label="problem")
    input_gradient_laws(impl, dtype, p, B.draw_g(data, p.x.shape))


@given(data=st.data())
def test_evaluation_with_the_batch_statistics_equals_training(impl, dtype, data):
    p = data.draw(B.problems(dtype, training=True), label="problem")
    evaluation_with_batch_statistics_is_training(impl, dtype, p)


@pytest.mark.parametrize(
    ("shape", "axis"), [((1, 3), 1), ((1, 2, 1, 1), 1), ((1, 1, 1, 4), -1), ((1, 1), 1)]
)
def test_one_value_per_channel_in_training_is_an_error(impl, dtype, shape, axis):
    one_value_per_channel(impl, dtype, shape, axis)
