"""Differential checks of the losses against the frameworks' own: ``torch.nn.functional`` and
optax, with the conventions mapped (torch's class axis 1, optax's per-example losses and
``smooth_labels``), values and gradients (torch.autograd / jax.grad through their functions);
and the losses under ``jax.jit``/``jax.grad``/``jax.vmap`` and ``torch.autograd.gradcheck``.

Tolerance: ``LOSS_RTOL`` with, beyond the relative term, one absolute unit of roundoff per
log-probability for the frameworks' cross-entropies (they compute ``log(sum exp)`` without
``log1p``, so a small loss is accurate to an absolute, not a relative, ulp), and the rounding of
``(1 - y) x`` for torch's BCE-with-logits (it computes ``(1 - y) x - log sigmoid(x)``, which
cancels).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import primitives as P
from reference import losses as R

from . import loss_properties
from .framework_losses import OPTAX_CASES, TORCH_CASES, optax_loss, torch_loss
from .implementations import installed
from .loss_cases import (
    CASE,
    Problem,
    Run,
    close,
    draw_g,
    grad_terms,
    reference,
)

# the loss family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = loss_properties.IMPLEMENTATION_KINDS
DTYPES = loss_properties.DTYPES

# --- torch -----------------------------------------------------------------------------------


_LOG_CASES = {
    "cross_entropy",
    "cross_entropy(probabilities)",
    "sequence_cross_entropy",
    "binary_cross_entropy",
}


def _framework_terms(case_id: str, p: Problem, reduction: str, size: float) -> np.ndarray:
    """The absolute rounding the frameworks' formulas admit beyond the relative bound."""
    case = CASE[case_id]
    if not case.has_reduction:
        return np.float64(1.0)
    shape = reference(case, p, "none").shape
    if case_id in _LOG_CASES:
        extra = np.ones(shape)
    elif case_id == "binary_cross_entropy_with_logits":
        x, y = p.arrays
        extra = np.abs((1 - y) * x) + 1.0
    else:
        return np.zeros(shape) if reduction == "none" else np.float64(0.0)
    if case_id.startswith("binary"):  # their per-element weight (not a class weight)
        extra = extra * np.abs(p.kwarrays.get("weight", 1.0))
    if reduction == "none":
        return extra
    total = float(np.sum(extra))
    return np.float64(total / size if reduction == "mean" and size else total)


def _framework_grad_terms(framework: str, case_id: str, p: Problem, g, reduction: str):
    """What the frameworks' gradient formulas cancel beyond this library's: both
    cross-entropy gradients T softmax - q by subtraction (a known deviation at confident rows,
    judged against the truth in test_loss_gradient_ulps.py), torch's BCE-with-logits gradient
    sigma(x) - y (terms sigma(x) and pos_weight y), optax's huber gradient, which passes
    delta * g through |d| - min(|d|, delta) both ways."""
    if case_id in ("cross_entropy", "cross_entropy(probabilities)"):
        return R.cross_entropy_grad_subtracted_terms(
            g, *p.arrays, **p.kwarrays, **p.params, reduction=reduction
        )
    if case_id == "sequence_cross_entropy":
        z, target, mask = p.arrays
        out = np.zeros_like(z)
        if mask.any():
            out[mask] = R.cross_entropy_grad_subtracted_terms(g, z[mask], target[mask])
        return out
    if case_id not in ("binary_cross_entropy_with_logits", "huber_loss"):
        return 0.0
    x = p.arrays[0]  # elementwise losses: g has x's shape or is a scalar
    c = np.abs(np.broadcast_to(np.asarray(g, np.float64), x.shape))
    if reduction == "mean":
        c = c / x.size
    if framework == "torch" and case_id == "binary_cross_entropy_with_logits":
        w = np.abs(p.kwarrays.get("weight", 1.0))
        return c * w * (1.0 + p.kwarrays.get("pos_weight", 1.0) * p.arrays[1])
    if framework == "optax" and case_id == "huber_loss":
        return c * 2 * p.params["delta"]
    return 0.0


