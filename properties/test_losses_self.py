"""The loss properties test themselves: deliberately wrong losses must be rejected by the same
property functions that judge the library, on fixed inputs and on Hypothesis-drawn ones. A
property that let one of these through would be too weak."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import strategies as st
from scipy import special

import primitives as P
from primitives import _dispatch

from . import loss_cases as C
from . import loss_laws as laws
from . import loss_properties as L
from .implementations import Implementation
from .mutants import drawn, rejects

_B = _dispatch.kernels("numpy").backend
_PUBLIC = {name: getattr(P, name) for name in P.__all__ if not name[0].isupper()}


def mutant(**overrides) -> Implementation:
    """The library on numpy with some public losses replaced by wrong ones."""
    return Implementation("mutant", _B, SimpleNamespace(**{**_PUBLIC, **overrides}), "mutant")


# --- the wrong losses ------------------------------------------------------------------------


def _seq_over_all_positions(z, t, m):
    # the classic bug: (loss * mask).sum() / mask.numel(), padded positions in the denominator
    return P.sequence_cross_entropy(z, t, m) * (m.sum() / m.size)


def _seq_over_all_positions_backward(g, z, t, m):
    return P.sequence_cross_entropy_backward(g, z, t, m) * (m.sum() / m.size)


def _seq_multiplying_by_mask(z, t, m):
    # padded positions masked by multiplying their losses by 0: NaN * 0 = NaN gets in
    picked = np.clip(t, 0, z.shape[-1] - 1)[..., None]
    per = -np.take_along_axis(special.log_softmax(z, axis=-1), picked, -1)[..., 0]
    return ((per * m).sum() / max(m.sum(), 1)).astype(z.dtype)


def _seq_multiplying_by_mask_backward(g, z, t, m):
    hot = np.eye(z.shape[-1])[np.clip(t, 0, z.shape[-1] - 1)]
    grad = (special.softmax(z, axis=-1) - hot) * m[..., None] * (g / max(m.sum(), 1))
    return grad.astype(z.dtype)


_CLIP = 88.0  # where float32 exp overflows: a common "safety" clip


def _bce_clipping(x, y, *, pos_weight=None, reduction="mean"):
    return P.binary_cross_entropy_with_logits(
        np.clip(x, -_CLIP, _CLIP), y, pos_weight=pos_weight, reduction=reduction
    )


def _bce_clipping_backward(g, x, y, *, pos_weight=None, reduction="mean"):
    return P.binary_cross_entropy_with_logits_backward(
        g, np.clip(x, -_CLIP, _CLIP), y, pos_weight=pos_weight, reduction=reduction
    )


def _ce_mean_over_all_targets(z, t, *, reduction="mean", **kw):
    # ignored targets counted in the denominator of the mean
    if reduction != "mean" or np.asarray(t).dtype.kind == "f":
        return P.cross_entropy(z, t, reduction=reduction, **kw)
    return P.cross_entropy(z, t, reduction="sum", **kw) / z.dtype.type(t.size)


def _ce_mean_over_all_targets_backward(g, z, t, *, reduction="mean", **kw):
    if reduction != "mean" or np.asarray(t).dtype.kind == "f":
        return P.cross_entropy_backward(g, z, t, reduction=reduction, **kw)
    return P.cross_entropy_backward(g, z, t, reduction="sum", **kw) / z.dtype.type(t.size)


def _ce_smoothing_ignored(z, t, *, axis=-1, ignore_index=-100, label_smoothing=0.0, weight=None,
                          reduction="mean"):  # fmt: skip
    # the smoothing term added at ignored positions too (a bug torch once had)
    kw = dict(axis=axis, ignore_index=ignore_index, weight=weight)
    per = P.cross_entropy(z, t, label_smoothing=label_smoothing, reduction="none", **kw)
    lp = np.moveaxis(special.log_softmax(z.astype(np.float64), axis=axis), axis, -1)
    w = np.ones(lp.shape[-1]) if weight is None else weight
    smooth = -label_smoothing / lp.shape[-1] * np.sum(w * lp, axis=-1)
    per = (per + np.where(t == ignore_index, smooth, 0.0)).astype(z.dtype)
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    kept = t != ignore_index
    return (per.sum() / np.sum(np.where(kept, w[np.where(kept, t, 0)], 0.0))).astype(z.dtype)


def _contrastive_nan_at_zero_backward(g, x1, x2, y, *, margin=1.0, reduction="mean"):
    # the dissimilar pull -max(0, margin - d) (x1 - x2) / d with no guard at d = 0: 0/0 = NaN
    g1, g2 = P.contrastive_loss_backward(g, x1, x2, y, margin=margin, reduction=reduction)
    d = np.linalg.norm(x1 - x2, axis=-1)
    nan = (d == 0) & (y != 0)
    return np.where(nan[..., None], np.nan, g1), np.where(nan[..., None], np.nan, g2)


def _ce_backward_by_subtraction(
    g, z, t, *, axis=-1, ignore_index=-100, label_smoothing=0.0, weight=None, reduction="mean"
):
    # the paper's T softmax(z) - q, subtracted as written in z's dtype: at a confident row the
    # target's 1 - p keeps only the ulps of 1 (torch's and optax's gradient)
    if np.asarray(t).dtype.kind == "f":
        return P.cross_entropy_backward(
            g, z, t, axis=axis, label_smoothing=label_smoothing, weight=weight, reduction=reduction
        )
    zl = np.moveaxis(z, axis, -1)
    c = zl.shape[-1]
    w = np.ones(c, z.dtype) if weight is None else weight
    kept = t != ignore_index
    safe = np.where(kept, t, 0)
    q = (1 - label_smoothing) * np.eye(c, dtype=z.dtype)[safe] * w[safe][..., None]
    q = np.where(kept[..., None], q + label_smoothing * w / c, 0.0).astype(z.dtype)
    k = np.broadcast_to(g / w[safe][kept].sum() if reduction == "mean" else g, kept.shape)
    p = special.softmax(zl, axis=-1).astype(z.dtype)
    grad = (q.sum(-1, keepdims=True) * p - q) * k[..., None]
    return np.moveaxis(grad, -1, axis).astype(z.dtype)


def _ce_as_logsumexp_minus_logit(
    z, t, *, axis=-1, ignore_index=-100, label_smoothing=0.0, weight=None, reduction="mean"
):
    # -log p_t as logsumexp(z) - z_t: at a confident row the loss (about the other classes'
    # mass) is the difference of two nearly equal numbers
    if np.asarray(t).dtype.kind == "f" or label_smoothing or weight is not None:
        return P.cross_entropy(
            z,
            t,
            axis=axis,
            ignore_index=ignore_index,
            label_smoothing=label_smoothing,
            weight=weight,
            reduction=reduction,
        )
    zl = np.moveaxis(z, axis, -1)
    kept = t != ignore_index
    picked = np.take_along_axis(zl, np.where(kept, t, 0)[..., None], -1)[..., 0]
    loss = np.where(kept, special.logsumexp(zl, axis=-1).astype(z.dtype) - picked, 0.0)
    loss = loss.astype(z.dtype)
    if reduction == "none":
        return loss
    total = loss.sum(dtype=z.dtype)
    return total if reduction == "sum" else (total / z.dtype.type(kept.sum()))


def _bce_gradient_by_subtraction(g, x, y, *, weight=None, pos_weight=None, reduction="mean"):
    # torch's formula, sigma(x) (1 + (pw - 1) y) - pw y: right to an ulp of 1 only
    s = special.expit(x)
    grad = s - y if pos_weight is None else s * (1 + (pos_weight - 1) * y) - pos_weight * y
    grad = grad * (g / x.size if reduction == "mean" else g)
    return (grad if weight is None else grad * weight).astype(x.dtype)


MUTANTS = {
    "sequence CE averaging over padded tokens": mutant(
        sequence_cross_entropy=_seq_over_all_positions,
        sequence_cross_entropy_backward=_seq_over_all_positions_backward,
    ),
    "sequence CE masking by multiplication": mutant(
        sequence_cross_entropy=_seq_multiplying_by_mask,
        sequence_cross_entropy_backward=_seq_multiplying_by_mask_backward,
    ),
    "BCE with logits clipping the logits": mutant(
        binary_cross_entropy_with_logits=_bce_clipping,
        binary_cross_entropy_with_logits_backward=_bce_clipping_backward,
    ),
    "CE mean counting ignored targets": mutant(
        cross_entropy=_ce_mean_over_all_targets,
        cross_entropy_backward=_ce_mean_over_all_targets_backward,
    ),
    "label smoothing at ignored positions": mutant(cross_entropy=_ce_smoothing_ignored),
    "contrastive gradient NaN at d = 0": mutant(
        contrastive_loss_backward=_contrastive_nan_at_zero_backward
    ),
    "CE gradient by subtraction": mutant(cross_entropy_backward=_ce_backward_by_subtraction),
    "BCE with logits gradient by subtraction": mutant(
        binary_cross_entropy_with_logits_backward=_bce_gradient_by_subtraction
    ),
    "CE as logsumexp minus the logit": mutant(cross_entropy=_ce_as_logsumexp_minus_logit),
}


# --- rejection -------------------------------------------------------------------------------


Z = np.array([[1.0, -2.0, 0.5, 3.0], [0.0, 0.25, -1.0, 2.0], [4.0, 1.0, 1.0, -3.0]])
SEQ_Z = np.linspace(-3, 3, 2 * 4 * 5).reshape(2, 4, 5)
SEQ_T = np.array([[0, 4, 2, 1], [3, 3, 0, 1]])
SEQ_M = np.array([[True, True, False, False], [True, True, True, False]])


def test_sequence_ce_averaging_over_padded_tokens_is_rejected():
    m = MUTANTS["sequence CE averaging over padded tokens"]
    seq = (SEQ_Z, SEQ_T, SEQ_M)
    rejects(lambda: laws.sequence_extra_padding_is_irrelevant(m, "float64", *seq, 2))
    rejects(lambda: laws.sequence_equals_cross_entropy_of_real_tokens(m, "float64", *seq))
    case = C.CASE["sequence_cross_entropy"]
    drawn(
        case.draw("float32", False),
        lambda p: L.loss_matches_reference(m, case, "float32", p, "mean"),
    )


def test_sequence_ce_masking_by_multiplication_is_rejected():
    m = MUTANTS["sequence CE masking by multiplication"]
    junk_z, junk_t = np.full(SEQ_Z.shape, np.nan), np.full(SEQ_T.shape, 9)
    seq = (SEQ_Z, SEQ_T, SEQ_M, junk_z, junk_t)
    rejects(lambda: laws.sequence_padding_is_irrelevant(m, "float32", *seq))
    case = C.CASE["sequence_cross_entropy"]
    drawn(
        case.draw("float64", False),
        lambda p: L.backward_matches_reference(m, case, "float64", p, "mean", np.float64(1.0)),
    )


def test_bce_clipping_logits_is_rejected():
    m = MUTANTS["BCE with logits clipping the logits"]
    x = np.array([1e30, -1e30, 1e4, 0.5])
    y = np.array([0.0, 1.0, 0.5, 0.5])
    rejects(lambda: laws.bce_with_logits_at_extremes(m, "float32", x, y))
    drawn(
        st.tuples(
            C.float_arrays("float64", (8,), -1e4, 1e4), C.float_arrays("float64", (8,), 0.0, 1.0)
        ),
        lambda xy: laws.bce_with_logits_is_softplus_minus_xy(m, "float64", *xy),
    )


def test_ce_mean_counting_ignored_targets_is_rejected():
    m = MUTANTS["CE mean counting ignored targets"]
    t = np.array([0, -100, 3])
    args = ("cross_entropy", Z, t, -100, 0.0, None)
    rejects(lambda: laws.ignored_targets_count_nowhere(m, "float64", *args))
    case = C.CASE["cross_entropy"]
    drawn(
        case.draw("float32", False),
        lambda p: L.loss_matches_reference(m, case, "float32", p, "mean"),
    )


def test_label_smoothing_at_ignored_positions_is_rejected():
    m = MUTANTS["label smoothing at ignored positions"]
    t = np.array([0, -100, 3])
    args = ("cross_entropy", Z, t, -100, 0.2, None)
    rejects(lambda: laws.ignored_targets_count_nowhere(m, "float32", *args))


def test_contrastive_nan_gradient_at_zero_distance_is_rejected():
    m = MUTANTS["contrastive gradient NaN at d = 0"]
    rejects(lambda: laws.contrastive_conventions(m, "float64"))
    case = C.CASE["contrastive_loss"]
    drawn(
        case.draw("float64", False),
        lambda p: L.backward_matches_reference(m, case, "float64", p, "sum", np.float64(1.0)),
    )


def test_ce_gradient_by_subtraction_is_rejected():
    """p - one_hot by subtraction: rejected on drawn problems by the ULP bound (the function's
    sensitivity) and, at a confident row, by the float64 reference's bound too, now that its
    ``terms`` are that sensitivity (with the size of the two subtracted terms, LOSS_RTOL's
    former rule, it passed)."""
    m = MUTANTS["CE gradient by subtraction"]
    case = C.CASE["cross_entropy"]
    drawn(
        case.draw("float32", False),
        lambda p: L.backward_ulps(m, case, "float32", p, "sum", np.float64(1.0)),
    )
    z = np.array([[10.0, -5.0, -7.0, -6.0]])
    params = {"axis": -1, "ignore_index": -100, "label_smoothing": 0.0}
    p = C.Problem((z, np.array([0])), {}, params)
    rejects(lambda: L.backward_ulps(m, case, "float32", p, "sum", np.float64(1.0)))
    rejects(lambda: L.backward_matches_reference(m, case, "float32", p, "sum", np.float64(1.0)))
    L.backward_ulps(mutant(), case, "float32", p, "sum", np.float64(1.0))
    L.backward_matches_reference(mutant(), case, "float32", p, "sum", np.float64(1.0))


def test_bce_with_logits_gradient_by_subtraction_is_rejected():
    """sigma(x) - y at y = 1: 0 from x ~ 17 in float32, where the gradient is -sigma(-x). The
    ULP bound rejects it now that a binary target moves by min(y, 1 - y) (a hard label is
    exact); when y = 1 moved by one part in 1, the bound allowed 2e9 ULPs there and it passed
    (issue 20). The float64 reference's relative bound rejects it too."""
    m = MUTANTS["BCE with logits gradient by subtraction"]
    case = C.CASE["binary_cross_entropy_with_logits"]
    p = C.Problem((np.array([20.0, 10.0, -3.0]), np.array([1.0, 1.0, 0.0])), {}, {})
    g = np.ones(3)
    rejects(lambda: L.backward_ulps(m, case, "float32", p, "none", g))
    L.backward_ulps(mutant(), case, "float32", p, "none", g)
    drawn(
        case.draw("float64", False),
        lambda p: L.backward_ulps(m, case, "float64", p, "sum", np.float64(1.0)),
    )


