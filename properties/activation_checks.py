"""The activation properties as plain functions of (implementation, case, dtype, inputs).

The test modules drive them with Hypothesis; ``test_self.py`` drives them with deliberately
wrong implementations to show they reject them. Each raises ``AssertionError`` with a message
naming the primitive, implementation, dtype, worst index, input, expected and actual values.
"""

from __future__ import annotations

import contextlib
import math

import mpmath
import numpy as np
from hypothesis import target
from hypothesis.control import currently_in_test_context
from hypothesis.errors import InvalidArgument

from reference import mp as ref_mp

from . import tolerances
from .cases import ELEMENTWISE, ActivationCase
from .checks import FORMATS, Judged, check_vjp
from .implementations import Implementation

_BEYOND_FLOAT64 = mpmath.mpf("1e400")


def _exact(v: float):
    """An input as an mpf; +-inf becomes +-1e400 so references give the limits there."""
    if math.isinf(v):
        return _BEYOND_FLOAT64 if v > 0 else -_BEYOND_FLOAT64
    return mpmath.mpf(v)


_REFERENCE_CACHE: dict[tuple, tuple] = {}
_REFERENCE_CACHE_SIZE = 2**19


def _cached(where: tuple, compute) -> tuple:
    """``compute()``, kept per process under ``where`` (emptied when full)."""
    found = _REFERENCE_CACHE.get(where)
    if found is None:
        found = compute()
        if len(_REFERENCE_CACHE) >= _REFERENCE_CACHE_SIZE:
            _REFERENCE_CACHE.clear()
        _REFERENCE_CACHE[where] = found
    return found


def _elementwise_refs(fn, *columns: np.ndarray, key: tuple):
    """fn at each tuple of exact inputs, and its sensitivity (NaN inputs give NaN).

    ``key`` names fn (the case and direction): the values are cached per process under it,
    since the derandomized profile draws the same inputs for every implementation of a dtype
    (mpmath, not the kernels, is most of an accuracy test's time). mpmath has no signed zero,
    so -0.0 and 0.0 sharing a key give the same reference."""
    refs, sens = [], []
    for args in zip(*(c.ravel().tolist() for c in columns), strict=True):
        if any(math.isnan(a) for a in args):
            refs.append(mpmath.mpf("nan"))
            sens.append(0)
            continue
        cached = _cached((key, mpmath.mp.prec, args), lambda args=args: _point(fn, args))
        refs.append(cached[0])
        sens.append(cached[1])
    return refs, sens


def _point(fn, args: tuple) -> tuple:
    exact = [_exact(a) for a in args]
    finite = all(math.isfinite(a) for a in args)
    return fn(*exact), (ref_mp.sensitivity(fn, exact) if finite else 0)


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
    working = tolerances.working_dtype(dtype)
    tiny_w = _tiny(working)
    seen = [np.where(np.abs(a) < tiny_w, np.copysign(0.0, a), a) for a in arrays]
    scale = _magnitudes(arrays, row)
    return seen, np.maximum(tiny_w * scale, _tiny(dtype)).ravel().tolist()


def _magnitudes(arrays, row: int | None) -> np.ndarray:
    """Per element, max(1, |input|) over the inputs (infinities as 0); for a row function
    (``row``: its length), the row's sum of those: what a lost intermediate is scaled by."""
    scale = np.ones(np.shape(arrays[0]))
    for a in arrays:
        scale = np.maximum(scale, np.nan_to_num(np.abs(a), posinf=0.0))
    if row is not None:
        rows = scale.reshape(-1, row)
        scale = np.broadcast_to(rows.sum(axis=1, keepdims=True), rows.shape)
    return scale


def _report(report, direction: str) -> None:
    """Fail with the report's message, and steer Hypothesis towards larger errors (one target
    per ``direction``, so that a test may judge a forward and a backward)."""
    if report.allowed_ulps and math.isfinite(report.worst_ulps) and currently_in_test_context():
        with contextlib.suppress(InvalidArgument):  # (a test judging several layouts: the first)
            target(report.worst_ulps / report.allowed_ulps, label=f"{direction}: ULP error / bound")
    assert report.ok, report.message