def matches_torch(impl, case_id: str, dtype: str, problem: Problem, reduction: str, g) -> None:
    """The loss and its gradient agree with torch.nn.functional's (values computed by torch in
    the same dtype from the same inputs; gradients by torch.autograd)."""
    import torch

    case = CASE[case_id]
    run = Run(impl, case, problem, dtype)
    ours = impl.numpy(run.forward(reduction))
    grads = [impl.numpy(a) for a in run.backward(reduction, g)]
    tdtype = getattr(torch, dtype)

    def tensor(a):
        a = np.asarray(a)
        if a.dtype.kind == "f":
            return torch.from_numpy(a.astype(dtype)).to(tdtype)
        return torch.from_numpy(a.copy())

    # torch gets what our arithmetic sees (XLA flushes subnormal inputs to zero: torch would
    # otherwise judge a different input, e.g. the sign of 1e-45 - 0 in l1_loss's gradient)
    t = [tensor(a) for a in run.seen.arrays]
    t[0].requires_grad_(True)
    kw = {k: tensor(v) for k, v in run.seen.kwarrays.items()}
    out = torch_loss(case_id, t, kw, run.seen.params, reduction)
    out.backward(torch.from_numpy(np.asarray(g, dtype)))
    theirs = out.detach().double().numpy()
    their_grads = [t[0].grad.double().numpy()]
    size = case.size(run.seen)
    what = f"{case_id}(reduction={reduction!r}) on {impl.id} vs torch.nn.functional"
    close(what, dtype, ours, theirs, _framework_terms(case_id, run.seen, reduction, size))
    g_seen = impl.numpy(impl.array(np.asarray(g, np.float64), dtype))
    terms = grad_terms(case, g_seen, run.seen, reduction)
    extra = _framework_grad_terms("torch", case_id, run.seen, g_seen, reduction)
    for i, (a, b) in enumerate(zip(grads, their_grads, strict=False)):
        close(f"{what}: gradient {i}", dtype, a, b, terms[i] + extra)


def _needs(framework: str) -> None:
    if not installed(framework):
        pytest.skip(f"{framework} is not installed")


@pytest.mark.parametrize("case_id", TORCH_CASES)
@given(data=st.data())
def test_matches_torch_functional(impl, dtype, case_id, data):
    _needs("torch")
    case = CASE[case_id]
    # probabilities away from 0 and 1, where torch's log(1 - p) and 1e-12 clamp are exact too
    smooth = case_id == "binary_cross_entropy"
    problem = data.draw(case.draw(dtype, smooth), label="problem")
    if case_id == "sequence_cross_entropy" and not problem.arrays[2].any():
        return  # torch's mean over no token is NaN; this library's is 0 (documented)
    reduction = data.draw(st.sampled_from(case.reductions), label="reduction")
    if reduction == "mean" and case.size(problem) == 0:
        reduction = "sum"  # both NaN; torch's backward then differs in what it multiplies
    g = draw_g(data, reference(case, problem, reduction).shape, reduction)
    matches_torch(impl, case_id, dtype, problem, reduction, g)


# --- optax -----------------------------------------------------------------------------------


def _optax_problem(case_id: str, p: Problem) -> Problem:
    """The problem with what optax lacks taken out: class weights, pos_weight, ignored
    targets (replaced by class 0, ignore_index set outside the classes)."""
    params = dict(p.params)
    arrays = list(p.arrays)
    if case_id == "cross_entropy":
        arrays[1] = np.where(arrays[1] == params["ignore_index"], 0, arrays[1])
        params["ignore_index"] = -100
    return Problem(tuple(arrays), {}, params)


