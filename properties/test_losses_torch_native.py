"""torch's native cross-entropy kernels (``primitives/backends/torch_losses.py``) against the
generic ones and the reference.

The torch backend computes the cross-entropy losses as ``(m - z[y]) + log S``, composed from
torch's reductions (in blocks of rows on the CPU: ``conftest.py`` makes the blocks a row or
a few), and recomputes, with the generic kernel, the rows where that form is inaccurate (a
loss below ``CONFIDENT``). The suite's loss properties judge it through the public API (the
``torch`` id); here:

* torch's fused ``F.cross_entropy`` is shown to be inaccurate on confident rows, and the
  kernels without their recomputation (a mutant) are rejected by the reference check that
  accepts the library;
* binary cross-entropy with logits is composed from torch's kernels where every logit is
  finite (the loss) or both sigmoids are normal (the gradient); without that check (a
  mutant) it is rejected at the extreme logits the library passes, and its float32
  gradient flushes sigma(-100) to 0;
* drawn inputs (class weights, ignored targets, label smoothing, every reduction, the class
  axis anywhere, padded sequences) give the same losses and gradients as the generic kernels
  on torch, within the loss tolerance.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reference import losses as R

from . import tolerances
from .implementations import resolve
from .loss_cases import close
from .loss_gradient_checks import judge_cross_entropy_gradient
from .loss_laws import bce_with_logits_at_extremes
from .mutants import rejects

torch = pytest.importorskip("torch", reason="these are the torch backend's own kernels")

import primitives as P  # noqa: E402
from primitives import _dispatch  # noqa: E402
from primitives.backends import torch_losses  # noqa: E402

GENERIC = _dispatch.Kernels(_dispatch.kernels("torch").backend, use_native=False)
DTYPES = ("float32", "float64")
_TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64}


def confident_logits(dtype: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows whose target logit leads by 12..20: losses from 1e-4 to 1e-8."""
    lead = np.linspace(12.0, 20.0, 9)
    z = np.zeros((lead.size, 10))
    z[:, 3] = lead
    return torch.tensor(z, dtype=_TORCH_DTYPE[dtype]), torch.full((lead.size,), 3)


def test_torch_fused_cross_entropy_is_inaccurate_on_confident_rows():
    """Why the native kernels recompute confident rows: F.cross_entropy's float32 loss of
    rows with losses near 1e-6 is off by far more than the tolerance."""
    z, t = confident_logits("float32")
    expected = R.cross_entropy(z.double().numpy(), t.numpy(), reduction="none")
    fused = torch.nn.functional.cross_entropy(z, t, reduction="none").double().numpy()
    worst = np.max(np.abs(fused - expected) / expected)
    assert worst > 100 * tolerances.LOSS_RTOL["float32"], worst


@pytest.mark.parametrize("dtype", DTYPES)
def test_confident_rows_are_accurate(dtype):
    z, t = confident_logits(dtype)
    expected = R.cross_entropy(z.double().numpy(), t.numpy(), reduction="none")
    got = P.cross_entropy(z, t, reduction="none")
    close(f"cross_entropy on confident rows [{dtype}]", dtype, got.double().numpy(), expected)


def test_confident_rows_with_a_large_class_weight_are_accurate():
    """A confident row is recognised by -log p[y] itself, not by the weighted loss: w[y] = 1e6
    scales the loss past CONFIDENT but also its error (judged on the weighted loss, the row
    kept the fast form, 6% off)."""
    z = torch.zeros((1, 10))
    z[0, 3] = 16.0
    w = torch.ones(10)
    w[3] = 1e6
    t = torch.tensor([3])
    expected = R.cross_entropy(
        z.double().numpy(), t.numpy(), weight=w.double().numpy(), reduction="none"
    )
    got = P.cross_entropy(z, t, weight=w, reduction="none")
    close("weighted confident row", "float32", got.double().numpy(), expected)