def label(impl: Implementation, name: str) -> str:
    return f"{name} on {impl.id}"


def _unchanged(impl: Implementation, name: str, a, before: np.ndarray) -> None:
    assert np.array_equal(impl.numpy(a), before, equal_nan=True), (
        f"{label(impl, name)}: an input was modified"
    )


def _at(at: np.ndarray | None, *arrays: np.ndarray) -> list[np.ndarray]:
    return list(arrays) if at is None else [a.ravel()[at] for a in arrays]


def forward_ulps(
    impl: Implementation,
    case: ActivationCase,
    dtype: str,
    x: np.ndarray,
    at: np.ndarray | None = None,
    layout=None,
) -> None:
    """The forward pass is within the ULP bound of the mpmath reference at every element (of
    the flat indices ``at`` only, where given: a large array judged at a sample). ``layout``
    makes the backend array another view of the same values (see ``test_layouts.py``)."""
    _report(forward_judged(impl, case, dtype, x, at, layout).report(), "forward")


def forward_judged(
    impl: Implementation,
    case: ActivationCase,
    dtype: str,
    x: np.ndarray,
    at: np.ndarray | None = None,
    layout=None,
) -> Judged:
    """The forward pass at ``x`` beside its mpmath references (see :func:`forward_ulps`)."""
    xa = impl.array(x, dtype)
    xa = xa if layout is None else layout(xa)
    before = impl.numpy(xa)
    out = impl.call(case.name, xa, *case.params)
    _unchanged(impl, case.id, xa, before)
    x_exact, got = _at(at, before, impl.numpy(out))
    (x_seen,), zero_below = _as_computed(impl, dtype, x_exact)
    key = (case.id, "forward")
    refs, sens = _elementwise_refs(case.mp, x_exact, key=key)
    alternative = _elementwise_refs(case.mp, x_seen, key=key)[0] if zero_below is not None else None
    return Judged(
        label(impl, case.id), dtype, got, refs, {"x": x_exact}, sens, zero_below, alternative
    )


def backward_ulps(
    impl: Implementation,
    case: ActivationCase,
    dtype: str,
    g: np.ndarray,
    x: np.ndarray,
    at: np.ndarray | None = None,
    layout=None,
) -> None:
    """``<name>_backward(g, x)`` is within the ULP bound of g f'(x) (mpmath) at every element
    (``at`` and ``layout`` as in :func:`forward_ulps`)."""
    _report(backward_judged(impl, case, dtype, g, x, at, layout).report(), "backward")


def backward_judged(
    impl: Implementation,
    case: ActivationCase,
    dtype: str,
    g: np.ndarray,
    x: np.ndarray,
    at: np.ndarray | None = None,
    layout=None,
) -> Judged:
    """``<name>_backward(g, x)`` beside g f'(x) in mpmath (see :func:`backward_ulps`)."""
    xa, ga = impl.array(x, dtype), impl.array(g, dtype)
    if layout is not None:
        xa, ga = layout(xa), layout(ga)
    x_before, g_before = impl.numpy(xa), impl.numpy(ga)
    out = impl.call(case.backward, ga, xa, *case.params)
    _unchanged(impl, case.backward, xa, x_before)
    _unchanged(impl, case.backward, ga, g_before)
    x_exact, g_exact, got = _at(at, x_before, g_before, impl.numpy(out))
    (g_seen, x_seen), zero_below = _as_computed(impl, dtype, g_exact, x_exact)
    prime = case.mp_prime

    def vjp(gv, xv):
        return gv * prime(xv)

    key = (case.id, "backward")
    refs, sens = _elementwise_refs(vjp, g_exact, x_exact, key=key)
    alternative = None
    if zero_below is not None:
        # flushed x (a comparison reads a subnormal as 0) with g flushed, or with g exact (a
        # select or a negation passes a subnormal through: XLA turns g * -1 into -g): either
        alternative = [
            min(pair, key=lambda r: abs(r - o) if mpmath.isfinite(r) else math.inf)
            for pair, o in zip(
                zip(
                    _elementwise_refs(vjp, g_seen, x_seen, key=key)[0],
                    _elementwise_refs(vjp, g_exact, x_seen, key=key)[0],
                    strict=True,
                ),
                got.ravel().tolist(),
                strict=True,
            )
        ]
    inputs = {"grad_output": g_exact, "x": x_exact}
    return Judged(
        label(impl, case.backward), dtype, got, refs, inputs, sens, zero_below, alternative
    )