def matches_optax(impl, case_id: str, dtype: str, problem: Problem, reduction: str, g) -> None:
    """The loss and its gradient agree with optax's (jax.vjp through optax's function)."""
    import jax
    import jax.numpy as jnp

    case = CASE[case_id]
    run = Run(impl, case, problem, dtype)
    ours = impl.numpy(run.forward(reduction))
    (grad,) = [impl.numpy(a) for a in run.backward(reduction, g)]
    arrays = [
        jnp.asarray(a, dtype=dtype) if np.asarray(a).dtype.kind == "f" else jnp.asarray(a)
        for a in run.exact.arrays
    ]
    f = optax_loss(case_id, arrays, run.exact.params, reduction)
    theirs, vjp = jax.vjp(f, arrays[0])
    (their_grad,) = vjp(jnp.asarray(g, dtype=dtype))
    what = f"{case_id}(reduction={reduction!r}) on {impl.id} vs optax"
    size = case.size(run.exact)
    terms = _framework_terms(case_id, run.exact, reduction, size)
    # XLA on the CPU flushes subnormal inputs and intermediates: each of the terms summed
    # (a row's subnormal target probabilities, whose sum T is normal) may be lost
    flushed = run.exact.arrays[0].size
    close(what, dtype, ours, np.asarray(theirs, np.float64), terms, flushed=flushed)
    g_seen = impl.numpy(impl.array(np.asarray(g, np.float64), dtype))
    (gterms,) = grad_terms(case, g_seen, run.exact, reduction)
    gterms = gterms + _framework_grad_terms("optax", case_id, run.exact, g_seen, reduction)
    their = np.asarray(their_grad, np.float64)
    close(f"{what}: gradient", dtype, grad, their, gterms, flushed=flushed)


@pytest.mark.parametrize("case_id", OPTAX_CASES)
@given(data=st.data())
def test_matches_optax(impl, dtype, case_id, data):
    _needs("optax")
    case = CASE[case_id]
    problem = _optax_problem(case_id, data.draw(case.draw(dtype, False), label="problem"))
    reduction = data.draw(st.sampled_from(case.reductions), label="reduction")
    g = draw_g(data, reference(case, problem, reduction).shape, reduction)
    matches_optax(impl, case_id, dtype, problem, reduction, g)


# --- framework integration -------------------------------------------------------------------


def test_jax_jit_grad_vmap():
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    z = jnp.asarray(rng.normal(size=(3, 4, 5)))
    t = jnp.asarray(rng.integers(0, 5, size=(3, 4)))
    mask = jnp.asarray(rng.random((3, 4)) < 0.7)
    eager = P.sequence_cross_entropy(z, t, mask)
    jitted = jax.jit(P.sequence_cross_entropy)(z, t, mask)  # value checks skipped when traced
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-14)
    grad = jax.jit(jax.grad(P.sequence_cross_entropy))(z, t, mask)
    np.testing.assert_allclose(
        np.asarray(grad), np.asarray(P.sequence_cross_entropy_backward(1.0, z, t, mask)), rtol=1e-13
    )
    per_batch = jax.vmap(lambda a, b: P.cross_entropy(a, b, reduction="sum"))(z, t)
    expected = [float(P.cross_entropy(z[i], t[i], reduction="sum")) for i in range(3)]
    np.testing.assert_allclose(np.asarray(per_batch), expected, rtol=1e-14)
    x1, x2 = jnp.asarray(rng.normal(size=(6, 3))), jnp.asarray(rng.normal(size=(6, 3)))
    y = jnp.asarray(rng.integers(0, 2, size=6))
    g1, g2 = jax.grad(lambda a, b: P.contrastive_loss(a, b, y), argnums=(0, 1))(x1, x2)
    h1, h2 = P.contrastive_loss_backward(1.0, x1, x2, y)
    np.testing.assert_allclose(np.asarray(g1), np.asarray(h1), rtol=1e-13)
    np.testing.assert_allclose(np.asarray(g2), np.asarray(h2), rtol=1e-13)


def test_torch_gradcheck_double_precision():
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(4, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    t = torch.tensor([0, 4, -100, 2])
    w = torch.rand(5, dtype=torch.float64, generator=gen) + 0.5
    assert torch.autograd.gradcheck(
        lambda v: P.cross_entropy(v, t, label_smoothing=0.1, weight=w), (z,)
    )
    x = torch.randn(6, dtype=torch.float64, generator=gen, requires_grad=True)
    y = torch.rand(6, dtype=torch.float64, generator=gen)
    assert torch.autograd.gradcheck(lambda v: P.binary_cross_entropy_with_logits(v, y), (x,))


def test_torch_training_step_with_a_loss():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 4)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    x, t = torch.randn(16, 3), torch.randint(0, 4, (16,))
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = P.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0]
