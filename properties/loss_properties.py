"""The loss properties of ``test_losses.py`` (and ``test_losses_low_precision.py``): plain
functions of (implementation, case, dtype, problem) so that ``test_losses_self.py`` can feed them
deliberately wrong losses. Values and gradients in ULPs against mpmath, bounded by the
function's own sensitivity (``properties/loss_ulps.py``); against the float64 references;
gradients against finite differences and the frameworks' autodiff; the mean over a batch
against its mini-batches; dtype preservation and untouched inputs. An implementation's ``ops``
must offer the public functions of :mod:`primitives.losses` (the library's own module does).

Also the loss family's collection filter (``IMPLEMENTATION_KINDS``, ``DTYPES``: see
``properties/conftest.py``), which the loss test modules take.
"""

from __future__ import annotations

import numpy as np

from reference import losses as R

from .checks import check_vjp, fold_cotangent
from .implementations import PUBLIC_API, Implementation, framework_of
from .loss_cases import (
    LOSS_DTYPES,
    LossCase,
    Problem,
    Run,
    backward_judged,
    backward_run,
    close,
    dtype_name,
    grad_terms,
    loss_judged,
    reference,
    reference_grad,
)

# judged through the public API (torch's native cross-entropy kernels are compared with the
# generic ones in test_losses_torch_native.py); the frameworks' own losses are compared with
# the library in test_losses_frameworks.py and measured by the atlas, not judged here
IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = LOSS_DTYPES


def loss_matches_reference(
    impl: Implementation, case: LossCase, dtype: str, problem: Problem, reduction: str
) -> None:
    """The loss agrees with the float64 reference (relative bound, see LOSS_RTOL), keeps the
    prediction's dtype, has the reduction's shape and leaves its inputs unchanged."""
    run = Run(impl, case, problem, dtype)
    out = run.forward(reduction)
    what = f"{case.id}(reduction={reduction!r}) on {impl.id}"
    assert dtype_name(out) == dtype, f"{what}: dtype {out.dtype}, expected {dtype}"
    run.check_unchanged()
    expected = reference(case, run.seen, reduction)
    terms = 0.0
    if case.id == "contrastive_loss":  # margin - d cancels: its rounding scales with margin + d
        x1, x2, y = run.seen.arrays
        d = np.linalg.norm(x1 - x2, axis=-1)
        m = run.seen.params["margin"]
        terms = R.reduce(y * np.maximum(m - d, 0.0) * (m + d), reduction)
    # a flushing backend (XLA) may flush each summed term that falls below tiny
    flushed = run.seen.arrays[0].size if impl.flushes_subnormals else 1
    close(what, dtype, impl.numpy(out), expected, terms, flushed=flushed)


def backward_matches_reference(
    impl: Implementation,
    case: LossCase,
    dtype: str,
    problem: Problem,
    reduction: str,
    g: np.ndarray,
) -> None:
    """``<name>_backward`` agrees with the reference gradient, with the prediction's dtype."""
    run, grads, g_seen = backward_run(impl, case, dtype, problem, reduction, g)
    expected = reference_grad(case, g_seen, run.seen, reduction)
    terms = grad_terms(case, g_seen, run.seen, reduction)
    for i, (a, e, t) in enumerate(zip(grads, expected, terms, strict=True)):
        what = f"{case.id}_backward(reduction={reduction!r}) on {impl.id}, gradient {i}"
        assert dtype_name(a) == dtype, f"{what}: dtype {a.dtype}, expected {dtype}"
        close(what, dtype, impl.numpy(a), e, t)


def loss_ulps(
    impl: Implementation, case: LossCase, dtype: str, problem: Problem, reduction: str
) -> None:
    """The loss within the ULP bound of mpmath, by the function's sensitivity
    (:func:`properties.loss_cases.loss_judged`)."""
    report = loss_judged(impl, case, dtype, problem, reduction).report()
    assert report.ok, report.message


def backward_ulps(
    impl: Implementation,
    case: LossCase,
    dtype: str,
    problem: Problem,
    reduction: str,
    g: np.ndarray,
) -> None:
    """Each gradient within the ULP bound of mpmath, by the function's sensitivity to every
    floating input and grad_output (:func:`properties.loss_cases.backward_judged`)."""
    for judged in backward_judged(impl, case, dtype, problem, reduction, g):
        report = judged.report()
        assert report.ok, report.message