def row_ulps(
    impl: Implementation,
    name: str,
    dtype: str,
    x: np.ndarray,
    g: np.ndarray | None,
    closed_form: bool = False,
) -> None:
    """softmax/log_softmax (``g is None``) or their backward along the last axis, per row, in
    ULPs against mpmath, with the sensitivity of each output to every input of its row.

    The forward's sensitivity is taken numerically (2n row evaluations per entry), or for long
    rows (``closed_form``) from its closed form. The backward's is always the closed form
    (``reference.mp.*_vjp_sensitivity``: the function's own, to g and to x), never the size
    of the terms one formula subtracts: g - y sum(g) at a confident row is 1 - y, which a
    formula that subtracts loses entirely while the function is well conditioned."""
    judged = row_judged(impl, name, dtype, x, g, closed_form)
    _report(judged.report(), "rows" if g is None else "row backward")


def row_judged(
    impl: Implementation,
    name: str,
    dtype: str,
    x: np.ndarray,
    g: np.ndarray | None,
    closed_form: bool = False,
) -> Judged:
    """softmax/log_softmax or their backward beside mpmath (see :func:`row_ulps`)."""
    n = x.shape[-1]
    xa = impl.array(x, dtype)
    inputs = {"x": impl.numpy(xa)}
    if g is None:
        out = impl.call(name, xa, -1)
        forward = getattr(ref_mp, name)
        vjp_sensitivity = None

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
        flat = tuple(v for r in rows for v in r.tolist())
        cached = _cached(  # (see _elementwise_refs)
            (name, g is None, closed_form, mpmath.mp.prec, flat),
            lambda flat=flat: _row_reference(name, row_fn, vjp_sensitivity, closed_form, n, flat),
        )
        refs.extend(cached[0])
        sens.extend(cached[1])
    title = label(impl, name if g is None else name + "_backward")
    floor = None if impl.flushes_subnormals else _gradual_underflow_floor(dtype, *seen, row=n)
    return Judged(title, dtype, impl.numpy(out), refs, inputs, sens, zero_below, abs_floor=floor)


def _gradual_underflow_floor(dtype: str, *arrays: np.ndarray, row: int) -> list[float]:
    """Per element of a row function's result, the absolute error that subnormal intermediates
    may carry where the backend keeps them (IEEE gradual underflow): an entry y_j = e^(x_j - m)
    below tiny is held on the subnormal grid, off by up to half its spacing, and the backward
    scales it by g (softmax's y_0 sum_j (g_0 - g_j) y_j at the row [100, 0, 0, 0, 0] in
    float32: 4.5e-43 where the true value is 4.46e-43, 5.4 subnormal ULPs, by any float32
    formula that forms y_j). That spacing times the row's length and its sum of max(1, |input|)
    (as the flushing model's tiny, see :func:`_as_computed`); it matters only for results within
    a few hundred subnormal spacings of 0."""
    working = tolerances.working_dtype(dtype)
    spacing = _tiny(working) * 2.0 ** (1 - FORMATS[working].precision)
    return (spacing * row * _magnitudes(arrays, row)).ravel().tolist()


