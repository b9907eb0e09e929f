"""The laws and conventions of the losses as plain functions of (implementation, dtype, numpy
inputs), judged by ``test_losses_laws.py`` on every backend and fed deliberately wrong losses
by ``test_losses_self.py``: cross-entropy (nonnegative, shift invariant, gradient softmax -
one-hot, finite at +-1e4 and +-1e30, label smoothing's formula, ignored targets counted
nowhere), sequence cross-entropy (padding irrelevant, equal to the cross-entropy of the real
tokens, an all-padded batch), binary cross-entropy (softplus form, symmetry, extremes, the
-100 clamp), the contrastive loss (labels, the 1/2, d = 0) and the derivatives at kinks; with
:func:`call` and :func:`seen`, which run a loss on numpy inputs and give the values a backend
holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

from reference import losses as R

from . import tolerances
from .implementations import Implementation, framework_of
from .loss_cases import as_backend, close, fn


def call(impl: Implementation, name: str, dtype: str, *arrays, **kwargs) -> Any:
    """``name`` on backend arrays made from numpy ones (floating ones in ``dtype``); returns the
    result(s) as float64 numpy arrays."""

    def convert(a):
        if isinstance(a, (np.ndarray, np.generic)):
            return as_backend(impl, np.asarray(a), dtype)
        return a

    args = [convert(a) for a in arrays]
    kw = {k: convert(v) for k, v in kwargs.items()}
    out = fn(impl, name)(*args, **kw)
    if isinstance(out, tuple):
        return tuple(impl.numpy(o) for o in out)
    return impl.numpy(out)


def seen(impl: Implementation, a: np.ndarray, dtype: str) -> np.ndarray:
    """The values a float64 array holds once in ``dtype`` on the backend, as its arithmetic
    sees them (XLA on the CPU flushes subnormal inputs to zero)."""
    v = impl.numpy(impl.array(a, dtype))
    if impl.flushes_subnormals:
        tiny = np.finfo(tolerances.working_dtype(dtype)).tiny
        v = np.where(np.abs(v) < tiny, np.copysign(0.0, v), v)
    return v


# --- cross-entropy ---------------------------------------------------------------------------


def cross_entropy_nonnegative_and_shift_invariant(
    impl, dtype, z, target, shifts, axis, label_smoothing, weight
) -> None:
    """Per-position losses are >= 0, and adding a constant to a row of logits changes neither
    the losses nor the gradient (exactly: the inputs are chosen so that z + c is exact)."""
    kw = dict(axis=axis, label_smoothing=label_smoothing, reduction="none")
    if weight is not None:
        kw["weight"] = weight
    what = f"cross_entropy{kw} on {impl.id} [{dtype}]"
    loss = call(impl, "cross_entropy", dtype, z, target, **kw)
    assert np.all(loss >= 0), f"{what}: negative loss {loss.min()!r}"
    moved = z + np.expand_dims(shifts, axis)
    assert np.array_equal(seen(impl, moved, dtype), moved), "shifted logits must be exact"
    moved_loss = call(impl, "cross_entropy", dtype, moved, target, **kw)
    assert np.array_equal(loss, moved_loss), (
        f"{what}: adding a constant to a row changed the loss: {loss} -> {moved_loss}"
    )
    g = np.ones(loss.shape)
    grad = call(impl, "cross_entropy_backward", dtype, g, z, target, **kw)
    moved_grad = call(impl, "cross_entropy_backward", dtype, g, moved, target, **kw)
    assert np.array_equal(grad, moved_grad), f"{what}: adding a constant changed the gradient"


def cross_entropy_gradient_is_softmax_minus_one_hot(impl, dtype, z, target) -> None:
    """Unweighted, unsmoothed, summed: the gradient is softmax(z) - one_hot(y) and each row sums
    to 0 (up to the rounding of its terms)."""
    grad = call(impl, "cross_entropy_backward", dtype, np.float64(1.0), z, target, reduction="sum")
    zs = seen(impl, z, dtype)
    p = R.softmax(zs)
    hot = np.eye(z.shape[-1])[target]
    what = f"cross_entropy_backward on {impl.id}: softmax - one_hot"
    close(what, dtype, grad, p - hot, terms=p + hot)
    row_sums = np.sum(grad, axis=-1)
    close(f"{what}: row sums", dtype, row_sums, np.zeros_like(row_sums), terms=2.0)


def cross_entropy_at_extremes(impl, dtype, z, target, label_smoothing) -> None:
    """Finite losses and gradients for logits of any finite size (+-1e4, +-1e30), equal to the
    reference."""
    kw = dict(label_smoothing=label_smoothing, reduction="none")
    loss = call(impl, "cross_entropy", dtype, z, target, **kw)
    g = np.ones(loss.shape)
    grad = call(impl, "cross_entropy_backward", dtype, g, z, target, **kw)
    what = f"cross_entropy(label_smoothing={label_smoothing}) on {impl.id} at extreme logits"
    assert np.all(np.isfinite(loss)), f"{what}: loss {loss}"
    assert np.all(np.isfinite(grad)), f"{what}: gradient {grad}"
    zs = seen(impl, z, dtype)
    close(what, dtype, loss, R.cross_entropy(zs, target, **kw))
    close(
        f"{what}: gradient",
        dtype,
        grad,
        R.cross_entropy_grad(g, zs, target, **kw),
        R.cross_entropy_grad_sensitivity(g, zs, target, **kw),
    )


def label_smoothing_follows_its_formula(impl, dtype, z, target, eps, weight) -> None:
    """CE_eps(z, y) = (1 - eps) w_y CE(z, y) + (eps / C) sum_c w_c CE(z, c) per position, and,
    unweighted, equals CE with the probability targets (1 - eps) one_hot(y) + eps / C."""
    n = z.shape[-1]
    kw = {} if weight is None else {"weight": weight}
    w = np.ones(n) if weight is None else seen(impl, weight, dtype)
    smoothed = call(
        impl, "cross_entropy", dtype, z, target, label_smoothing=eps, reduction="none", **kw
    )
    per_class = [
        call(impl, "cross_entropy", dtype, z, np.full_like(target, c), reduction="none")
        for c in range(n)
    ]
    plain = np.choose(target, per_class)
    expected = (1 - eps) * w[target] * plain + eps / n * sum(w[c] * per_class[c] for c in range(n))
    what = f"cross_entropy(label_smoothing={eps}, weighted={weight is not None}) on {impl.id}"
    close(what, dtype, smoothed, expected)
    if weight is None:
        probs = (1 - eps) * np.eye(n)[target] + eps / n
        as_probs = call(impl, "cross_entropy", dtype, z, probs, reduction="none")
        close(f"{what} vs probability targets", dtype, smoothed, as_probs, terms=plain)


def ignored_targets_count_nowhere(
    impl, dtype, name, z, target, ignore_index, label_smoothing, weight
) -> None:
    """Positions with target == ignore_index count in neither the numerator nor the denominator
    (with and without smoothing and class weights): the mean and sum equal those over the kept
    positions alone, the gradient there is exactly 0, and their logits, even NaN, do not
    matter."""
    kw = {"ignore_index": ignore_index}
    if name == "cross_entropy":
        kw["label_smoothing"] = label_smoothing
    if weight is not None:
        kw["weight"] = weight
    kept = target != ignore_index
    what = f"{name}({kw}) on {impl.id}: ignored targets"
    if not kept.any():
        return
    for reduction in ("mean", "sum"):
        full = call(impl, name, dtype, z, target, reduction=reduction, **kw)
        alone = call(impl, name, dtype, z[kept], target[kept], reduction=reduction, **kw)
        close(f"{what} ({reduction})", dtype, full, alone)
    g = np.float64(1.0)
    grad = call(impl, name + "_backward", dtype, g, z, target, reduction="mean", **kw)
    assert np.all(grad[~kept] == 0), f"{what}: nonzero gradient at an ignored position"
    alone = call(impl, name + "_backward", dtype, g, z[kept], target[kept], reduction="mean", **kw)
    zs = seen(impl, z, dtype)
    terms = 0.0
    if name == "cross_entropy":
        terms = R.cross_entropy_grad_sensitivity(g, zs[kept], target[kept], reduction="mean", **kw)
    close(f"{what}: gradient", dtype, grad[kept], alone, terms=terms)
    poisoned = np.where(kept[:, None], z, np.nan)
    for reduction in ("mean", "none"):
        a = call(impl, name, dtype, z, target, reduction=reduction, **kw)
        b = call(impl, name, dtype, poisoned, target, reduction=reduction, **kw)
        assert np.array_equal(a, b, equal_nan=True), f"{what}: NaN logits at ignored positions"
    b = call(impl, name + "_backward", dtype, g, poisoned, target, reduction="mean", **kw)
    assert np.array_equal(grad, b), f"{what}: NaN logits at ignored positions, gradient"


# --- sequence cross-entropy ------------------------------------------------------------------


def sequence_padding_is_irrelevant(impl, dtype, z, target, mask, junk_z, junk_t) -> None:
    """Padded positions never influence the loss or the gradient, whatever they hold (NaN,
    inf, classes out of range): both are bitwise unchanged, and the gradient there is 0."""
    loss = call(impl, "sequence_cross_entropy", dtype, z, target, mask)
    grad = call(impl, "sequence_cross_entropy_backward", dtype, np.float64(1.0), z, target, mask)
    z2 = np.where(mask[..., None], z, junk_z)
    t2 = np.where(mask, target, junk_t)
    loss2 = call(impl, "sequence_cross_entropy", dtype, z2, t2, mask)
    grad2 = call(impl, "sequence_cross_entropy_backward", dtype, np.float64(1.0), z2, t2, mask)
    what = f"sequence_cross_entropy on {impl.id} [{dtype}]"
    assert np.array_equal(loss, loss2), f"{what}: padded contents changed the loss {loss}->{loss2}"
    assert np.array_equal(grad, grad2), f"{what}: padded contents changed the gradient"
    assert np.all(grad2[~mask] == 0), f"{what}: nonzero gradient at a padded position"
    assert np.isfinite(loss2), f"{what}: loss {loss2}"


def sequence_extra_padding_is_irrelevant(impl, dtype, z, target, mask, extra) -> None:
    """Appending padded time steps (any contents) leaves the loss and the real gradient."""
    b, t, v = z.shape
    z2 = np.concatenate([z, np.full((b, extra, v), np.nan)], axis=1)
    t2 = np.concatenate([target, np.full((b, extra), -1)], axis=1)
    m2 = np.concatenate([mask, np.zeros((b, extra), bool)], axis=1)
    loss = call(impl, "sequence_cross_entropy", dtype, z, target, mask)
    loss2 = call(impl, "sequence_cross_entropy", dtype, z2, t2, m2)
    what = f"sequence_cross_entropy on {impl.id}: {extra} extra padded steps"
    close(what, dtype, loss2, loss)
    g = np.float64(1.0)
    grad = call(impl, "sequence_cross_entropy_backward", dtype, g, z, target, mask)
    grad2 = call(impl, "sequence_cross_entropy_backward", dtype, g, z2, t2, m2)
    zs = seen(impl, z, dtype)
    terms = np.zeros_like(zs)
    if mask.any():
        terms[mask] = R.cross_entropy_grad_sensitivity(g, zs[mask], target[mask])
    close(f"{what}: gradient", dtype, grad2[:, :t], grad, terms=terms)
    assert np.all(grad2[:, t:] == 0), f"{what}: gradient at the extra steps"


def sequence_equals_cross_entropy_of_real_tokens(impl, dtype, z, target, mask) -> None:
    """With some real token: the loss is cross_entropy over the real tokens gathered, and the
    gradient is its gradient scattered back (0 elsewhere)."""
    if not mask.any():
        return
    loss = call(impl, "sequence_cross_entropy", dtype, z, target, mask)
    gathered = call(impl, "cross_entropy", dtype, z[mask], target[mask])
    what = f"sequence_cross_entropy on {impl.id}: vs cross_entropy of the real tokens"
    close(what, dtype, loss, gathered)
    g = np.float64(1.0)
    grad = call(impl, "sequence_cross_entropy_backward", dtype, g, z, target, mask)
    expected = np.zeros_like(grad)
    expected[mask] = call(impl, "cross_entropy_backward", dtype, g, z[mask], target[mask])
    terms = np.zeros_like(grad)
    terms[mask] = R.cross_entropy_grad_sensitivity(g, seen(impl, z, dtype)[mask], target[mask])
    close(f"{what}: gradient", dtype, grad, expected, terms=terms)


def sequence_without_real_tokens_is_zero(impl, dtype, z, target) -> None:
    """A batch with no real token: loss 0 and gradient 0 (documented; never NaN)."""
    mask = np.zeros(target.shape, bool)
    loss = call(impl, "sequence_cross_entropy", dtype, z, target, mask)
    grad = call(impl, "sequence_cross_entropy_backward", dtype, np.float64(1.0), z, target, mask)
    assert loss == 0 and np.all(grad == 0), f"all-padded batch on {impl.id}: {loss}, {grad}"


# --- binary cross-entropy --------------------------------------------------------------------


def bce_with_logits_is_softplus_minus_xy(impl, dtype, x, y) -> None:
    """BCE-with-logits(x, y) = softplus(x) - x y (softplus from np.logaddexp in float64), up
    to the rounding of those two terms, whose difference cancels."""
    loss = call(impl, "binary_cross_entropy_with_logits", dtype, x, y, reduction="none")
    xs, ys = seen(impl, x, dtype), seen(impl, y, dtype)
    sp = np.logaddexp(0.0, xs)
    what = f"binary_cross_entropy_with_logits on {impl.id}: softplus(x) - x y"
    close(what, dtype, loss, sp - xs * ys, terms=np.abs(sp) + np.abs(xs * ys))


def bce_with_logits_is_symmetric(impl, dtype, x, y) -> None:
    """L(x, y) = L(-x, 1 - y) and the gradient flips sign (y with 1 - y exact)."""
    name = "binary_cross_entropy_with_logits"
    a = call(impl, name, dtype, x, y, reduction="none")
    b = call(impl, name, dtype, -x, 1.0 - y, reduction="none")
    what = f"{name} on {impl.id}: L(x, y) vs L(-x, 1 - y)"
    close(what, dtype, a, b)
    g = np.ones(x.shape)
    ga = call(impl, name + "_backward", dtype, g, x, y, reduction="none")
    gb = call(impl, name + "_backward", dtype, g, -x, 1.0 - y, reduction="none")
    # the gradient (1 - y) sigma(x) - y sigma(-x) cancels where it is small: its sensitivity
    # to its inputs, |y| + |x| sigma(x) sigma(-x), bounds what each side may lose
    xs, ys = seen(impl, x, dtype), seen(impl, y, dtype)
    s = special.expit(xs)
    close(f"{what}: gradient", dtype, ga, -gb, np.abs(ys) + np.abs(xs) * s * (1 - s))


def bce_with_logits_at_extremes(impl, dtype, x, y) -> None:
    """Finite for logits of any finite size (+-1e30), 0 or inf (never NaN) at infinite logits,
    gradients finite everywhere; equal to the reference."""
    name = "binary_cross_entropy_with_logits"
    loss = call(impl, name, dtype, x, y, reduction="none")
    grad = call(impl, name + "_backward", dtype, np.ones(x.shape), x, y, reduction="none")
    what = f"{name} on {impl.id} at extreme logits"
    finite = np.isfinite(x)
    assert np.all(np.isfinite(loss[finite])), f"{what}: loss {loss}"
    assert not np.any(np.isnan(loss)), f"{what}: NaN loss {loss}"
    assert np.all(np.isfinite(grad)), f"{what}: gradient {grad}"
    xs, ys = seen(impl, x, dtype), seen(impl, y, dtype)
    close(what, dtype, loss, R.binary_cross_entropy_with_logits(xs, ys, reduction="none"))
    expected = R.binary_cross_entropy_with_logits_grad(np.ones(x.shape), xs, ys, reduction="none")
    close(f"{what}: gradient", dtype, grad, expected, terms=1.0)


def bce_clamps_log_at_minus_100(impl, dtype) -> None:
    """binary_cross_entropy's logs are clamped at -100 (torch): a certain, wrong prediction
    costs 100, a certain, right one 0; the gradient of a clamped term is 0."""
    p = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([1.0, 0.0, 0.0, 1.0])
    loss = call(impl, "binary_cross_entropy", dtype, p, y, reduction="none")
    assert np.array_equal(loss, [100.0, 100.0, 0.0, 0.0]), f"on {impl.id}: {loss}"
    grad = call(impl, "binary_cross_entropy_backward", dtype, np.ones(4), p, y, reduction="none")
    assert np.array_equal(grad, [0.0, 0.0, 1.0, -1.0]), f"gradient on {impl.id}: {grad}"


# --- contrastive and kinks -------------------------------------------------------------------


def contrastive_conventions(impl, dtype) -> None:
    """y = 0 similar: d^2 / 2; y = 1 dissimilar: max(0, margin - d)^2 / 2 (d = 1/4, margin 1);
    at d = 0 the loss is 0 or margin^2 / 2 and every gradient is 0 and finite."""
    x1 = np.array([[0.25, 0.0], [0.25, 0.0], [1.0, -2.0], [1.0, -2.0]])
    x2 = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, -2.0], [1.0, -2.0]])
    y = np.array([0, 1, 0, 1])
    loss = call(impl, "contrastive_loss", dtype, x1, x2, y, margin=1.0, reduction="none")
    assert np.array_equal(loss, [0.03125, 0.28125, 0.0, 0.5]), f"on {impl.id}: {loss}"
    g1, g2 = call(impl, "contrastive_loss_backward", dtype, np.ones(4), x1, x2, y, reduction="none")
    assert np.array_equal(g1[2:], np.zeros((2, 2))) and np.array_equal(g2[2:], np.zeros((2, 2))), (
        f"gradient at d = 0 on {impl.id}: {g1[2:]}, {g2[2:]}"
    )
    assert np.array_equal(g1[:2], [[0.25, 0.0], [-0.75, 0.0]]), f"on {impl.id}: {g1[:2]}"
    assert np.array_equal(g2, -g1), f"on {impl.id}: d/dx2 != -d/dx1"


def derivative_at_kink(impl, dtype, name, x0, y0, params, expected) -> None:
    """The documented derivative at a kink, exactly, from the backward and (torch, jax) from
    the framework's autodiff through the forward."""
    x, y = np.array([x0]), np.array([y0])
    got = call(impl, name + "_backward", dtype, np.ones(1), x, y, reduction="none", **params)
    assert got[0] == expected, f"{name}'({x0}, {y0}) on {impl.id} [{dtype}]: {got[0]}"
    fw = framework_of(impl)
    if fw is None:
        return
    xa, ya = as_backend(impl, x, dtype), as_backend(impl, y, dtype)
    f = fn(impl, name)
    if fw == "torch":
        xa.requires_grad_(True)
        f(xa, ya, reduction="sum", **params).backward()
        auto = impl.numpy(xa.grad)
    else:
        import jax

        auto = impl.numpy(jax.grad(lambda v: f(v, ya, reduction="sum", **params))(xa))
    assert auto[0] == expected, f"{name}'({x0}, {y0}) by {fw} autodiff on {impl.id}: {auto[0]}"