def test_ce_as_logsumexp_minus_the_logit_is_rejected():
    m = MUTANTS["CE as logsumexp minus the logit"]
    case = C.CASE["cross_entropy"]
    drawn(case.draw("float32", False), lambda p: L.loss_ulps(m, case, "float32", p, "none"))


def test_the_library_passes_the_same_checks():
    """The same fixed-input checks accept the library itself (so the rejections above are the
    mutations', not the inputs')."""
    lib = mutant()
    t = np.array([0, -100, 3])
    junk_z, junk_t = np.full(SEQ_Z.shape, np.nan), np.full(SEQ_T.shape, 9)
    laws.sequence_extra_padding_is_irrelevant(lib, "float64", SEQ_Z, SEQ_T, SEQ_M, 2)
    laws.sequence_equals_cross_entropy_of_real_tokens(lib, "float64", SEQ_Z, SEQ_T, SEQ_M)
    laws.sequence_padding_is_irrelevant(lib, "float32", SEQ_Z, SEQ_T, SEQ_M, junk_z, junk_t)
    laws.bce_with_logits_at_extremes(
        lib, "float32", np.array([1e30, -1e30, 1e4, 0.5]), np.array([0.0, 1.0, 0.5, 0.5])
    )
    for eps in (0.0, 0.2):
        laws.ignored_targets_count_nowhere(lib, "float64", "cross_entropy", Z, t, -100, eps, None)
    laws.contrastive_conventions(lib, "float64")


def test_every_mutant_is_exercised():
    """Each mutant above is rejected by some test in this module (kept in sync by name)."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for name in MUTANTS:
        assert source.count(f'MUTANTS["{name}"]') >= 1, name
