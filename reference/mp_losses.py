"""The losses and their gradients in mpmath, per element (or per pair, per row), from exact
inputs: the oracle the loss ULP tests (``properties/test_loss_ulps.py``) judge against.

Textbook definitions at :data:`reference.mp.PRECISION` bits, as :mod:`reference.mp`; no code is
shared with ``primitives``. ``<name>(...)`` is one loss term, ``<name>_d(...)`` its derivative
with respect to the prediction (the pair's first vector for the contrastive loss). The
reductions (sum, mean) are left to the caller. Conventions as :mod:`reference.losses`: torch's
(sign(0) = 0 for l1, the -100 clamp of binary cross-entropy's logs, Hadsell et al.'s 1/2 and
y = 1 for dissimilar pairs).
"""

from __future__ import annotations

from collections.abc import Sequence

import mpmath
from mpmath import mpf

from . import mp as ref_mp

BCE_LOG_CLAMP = mpf(-100)


def mse(x, y):
    """(x - y)^2."""
    return (mpf(x) - mpf(y)) ** 2


def mse_d(x, y):
    return 2 * (mpf(x) - mpf(y))


def l1(x, y):
    """|x - y|."""
    return abs(mpf(x) - mpf(y))


def l1_d(x, y):
    return mpf(mpmath.sign(mpf(x) - mpf(y)))


def huber(x, y, delta):
    """a^2 / 2 for a = |x - y| <= delta, delta (a - delta / 2) beyond (Huber 1964)."""
    a, delta = abs(mpf(x) - mpf(y)), mpf(delta)
    return a * a / 2 if a <= delta else delta * (a - delta / 2)


def huber_d(x, y, delta):
    d, delta = mpf(x) - mpf(y), mpf(delta)
    return d if abs(d) <= delta else delta * mpmath.sign(d)


def _sigmoid(x):
    return 1 / (1 + mpmath.exp(-x))


def bce_with_logits(x, y, w=1.0, pw=1.0):
    """w [pw y log(1 + e^-x) + (1 - y) log(1 + e^x)]."""
    x, y, w, pw = (mpf(v) for v in (x, y, w, pw))
    return w * (pw * y * mpmath.log1p(mpmath.exp(-x)) + (1 - y) * mpmath.log1p(mpmath.exp(x)))


def bce_with_logits_d(x, y, w=1.0, pw=1.0):
    """w [(1 - y) sigma(x) - pw y sigma(-x)]."""
    x, y, w, pw = (mpf(v) for v in (x, y, w, pw))
    return w * ((1 - y) * _sigmoid(x) - pw * y * _sigmoid(-x))


def _clamped(log_v):
    return max(log_v, BCE_LOG_CLAMP) if mpmath.isfinite(log_v) else BCE_LOG_CLAMP


def bce(p, y, w=1.0):
    """-w [y max(log p, -100) + (1 - y) max(log(1 - p), -100)] (torch's clamp); log(1 - p) as
    log1p(-p), since 1 - p would round to 1 for a p below 2^-PRECISION."""
    p, y, w = mpf(p), mpf(y), mpf(w)
    log_p = mpmath.log(p) if p > 0 else mpf("-inf")
    log_q = mpmath.log1p(-p) if p < 1 else mpf("-inf")
    return -w * (y * _clamped(log_p) + (1 - y) * _clamped(log_q))


def bce_d(p, y, w=1.0):
    """w [-y / p + (1 - y) / (1 - p)], each term 0 where its log is clamped."""
    p, y, w = mpf(p), mpf(y), mpf(w)
    d = mpf(0)
    if p > 0 and mpmath.log(p) > BCE_LOG_CLAMP:
        d -= y / p
    if p < 1 and mpmath.log1p(-p) > BCE_LOG_CLAMP:
        d += (1 - y) / (1 - p)
    return w * d


def _distance(a: Sequence, b: Sequence):
    return mpmath.sqrt(mpmath.fsum((mpf(u) - mpf(v)) ** 2 for u, v in zip(a, b, strict=True)))


def contrastive(a: Sequence, b: Sequence, y, margin):
    """1/2 [(1 - y) d^2 + y max(0, margin - d)^2], d = ||a - b|| (Hadsell et al. 2006)."""
    d, y = _distance(a, b), mpf(y)
    hinge = max(mpf(0), mpf(margin) - d)
    return ((1 - y) * d * d + y * hinge * hinge) / 2


def contrastive_d(a: Sequence, b: Sequence, y, margin) -> list:
    """d/da: (1 - y)(a - b) - y max(0, margin - d)(a - b)/d, the second term 0 at d = 0."""
    d, y = _distance(a, b), mpf(y)
    pull = max(mpf(0), mpf(margin) - d) / d if d > 0 else mpf(0)
    return [((1 - y) - y * pull) * (mpf(u) - mpf(v)) for u, v in zip(a, b, strict=True)]


def cross_entropy_row(row: Sequence, q: Sequence):
    """-sum_c q_c log softmax(row)_c, a class with q_c = 0 contributing 0."""
    lp = ref_mp.log_softmax(row)
    return -mpmath.fsum(a * b for a, b in zip(q, lp, strict=True) if a != 0)


def cross_entropy_row_sensitivity(row: Sequence, q: Sequence):
    """sum_j |d l / d a_j| |a_j| over the logits and the target distribution q: d l / d z_j =
    T p_j - q_j (:func:`reference.mp.cross_entropy_row_grad`, without cancellation) with z_j's
    size as a shift-invariant row function sees it (``reference.mp.logit_sizes``), and
    d l / d q_j = -log p_j."""
    grads = ref_mp.cross_entropy_row_grad(row, q, mpf(1))
    sizes = ref_mp.logit_sizes(row)
    lp = ref_mp.log_softmax(row)
    return mpmath.fsum(abs(g) * s for g, s in zip(grads, sizes, strict=True)) + mpmath.fsum(
        abs(a * b) for a, b in zip(q, lp, strict=True) if a != 0
    )
