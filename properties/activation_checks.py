"""The activation properties as plain functions of (implementation, case, dtype, inputs).

The test modules drive them with Hypothesis; ``test_self.py`` drives them with deliberately
wrong implementations to show they reject them. Each raises ``AssertionError`` with a message
naming the primitive, implementation, dtype, worst index, input, expected and actual values.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np
from hypothesis import target
from hypothesis.control import currently_in_test_context

from reference import mp as ref_mp

from . import tolerances
from .cases import ActivationCase
from .checks import FORMATS, check_ulps, check_vjp
from .implementations import Implementation

_BEYOND_FLOAT64 = mpmath.mpf("1e400")


def _exact(v: float):
    """An input as an mpf; +-inf becomes +-1e400 so references give the limits there."""
    if math.isinf(v):
        return _BEYOND_FLOAT64 if v > 0 else -_BEYOND_FLOAT64
    return mpmath.mpf(v)


def _elementwise_refs(fn, *columns: np.ndarray):
    """fn at each tuple of exact inputs, and its sensitivity (NaN inputs give NaN)."""
    refs, sens = [], []
    for args in zip(*(c.ravel().tolist() for c in columns), strict=True):
        if any(math.isnan(a) for a in args):
            refs.append(mpmath.mpf("nan"))
            sens.append(0)
            continue
        exact = [_exact(a) for a in args]
        refs.append(fn(*exact))
        finite = all(math.isfinite(a) for a in args)
        sens.append(ref_mp.sensitivity(fn, exact) if finite else 0)
    return refs, sens


def _tiny(dtype: str) -> float:
    """Smallest normal number of ``dtype``."""
    return 2.0 ** FORMATS[dtype].emin


def _as_computed(impl: Implementation, dtype: str, *arrays: np.ndarray, row: int | None = None):
    """Inputs as the implementation's arithmetic sees them, and for each element the magnitude
    below which a flushed result of 0 is accepted (None for IEEE gradual underflow).

    Where the backend flushes subnormals (XLA on the CPU), subnormal inputs of the working
    precision are zero in arithmetic (but not in a select, so results are judged against the
    references at both the flushed and the exact inputs), and any result that involved a
    subnormal intermediate may be 0: x * sigma(x) is lost when sigma(x) < tiny, so results
    below tiny * max(1, |inputs|) may be flushed. A row function's result (``row``: the row
    length) is formed from its whole row: there the bound is tiny times the row's sum of
    those magnitudes (log_softmax's backward g_j - y_j sum(g) is 0 where y_j = e^-88 flushes).
    """
    if not impl.flushes_subnormals:
        return arrays, None
    working = tolerances.WORKING_DTYPE.get(dtype, dtype)
    tiny_w = _tiny(working)
    seen = [np.where(np.abs(a) < tiny_w, np.copysign(0.0, a), a) for a in arrays]
    scale = np.ones_like(arrays[0])
    for a in arrays:
        scale = np.maximum(scale, np.nan_to_num(np.abs(a), posinf=0.0))
    if row is not None:
        rows = scale.reshape(-1, row)
        scale = np.broadcast_to(rows.sum(axis=1, keepdims=True), rows.shape)
    return seen, np.maximum(tiny_w * scale, _tiny(dtype)).ravel().tolist()


def _report(report) -> None:
    if report.allowed_ulps and math.isfinite(report.worst_ulps) and currently_in_test_context():
        target(report.worst_ulps / report.allowed_ulps, label="worst ULP error / bound")
    assert report.ok, report.message


def label(impl: Implementation, name: str) -> str:
    return f"{name} on {impl.id}"


def forward_ulps(impl: Implementation, case: ActivationCase, dtype: str, x: np.ndarray) -> None:
    """The forward pass is within the ULP bound of the mpmath reference at every element."""
    xa = impl.array(x, dtype)
    out = impl.call(case.name, xa, *case.params)
    x_exact = impl.numpy(xa)
    (x_seen,), zero_below = _as_computed(impl, dtype, x_exact)
    refs, sens = _elementwise_refs(case.mp, x_exact)
    alternative = _elementwise_refs(case.mp, x_seen)[0] if zero_below is not None else None
    _report(
        check_ulps(
            label(impl, case.id),
            dtype,
            impl.numpy(out),
            refs,
            {"x": x_exact},
            sens,
            zero_below=zero_below,
            alternative=alternative,
        )
    )


def backward_ulps(
    impl: Implementation, case: ActivationCase, dtype: str, g: np.ndarray, x: np.ndarray
) -> None:
    """``<name>_backward(g, x)`` is within the ULP bound of g f'(x) (mpmath) at every element."""
    xa, ga = impl.array(x, dtype), impl.array(g, dtype)
    out = impl.call(case.backward, ga, xa, *case.params)
    x_exact, g_exact = impl.numpy(xa), impl.numpy(ga)
    (g_seen, x_seen), zero_below = _as_computed(impl, dtype, g_exact, x_exact)
    prime = case.mp_prime

    def vjp(gv, xv):
        return gv * prime(xv)

    refs, sens = _elementwise_refs(vjp, g_exact, x_exact)
    alternative = _elementwise_refs(vjp, g_seen, x_seen)[0] if zero_below is not None else None
    _report(
        check_ulps(
            label(impl, case.backward),
            dtype,
            impl.numpy(out),
            refs,
            {"grad_output": g_exact, "x": x_exact},
            sens,
            zero_below=zero_below,
            alternative=alternative,
        )
    )


def row_ulps(
    impl: Implementation,
    name: str,
    dtype: str,
    x: np.ndarray,
    g: np.ndarray | None,
    closed_form: bool = False,
):
    """softmax/log_softmax (``g is None``) or their backward along the last axis, per row, in
    ULPs against mpmath, with the sensitivity of each output to every input of its row.

    The forward's sensitivity is taken numerically (2n row evaluations per entry), or for long
    rows (``closed_form``) from its closed form. The backward's is always the closed form
    (``reference.mp.*_vjp_sensitivity``: the function's own, to g and to x), never the size
    of the terms one formula subtracts: g - y sum(g) at a confident row is 1 - y, which a
    formula that subtracts loses entirely while the function is well conditioned."""
    n = x.shape[-1]
    xa = impl.array(x, dtype)
    inputs = {"x": impl.numpy(xa)}
    if g is None:
        out = impl.call(name, xa, -1)
        forward = getattr(ref_mp, name)

        def row_fn(*row):
            return forward(row)
    else:
        ga = impl.array(g, dtype)
        out = impl.call(name + "_backward", ga, xa, -1)
        inputs = {"grad_output": impl.numpy(ga), **inputs}
        vjp = getattr(ref_mp, name + "_vjp")
        vjp_sensitivity = getattr(ref_mp, name + "_vjp_sensitivity")

        def row_fn(*gx):
            return vjp(gx[:n], gx[n:])

    seen, zero_below = _as_computed(impl, dtype, *inputs.values(), row=n)
    columns = [c.reshape(-1, n) for c in seen]
    refs, sens = [], []
    for rows in zip(*columns, strict=True):
        flat = [v for r in rows for v in r.tolist()]
        exact = [mpmath.mpf(v) for v in flat]  # the row references resolve infinities
        refs.extend(row_fn(*exact))
        finite = all(math.isfinite(v) for v in flat)
        if not finite:
            sens.extend([0] * n)
        elif g is not None:
            sens.extend(vjp_sensitivity(exact[:n], exact[n:]))
        elif closed_form:
            sens.extend(getattr(ref_mp, name + "_sensitivity")(exact))
        else:
            for i in range(n):
                fn_i = lambda *a, i=i: row_fn(*a)[i]  # noqa: E731
                sens.append(ref_mp.sensitivity(fn_i, exact))
    title = label(impl, name if g is None else name + "_backward")
    _report(check_ulps(title, dtype, impl.numpy(out), refs, inputs, sens, zero_below=zero_below))


def backward_finite_differences(
    impl: Implementation, name: str, params: tuple, g: np.ndarray, x: np.ndarray
) -> None:
    """In float64, ``<name>_backward(g, x)`` agrees with Richardson-extrapolated central
    differences of the implementation's own forward pass."""

    def f(v: np.ndarray) -> np.ndarray:
        return impl.numpy(impl.call(name, impl.array(v, "float64"), *params))

    analytic = impl.numpy(
        impl.call(name + "_backward", impl.array(g, "float64"), impl.array(x, "float64"), *params)
    )
    report = check_vjp(f"{name}{params} on {impl.id} [float64]", f, analytic, g, x)
    assert report.ok, report.message


def close(
    what: str,
    dtype: str,
    actual: np.ndarray,
    expected: np.ndarray,
    inputs: dict,
    rtol: float | None = None,
    scale: np.ndarray | float = 0.0,
) -> None:
    """|actual - expected| <= rtol (max(|actual|, |expected|) + scale), NaN only against NaN.

    ``scale`` is the magnitude of the terms a result is formed from (e.g. |g| max(1, |x|) for
    a backward, or |softplus(x)| + |softplus(-x)| for their difference): where those cancel, a
    purely relative bound would demand more than any implementation can give.
    """
    rtol = tolerances.DIFFERENTIAL_RTOL[dtype] if rtol is None else rtol
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    with np.errstate(invalid="ignore"):
        err = np.abs(actual - expected)
        allowed = rtol * (np.maximum(np.abs(actual), np.abs(expected)) + scale)
        bad = ~((err <= allowed) | (actual == expected) | (np.isnan(actual) & np.isnan(expected)))
    if bad.any():
        i = int(np.argmax(bad.ravel()))
        shown = ", ".join(f"{k}={np.asarray(v).ravel()[i]!r}" for k, v in inputs.items())
        raise AssertionError(
            f"{what} [{dtype}]: {int(bad.sum())} element(s) differ; first at flat index {i}: "
            f"{shown}; expected {expected.ravel()[i]!r}, got {actual.ravel()[i]!r}, abs error "
            f"{err.ravel()[i]:.3g} (allowed {np.broadcast_to(allowed, err.shape).ravel()[i]:.3g},"
            f" rtol {rtol:g})"
        )