@pytest.mark.parametrize("rows", [2, 8])  # 16 and 64 elements: taken whole, and in row blocks
def test_zero_weights_meet_infinite_logits_as_the_generic_kernel(rows):
    """A class weight of 0 times an infinite -log p is 0 in the generic kernel (a hard zero);
    the fast form's product is NaN, so that row is computed again."""
    z = torch.zeros((rows, 8), dtype=torch.float64)
    z[:, 2] = -math.inf  # the target of the even rows, and a class of the odd rows' smoothing
    t = torch.tensor([2 if r % 2 == 0 else 5 for r in range(rows)])
    w = torch.ones(8, dtype=torch.float64)
    w[2] = 0.0
    for smoothing in (0.0, 0.1):
        got = P.cross_entropy(z, t, weight=w, label_smoothing=smoothing, reduction="none")
        generic = GENERIC.cross_entropy(z, t, 1, -100, smoothing, w, "none")
        assert not got.isnan().any(), got
        close(
            f"zero weights, infinite logits ({smoothing})", "float64", got.numpy(), generic.numpy()
        )


@pytest.mark.parametrize("rows", [2, 8])
def test_the_backward_is_differentiable_in_grad_output_and_weight(rows):
    """With autograd recording grad_output or the class weight (not the logits), the kernels
    take the whole, differentiable path: the gradients of a weighted sum of their result
    agree with the generic kernel's."""
    gen = torch.Generator().manual_seed(rows)
    z = torch.randn((rows, 8), dtype=torch.float64, generator=gen)
    t = torch.randint(0, 8, (rows,), generator=gen)
    coefficients = torch.randn((rows, 8), dtype=torch.float64, generator=gen)

    def grads(backward):
        g = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
        w = torch.linspace(0.5, 2.0, 8, dtype=torch.float64).requires_grad_()
        (backward(g, w) * coefficients).sum().backward()
        return g.grad, w.grad

    mine = grads(lambda g, w: P.cross_entropy_backward(g, z, t, weight=w, label_smoothing=0.1))
    theirs = grads(lambda g, w: GENERIC.cross_entropy_backward(g, z, t, 1, -100, 0.1, w, "mean"))
    for a, b in zip(mine, theirs, strict=True):  # (sums of signed terms: the vector's scale)
        close("d sum(backward)", "float64", a.numpy(), b.numpy(), terms=float(b.abs().max()))
    mask = torch.ones((1, rows), dtype=torch.bool)

    def grad_of_g(backward):
        g = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
        (backward(g) * coefficients).sum().backward()
        return g.grad

    mine = grad_of_g(lambda g: P.sequence_cross_entropy_backward(g, z[None], t[None], mask)[0])
    theirs = grad_of_g(
        lambda g: GENERIC.sequence_cross_entropy_backward(g, z[None], t[None], mask)[0]
    )
    close("d sum(sequence backward)", "float64", mine.numpy(), theirs.numpy(), terms=1.0)


def test_without_recomputation_is_rejected(monkeypatch):
    """The mutant: the same kernels with no row recomputed (CONFIDENT below every loss)."""
    monkeypatch.setattr(torch_losses, "CONFIDENT", -1.0)
    table = _dispatch.Kernels(_dispatch.kernels("torch").backend)
    z, t = confident_logits("float32")
    expected = R.cross_entropy(z.double().numpy(), t.numpy(), reduction="none")
    got = table.cross_entropy(z, t, 1, -100, 0.0, None, "none")
    with pytest.raises(AssertionError, match="out of bound"):
        close("mutant", "float32", got.double().numpy(), expected)