def backward_matches_finite_differences(
    impl: Implementation, case: LossCase, problem: Problem, reduction: str, g: np.ndarray
) -> None:
    """In float64, the backward agrees with finite differences of the implementation's own
    forward, for each prediction."""
    run = Run(impl, case, problem, "float64")
    grads = run.backward(reduction, g)
    for i in range(case.n_pred):

        def f(v, i=i):
            args = list(run.args)
            args[i] = impl.array(v, "float64")
            return impl.numpy(run.forward(reduction, args))

        x = run.exact.arrays[i]
        folded, ones = fold_cotangent(f, g, x)
        report = check_vjp(
            f"{case.id}_backward(reduction={reduction!r}) on {impl.id}, gradient {i} [float64]",
            folded,
            impl.numpy(grads[i]),
            ones,
            x,
        )
        assert report.ok, report.message


def backward_matches_autodiff(
    impl: Implementation,
    case: LossCase,
    dtype: str,
    problem: Problem,
    reduction: str,
    g: np.ndarray,
) -> None:
    """On torch and jax, the framework's autodiff through the forward equals the backward."""
    fw = framework_of(impl)
    run = Run(impl, case, problem, dtype)
    ga = impl.array(np.asarray(g, np.float64), dtype)
    n = case.n_pred
    if fw == "torch":
        preds = [a.detach().clone().requires_grad_(True) for a in run.args[:n]]
        run.forward(reduction, preds + run.args[n:]).backward(ga)
        auto = [p.grad for p in preds]
    else:
        import jax

        def loss(*preds):
            return run.forward(reduction, list(preds) + run.args[n:])

        _, vjp = jax.vjp(loss, *run.args[:n])
        auto = vjp(ga)
    grads = run.backward(reduction, g)
    terms = grad_terms(case, run.as_computed(impl.numpy(ga)), run.seen, reduction)
    # a flushing backend (XLA) flushes an intermediate of the autodiff chain below tiny, which
    # the later factors (2 from d(x^2), grad_output) scale back up: contrastive's
    # 0.5 (g / n) 2 (x1 - x2) at x1 - x2 = 6 tiny, n = 4 gives 0 for 1.5 tiny
    flushed = 4 * max(1.0, float(np.max(np.abs(g)))) if impl.flushes_subnormals else 1
    for i, (a, h, t) in enumerate(zip(grads, auto, terms, strict=True)):
        what = f"{case.id}(reduction={reduction!r}) on {impl.id}: {fw} autodiff, gradient {i}"
        close(what, dtype, impl.numpy(h), impl.numpy(a), t, flushed=flushed)


def split(case: LossCase, p: Problem, k: int) -> list[Problem]:
    """The problem's rows [:k] and [k:] along the leading (batch) axis."""
    parts = []
    for sl in (slice(None, k), slice(k, None)):
        arrays = tuple(a[sl] for a in p.arrays)
        kw = {
            name: (v[sl] if v.shape == p.arrays[0].shape else v) for name, v in p.kwarrays.items()
        }
        parts.append(Problem(arrays, kw, p.params))
    return parts


def mean_gradient_is_weighted_average(
    impl: Implementation, case: LossCase, dtype: str, problem: Problem, k: int
) -> None:
    """For ``reduction="mean"``, the gradient over a batch equals the size-weighted average of
    the gradients over a partition into two mini-batches (size = the mean's denominator)."""
    run = Run(impl, case, problem, dtype)
    size = case.size(run.exact)
    if size == 0:
        return
    full = [impl.numpy(a) for a in run.backward("mean", 1.0)]
    pieces = []
    for part in split(case, problem, k):
        part_run = Run(impl, case, part, dtype)
        grads = part_run.backward("mean", 1.0)
        pieces.append([case.size(part_run.exact) * impl.numpy(a) for a in grads])
    terms = grad_terms(case, np.float64(1.0), run.seen, "mean")
    for i in range(case.n_pred):
        combined = np.concatenate([p[i] for p in pieces], axis=0) / size
        what = f"{case.id} on {impl.id}: mean gradient vs mini-batches [:{k}], [{k}:], grad {i}"
        close(what, dtype, combined, full[i], 2 * terms[i])


def loss_shape(case: LossCase, problem: Problem, reduction: str) -> tuple[int, ...]:
    return reference(case, problem, reduction).shape
