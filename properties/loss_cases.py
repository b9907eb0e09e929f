"""The losses as the suite poses them: one record per loss (:class:`LossCase`: its public
function, its Hypothesis strategy, its float64 reference and gradient, the mean's denominator,
its gradients' rounding terms), a problem (:class:`Problem`) run on an implementation
(:class:`Run`: backend arrays, the exact values they hold, what a flushing backend computes
with), and the comparisons the loss properties and the accuracy atlas both use: :func:`close`
against a float64 reference, :func:`loss_judged` and :func:`backward_judged` against mpmath in
ULPs (``properties.loss_ulps``).

``properties/loss_properties.py`` holds the properties (``test_losses.py`` runs them);
``properties.atlas.losses`` measures the same comparisons over a grid of inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference import losses as R

from . import loss_ulps as mp_judge
from . import strategies as S
from . import tolerances
from .checks import FORMATS, Judged
from .checks.bounds import assert_close
from .implementations import Implementation

LOSS_DTYPES = ("float32", "float64")

# --- implementations and arrays --------------------------------------------------------------


def as_backend(impl: Implementation, a: np.ndarray, dtype: str) -> Any:
    a = np.asarray(a)
    return impl.array(a, dtype) if a.dtype.kind == "f" else impl.exact(a)


def dtype_name(x: Any) -> str:
    return str(x.dtype).rsplit(".", 1)[-1]


def fn(impl: Implementation, name: str) -> Callable:
    return getattr(impl.ops, name)


# --- problems and cases ----------------------------------------------------------------------


class Problem(NamedTuple):
    """One loss evaluation: ``arrays`` in positional order (the first ``n_pred`` of the case are
    the predictions), floating keyword arrays (``weight``, ``pos_weight``) and parameters."""

    arrays: tuple[np.ndarray, ...]
    kwarrays: dict[str, np.ndarray]
    params: dict[str, Any]


class LossCase(NamedTuple):
    id: str
    name: str  # public function; its backward is name + "_backward"
    draw: Callable[[str, bool], st.SearchStrategy]  # (dtype, smooth) -> Problem
    reference: Callable
    reference_grad: Callable
    size: Callable[[Problem], float]  # the mean's denominator
    # (g, problem, reduction) -> what the gradients may lose beyond their own size (see
    # tolerances.LOSS_RTOL): the cross-entropy family's sensitivity, the others' term sizes
    terms: Callable | None = None
    n_pred: int = 1
    reductions: tuple[str, ...] = ("none", "mean", "sum")

    @property
    def has_reduction(self) -> bool:
        return self.reductions != ("mean",)


class Run:
    """A problem on one implementation: the backend arrays, the exact values they hold (what
    the references see), and a check that the call left them unchanged."""

    def __init__(self, impl: Implementation, case: LossCase, problem: Problem, dtype: str):
        self.impl, self.case, self.dtype = impl, case, dtype
        self.args = [as_backend(impl, a, dtype) for a in problem.arrays]
        self.kwargs = {k: as_backend(impl, v, dtype) for k, v in problem.kwarrays.items()}
        exact = [self._numpy(a, orig) for a, orig in zip(self.args, problem.arrays, strict=True)]
        kw = {k: self._numpy(v, problem.kwarrays[k]) for k, v in self.kwargs.items()}
        self.exact = Problem(tuple(exact), kw, dict(problem.params))
        self.params = dict(problem.params)
        # what the arithmetic sees: XLA on the CPU flushes subnormal inputs to zero
        self.seen = Problem(
            tuple(self.as_computed(a) for a in exact),
            {k: self.as_computed(v) for k, v in kw.items()},
            self.params,
        )

    def as_computed(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a)
        if a.dtype.kind != "f" or not self.impl.flushes_subnormals:
            return a
        tiny = np.finfo(tolerances.working_dtype(self.dtype)).tiny  # (where it computes)
        return np.where(np.abs(a) < tiny, np.copysign(0.0, a), a)

    def _numpy(self, a: Any, orig: np.ndarray) -> np.ndarray:
        if np.asarray(orig).dtype.kind == "f":
            return self.impl.numpy(a)
        return np.array(orig)

    def _reduction(self, reduction: str) -> dict:
        return {"reduction": reduction} if self.case.has_reduction else {}

    def forward(self, reduction: str, args: list | None = None) -> Any:
        f = fn(self.impl, self.case.name)
        return f(*(args or self.args), **self.kwargs, **self.params, **self._reduction(reduction))

    def backward(self, reduction: str, g: np.ndarray) -> tuple[Any, ...]:
        f = fn(self.impl, self.case.name + "_backward")
        ga = self.impl.array(np.asarray(g, dtype=np.float64), self.dtype)
        out = f(ga, *self.args, **self.kwargs, **self.params, **self._reduction(reduction))
        return out if isinstance(out, tuple) else (out,)

    def check_unchanged(self) -> None:
        for i, (a, before) in enumerate(zip(self.args, self.exact.arrays, strict=True)):
            after = self._numpy(a, before)
            assert np.array_equal(after, before, equal_nan=before.dtype.kind == "f"), (
                f"{self.case.id} on {self.impl.id}: input {i} was modified"
            )


def reference(case: LossCase, p: Problem, reduction: str) -> np.ndarray:
    red = {"reduction": reduction} if case.has_reduction else {}
    return np.asarray(case.reference(*p.arrays, **p.kwarrays, **p.params, **red), np.float64)


def reference_grad(case: LossCase, g, p: Problem, reduction: str) -> tuple[np.ndarray, ...]:
    red = {"reduction": reduction} if case.has_reduction else {}
    out = case.reference_grad(g, *p.arrays, **p.kwarrays, **p.params, **red)
    return out if isinstance(out, tuple) else (out,)


def grad_terms(case: LossCase, g, p: Problem, reduction: str) -> tuple[np.ndarray, ...]:
    shapes = [a.shape for a in p.arrays[: case.n_pred]]
    if case.terms is None:
        return tuple(np.zeros(s) for s in shapes)
    out = case.terms(g, p, reduction)
    return out if isinstance(out, tuple) else (out,)


def close(
    what: str,
    dtype: str,
    actual,
    expected,
    terms=0.0,
    rtol: float | None = None,
    flushed: float = 1,
) -> None:
    """:func:`properties.checks.bounds.close_elements` at every element, ``rtol`` the working
    precision's ``LOSS_RTOL`` unless given: |actual - expected| <= rtol (max(|actual|,
    |expected|) + terms) + flushed * tiny, ``expected`` first rounded to ``dtype`` (an
    overflowing true value expects inf), ``flushed`` the terms of a sum that may each have been
    flushed to 0; NaN only against NaN, an infinity only against the same infinity; a
    float16/bfloat16 result the correct rounding of a value within the float32 bound."""
    rtol = tolerances.LOSS_RTOL[tolerances.working_dtype(dtype)] if rtol is None else rtol
    assert_close(what, dtype, actual, expected, rtol, terms, flushed)


def draw_g(data, shape: tuple[int, ...], reduction: str) -> np.ndarray:
    if reduction != "none":
        return np.float64(data.draw(st.sampled_from([1.0, -0.5, 2.0]), label="g"))
    # no subnormal cotangents: finite differences of g * f underflow there
    values = st.floats(-2, 2).map(lambda v: 0.0 if abs(v) < 1e-3 else v)
    return data.draw(S.arrays("float64", shape, values), label="g")


# --- strategies ------------------------------------------------------------------------------


def _inside(dtype: str, lo: float, hi: float) -> tuple[float, float]:
    """[lo, hi] shrunk to the nearest values representable in ``dtype``."""
    t = np.dtype(dtype).type
    big = float(np.finfo(t).max)  # (float16: 65504)
    a, b = t(max(lo, -big)), t(min(hi, big))
    a = a if float(a) >= lo else np.nextafter(a, t(np.inf))
    b = b if float(b) <= hi else np.nextafter(b, t(-np.inf))
    return float(a), float(b)


def float_arrays(dtype: str, shape, lo: float, hi: float):
    return S.arrays(dtype, shape, S.values(dtype, *_inside(dtype, lo, hi)))


def int_arrays(shape, lo: int, hi: int):
    return hnp.arrays(np.int64, shape, elements=st.integers(lo, hi))


def bool_arrays(shape):
    return hnp.arrays(np.bool_, shape)


ELEMENTWISE_SHAPES = [(5,), (2, 3), (2, 2, 3)]


@st.composite
def _pair(draw, dtype, smooth, kinks=(), lo=-10.0, hi=10.0):
    """(input, target) with input - target off ``kinks`` when smooth (by construction), and
    with some exact ties (input == target) otherwise."""
    shape = draw(st.sampled_from(ELEMENTWISE_SHAPES))
    y = draw(float_arrays(dtype, shape, lo, hi))
    if smooth:
        offsets = draw(S.arrays("float64", shape, S.off_kinks(kinks, radius=5.0)))
        return y + offsets, y
    x = draw(float_arrays(dtype, shape, lo, hi))
    ties = draw(bool_arrays(shape))
    return np.where(ties, y, x), y


@st.composite
def draw_mse(draw, dtype, smooth):
    x, y = draw(_pair(dtype, smooth))
    return Problem((x, y), {}, {})


@st.composite
def draw_l1(draw, dtype, smooth):
    x, y = draw(_pair(dtype, smooth, kinks=(0.0,)))
    return Problem((x, y), {}, {})


@st.composite
def draw_huber(draw, dtype, smooth, whole_domain=False):
    delta = draw(S.magnitudes(1e-3, 1e3) if whole_domain else st.sampled_from([0.5, 1.0, 2.0]))
    x, y = draw(_pair(dtype, smooth, kinks=(-delta, delta)))
    return Problem((x, y), {}, {"delta": delta})


# (logits shape, axis, ignore_index, label_smoothing): classes last or on axis 1 (torch's
# [N, C, d1] layout), ignore_index outside and inside the classes. A few fixed configurations
# rather than their product: jax compiles once per shape and static parameters.
CE_CONFIGS = [
    ((4, 5), -1, -100, 0.0),
    ((4, 5), -1, 0, 0.1),
    ((2, 3, 4), -1, -100, 0.3),
    ((2, 4, 3), 1, 0, 0.0),
]


def _rows_shape(shape, axis):
    axis %= len(shape)
    return shape[:axis] + shape[axis + 1 :], axis


@st.composite
def _class_targets(draw, shape, axis, ignore_index):
    rows, axis = _rows_shape(shape, axis)
    n = shape[axis]
    target = draw(int_arrays(rows, 0, n - 1))
    ignored = draw(bool_arrays(rows)) if draw(st.booleans()) else np.zeros(rows, bool)
    return np.where(ignored, ignore_index, target)


@st.composite
def _weight(draw, dtype, n):
    if draw(st.booleans()):
        return {}
    return {"weight": draw(float_arrays(dtype, (n,), 0.25, 2.0))}


def _confident(draw, dtype: str, z: np.ndarray, hot: np.ndarray, axis: int) -> np.ndarray:
    """``z`` with, in some rows, the class ``hot`` raised above the row's maximum by a gap
    2^k, k uniform in [-2, 5]: confident predictions, where 1 - p at that class is small and
    an implementation that computes it by subtraction loses its relative accuracy."""
    if not draw(st.booleans()):
        return z
    zl = np.moveaxis(z, axis, -1).copy()
    flat, picks = zl.reshape(-1, zl.shape[-1]), np.asarray(hot).reshape(-1)
    for n in range(flat.shape[0]):
        if 0 <= picks[n] < flat.shape[1] and draw(st.booleans()):
            gap = 2.0 ** draw(st.floats(-2.0, 5.0), label="log2 gap")
            flat[n, picks[n]] = flat[n].max() + gap
    z = np.moveaxis(flat.reshape(zl.shape), -1, axis)
    return z.astype(dtype).astype(np.float64)


@st.composite
def draw_cross_entropy(draw, dtype, smooth, whole_domain=False):
    shape, axis, ignore_index, smoothing = draw(st.sampled_from(CE_CONFIGS))
    smoothing = draw(S.fractions(), label="label_smoothing") if whole_domain else smoothing
    z = draw(float_arrays(dtype, shape, -10.0, 10.0))
    target = draw(_class_targets(shape, axis, ignore_index))
    z = _confident(draw, dtype, z, target, axis)
    params = {"axis": axis, "ignore_index": ignore_index, "label_smoothing": smoothing}
    return Problem((z, target), draw(_weight(dtype, shape[axis])), params)


@st.composite
def draw_cross_entropy_probs(draw, dtype, smooth, whole_domain=False):
    shape, axis, _, smoothing = draw(st.sampled_from(CE_CONFIGS))
    smoothing = draw(S.fractions(), label="label_smoothing") if whole_domain else smoothing
    z = draw(float_arrays(dtype, shape, -10.0, 10.0))
    t = draw(float_arrays(dtype, shape, 0.0, 1.0))
    if draw(st.booleans()):  # rows summing to 1, as usual (not required)
        t = t + 1e-3
        t = t / np.sum(t, axis=axis, keepdims=True)
    z = _confident(draw, dtype, z, np.argmax(np.moveaxis(t, axis, -1), axis=-1), axis)
    params = {"axis": axis, "label_smoothing": smoothing}
    return Problem((z, t), draw(_weight(dtype, shape[axis])), params)


@st.composite
def draw_nll(draw, dtype, smooth):
    shape, axis, ignore_index, _ = draw(st.sampled_from(CE_CONFIGS))
    lp = draw(float_arrays(dtype, shape, -10.0, 0.0))
    target = draw(_class_targets(shape, axis, ignore_index))
    params = {"axis": axis, "ignore_index": ignore_index}
    return Problem((lp, target), draw(_weight(dtype, shape[axis])), params)


SEQUENCE_SHAPE = (2, 4, 5)


@st.composite
def draw_sequence(draw, dtype, smooth):
    b, t, v = SEQUENCE_SHAPE
    z = draw(float_arrays(dtype, SEQUENCE_SHAPE, -10.0, 10.0))
    target = draw(int_arrays((b, t), 0, v - 1))
    mask = draw(bool_arrays((b, t)))
    # padded positions hold anything: NaN/inf logits (not for finite differences, whose steps
    # need finite inputs) and classes out of range
    huge = _inside(dtype, -1e30, 1e30)[1]  # (1e30, or the dtype's largest value below it)
    junk = [np.nan, np.inf, -np.inf, huge] if not smooth else [1e4, -3.0]
    junk_z = draw(float_arrays(dtype, SEQUENCE_SHAPE, -1e4, 1e4))
    junk_z = np.where(draw(bool_arrays(SEQUENCE_SHAPE)), draw(st.sampled_from(junk)), junk_z)
    z = np.where(mask[..., None], z, junk_z)
    target = np.where(mask, target, draw(int_arrays((b, t), -5, 12)))
    return Problem((z, target, mask), {}, {})


def _element_weight(draw, dtype, shape) -> dict[str, np.ndarray]:
    """torch's per-element ``weight`` of the binary losses: none, or one that broadcasts to
    ``shape`` (a 0-d one, one per entry of the last axis, or full), zeros included (masking)."""
    choice = draw(st.sampled_from(["none", "scalar", "last", "full"]))
    if choice == "none":
        return {}
    w_shape = {"scalar": (), "last": shape[-1:], "full": shape}[choice]
    w = draw(float_arrays(dtype, w_shape, 0.0, 3.0))
    return {"weight": np.where(draw(bool_arrays(w_shape)), 0.0, w)}


@st.composite
def draw_bce_logits(draw, dtype, smooth):
    shape = draw(st.sampled_from(ELEMENTWISE_SHAPES))
    x = draw(float_arrays(dtype, shape, -30.0, 30.0))
    y = draw(float_arrays(dtype, shape, 0.0, 1.0))
    kw = {}
    # pos_weight: none, one per entry of the last axis, or full (one choice per shape)
    choice = {1: "none", 2: "last", 3: "full"}[len(shape)]
    if draw(st.booleans()):
        choice = "none"
    if choice != "none":
        pw_shape = shape[-1:] if choice == "last" else shape
        kw["pos_weight"] = draw(float_arrays(dtype, pw_shape, 0.1, 3.0))
    return Problem((x, y), {**kw, **_element_weight(draw, dtype, shape)}, {})


@st.composite
def draw_bce(draw, dtype, smooth):
    shape = draw(st.sampled_from(ELEMENTWISE_SHAPES))
    if smooth:
        p = draw(float_arrays(dtype, shape, 0.01, 0.99))
    else:
        p = draw(float_arrays(dtype, shape, 0.0, 1.0))
        # No subnormal float32 probabilities above exp(-100) ~ 3.7e-44: there the true gradient
        # -y/p overflows (to -inf, with NumPy's overflow warning); below, the log is clamped.
        tiny = float(np.finfo(dtype).tiny)
        p = np.where((p > 3.8e-44) & (p < tiny), tiny, p)
        ends = draw(bool_arrays(shape))
        p = np.where(ends, draw(st.sampled_from([0.0, 1.0, 1e-45, 1e-30, 1 - 2**-24])), p)
    y = draw(float_arrays(dtype, shape, 0.0, 1.0))
    return Problem((p, y), _element_weight(draw, dtype, shape), {})


CONTRASTIVE_CONFIGS = [((4, 3), 1.0), ((2, 2, 3), 0.5), ((4, 3), 2.0)]  # (shape, margin)


@st.composite
def draw_contrastive(draw, dtype, smooth, whole_domain=False):
    shape, margin = draw(st.sampled_from(CONTRASTIVE_CONFIGS))
    margin = draw(S.magnitudes(1e-3, 1e3), label="margin") if whole_domain else margin
    x1 = draw(float_arrays(dtype, shape, -3.0, 3.0))
    y = draw(int_arrays(shape[:-1], 0, 1))
    direction = draw(S.arrays("float64", shape, st.floats(-1, 1)))
    norm = np.linalg.norm(direction, axis=-1, keepdims=True)
    direction = np.where(norm > 0.1, direction / np.maximum(norm, 0.1), 1 / np.sqrt(shape[-1]))
    # distances off the kinks (d = margin; d = 0 for dissimilar pairs) by construction
    near = st.floats(0.05, 0.95).map(lambda f: f * margin)
    far = st.floats(1.05, 3.0).map(lambda f: f * margin)
    r = np.array(draw(st.lists(st.one_of(near, far), min_size=norm.size, max_size=norm.size)))
    x2 = x1 + direction * r.reshape(norm.shape)
    if not smooth:
        same = draw(bool_arrays(shape[:-1]))  # d = 0 exactly
        x2 = np.where(same[..., None], x1, x2)
    return Problem((x1, x2, y), {}, {"margin": margin})


# --- sizes (the mean's denominator) and gradient rounding magnitudes -------------------------


def _numel(p: Problem) -> float:
    return float(p.arrays[0].size)


def _rows(p: Problem) -> float:
    z = p.arrays[0]
    return float(z.size // z.shape[p.params["axis"]])


def _kept_weight(p: Problem) -> float:
    z, target = p.arrays[:2]
    kept = target != p.params["ignore_index"]
    n = z.shape[p.params["axis"]]
    w = p.kwarrays.get("weight", np.ones(n))
    return float(np.sum(np.where(kept, w[np.where(kept, target, 0)], 0.0)))


def _real_tokens(p: Problem) -> float:
    return float(np.sum(p.arrays[2]))


def _pairs(p: Problem) -> float:
    return float(p.arrays[2].size)


def _scale(g, reduction, shape, size):
    g = np.asarray(g, np.float64)
    if reduction == "mean":
        g = g / size if size else g * 0.0
    return np.abs(np.broadcast_to(g, shape))


def _ce_terms(g, p, reduction):
    return R.cross_entropy_grad_sensitivity(
        g, *p.arrays, **p.kwarrays, **p.params, reduction=reduction
    )


def _sequence_terms(g, p, reduction):
    z, target, mask = p.arrays
    out = np.zeros_like(z)
    if mask.any():
        out[mask] = R.cross_entropy_grad_sensitivity(g, z[mask], target[mask])
    return out


def _bce_logits_terms(g, p, reduction):
    (x, y), pw = p.arrays, p.kwarrays.get("pos_weight", 1.0)
    c = _scale(g, reduction, x.shape, x.size) * p.kwarrays.get("weight", 1.0)
    return c * ((1 - y) / (1 + np.exp(-x)) + pw * y / (1 + np.exp(x)))


def _bce_terms(g, p, reduction):
    x, y = p.arrays
    c = _scale(g, reduction, x.shape, x.size) * p.kwarrays.get("weight", 1.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = np.where(x > 0, y / x, 0.0) + np.where(x < 1, (1 - y) / (1 - x), 0.0)
        return c * np.nan_to_num(t, posinf=0.0)  # (inf where the gradient itself overflows)


def _contrastive_terms(g, p, reduction):
    x1, x2, y = p.arrays
    diff = x1 - x2
    d = np.linalg.norm(diff, axis=-1)
    c = _scale(g, reduction, d.shape, d.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(d > 0, y * (d + p.params["margin"]) / d, 0.0)
    out = c[..., None] * np.abs(diff) * t[..., None]
    return out, out


CASES = [
    LossCase("mse_loss", "mse_loss", draw_mse, R.mse_loss, R.mse_loss_grad, _numel),
    LossCase("l1_loss", "l1_loss", draw_l1, R.l1_loss, R.l1_loss_grad, _numel),
    LossCase("huber_loss", "huber_loss", draw_huber, R.huber_loss, R.huber_loss_grad, _numel),
    LossCase(
        "cross_entropy",
        "cross_entropy",
        draw_cross_entropy,
        R.cross_entropy,
        R.cross_entropy_grad,
        _kept_weight,
        _ce_terms,
    ),
    LossCase(
        "cross_entropy(probabilities)",
        "cross_entropy",
        draw_cross_entropy_probs,
        R.cross_entropy,
        R.cross_entropy_grad,
        _rows,
        _ce_terms,
    ),
    LossCase("nll_loss", "nll_loss", draw_nll, R.nll_loss, R.nll_loss_grad, _kept_weight),
    LossCase(
        "sequence_cross_entropy",
        "sequence_cross_entropy",
        draw_sequence,
        R.sequence_cross_entropy,
        R.sequence_cross_entropy_grad,
        _real_tokens,
        _sequence_terms,
        reductions=("mean",),
    ),
    LossCase(
        "binary_cross_entropy_with_logits",
        "binary_cross_entropy_with_logits",
        draw_bce_logits,
        R.binary_cross_entropy_with_logits,
        R.binary_cross_entropy_with_logits_grad,
        _numel,
        _bce_logits_terms,
    ),
    LossCase(
        "binary_cross_entropy",
        "binary_cross_entropy",
        draw_bce,
        R.binary_cross_entropy,
        R.binary_cross_entropy_grad,
        _numel,
        _bce_terms,
    ),
    LossCase(
        "contrastive_loss",
        "contrastive_loss",
        draw_contrastive,
        R.contrastive_loss,
        R.contrastive_loss_grad,
        _pairs,
        _contrastive_terms,
        n_pred=2,
    ),
]
CASE = {c.id: c for c in CASES}
ids = [c.id for c in CASES]


def backward_run(
    impl: Implementation, case: LossCase, dtype: str, problem: Problem, reduction: str, g
) -> tuple[Run, tuple[Any, ...], np.ndarray]:
    """The problem's gradients on ``impl`` (inputs checked unchanged) and grad_output as the
    arithmetic saw it."""
    run = Run(impl, case, problem, dtype)
    grads = run.backward(reduction, g)
    run.check_unchanged()
    g_seen = run.as_computed(impl.numpy(impl.array(np.asarray(g, np.float64), dtype)))
    return run, grads, g_seen


def _flush_floor(impl: Implementation, dtype: str, problem: Problem, n: int) -> list[float]:
    """Per element, the absolute error that flushing subnormal terms to zero may cost (XLA on
    the CPU): tiny per summed term, times the largest weight; none elsewhere."""
    if not impl.flushes_subnormals:
        return [0.0] * n
    weights = [np.max(np.abs(v), initial=1.0) for v in problem.kwarrays.values()]
    per_term = 2.0 ** FORMATS[dtype].emin * float(np.prod(weights)) * 4.0
    return [per_term * problem.arrays[0].size] * n


def loss_judged(
    impl: Implementation, case: LossCase, dtype: str, problem: Problem, reduction: str
) -> Judged:
    """The loss against mpmath in ULPs, bounded by the function's sensitivity
    (:func:`properties.loss_ulps.loss_reference`), with a flushing backend's floor."""
    run = Run(impl, case, problem, dtype)
    out = impl.numpy(run.forward(reduction))
    refs, sens = mp_judge.loss_reference(case.id, run.seen, reduction)
    label = f"{case.id}(reduction={reduction!r}) on {impl.id}"
    floor = _flush_floor(impl, dtype, run.seen, out.size)
    return Judged(label, dtype, out, refs, {}, sens, abs_floor=floor)


def backward_judged(
    impl: Implementation,
    case: LossCase,
    dtype: str,
    problem: Problem,
    reduction: str,
    g: np.ndarray,
) -> list[Judged]:
    """Each gradient against mpmath in ULPs, bounded by the function's sensitivity to every
    floating input and grad_output (:func:`properties.loss_ulps.gradient_reference`)."""
    run, grads, g_seen = backward_run(impl, case, dtype, problem, reduction, g)
    expected = mp_judge.gradient_reference(case.id, run.seen, reduction, g_seen)
    scale = float(np.max(np.abs(g_seen), initial=1.0))
    judged = []
    for i, (a, (refs, sens)) in enumerate(zip(grads, expected, strict=True)):
        out = impl.numpy(a)
        label = f"{case.id}_backward(reduction={reduction!r}) on {impl.id}, gradient {i}"
        floor = [v * scale for v in _flush_floor(impl, dtype, run.seen, out.size)]
        judged.append(Judged(label, dtype, out, refs, {}, sens, abs_floor=floor))
    return judged