@st.composite
def class_problems(draw):
    rows = draw(st.integers(1, 6))
    classes = draw(st.integers(2, 7))
    extra = draw(st.sampled_from([(), (3,)]))
    axis = draw(st.sampled_from([1, -1])) if extra else 1
    scale = draw(st.sampled_from([1.0, 10.0, 30.0]))
    shape = (rows, classes, *extra)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    z = scale * rng.standard_normal(shape)
    z_moved_classes = np.moveaxis(z, 1, axis) if axis == -1 else z
    target = rng.integers(0, classes, (rows, *extra))
    target[rng.random(target.shape) < 0.3] = -100
    weight = rng.uniform(0.5, 2.0, classes) if draw(st.booleans()) else None
    smoothing = draw(st.sampled_from([0.0, 0.1]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return z_moved_classes, target, axis, weight, smoothing, reduction


class _Torch:
    flushes_subnormals = False


@pytest.mark.parametrize("dtype", DTYPES)
@given(problem=class_problems())
def test_native_cross_entropy_matches_generic(dtype, problem):
    """The native and the generic kernels, each judged against the truth, not against each
    other (two wrong answers may agree, and two right ones differ by their own roundings): the
    loss against the float64 reference, the gradient in ULPs against mpmath (the bound of
    test_loss_gradient_ulps.py)."""
    z, target, axis, weight, smoothing, reduction = problem
    tz = torch.tensor(z, dtype=_TORCH_DTYPE[dtype])
    tt = torch.tensor(target)
    tw = None if weight is None else torch.tensor(weight, dtype=_TORCH_DTYPE[dtype])
    axis = axis % tz.ndim
    args = (axis, -100, smoothing, tw, reduction)
    z_seen = tz.double().numpy()
    w_seen = None if tw is None else tw.double().numpy()
    expected = R.cross_entropy(
        z_seen, target, axis=axis, label_smoothing=smoothing, weight=w_seen, reduction=reduction
    )
    native = P.cross_entropy(
        tz, tt, axis=axis, label_smoothing=smoothing, weight=tw, reduction=reduction
    )
    generic = GENERIC.cross_entropy(tz, tt, *args)
    for who, loss in (("native", native), ("generic", generic)):
        close(f"{who} cross_entropy {args[2:]}", dtype, loss.double().numpy(), expected)
    g = torch.ones(tt.shape if reduction == "none" else (), dtype=tz.dtype)
    classes = z_seen.shape[axis]
    rows_z = np.moveaxis(z_seen, axis, -1).reshape(-1, classes)
    truth = {
        "z": rows_z,
        "target": np.asarray(target).reshape(-1),
        "weight": w_seen,
        "label_smoothing": smoothing,
        "reduction": reduction,
        "g": np.ones(rows_z.shape[0]) if reduction == "none" else np.float64(1.0),
    }
    for who, table in (("native", P.cross_entropy_backward), ("generic", None)):
        if table is None:
            grad = GENERIC.cross_entropy_backward(g, tz, tt, *args)
        else:
            grad = table(
                g, tz, tt, axis=axis, label_smoothing=smoothing, weight=tw, reduction=reduction
            )
        out = np.moveaxis(grad.double().numpy(), axis, -1).reshape(-1, classes)
        label = f"{who} cross_entropy_backward {args[2:]} [{dtype}]"
        judge_cross_entropy_gradient(label, dtype, _Torch, out, truth)


@pytest.mark.parametrize("dtype", DTYPES)
@given(problem=class_problems(), seed=st.integers(0, 2**32 - 1))
def test_native_nll_loss_backward_matches_generic(dtype, problem, seed):
    """The scatter into zeros gives the generic kernel's gradient exactly (signed zeros
    aside), with class weights, ignored targets, every reduction and the class axis anywhere."""
    z, target, axis, weight, _, reduction = problem
    lp = torch.log_softmax(torch.tensor(z, dtype=_TORCH_DTYPE[dtype]), axis)
    tt = torch.tensor(target)
    tw = None if weight is None else torch.tensor(weight, dtype=lp.dtype)
    axis = axis % lp.ndim
    shape = tt.shape if reduction == "none" else ()
    g = torch.tensor(np.random.default_rng(seed).standard_normal(shape), dtype=lp.dtype)
    native = P.nll_loss_backward(g, lp, tt, axis=axis, weight=tw, reduction=reduction)
    generic = GENERIC.nll_loss_backward(g, lp, tt, axis, -100, tw, reduction)
    assert torch.equal(native, generic), (native, generic)


@pytest.mark.parametrize("dtype", DTYPES)
@given(seed=st.integers(0, 2**32 - 1), padded_nan=st.booleans())
def test_native_sequence_cross_entropy_matches_generic(dtype, seed, padded_nan):
    rng = np.random.default_rng(seed)
    z = 5 * rng.standard_normal((3, 4, 6))
    target = rng.integers(0, 6, (3, 4))
    mask = rng.random((3, 4)) < 0.7
    if padded_nan:
        z[~mask] = np.nan
        target[~mask] = 99  # out of range: padded contents must not matter
    tz = torch.tensor(z, dtype=_TORCH_DTYPE[dtype])
    tt, tm = torch.tensor(target), torch.tensor(mask)
    native = P.sequence_cross_entropy(tz, tt, tm)
    generic = GENERIC.sequence_cross_entropy(tz, tt, tm)
    close(f"native vs generic sequence loss [{dtype}]", dtype, native.double(), generic.double())
    g = torch.tensor(1.0, dtype=tz.dtype)
    native_grad = P.sequence_cross_entropy_backward(g, tz, tt, tm)
    generic_grad = GENERIC.sequence_cross_entropy_backward(g, tz, tt, tm)
    assert not native_grad.isnan().any()
    close(
        f"native vs generic sequence gradient [{dtype}]",
        dtype,
        native_grad.double().numpy(),
        generic_grad.double().numpy(),
        terms=1.0 / max(int(mask.sum()), 1),
    )


# --- binary cross-entropy with logits -----------------------------------------------------

EXTREME_LOGITS = np.array([np.inf, -np.inf, np.inf, -np.inf, 1e30, -100.0, 100.0, 0.5])
EXTREME_TARGETS = np.array([1.0, 0.0, 0.5, 0.5, 0.0, 0.0, 1.0, 0.5])


def test_torch_fused_bce_with_logits_is_inaccurate_on_confident_negatives():
    """Why the library composes its own: F.binary_cross_entropy_with_logits forms (1 - y) x -
    log sigma(x), which cancels where y = 0 and x is very negative (x = -30: the loss
    log1p(exp(-30)) = 9.4e-14 comes out 0 in float32); the library's is accurate there."""
    x, y = torch.tensor([-30.0, -10.0]), torch.tensor([0.0, 0.0])
    expected = R.binary_cross_entropy_with_logits(x.numpy(), y.numpy(), reduction="none")
    fused = torch.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none")
    worst = np.max(np.abs(fused.double().numpy() - expected) / expected)
    assert worst > 100 * tolerances.LOSS_RTOL["float32"], worst
    mine = P.binary_cross_entropy_with_logits(x, y, reduction="none")
    close("bce with logits on confident negatives", "float32", mine.double().numpy(), expected)


@pytest.mark.parametrize("dtype", DTYPES)
def test_bce_with_logits_is_accurate_at_extreme_logits(dtype):
    bce_with_logits_at_extremes(resolve("torch"), dtype, EXTREME_LOGITS, EXTREME_TARGETS)


def _bce_tail_gradient(kernels) -> np.ndarray:
    x, y = torch.tensor([-100.0, 100.0]), torch.tensor([0.0, 1.0])
    return kernels(torch.ones(2), x, y, None, None, "none").numpy()  # no weight, pos_weight


def test_bce_with_logits_gradient_keeps_subnormal_sigmoids(monkeypatch):
    """At x = -100, y = 0 (and x = 100, y = 1) the float32 gradient is +-sigma(-100) = 3.7e-44,
    a subnormal number: the library gives it rounded once; the composed kernel without its
    domain check (a mutant) gives 0, since torch's sigmoid flushes it. (The suite's gradient
    checks are relative to the gradient's scale, 1, and let that pass: shown exactly here.)"""
    table = _dispatch.Kernels(_dispatch.kernels("torch").backend)
    expected = R.binary_cross_entropy_with_logits_grad(
        np.ones(2), np.array([-100.0, 100.0]), np.array([0.0, 1.0]), reduction="none"
    ).astype(np.float32)
    assert expected[0] > 0 and np.array_equal(
        _bce_tail_gradient(table.binary_cross_entropy_with_logits_backward), expected
    )
    monkeypatch.setattr(torch_losses, "holds", lambda conditions: True)
    mutant = _dispatch.Kernels(_dispatch.kernels("torch").backend)
    assert np.array_equal(
        _bce_tail_gradient(mutant.binary_cross_entropy_with_logits_backward), [0.0, 0.0]
    )


def test_bce_with_logits_without_its_domain_check_is_rejected(monkeypatch):
    """The mutant: the composed kernels on every input (0 * inf = NaN at an infinite logit on
    the side of a hard label)."""
    monkeypatch.setattr(torch_losses, "holds", lambda conditions: True)
    rejects(
        lambda: bce_with_logits_at_extremes(
            resolve("torch"), "float32", EXTREME_LOGITS, EXTREME_TARGETS
        )
    )


def _bce_in_blocks(weighting: str, reduction: str, dtype: str) -> list[tuple[str, Any, Any]]:
    """The torch BCE-with-logits kernels and the generic ones on a 13 x 11 problem, which
    conftest.py's 24-element blocks split into six blocks and a partial seventh: (what,
    native, generic) for the loss and the gradient."""
    rng = np.random.default_rng(3)
    as_torch = partial(torch.tensor, dtype=_TORCH_DTYPE[dtype])
    x, y = as_torch(6.0 * rng.standard_normal((13, 11))), as_torch(rng.uniform(0, 1, (13, 11)))
    weights = {"none": None, "per element": (13, 11), "per class (broadcast)": (11,)}
    w = None if weights[weighting] is None else as_torch(rng.uniform(0, 3, weights[weighting]))
    g = as_torch(rng.standard_normal((13, 11)) if reduction == "none" else 1.7)
    native = _dispatch.kernels("torch")
    args = (x, y, None, w, reduction)  # no per-element weight; w is pos_weight
    return [
        (
            "loss",
            native.binary_cross_entropy_with_logits(*args),
            GENERIC.binary_cross_entropy_with_logits(*args),
        ),
        (
            "gradient",
            native.binary_cross_entropy_with_logits_backward(g, *args),
            GENERIC.binary_cross_entropy_with_logits_backward(g, *args),
        ),
    ]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighting", ["none", "per element", "per class (broadcast)"])
def test_bce_with_logits_in_blocks_matches_the_generic_kernel(weighting, reduction, dtype):
    """On the CPU the BCE-with-logits kernels run in cache-sized blocks, a reduced loss as the
    sum of each block's sum: the losses bit for bit (the generic kernel's formula, element by
    element), their sums and the gradients within rounding of the generic kernel's (relative
    to the gradient's scale: (1 - y) sigma(x) - w y sigma(-x) cancels where the terms meet)."""
    for what, native, generic in _bce_in_blocks(weighting, reduction, dtype):
        name = f"{what} ({weighting}, {reduction}) [{dtype}]"
        if what == "loss" and reduction == "none":
            assert torch.equal(native, generic), name
        terms = float(generic.abs().max()) if what == "gradient" else 0.0
        close(name, dtype, native.double().numpy(), generic.double().numpy(), terms=terms)


def test_bce_with_logits_blocks_without_the_last_one_are_rejected(monkeypatch):
    """The mutant: the blocked kernels skip the partial last block (its losses left unwritten
    or out of the sum)."""
    from primitives.backends import torch_activations

    every = torch_activations.element_blocks
    monkeypatch.setattr(torch_activations, "element_blocks", lambda *t: (every(*t) or [])[:-1])
    for reduction in ("none", "sum"):
        rejects(
            lambda r=reduction: test_bce_with_logits_in_blocks_matches_the_generic_kernel(
                "none", r, "float64"
            )
        )
