"""The gradient checks of ``test_loss_gradient_ulps.py`` (issue 23), shared with its self-test
``test_loss_gradient_ulps_self.py`` and with ``test_losses_torch_native.py``: the gradients of
the cross-entropy family and the softmax/log_softmax row backwards judged in ULPs against
mpmath by the function's own condition, the mpmath references (per row ``k (T p - q)``), and
the Hypothesis strategies of their problems (logits with one class raised by a gap, at most 5
classes). ``test_loss_gradient_ulps.py``'s docstring explains the bound.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
from hypothesis import strategies as st
from mpmath import mpf

from reference import mp as ref_mp

from . import strategies as S
from .checks import FORMATS, check_ulps
from .implementations import Implementation

DTYPES = ("float32", "float64")
REDUCTIONS = ("none", "sum", "mean")
ROW_BACKWARDS = ("softmax_backward", "log_softmax_backward")


def rounded(a, dtype: str) -> np.ndarray:
    return np.asarray(a, np.float64).astype(dtype).astype(np.float64)


def _max_gap(dtype: str) -> float:
    """A little past log(largest finite number): every other probability underflows there."""
    return 1.1 * math.log(float(np.finfo(dtype).max))


# --- strategies ------------------------------------------------------------------------------


@st.composite
def logits(draw, dtype: str, shape: tuple[int, ...], target: np.ndarray | None = None):
    """Logits in [-10, 10] where each row, with probability 3/4, has one class raised above the
    row's maximum by a gap 2^k, k uniform in [-4, log2(_max_gap)]: the target (confident and
    right) or another class (confident and wrong)."""
    z = draw(S.arrays(dtype, shape, S.values(dtype, -10.0, 10.0)))
    flat = z.reshape(-1, shape[-1])
    picks = None if target is None else np.asarray(target).reshape(-1)
    for n in range(flat.shape[0]):
        if draw(st.integers(0, 3), label="plain row") == 0:
            continue
        gap = 2.0 ** draw(st.floats(-4.0, math.log2(_max_gap(dtype))), label="log2 gap")
        right = picks is not None and 0 <= picks[n] < shape[-1] and draw(st.booleans())
        c = int(picks[n]) if right else draw(st.integers(0, shape[-1] - 1), label="raised")
        flat[n, c] = flat[n].max() + gap
    return rounded(z, dtype)


def _class_targets(draw, rows: int, classes: int, ignore: bool) -> np.ndarray:
    t = draw(S.arrays("float64", (rows,), st.integers(0, classes - 1))).astype(np.int64)
    if ignore and draw(st.booleans()):
        t = np.where(draw(S.arrays("float64", (rows,), st.booleans())).astype(bool), -100, t)
    return t


def _smoothing(draw) -> float:
    return draw(st.sampled_from([0.0, 0.0, 1e-6, 0.1, 0.5, 1.0]), label="label_smoothing")


def _weight(draw, dtype: str, classes: int) -> np.ndarray | None:
    if not draw(st.booleans()):
        return None
    return draw(S.arrays(dtype, (classes,), S.values(dtype, 0.25, 2.0)), label="weight")


def _grad_output(draw, dtype: str, reduction: str, rows: int) -> np.ndarray:
    if reduction == "none":
        return draw(S.arrays(dtype, (rows,), S.values(dtype, 0.5, 2.0)), label="grad_output")
    return np.float64(draw(st.sampled_from([1.0, -0.5, 2.0]), label="grad_output"))


# --- the references --------------------------------------------------------------------------


def exact_values(a) -> list[mpf]:
    return [mpf(float(v)) for v in np.asarray(a).ravel()]


def class_q(t: int, classes: int, eps: float, weight) -> list[mpf]:
    """q_c = (1 - eps) w_t [c = t] + eps w_c / C."""
    w = [mpf(1)] * classes if weight is None else exact_values(weight)
    e = mpf(eps)
    return [(1 - e) * w[t] * (c == t) + e * w[c] / classes for c in range(classes)]


def _prob_q(t_row, classes: int, eps: float, weight) -> list[mpf]:
    """q_c = ((1 - eps) t_c + eps / C) w_c."""
    w = [mpf(1)] * classes if weight is None else exact_values(weight)
    e = mpf(eps)
    return [((1 - e) * a + e / classes) * b for a, b in zip(exact_values(t_row), w, strict=True)]


def judge_rows(label, dtype, impl, out, z, qs, ks, k_inputs, extra_inputs=None):
    """``out`` (rows x classes) against k_n (T p - q) per row n, ``qs[n]`` None for a row whose
    gradient is exactly 0 (ignored, padded)."""
    out = np.asarray(out, np.float64).reshape(z.shape)
    refs, sens, zero_below = [], [], []
    tiny = 2.0 ** FORMATS[dtype].emin
    for row, q, k in zip(z, qs, ks, strict=True):
        if q is None:
            refs.extend([mpf(0)] * len(row))
            sens.extend([mpf(0)] * len(row))
            zero_below.extend([0.0] * len(row))
            continue
        x = exact_values(row)
        refs.extend(ref_mp.cross_entropy_row_grad(x, q, k))
        s = ref_mp.cross_entropy_row_sensitivity(x, q, k)
        # the sensitivity to k counts each factor of it that is an input (grad_output, and the
        # mean's denominator: sum_n w_n |d v / d w_n| = |v|)
        v = ref_mp.cross_entropy_row_grad(x, q, k)
        sens.extend(a + (k_inputs - 1) * abs(b) for a, b in zip(s, v, strict=True))
        # XLA on the CPU flushes subnormal results and intermediates (a probability below
        # tiny, such as exp(-88) in float32, which k then scales up): an absolute error up to
        # tiny times that scale is the flushing, not the formula
        scale = max(1.0, float(abs(k) * abs(mpmath.fsum(q))))
        zero_below.extend([tiny * scale if impl.flushes_subnormals else 0.0] * len(row))
    inputs = {"logits": z, **(extra_inputs or {})}
    report = check_ulps(label, dtype, out, refs, inputs, sens, abs_floor=zero_below)
    assert report.ok, report.message


def _k(g, reduction: str, n: int, denominator) -> list[mpf]:
    if reduction == "none":
        return exact_values(g)
    k = mpf(float(g))
    if reduction == "mean":  # (no kept row: every row's gradient is 0, k is not used)
        k = k / denominator if denominator else mpf(0)
    return [k] * n


# --- the checks (shared with the self-test) --------------------------------------------------


def cross_entropy_gradient_ulps(impl: Implementation, dtype: str, problem: dict) -> None:
    """cross_entropy_backward with class or probability targets, within the ULP bound of mpmath
    at every element (``problem``: z, target, weight, label_smoothing, reduction, g)."""
    z, t, w = problem["z"], problem["target"], problem["weight"]
    eps, reduction, g = problem["label_smoothing"], problem["reduction"], problem["g"]
    probs = t.dtype.kind == "f"
    kw = {} if w is None else {"weight": impl.array(w, dtype)}
    targets = impl.array(t, dtype) if probs else impl.exact(t)
    ga = impl.array(np.asarray(g, np.float64), dtype)
    out = impl.ops.cross_entropy_backward(
        ga, impl.array(z, dtype), targets, label_smoothing=eps, reduction=reduction, **kw
    )
    label = f"cross_entropy_backward(label_smoothing={eps}, {reduction}) on {impl.id}"
    judge_cross_entropy_gradient(label, dtype, impl, impl.numpy(out), problem)


def judge_cross_entropy_gradient(label, dtype, impl, out, problem: dict) -> None:
    """``out`` (rows x classes, class axis last) is within the ULP bound of the mpmath gradient
    of cross_entropy for ``problem`` (z, target, weight, label_smoothing, reduction, g)."""
    z, t, w = problem["z"], problem["target"], problem["weight"]
    eps, reduction, g = problem["label_smoothing"], problem["reduction"], problem["g"]
    rows, classes = z.shape
    probs = t.dtype.kind == "f"
    if probs:
        qs = [_prob_q(t[n], classes, eps, w) for n in range(rows)]
        denominator = mpf(rows)
    else:
        qs = [None if t[n] == -100 else class_q(int(t[n]), classes, eps, w) for n in range(rows)]
        ww = [mpf(1)] * classes if w is None else exact_values(w)
        denominator = mpmath.fsum(ww[int(v)] for v in t if v != -100)
    ks = _k(g, reduction, rows, denominator)
    k_inputs = 2 if reduction == "mean" and not probs and w is not None else 1
    shown = {"target": np.broadcast_to(np.asarray(t, np.float64).reshape(rows, -1), z.shape)}
    judge_rows(label, dtype, impl, out, z, qs, ks, k_inputs, shown)


def nll_of_log_softmax_gradient_ulps(impl: Implementation, dtype: str, problem: dict) -> None:
    """log_softmax_backward(nll_loss_backward(g, log_softmax(z), t), z): the gradient of
    nll_loss fed by log_softmax, within the ULP bound of cross-entropy's."""
    z, t, w, reduction, g = (problem[k] for k in ("z", "target", "weight", "reduction", "g"))
    rows, classes = z.shape
    kw = {} if w is None else {"weight": impl.array(w, dtype)}
    za, ta = impl.array(z, dtype), impl.exact(t)
    lp = impl.ops.log_softmax(za, -1)
    gn = impl.ops.nll_loss_backward(
        impl.array(np.asarray(g, np.float64), dtype), lp, ta, reduction=reduction, **kw
    )
    out = impl.ops.log_softmax_backward(gn, za, -1)
    qs = [None if t[n] == -100 else class_q(int(t[n]), classes, 0.0, w) for n in range(rows)]
    ww = [mpf(1)] * classes if w is None else exact_values(w)
    ks = _k(g, reduction, rows, mpmath.fsum(ww[int(v)] for v in t if v != -100))
    # (the sensitivity to k: grad_output, and the mean's denominator when weighted)
    k_inputs = 2 if reduction == "mean" and w is not None else 1
    label = f"log_softmax_backward(nll_loss_backward(..., {reduction})) on {impl.id}"
    judge_rows(label, dtype, impl, impl.numpy(out), z, qs, ks, k_inputs)


