"""Every loss and every loss gradient in ULPs against mpmath, bounded by the function's own
sensitivity (issue 23): the support of ``test_losses.py``'s ULP properties.

For a problem of ``test_losses.py`` (the exact values the implementation holds) and a
reduction, :func:`loss_reference` and :func:`gradient_reference` give per output element the
mpmath value and its sensitivity ``S = sum_j |dy/da_j| |a_j|`` over every floating input
(predictions, targets, weights, grad_output), which :func:`properties.checks.check_ulps` turns
into the tolerance table's bound ``ulps + condition_ulps u S / ulp(y)``:

* a loss term or an elementwise gradient: ``reference.mp.sensitivity`` of the mpmath function
  (numerical partial derivatives at twice the precision), or a closed form for the
  cross-entropy rows (``reference.mp_losses.cross_entropy_row_sensitivity``,
  ``reference.mp.cross_entropy_row_sensitivity``), whose logits count at their shifted size;
* a ``sum`` of n terms: the terms' sensitivities plus ``(n - 1) sum |l_i|``, the sum's own
  sensitivity to its terms times the error bound of any summation order;
* a ``mean``: that over the denominator, plus ``(m - 1)|y|`` where the denominator is itself a
  sum of m class weights (``d y / d w = -y / D`` per weight); a gradient, ``m |v|`` (the sum's
  rounding and the sensitivity to the weights through it).

None of these is the size of the terms one formula subtracts: where the function is well
conditioned the bound is a few ULPs of the result, whatever formula computes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mpmath
import numpy as np
from mpmath import mpf

from reference import mp as ref_mp
from reference import mp_losses as M

NAN = mpf("nan")


def _exact(a) -> np.ndarray:
    """An object array of mpf with ``a``'s exact values."""
    a = np.asarray(a, np.float64)
    out = np.empty(a.shape, object)
    for i in np.ndindex(a.shape):
        out[i] = mpf(float(a[i]))
    return out


def _sum(values: Sequence[mpf], sens: Sequence[mpf]) -> tuple[mpf, mpf]:
    """(sum, its sensitivity): the terms' own plus (n - 1) sum |l_i| for the summation."""
    n = len(values)
    return mpmath.fsum(values), mpmath.fsum(sens) + max(n - 1, 0) * mpmath.fsum(
        abs(v) for v in values
    )


def _reduce(
    values: list, sens: list, reduction: str, denominator: mpf | None = None, weights: int = 0
) -> tuple[list, list]:
    """Reduce per-term (value, sensitivity) lists; ``weights``: the number of class weights the
    mean's denominator sums (0 when it is a count)."""
    if reduction == "none":
        return values, sens
    total, s = _sum(values, sens)
    if reduction == "sum":
        return [total], [s]
    d = mpf(len(values)) if denominator is None else denominator
    if d == 0:
        return [NAN], [mpf(0)]
    y = total / d
    return [y], [s / abs(d) + max(weights - 1, 0) * abs(y)]


def _scales(g, reduction: str, n: int, denominator: mpf | None = None) -> list:
    """The factor k of each of the n terms' gradients, flat: grad_output (one per term for
    ``none``), over the mean's denominator (default n)."""
    g = list(_exact(g).ravel())
    if reduction == "none":
        return g
    k = g[0]
    if reduction == "mean":
        d = mpf(n) if denominator is None else denominator
        k = k / d if d != 0 else mpf(0)
    return [k] * n


# --- elementwise losses ----------------------------------------------------------------------


def _elementwise(case_id: str, problem) -> tuple[Callable, Callable, list[np.ndarray]]:
    """(term, derivative, the arrays each takes per element, broadcast to the input's shape)."""
    x, y = problem.arrays[:2]
    kw, params = problem.kwarrays, problem.params
    if case_id == "mse_loss":
        return M.mse, M.mse_d, [x, y]
    if case_id == "l1_loss":
        return M.l1, M.l1_d, [x, y]
    if case_id == "huber_loss":
        delta = params["delta"]
        return (
            lambda a, b: M.huber(a, b, delta),
            lambda a, b: M.huber_d(a, b, delta),
            [x, y],
        )
    w = np.broadcast_to(kw.get("weight", 1.0), x.shape)
    if case_id == "binary_cross_entropy_with_logits":
        pw = np.broadcast_to(kw.get("pos_weight", 1.0), x.shape)
        return M.bce_with_logits, M.bce_with_logits_d, [x, y, w, pw]
    if case_id == "binary_cross_entropy":
        return M.bce, M.bce_d, [x, y, w]
    raise KeyError(case_id)


BINARY_TARGETS = ("binary_cross_entropy_with_logits", "binary_cross_entropy")