def _row_reference(name, row_fn, vjp_sensitivity, closed_form: bool, n: int, flat: tuple):
    """(references, sensitivities) of one row (forward, or backward where ``vjp_sensitivity``
    is given): see :func:`row_ulps`."""
    exact = [mpmath.mpf(v) for v in flat]  # the row references resolve infinities
    refs = list(row_fn(*exact))
    if not all(math.isfinite(v) for v in flat):
        return refs, [0] * n
    if vjp_sensitivity is not None:
        return refs, list(vjp_sensitivity(exact[:n], exact[n:]))
    if closed_form:
        return refs, list(getattr(ref_mp, name + "_sensitivity")(exact))
    sens = []
    for i in range(n):
        fn_i = lambda *a, i=i: row_fn(*a)[i]  # noqa: E731
        sens.append(ref_mp.sensitivity(fn_i, exact))
    return refs, sens


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


def _first_bad(what: str, good: np.ndarray, *columns: tuple[str, np.ndarray]) -> None:
    if good.all():
        return
    i = int(np.argmin(good.ravel()))
    shown = ", ".join(f"{k}={np.asarray(v).ravel()[i]!r}" for k, v in columns)
    raise AssertionError(f"{what}: {int((~good).sum())} of {good.size} element(s) wrong; {shown}")


# |f'(x)| below this: an infinite grad_output may give either infinity or NaN (f' underflows,
# or x is so near a zero of f' that the computed sign may differ: a kernel computing bfloat16
# in bfloat16 loses about 2^-8 of f''s terms there)
_AMBIGUOUS_SLOPE = 2.0**-6