def sequence_gradient_ulps(impl: Implementation, dtype: str, problem: dict) -> None:
    """sequence_cross_entropy_backward within the ULP bound, padded tokens exactly 0."""
    z, t, mask, g = problem["z"], problem["target"], problem["mask"], problem["g"]
    v = z.shape[-1]
    ga = impl.array(np.asarray(g, np.float64), dtype)
    out = impl.ops.sequence_cross_entropy_backward(
        ga, impl.array(z, dtype), impl.exact(t), impl.exact(mask)
    )
    flat_t, flat_m = t.reshape(-1), mask.reshape(-1)
    qs = [class_q(int(a), v, 0.0, None) if m else None for a, m in zip(flat_t, flat_m, strict=True)]
    k = mpf(float(g)) / max(int(flat_m.sum()), 1)
    label = f"sequence_cross_entropy_backward on {impl.id}"
    judge_rows(label, dtype, impl, impl.numpy(out), z.reshape(-1, v), qs, [k] * len(qs), 1)


CHECKS = {
    "cross_entropy": cross_entropy_gradient_ulps,
    "cross_entropy(probabilities)": cross_entropy_gradient_ulps,
    "nll_loss(log_softmax)": nll_of_log_softmax_gradient_ulps,
    "sequence_cross_entropy": sequence_gradient_ulps,
}