def _sizes(case_id: str, args: list[float]) -> list[float]:
    """How far each argument of an elementwise term moves per unit of relative rounding: |a|,
    except a binary cross-entropy's target y (the second argument), by min(|y|, |1 - y|).

    Two requirements fix it: the size must not depend on whether a formula holds y or 1 - y
    (with pos_weight 1 both losses are the same function of (x, y) and (-x, 1 - y) [(p, y) and
    (1 - p, 1 - y)], and any formula may form 1 - y), and a hard label, 0 or 1, is exact, as the
    user gave it; the smaller of the two is the size that meets both. Perturbing y = 1 by one
    part in 1 let sigma(x) - y through at a confident right prediction: 0 from x ~ 17 in
    float32, where the gradient is -sigma(-x) (torch's formula; issue 20). It holds soft
    labels near 1 to relative accuracy in 1 - y, the loss too: x - x y + log1p(e^-x) (the
    textbook form) fails at y = 1 - 2^-24, x = 20 in float32, where the library's
    (1 - y) softplus(x) + pw y softplus(-x) passes."""
    sizes = [abs(a) for a in args]
    if case_id in BINARY_TARGETS:
        sizes[1] = min(abs(args[1]), abs(1.0 - args[1]))
    return sizes


def _elementwise_terms(case_id: str, fn: Callable, arrays: list[np.ndarray]) -> tuple[list, list]:
    values, sens = [], []
    for i in np.ndindex(arrays[0].shape):
        args = [float(a[i]) for a in arrays]
        values.append(fn(*args))
        sens.append(ref_mp.sensitivity(fn, args, _sizes(case_id, args)))
    return values, sens


# --- cross-entropy family --------------------------------------------------------------------


def _rows_of(problem, case_id: str):
    """(rows of logits or log-probabilities, classes last; their q (None: no loss); the mean's
    denominator; the number of class weights it sums; the axis; the full shape)."""
    p = problem.params
    if case_id == "sequence_cross_entropy":
        z, target, mask = problem.arrays
        v = z.shape[-1]
        rows = z.reshape(-1, v)
        qs = [
            [mpf(int(c == t)) for c in range(v)] if m else None
            for t, m in zip(target.ravel(), mask.ravel(), strict=True)
        ]
        return rows, qs, mpf(int(mask.sum())), 0, z.ndim - 1, z.shape
    z, target = problem.arrays[:2]
    axis = p["axis"] % z.ndim
    zl = np.moveaxis(z, axis, -1)
    c = zl.shape[-1]
    rows = zl.reshape(-1, c)
    weight = problem.kwarrays.get("weight")
    w = [mpf(1)] * c if weight is None else [mpf(float(v)) for v in weight]
    eps = mpf(p.get("label_smoothing", 0.0))
    if target.dtype.kind == "f":
        tl = np.moveaxis(target, axis, -1).reshape(-1, c)
        qs = [
            [((1 - eps) * mpf(float(a)) + eps / c) * b for a, b in zip(t, w, strict=True)]
            for t in tl
        ]
        return rows, qs, mpf(len(qs)), 0, axis, z.shape
    flat = np.asarray(target).ravel()
    qs, kept = [], []
    for t in flat:
        if t == p["ignore_index"]:
            qs.append(None)
            continue
        t = int(t)
        qs.append([(1 - eps) * w[t] * (j == t) + eps * w[j] / c for j in range(c)])
        kept.append(w[t])
    weights = len(kept) if weight is not None else 0
    return rows, qs, mpmath.fsum(kept), weights, axis, z.shape


def _nll_terms(problem) -> tuple[list, list, mpf, int]:
    lp, target = problem.arrays[:2]
    p = problem.params
    axis = p["axis"] % lp.ndim
    rows = np.moveaxis(lp, axis, -1).reshape(-1, lp.shape[axis])
    weight = problem.kwarrays.get("weight")
    values, sens, kept = [], [], []
    for row, t in zip(rows, np.asarray(target).ravel(), strict=True):
        if t == p["ignore_index"]:
            values.append(mpf(0))
            sens.append(mpf(0))
            continue
        w = mpf(1) if weight is None else mpf(float(weight[int(t)]))
        v = -w * mpf(float(row[int(t)]))
        values.append(v)
        sens.append((2 if weight is not None else 1) * abs(v))
        kept.append(w)
    return values, sens, mpmath.fsum(kept), len(kept) if weight is not None else 0


def _ce_terms(problem, case_id: str) -> tuple[list, list, mpf, int]:
    rows, qs, denominator, weights, _, _ = _rows_of(problem, case_id)
    values, sens = [], []
    for row, q in zip(rows, qs, strict=True):
        if q is None:
            values.append(mpf(0))
            sens.append(mpf(0))
            continue
        r = [float(v) for v in row]
        values.append(M.cross_entropy_row(r, q))
        sens.append(M.cross_entropy_row_sensitivity(r, q))
    return values, sens, denominator, weights


CE_FAMILY = ("cross_entropy", "cross_entropy(probabilities)", "sequence_cross_entropy")


# --- the public entry points -----------------------------------------------------------------