def within_64_ulps(dtype: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Elementwise: ``a`` and ``b`` agree within 64 ULPs of the working precision (plus the
    dtype's smallest normal), or are equal; what "unchanged by a non-finite element elsewhere"
    allows (another code path, not a spread)."""
    eps = float(np.finfo(tolerances.working_dtype(dtype)).eps)
    tiny = 2.0 ** FORMATS[dtype].emin
    with np.errstate(invalid="ignore", over="ignore"):
        return (np.abs(a - b) <= 64 * eps * np.maximum(np.abs(a), np.abs(b)) + tiny) | (a == b)


def _unspread(what: str, dtype: str, got: np.ndarray, clean: np.ndarray, where: np.ndarray) -> None:
    """At ``where``, ``got`` (a call with non-finite grad_output elsewhere) agrees with
    ``clean`` (the same call with those elements made finite) within 64 ULPs: the non-finite
    elements did not spread. (A backend may take another path for an array holding NaN, so
    not bitwise; accuracy itself is judged by the accuracy tests.)"""
    a, b = got[where], clean[where]
    good = within_64_ulps(dtype, a, b) | (np.isnan(a) & np.isnan(b))
    _first_bad(
        f"{what}: an element of finite grad_output changed",
        good,
        ("got", a),
        ("with finite grad_output", b),
    )


def nonfinite_grad_output(
    impl: Implementation, case: ActivationCase, dtype: str, g: np.ndarray, x: np.ndarray
) -> None:
    """Non-finite grad_output through ``<name>_backward(g, x)`` (x finite):

    * g NaN gives NaN, whatever x (a NaN is never turned into a number; relu' = 0 included);
    * g = ±inf gives the infinity of sign g f'(x) (f' in mpmath), and NaN where f'(x) = 0
      exactly (IEEE 754: 0 · inf is NaN); where |f'(x)| < 2^-6 either;
    * the elements of finite g come out as with no non-finite element in the array.
    """
    xa, ga = impl.array(x, dtype), impl.array(g, dtype)
    out = impl.numpy(impl.call(case.backward, ga, xa, *case.params))
    g_exact, x_exact = impl.numpy(ga), impl.numpy(xa)
    expected = np.full(out.shape, np.nan)
    either = np.zeros(out.shape, dtype=bool)
    for i, (gv, xv) in enumerate(zip(g_exact.ravel(), x_exact.ravel(), strict=True)):
        if math.isinf(gv):
            slope = case.mp_prime(_exact(xv))
            if slope != 0:
                expected.flat[i] = math.copysign(math.inf, gv) * (1 if slope > 0 else -1)
                either.flat[i] = abs(slope) < _AMBIGUOUS_SLOPE
    bad_g = ~np.isfinite(g_exact)
    with np.errstate(invalid="ignore"):
        good = (
            ~bad_g
            | (np.isnan(expected) & np.isnan(out))
            | (out == expected)
            | (either & ~np.isfinite(out))
        )
    what = f"{label(impl, case.backward)} [{dtype}], non-finite grad_output"
    _first_bad(
        what, good, ("grad_output", g_exact), ("x", x_exact), ("expected", expected), ("got", out)
    )
    if bad_g.any() and (~bad_g).any():
        clean_g = impl.array(np.where(bad_g, 1.0, g), dtype)
        clean = impl.numpy(impl.call(case.backward, clean_g, xa, *case.params))
        _unspread(what, dtype, out, clean, ~bad_g)


def row_nonfinite_grad_output(
    impl: Implementation, name: str, dtype: str, x: np.ndarray, g: np.ndarray
) -> None:
    """softmax/log_softmax backward along the last axis of a 2-d ``x`` (finite): a row of
    grad_output holding a NaN gives NaN throughout; one holding an infinity (and no NaN) gives
    no finite element (g_j - <g, y> or g_j - y_j sum(g) is -inf, or NaN where y_j = 0 or at the
    infinity itself); the rows of finite grad_output come out as with none in the array."""
    xa, ga = impl.array(x, dtype), impl.array(g, dtype)
    out = impl.call(name + "_backward", ga, xa, -1)
    g_exact, got = impl.numpy(ga), impl.numpy(out)
    nan_rows = np.isnan(g_exact).any(axis=-1)
    inf_rows = np.isinf(g_exact).any(axis=-1) & ~nan_rows
    good = np.ones(got.shape, dtype=bool)
    good[nan_rows] = np.isnan(got[nan_rows])
    good[inf_rows] = ~np.isfinite(got[inf_rows])
    what = f"{label(impl, name + '_backward')} [{dtype}], non-finite grad_output"
    _first_bad(what, good, ("grad_output", np.broadcast_to(g_exact, got.shape)), ("got", got))
    finite_rows = ~(nan_rows | inf_rows)
    if finite_rows.any():
        clean_g = impl.array(np.where(np.isfinite(g), g, 1.0), dtype)
        clean = impl.numpy(impl.call(name + "_backward", clean_g, xa, -1))
        _unspread(what, dtype, got, clean, finite_rows)


KINK_CONVENTIONS = [
    # (case id, x at the kink, derivative there) as documented and as torch and jax do
    ("relu", 0.0, 0.0),
    ("relu", -0.0, 0.0),
    ("leaky_relu(0.01)", 0.0, 0.01),
    ("leaky_relu(0.2)", 0.0, 0.2),
    ("elu(0.5)", 0.0, 0.5),
    ("elu(1.0)", 0.0, 1.0),
]


def derivative_at_kink(impl: Implementation, dtype: str, case_id: str, x0: float, expected) -> None:
    """The backward of the case ``case_id`` at the kink ``x0`` (grad_output 1) is exactly
    ``expected`` in the dtype: the documented convention of ``KINK_CONVENTIONS``."""
    case = next(c for c in ELEMENTWISE if c.id == case_id)
    out = impl.numpy(
        impl.call(
            case.backward,
            impl.array(np.ones(1), dtype),
            impl.array(np.array([x0]), dtype),
            *case.params,
        )
    )
    exact = impl.numpy(impl.array(np.array([expected]), dtype))
    assert out[0] == exact[0], f"{case_id}'({x0}) on {impl.id} [{dtype}]: {out[0]} != {exact[0]}"