@st.composite
def problems(draw, case: str, dtype: str):
    """A problem for ``case`` with at most 3 rows of at most 5 classes."""
    if case == "sequence_cross_entropy":
        v = draw(st.integers(2, 5), label="classes")
        t = draw(S.arrays("float64", (2, 2), st.integers(0, v - 1))).astype(np.int64)
        mask = draw(S.arrays("float64", (2, 2), st.booleans())).astype(bool)
        z = draw(logits(dtype, (2, 2, v), t))
        return {"z": z, "target": t, "mask": mask, "g": _grad_output(draw, dtype, "sum", 1)}
    rows, classes = draw(st.integers(1, 3), label="rows"), draw(st.integers(2, 5), label="C")
    reduction = draw(st.sampled_from(REDUCTIONS), label="reduction")
    w = _weight(draw, dtype, classes)
    if case == "cross_entropy(probabilities)":
        hot = draw(S.arrays("float64", (rows,), st.integers(0, classes - 1))).astype(int)
        spill = draw(S.arrays(dtype, (rows, classes), S.values(dtype, 0.0, 1.0)))
        scale = 10.0 ** draw(st.sampled_from([-12, -6, -1, 0]), label="off-target mass")
        t = rounded(np.eye(classes)[hot] + scale * spill, dtype)
        z = draw(logits(dtype, (rows, classes), hot))
        eps = _smoothing(draw)
    else:
        t = _class_targets(draw, rows, classes, ignore=True)
        z = draw(logits(dtype, (rows, classes), t))
        eps = _smoothing(draw) if case == "cross_entropy" else 0.0
    return {
        "z": z,
        "target": t,
        "weight": w,
        "label_smoothing": eps,
        "reduction": reduction,
        "g": _grad_output(draw, dtype, reduction, rows),
    }


# --- the row backwards -----------------------------------------------------------------------


def row_backward_ulps(impl: Implementation, name: str, dtype: str, x, g) -> None:
    """``<name>(g, x)`` along the last axis within the ULP bound of mpmath, with the closed-form
    sensitivity to g and x (``reference.mp.*_vjp_sensitivity``)."""
    from . import activation_checks

    activation_checks.row_ulps(impl, name.removesuffix("_backward"), dtype, x, g)


@st.composite
def row_problems(draw, dtype: str):
    n = draw(st.integers(2, 5), label="n")
    hot = draw(st.integers(0, n - 1), label="hot")
    x = draw(logits(dtype, (2, n), np.array([hot, hot])))
    if draw(st.booleans()):  # a one-hot cotangent (the nll/cross-entropy path) or any
        g = np.zeros((2, n))
        g[:, hot] = draw(st.sampled_from([1.0, -0.5, 2.0]))
    else:
        g = draw(S.arrays(dtype, (2, n), S.values(dtype, -4.0, 4.0)))
    return x, g


CONFIDENT_ROW_X = np.array([[10.0, -5.0, -7.0], [40.0, 0.0, 1.0], [16.5, 0.3, 0.3]])
CONFIDENT_ROW_G = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [1.0, 1e-9, -2e-9]])