def loss_reference(case_id: str, problem, reduction: str) -> tuple[list, list]:
    """(values, sensitivities), flat in C order of the loss's shape."""
    if case_id in CE_FAMILY or case_id == "nll_loss":
        if case_id == "nll_loss":
            values, sens, d, weights = _nll_terms(problem)
        else:
            values, sens, d, weights = _ce_terms(problem, case_id)
        if case_id == "sequence_cross_entropy":  # no real token: 0, not NaN
            d = d if d > 0 else mpf(1)
        return _reduce(values, sens, reduction, d, weights)
    if case_id == "contrastive_loss":
        x1, x2, y = problem.arrays
        m = problem.params["margin"]
        d = x1.shape[-1]
        a1, a2 = x1.reshape(-1, d), x2.reshape(-1, d)
        values, sens = [], []
        for u, v, label in zip(a1, a2, np.asarray(y).ravel(), strict=True):

            def term(*args, label=int(label)):
                return M.contrastive(args[:d], args[d:], label, m)

            args = [float(t) for t in (*u, *v)]
            values.append(term(*args))
            sens.append(ref_mp.sensitivity(term, args))
        return _reduce(values, sens, reduction)
    fn, _, arrays = _elementwise(case_id, problem)
    values, sens = _elementwise_terms(case_id, fn, arrays)
    return _reduce(values, sens, reduction)


def gradient_reference(case_id: str, problem, reduction: str, g) -> list[tuple[list, list]]:
    """Per prediction, (values, sensitivities) of the gradient, flat in C order of its shape."""
    if case_id in CE_FAMILY:
        rows, qs, d, weights, axis, shape = _rows_of(problem, case_id)
        if case_id == "sequence_cross_entropy":
            d = d if d > 0 else mpf(1)
        k = _scales(g, reduction, len(qs), d)
        # the weighted mean's denominator sums `weights` class weights (as the loss side)
        extra = weights if reduction == "mean" and weights else 0
        values, sens = [], []
        for row, q, kn in zip(rows, qs, k, strict=True):
            if q is None:
                values.append([mpf(0)] * len(row))
                sens.append([mpf(0)] * len(row))
                continue
            r = [float(v) for v in row]
            v = ref_mp.cross_entropy_row_grad(r, q, kn)
            s = ref_mp.cross_entropy_row_sensitivity(r, q, kn)
            values.append(v)
            sens.append([a + extra * abs(b) for a, b in zip(s, v, strict=True)])
        return [(_restore(values, axis, shape), _restore(sens, axis, shape))]
    if case_id == "nll_loss":
        lp, target = problem.arrays[:2]
        p = problem.params
        axis = p["axis"] % lp.ndim
        c = lp.shape[axis]
        weight = problem.kwarrays.get("weight")
        flat = np.asarray(target).ravel()
        kept = [
            mpf(1) if weight is None else mpf(float(weight[int(t)]))
            for t in flat
            if t != p["ignore_index"]
        ]
        k = _scales(g, reduction, flat.size, mpmath.fsum(kept))
        values, sens = [], []
        for t, kn in zip(flat, k, strict=True):
            row = [mpf(0)] * c
            if t != p["ignore_index"]:
                w = mpf(1) if weight is None else mpf(float(weight[int(t)]))
                row[int(t)] = -w * kn
            values.append(row)
            # |v| per input factor: grad_output, the weight, and the weighted mean's
            # denominator, a sum of len(kept) weights (as the loss side)
            weighted_mean = reduction == "mean" and weight is not None
            factors = 1 + (weight is not None) + (len(kept) if weighted_mean else 0)
            sens.append([factors * abs(v) for v in row])
        shape = lp.shape
        return [(_restore(values, axis, shape), _restore(sens, axis, shape))]
    if case_id == "contrastive_loss":
        x1, x2, y = problem.arrays
        m = problem.params["margin"]
        d = x1.shape[-1]
        a1, a2 = x1.reshape(-1, d), x2.reshape(-1, d)
        k = _scales(g, reduction, np.asarray(y).size)
        values, sens = [], []
        for u, v, label, kn in zip(a1, a2, np.asarray(y).ravel(), k, strict=True):
            args = [float(t) for t in (*u, *v)] + [kn]
            for j in range(d):

                def dj(*a, j=j, label=int(label)):
                    return a[-1] * M.contrastive_d(a[:d], a[d : 2 * d], label, m)[j]

                values.append(dj(*args))
                sens.append(ref_mp.sensitivity(dj, args))
        return [(values, sens), ([-v for v in values], sens)]
    _, dfn, arrays = _elementwise(case_id, problem)
    k = _scales(g, reduction, arrays[0].size)
    values, sens = [], []
    for i, kn in zip(np.ndindex(arrays[0].shape), k, strict=True):
        args = [float(a[i]) for a in arrays] + [kn]

        def term(*a):
            return a[-1] * dfn(*a[:-1])

        values.append(term(*args))
        sens.append(ref_mp.sensitivity(term, args, _sizes(case_id, args)))
    return [(values, sens)]


def _restore(rows: list[list], axis: int, shape: tuple[int, ...]) -> list:
    """Rows (classes last) back to ``shape`` with the classes on ``axis``, flat in C order."""
    moved = list(shape)
    c = moved.pop(axis)
    a = np.empty((*moved, c), object)
    flat = a.reshape(-1, c)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            flat[i, j] = v
    return list(np.moveaxis(a, -1, axis).ravel())
