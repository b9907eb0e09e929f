"""Laws and conventions of the losses on every backend: cross-entropy (nonnegative, shift
invariant, gradient softmax - one-hot, finite at +-1e4 and +-1e30, label smoothing's formula,
ignored targets counted nowhere), sequence cross-entropy (padding irrelevant, equal to the
cross-entropy of the real tokens, an all-padded batch), binary cross-entropy (softplus form,
symmetry, extremes, the -100 clamp), the contrastive loss (labels, the 1/2, d = 0) and the
derivatives at kinks.

The properties are plain functions of (implementation, dtype, numpy inputs), in
``properties/loss_laws.py``, so that ``test_losses_self.py`` can show that deliberately wrong
losses fail them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import loss_properties
from .loss_cases import (
    CE_CONFIGS,
    SEQUENCE_SHAPE,
    as_backend,
    bool_arrays,
    dtype_name,
    float_arrays,
    fn,
    int_arrays,
)
from .loss_laws import (
    bce_clamps_log_at_minus_100,
    bce_with_logits_at_extremes,
    bce_with_logits_is_softplus_minus_xy,
    bce_with_logits_is_symmetric,
    call,
    contrastive_conventions,
    cross_entropy_at_extremes,
    cross_entropy_gradient_is_softmax_minus_one_hot,
    cross_entropy_nonnegative_and_shift_invariant,
    derivative_at_kink,
    ignored_targets_count_nowhere,
    label_smoothing_follows_its_formula,
    seen,
    sequence_equals_cross_entropy_of_real_tokens,
    sequence_extra_padding_is_irrelevant,
    sequence_padding_is_irrelevant,
    sequence_without_real_tokens_is_zero,
)

# the loss family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = loss_properties.IMPLEMENTATION_KINDS
DTYPES = loss_properties.DTYPES


def _rows_of(shape, axis):
    axis %= len(shape)
    return shape[:axis] + shape[axis + 1 :], axis


# --- the tests -------------------------------------------------------------------------------


def _sixty_fourths(dtype, shape, lo=-8.0, hi=8.0):
    """Multiples of 1/64: exact in float32 after adding integers up to 512."""
    return int_arrays(shape, int(lo * 64), int(hi * 64)).map(lambda a: a / 64.0)


@given(data=st.data())
def test_cross_entropy_is_nonnegative_and_shift_invariant(impl, dtype, data):
    shape, axis, _, smoothing = data.draw(st.sampled_from(CE_CONFIGS))
    rows, axis = _rows_of(shape, axis)
    z = data.draw(_sixty_fourths(dtype, shape))
    target = data.draw(int_arrays(rows, 0, shape[axis] - 1))
    shifts = data.draw(int_arrays(rows, -512, 512)).astype(np.float64)
    weight = data.draw(st.one_of(st.none(), float_arrays(dtype, (shape[axis],), 0.25, 2.0)))
    cross_entropy_nonnegative_and_shift_invariant(
        impl, dtype, z, target, shifts, axis, smoothing, weight
    )


@given(data=st.data())
def test_cross_entropy_gradient_is_softmax_minus_one_hot(impl, dtype, data):
    z = data.draw(float_arrays(dtype, (4, 5), -20.0, 20.0))
    target = data.draw(int_arrays((4,), 0, 4))
    cross_entropy_gradient_is_softmax_minus_one_hot(impl, dtype, z, target)


EXTREMES = [1e30, -1e30, 1e4, -1e4, 0.0, 1.0, -1.0]


@given(data=st.data())
def test_cross_entropy_is_finite_for_huge_logits(impl, dtype, data):
    z = np.array(data.draw(st.lists(st.sampled_from(EXTREMES), min_size=20, max_size=20))).reshape(
        4, 5
    )
    target = data.draw(int_arrays((4,), 0, 4))
    smoothing = data.draw(st.sampled_from([0.0, 0.1]))
    cross_entropy_at_extremes(impl, dtype, z, target, smoothing)


@given(data=st.data())
def test_label_smoothing_follows_its_formula(impl, dtype, data):
    z = data.draw(float_arrays(dtype, (4, 5), -10.0, 10.0))
    target = data.draw(int_arrays((4,), 0, 4))
    eps = data.draw(st.sampled_from([0.1, 0.3]))
    weight = data.draw(st.one_of(st.none(), float_arrays(dtype, (5,), 0.25, 2.0)))
    label_smoothing_follows_its_formula(impl, dtype, z, target, eps, weight)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
@given(data=st.data())
def test_ignored_targets_count_in_neither_numerator_nor_denominator(impl, dtype, name, data):
    z = data.draw(float_arrays(dtype, (6, 4), -10.0, 10.0 if name == "cross_entropy" else 0.0))
    ignore_index = data.draw(st.sampled_from([-100, 2]))
    target = data.draw(int_arrays((6,), 0, 3))
    target = np.where(data.draw(bool_arrays((6,))), ignore_index, target)
    smoothing = data.draw(st.sampled_from([0.0, 0.2]))
    weight = data.draw(st.one_of(st.none(), float_arrays(dtype, (4,), 0.25, 2.0)))
    ignored_targets_count_nowhere(impl, dtype, name, z, target, ignore_index, smoothing, weight)


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_every_target_ignored(impl, dtype, name):
    """As torch: the mean over no targets is NaN (0/0), the sum 0, the gradient 0."""
    z, target = np.zeros((3, 4)) - 1.0, np.full(3, -100)
    assert np.isnan(call(impl, name, dtype, z, target))
    assert call(impl, name, dtype, z, target, reduction="sum") == 0
    grad = call(impl, name + "_backward", dtype, np.float64(1.0), z, target)
    assert np.array_equal(grad, np.zeros((3, 4))), f"{name} on {impl.id}: {grad}"


JUNK = st.sampled_from([np.nan, np.inf, -np.inf, 1e30, -3.0])


@given(data=st.data())
def test_sequence_cross_entropy_is_unchanged_by_padded_contents(impl, dtype, data):
    b, t, v = SEQUENCE_SHAPE
    z = data.draw(float_arrays(dtype, SEQUENCE_SHAPE, -10.0, 10.0))
    target = data.draw(int_arrays((b, t), 0, v - 1))
    mask = data.draw(bool_arrays((b, t)))
    junk_z = np.full(SEQUENCE_SHAPE, data.draw(JUNK))
    junk_t = data.draw(int_arrays((b, t), -7, 20))
    sequence_padding_is_irrelevant(impl, dtype, z, target, mask, junk_z, junk_t)


@given(data=st.data())
def test_sequence_cross_entropy_is_unchanged_by_extra_padding(impl, dtype, data):
    b, t, v = SEQUENCE_SHAPE
    z = data.draw(float_arrays(dtype, SEQUENCE_SHAPE, -10.0, 10.0))
    target = data.draw(int_arrays((b, t), 0, v - 1))
    mask = data.draw(bool_arrays((b, t)))
    sequence_extra_padding_is_irrelevant(impl, dtype, z, target, mask, data.draw(st.integers(1, 3)))


@given(data=st.data())
def test_sequence_cross_entropy_equals_cross_entropy_over_real_tokens(impl, dtype, data):
    b, t, v = SEQUENCE_SHAPE
    z = data.draw(float_arrays(dtype, SEQUENCE_SHAPE, -10.0, 10.0))
    target = data.draw(int_arrays((b, t), 0, v - 1))
    mask = data.draw(bool_arrays((b, t)))
    sequence_equals_cross_entropy_of_real_tokens(impl, dtype, z, target, mask)


def test_sequence_cross_entropy_without_real_tokens_is_zero(impl, dtype):
    z = np.full(SEQUENCE_SHAPE, np.nan)
    sequence_without_real_tokens_is_zero(impl, dtype, z, np.zeros(SEQUENCE_SHAPE[:2], np.int64))


@given(data=st.data())
def test_bce_with_logits_is_softplus_minus_xy(impl, dtype, data):
    x = data.draw(float_arrays(dtype, (8,), -1e4, 1e4))
    y = data.draw(float_arrays(dtype, (8,), 0.0, 1.0))
    bce_with_logits_is_softplus_minus_xy(impl, dtype, x, y)


@given(data=st.data())
def test_bce_with_logits_is_symmetric(impl, dtype, data):
    x = data.draw(float_arrays(dtype, (8,), -40.0, 40.0))
    y = data.draw(_sixty_fourths(dtype, (8,), 0.0, 1.0))
    bce_with_logits_is_symmetric(impl, dtype, x, y)


@given(data=st.data())
def test_bce_with_logits_is_finite_at_huge_logits(impl, dtype, data):
    x = np.array(
        data.draw(st.lists(st.sampled_from([*EXTREMES, np.inf, -np.inf]), min_size=8, max_size=8))
    )
    y = np.array(data.draw(st.lists(st.sampled_from([0.0, 1.0, 0.5, 0.9]), min_size=8, max_size=8)))
    bce_with_logits_at_extremes(impl, dtype, x, y)


def test_bce_clamps_log_at_minus_100(impl, dtype):
    bce_clamps_log_at_minus_100(impl, dtype)


def test_contrastive_label_convention_half_factor_and_zero_distance(impl, dtype):
    contrastive_conventions(impl, dtype)


KINKS = [
    # (loss, prediction, target, parameters, derivative there)
    ("l1_loss", 1.5, 1.5, {}, 0.0),  # sign(0) = 0 (torch)
    ("huber_loss", 3.0, 1.0, {"delta": 2.0}, 2.0),  # continuous at |d| = delta
    ("huber_loss", -1.0, 1.0, {"delta": 2.0}, -2.0),
    ("huber_loss", 1.0, 1.0, {"delta": 2.0}, 0.0),
]


@pytest.mark.parametrize(("name", "x0", "y0", "params", "expected"), KINKS)
def test_derivative_conventions_at_kinks(impl, dtype, name, x0, y0, params, expected):
    derivative_at_kink(impl, dtype, name, x0, y0, params, expected)


def test_low_precision_is_computed_in_float32(impl):
    """float16/bfloat16 (optional for the losses): the result keeps the dtype and equals the
    float32 computation rounded once."""
    for dtype in [d for d in impl.dtypes if d in ("float16", "bfloat16")]:
        z = np.linspace(-3, 3, 12).reshape(3, 4)
        t = np.array([0, 3, 1])
        z_low = seen(impl, z, dtype)
        out = fn(impl, "cross_entropy")(as_backend(impl, z, dtype), as_backend(impl, t, dtype))
        assert dtype_name(out) == dtype, f"{impl.id}: {out.dtype}"
        ref = call(impl, "cross_entropy", "float32", z_low, t)
        assert impl.numpy(out) == seen(impl, np.asarray(ref), dtype), f"{impl.id} [{dtype}]"
