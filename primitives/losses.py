"""Losses and their gradients, on NumPy, PyTorch and JAX arrays alike.

Names and defaults follow ``torch.nn.functional``; every parameter after the input arrays is
keyword-only (``cross_entropy(z, y, weight=w)``), because torch's positional order differs
between functions and from this family's (``cross_entropy`` takes ``axis`` like optax). Where
optax or Keras 3 differ, each docstring says how to map them; ``docs/losses.md`` tabulates it.

Every loss takes ``reduction="mean" | "sum" | "none"`` where torch does and has
``<name>_backward(grad_output, <the same inputs and parameters>)`` returning the gradient with
respect to the prediction (both embeddings for :func:`contrastive_loss`): ``grad_output`` has
the shape of the loss (``()`` for ``mean``/``sum``; a Python number is accepted). On torch and
jax the losses are also differentiable by ``torch.autograd`` and ``jax.grad`` (through
numerically stable formulas) and usable under ``jax.jit``/``jax.vmap``.

Shared conventions:

* Bad input raises before anything is computed, with the same ``ValueError`` message on every
  backend: mismatched shapes (there is no broadcasting, except ``pos_weight`` along the last
  axis as in torch), a class out of range (other than ``ignore_index``), negative probability
  targets, BCE targets or probabilities outside [0, 1], contrastive labels other than 0/1, a
  mask of the wrong shape, an unknown ``reduction``, ``delta`` not a finite number > 0,
  ``margin`` not a finite number >= 0, ``label_smoothing`` outside [0, 1], an ``axis`` out of
  range. A scalar parameter that is a bool or a string, or an ``ignore_index``/``axis`` that
  is not an integer, raises ``TypeError`` (see :mod:`primitives._checks`). Mixing backends,
  non-floating predictions, floating inputs of another dtype than the prediction, and
  non-integer class targets raise ``TypeError``.
* The checks that need values (class range, probability range, labels) read them, also
  under ``jax.jit`` where the array is closed over (concrete): the same ``ValueError``. A
  traced array (a ``jit`` argument, a ``vmap``-ed one) has no values to read, and no error can
  be raised there: an invalid value then makes its row's loss NaN, and its gradient NaN in
  ``<name>_backward`` and ``jax.grad`` alike (a class target -1 other than ``ignore_index``
  never silently picks class C-1). A mean over such a row is NaN. Shape checks always run.
* Class targets may have any integer dtype (int8 ... int64, uint8): the result is that of
  int64.
* Inputs are never mutated; the result has the prediction's framework, device and dtype;
  float16/bfloat16 are computed in float32 and rounded once. A NaN prediction gives a NaN loss
  and gradient, except where it is ignored (``ignore_index``) or padded (``mask``): those
  positions reach neither the loss nor the gradient, whatever they hold.
* The mean of no losses (every target ignored) is NaN, as torch; its gradient is 0.
  :func:`sequence_cross_entropy` instead returns 0 for a batch with no real token.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from . import _array_checks as A
from . import _checks as C
from ._dispatch import Kernels, _table_of
from .backend import Array

Reduction = Literal["mean", "sum", "none"]
_REDUCTIONS = ("mean", "sum", "none")


# --- validation ------------------------------------------------------------------------------


def _check_reduction(fn: str, reduction: Any) -> None:
    C.choice(fn, "reduction", reduction, _REDUCTIONS)


def _kind(table: Kernels, a: Array) -> str:
    if table.is_floating(a):
        return "float"
    name = str(a.dtype)
    if name.endswith("bool"):
        return "bool"
    return "int" if "int" in name else name


def _traced(*arrays: Any) -> bool:
    """Whether any of ``arrays`` (None is skipped) is abstract: an array of a tracing
    transformation (under ``jax.jit``/``vmap``/``grad``), whose values cannot be read."""
    for a in arrays:
        if a is None:
            continue
        table = _table_of(a)
        if table is not None and not table.backend.is_concrete(a):
            return True
    return False


def _violations(table: Kernels, bad_of, *arrays: Array) -> Array:
    """``bad_of(*arrays)``: a boolean array, concrete whenever ``arrays`` are.

    Under ``jax.jit`` even a closed-over concrete array gives an abstract result when
    computed with the backend's operations; its values are then read on the host (through
    ``to_numpy``, at trace time only), so a concrete mistake raises as it does eagerly. Only
    when an input is itself abstract (traced) is the result abstract.
    """
    bad = bad_of(*arrays)
    if table.backend.is_concrete(bad) or _traced(*arrays):
        return bad
    import numpy as np

    return bad_of(*(None if a is None else np.asarray(table.backend.to_numpy(a)) for a in arrays))


def _first(table: Kernels, bad: Any) -> tuple[int, ...] | None:
    """The index of the first True of the concrete boolean array ``bad``, or None (one
    device-side reduction on the fast path; the index is looked up only to report an error)."""
    import numpy as np

    if isinstance(bad, np.ndarray):
        flags = bad
    else:
        if not int(table.backend.xp.sum(bad)):
            return None
        flags = np.asarray(table.backend.to_numpy(bad))
    hits = np.argwhere(flags)
    return tuple(int(i) for i in hits[0]) if len(hits) else None


def _value(table: Kernels, a: Array, index: tuple[int, ...]) -> str:
    import numpy as np

    v = np.asarray(table.backend.to_numpy(a))[index]
    return repr(int(v)) if v.dtype.kind in "iub" else repr(float(v))


def _checked(table: Kernels, bad: Any, error) -> Array | None:
    """Raise ``error(index)`` at the first True of ``bad`` when its values are concrete, or
    return None when there is none; return ``bad`` itself when it is abstract (no error can
    be raised under a transformation), for :func:`_nan_rows`."""
    if not _is_host(bad) and not table.backend.is_concrete(bad):
        return bad
    index = _first(table, bad)
    if index is not None:
        raise error(index)
    return None


def _is_host(a: Any) -> bool:
    import numpy as np

    return isinstance(a, np.ndarray)


def _nan_rows(table: Kernels, bad: Array | None, like: Array, axis: int | None = None):
    """None where nothing is invalid, else a factor for ``like``: NaN wherever ``bad`` (the
    abstract mask of invalid inputs, one per row along ``axis`` when given) holds, 1
    elsewhere. Multiplying the prediction by it and the gradient that ``<name>_backward``
    returns makes a mistake that cannot raise under a transformation loud: NaN in that
    row's loss, its ``<name>_backward`` and its ``jax.grad`` (the derivative of ``x * f`` is
    ``f``), while every other row is multiplied by exactly 1."""
    if bad is None:
        return None
    if axis is not None:
        bad = _expand(bad, axis)
    xp = table.backend.xp
    return xp.astype(xp.where(bad, float("nan"), 1.0), like.dtype)


def _either(a: Array | None, b: Array | None) -> Array | None:
    return a if b is None else b if a is None else a | b


def _times(x: Any, factor: Array | None) -> Any:
    """``x`` (an array or a tuple of arrays) times ``factor`` (None: ``x`` itself)."""
    if factor is None:
        return x
    if isinstance(x, tuple):
        return tuple(v * factor for v in x)
    return x * factor


def _expand(a: Array, axis: int) -> Array:
    return a[(slice(None),) * axis + (None,)]


def _check_values(fn: str, table: Kernels, a: Array, bad_of, what: str, rule: str):
    """ValueError naming the first element of ``a`` where ``bad_of(a)`` holds; under a
    transformation, the abstract mask of those elements (see :func:`_checked`)."""

    def error(index):
        return ValueError(
            f"{fn}: {what} must be {rule}; got {_value(table, a, index)} at index {index}"
        )

    return _checked(table, _violations(table, bad_of, a), error)


def _check_classes(
    fn: str,
    table: Kernels,
    target: Array,
    n_classes: int,
    ignore_index: int | None,
    mask: Array | None = None,
) -> Array | None:
    """ValueError at the first class outside [0, n_classes) (other than ``ignore_index``, at a
    real position of ``mask``); under a transformation, the abstract mask of such rows."""

    def bad_of(t, m):
        bad = (t < 0) | (t >= n_classes)
        if ignore_index is not None:
            bad = bad & (t != ignore_index)
        return bad if m is None else bad & m

    def error(index):
        ignored = "" if ignore_index is None else f" (other than ignore_index={ignore_index})"
        where = "" if mask is None else " at a real (unmasked) position"
        return ValueError(
            f"{fn}: target class {_value(table, target, index)} at index {index}{where} is out "
            f"of range [0, {n_classes}){ignored}"
        )

    return _checked(table, _violations(table, bad_of, target, mask), error)


def _class_target(fn: str, table: Kernels, target: Any, ref: Array, ref_what: str) -> Array:
    target = A.member(fn, table, target, "target", ref, ref_what)
    if _kind(table, target) != "int":
        raise TypeError(f"{fn}: class targets must be an integer array, got dtype {target.dtype}")
    return _as_index(table, target)


def _as_index(table: Kernels, target: Array) -> Array:
    """Integer class targets of any width as the backend's index dtype (if it has one), so
    int8/uint8/int16/int32 give the same result as int64 everywhere."""
    index_dtype = table.backend.index_dtype
    if index_dtype is None:
        return target
    dtype = index_dtype()
    return target if target.dtype == dtype else table.backend.xp.astype(target, dtype)


def _axis(fn: str, axis: Any, ndim: int, what: str = "logits") -> int:
    return C.axis(fn, axis, ndim, what) % ndim


def _weight(fn: str, table: Kernels, weight: Any, n_classes: int, ref: Array, what: str):
    if weight is None:
        return None
    weight = A.floating(fn, table, weight, "weight", ref, what)
    A.same_shape(fn, weight, "weight", (n_classes,), "one weight per class")
    return weight


def _grad_output(fn: str, table: Kernels, g: Any, ref: Array, shape: tuple[int, ...]) -> Array:
    if _table_of(g) is None and isinstance(g, (int, float)) and not isinstance(g, bool):
        g = table.backend.xp.astype(table.backend.asarray(g), ref.dtype)
    else:
        g = A.floating(fn, table, g, "grad_output", ref, "the prediction")
    if A.shape(g) != shape:
        raise ValueError(
            f"{fn}: grad_output has shape {A.shape(g)} but the loss has shape {shape}; they "
            "must match (no broadcasting)"
        )
    return g


def _loss_shape(shape: tuple[int, ...], reduction: str) -> tuple[int, ...]:
    return shape if reduction == "none" else ()


# --- mse, l1, huber --------------------------------------------------------------------------


def _pointwise(fn: str, input: Any, target: Any, reduction: Any):
    _check_reduction(fn, reduction)
    k, x = A.prediction(fn, input, "input")
    y = A.floating(fn, k, target, "target", x, "input")
    A.same_shape(fn, y, "target", A.shape(x), "the shape of input")
    return k, x, y


def mse_loss(input: Array, target: Array, *, reduction: Reduction = "mean") -> Array:
    """Mean squared error: (input - target)^2, reduced.

    Gradient: 2 (input - target). torch ``F.mse_loss`` (which broadcasts with a warning; here
    shapes must match); optax ``squared_error`` is the same per element (no reduction; optax
    ``l2_loss`` is half of it); Keras ``MeanSquaredError`` averages over the last axis first.
    """
    k, x, y = _pointwise("mse_loss", input, target, reduction)
    return k.mse_loss(x, y, reduction)


def mse_loss_backward(
    grad_output: Array, input: Array, target: Array, *, reduction: Reduction = "mean"
) -> Array:
    """grad_output * 2 (input - target) (divided by the number of elements for ``mean``)."""
    k, x, y = _pointwise("mse_loss_backward", input, target, reduction)
    g = _grad_output("mse_loss_backward", k, grad_output, x, _loss_shape(A.shape(x), reduction))
    return k.mse_loss_backward(g, x, y, reduction)


def l1_loss(input: Array, target: Array, *, reduction: Reduction = "mean") -> Array:
    """Mean absolute error: |input - target|, reduced.

    Derivative: sign(input - target), with 0 where input == target (torch's convention; the
    kink). torch ``F.l1_loss``; Keras ``MeanAbsoluteError`` averages over the last axis first.
    """
    k, x, y = _pointwise("l1_loss", input, target, reduction)
    return k.l1_loss(x, y, reduction)


def l1_loss_backward(
    grad_output: Array, input: Array, target: Array, *, reduction: Reduction = "mean"
) -> Array:
    """grad_output * sign(input - target), sign(0) = 0."""
    k, x, y = _pointwise("l1_loss_backward", input, target, reduction)
    g = _grad_output("l1_loss_backward", k, grad_output, x, _loss_shape(A.shape(x), reduction))
    return k.l1_loss_backward(g, x, y, reduction)


def _delta(fn: str, delta: Any) -> float:
    return C.positive(fn, "delta", delta)


def huber_loss(
    input: Array, target: Array, *, reduction: Reduction = "mean", delta: float = 1.0
) -> Array:
    """Huber loss (Huber 1964): with a = |input - target|, a^2 / 2 where a <= delta and
    delta (a - delta / 2) beyond; ``delta > 0``.

    Derivative: clip(input - target, -delta, delta). Same as torch ``F.huber_loss`` and optax
    ``huber_loss`` (per element) and Keras ``Huber``. torch ``F.smooth_l1_loss(beta)`` is
    ``huber_loss(delta=beta) / beta``.
    """
    fn = "huber_loss"
    delta = _delta(fn, delta)
    k, x, y = _pointwise(fn, input, target, reduction)
    return k.huber_loss(x, y, delta, reduction)


def huber_loss_backward(
    grad_output: Array,
    input: Array,
    target: Array,
    *,
    reduction: Reduction = "mean",
    delta: float = 1.0,
) -> Array:
    """grad_output * clip(input - target, -delta, delta)."""
    fn = "huber_loss_backward"
    delta = _delta(fn, delta)
    k, x, y = _pointwise(fn, input, target, reduction)
    g = _grad_output(fn, k, grad_output, x, _loss_shape(A.shape(x), reduction))
    return k.huber_loss_backward(g, x, y, delta, reduction)


# --- cross-entropy and nll -------------------------------------------------------------------


def _cross_entropy_args(
    fn, logits, target, axis, ignore_index, label_smoothing, weight, reduction, what="logits"
):
    _check_reduction(fn, reduction)
    ignore_index = C.integer(fn, "ignore_index", ignore_index)
    label_smoothing = C.unit_interval(fn, "label_smoothing", label_smoothing)
    k, z = A.prediction(fn, logits, what)
    if z.ndim == 0:
        raise ValueError(f"{fn}: {what} must have at least one dimension (the classes)")
    axis = _axis(fn, axis, z.ndim, what)
    n_classes = A.shape(z)[axis]
    if n_classes == 0:
        raise ValueError(f"{fn}: {what} have no classes (axis {axis} has size 0)")
    target = A.member(fn, k, target, "target", z, what)
    rows = A.shape(z)[:axis] + A.shape(z)[axis + 1 :]
    kind = _kind(k, target)
    if kind == "float":
        if fn.startswith("nll_loss"):
            raise TypeError(f"{fn}: class targets must be an integer array, got {target.dtype}")
        target = A.floating(fn, k, target, "target", z, what)
        A.same_shape(
            fn, target, "target", A.shape(z), f"probability targets have the {what}' shape"
        )
    elif kind == "int":
        A.same_shape(
            fn, target, "target", rows, f"class targets have the {what}' shape without axis {axis}"
        )
        target = _as_index(k, target)
    else:
        raise TypeError(
            f"{fn}: target must be integer class indices or floating probabilities, got dtype "
            f"{target.dtype}"
        )
    weight = _weight(fn, k, weight, n_classes, z, what)
    if kind == "float":
        bad = _check_values(fn, k, target, lambda t: t < 0, "probability targets", "nonnegative")
        if bad is not None:  # abstract: NaN in each row holding a negative probability
            bad = k.backend.xp.max(bad, axis=axis)
    else:
        bad = _check_classes(fn, k, target, n_classes, ignore_index)
    nan = _nan_rows(k, bad, z, axis)
    return k, _times(z, nan), target, axis, ignore_index, label_smoothing, weight, rows, nan


def cross_entropy(
    logits: Array,
    target: Array,
    *,
    axis: int = -1,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    weight: Array | None = None,
    reduction: Reduction = "mean",
) -> Array:
    """Softmax cross-entropy of ``logits`` along ``axis``, with class or probability targets.

    Class targets (an integer array of the logits' shape without ``axis``), per position n:
    ``l_n = -(1 - eps) w[y_n] log p_n[y_n] - (eps / C) sum_c w_c log p_nc`` with
    ``p = softmax(logits)``, ``eps = label_smoothing``, ``w`` = ``weight`` (default 1);
    positions with ``target == ignore_index`` have no loss, and ``mean`` divides by
    ``sum_n w[y_n]`` over the other positions, so ignored targets count in neither the
    numerator nor the denominator, with or without smoothing and weights (torch's definition).
    Every target ignored: ``mean`` is NaN (0/0, as torch), its gradient 0.

    Probability targets (floating, the logits' shape, nonnegative; rows need not sum to 1):
    ``l_n = -sum_c w_c t'_nc log p_nc`` with ``t' = (1 - eps) t + eps / C``; ``mean`` divides
    by the number of rows; ``ignore_index`` does not apply (as torch). A class with
    ``t' = 0`` contributes 0 even where ``log p = -inf`` (torch gives NaN there).

    Gradient with respect to the logits: ``S_n p_n - q_n`` per position, with ``q`` the
    weighted, smoothed target and ``S_n = sum_c q_nc``: ``softmax - one_hot`` when unweighted,
    so each row sums to 0. log-softmax is computed with the maximum subtracted and ``log1p``,
    so logits of any finite size (+-1e30) give finite losses and gradients, and small losses
    keep their relative accuracy.

    Mapping: torch ``F.cross_entropy`` has the classes on axis 1 (pass ``axis=1`` for its
    ``[N, C, d1, ...]`` layout); optax ``softmax_cross_entropy_with_integer_labels`` /
    ``softmax_cross_entropy`` are ``reduction="none"`` with ``axis=-1`` and have no
    ``ignore_index`` (optax ``smooth_labels(t, eps)`` is the smoothing above); Keras
    ``SparseCategoricalCrossentropy(from_logits=True)`` sums over the batch and divides by the
    batch size, and Keras's ``label_smoothing`` exists only for probability targets.
    """
    fn = "cross_entropy"
    k, z, t, axis, ii, ls, w, _, _ = _cross_entropy_args(
        fn, logits, target, axis, ignore_index, label_smoothing, weight, reduction
    )
    return k.cross_entropy(z, t, axis, ii, ls, w, reduction)


def cross_entropy_backward(
    grad_output: Array,
    logits: Array,
    target: Array,
    *,
    axis: int = -1,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    weight: Array | None = None,
    reduction: Reduction = "mean",
) -> Array:
    """The gradient of :func:`cross_entropy` with respect to ``logits``: ``S_n p_n - q_n``
    scaled by ``grad_output`` (and the mean's denominator); 0 at ignored positions."""
    fn = "cross_entropy_backward"
    k, z, t, axis, ii, ls, w, rows, nan = _cross_entropy_args(
        fn, logits, target, axis, ignore_index, label_smoothing, weight, reduction
    )
    g = _grad_output(fn, k, grad_output, z, _loss_shape(rows, reduction))
    return _times(k.cross_entropy_backward(g, z, t, axis, ii, ls, w, reduction), nan)


def nll_loss(
    log_probs: Array,
    target: Array,
    *,
    axis: int = -1,
    ignore_index: int = -100,
    weight: Array | None = None,
    reduction: Reduction = "mean",
) -> Array:
    """Negative log-likelihood of integer class targets: ``l_n = -w[y_n] log_probs_n[y_n]``;
    ``ignore_index`` and ``mean`` (divided by ``sum_n w[y_n]`` over the kept positions) as in
    :func:`cross_entropy`, of which this is the second half
    (``cross_entropy(z, y) == nll_loss(log_softmax(z), y)``).

    Gradient: ``-w[y_n]`` at the target class, 0 elsewhere (the other log-probabilities never
    enter, even when -inf or NaN). torch ``F.nll_loss`` has the classes on axis 1 (pass
    ``axis=1``); optax and Keras have no separate NLL.
    """
    fn = "nll_loss"
    k, lp, t, axis, ii, _, w, _, _ = _cross_entropy_args(
        fn, log_probs, target, axis, ignore_index, 0.0, weight, reduction, "log_probs"
    )
    return k.nll_loss(lp, t, axis, ii, w, reduction)


def nll_loss_backward(
    grad_output: Array,
    log_probs: Array,
    target: Array,
    *,
    axis: int = -1,
    ignore_index: int = -100,
    weight: Array | None = None,
    reduction: Reduction = "mean",
) -> Array:
    """The gradient of :func:`nll_loss` with respect to ``log_probs``."""
    fn = "nll_loss_backward"
    k, lp, t, axis, ii, _, w, rows, nan = _cross_entropy_args(
        fn, log_probs, target, axis, ignore_index, 0.0, weight, reduction, "log_probs"
    )
    g = _grad_output(fn, k, grad_output, lp, _loss_shape(rows, reduction))
    return _times(k.nll_loss_backward(g, lp, t, axis, ii, w, reduction), nan)


# --- sequence cross-entropy ------------------------------------------------------------------


def _sequence_args(fn: str, logits: Any, target: Any, mask: Any):
    k, z = A.prediction(fn, logits, "logits")
    if z.ndim != 3:
        raise ValueError(f"{fn}: logits must have shape [B, T, V], got {A.shape(z)}")
    target = _class_target(fn, k, target, z, "logits")
    A.same_shape(fn, target, "target", A.shape(z)[:2], "[B, T] of logits [B, T, V]")
    mask = A.member(fn, k, mask, "mask", z, "logits")
    if _kind(k, mask) != "bool":
        raise TypeError(
            f"{fn}: mask must be a boolean array (true for real tokens), got dtype {mask.dtype}"
        )
    A.same_shape(fn, mask, "mask", A.shape(z)[:2], "[B, T] of logits [B, T, V]")
    bad = _check_classes(fn, k, target, A.shape(z)[2], None, mask)
    nan = _nan_rows(k, bad, z, 2)
    return k, _times(z, nan), target, mask, nan


def sequence_cross_entropy(logits: Array, target: Array, mask: Array) -> Array:
    """Masked cross-entropy of a batch of sequences: the mean of ``-log softmax(logits)[y]``
    over the real tokens only.

    ``logits`` [B, T, V] (classes on the last axis), ``target`` [B, T] integer classes,
    ``mask`` [B, T] boolean, true for real tokens. Padded positions (mask false) never
    influence the loss or the gradient, whatever their logits and targets hold (NaN, inf, an
    out-of-range class): they are replaced before any arithmetic, and their gradient is exactly
    0. The loss is ``sum over real tokens / max(number of real tokens, 1)``, so **a batch with
    no real token gives 0** (and a zero gradient), never NaN. The class range is checked at real
    positions only.

    Equals ``cross_entropy(logits[mask], target[mask])`` when some token is real. (The masked
    mean in optax is ``softmax_cross_entropy_with_integer_labels(...)`` averaged with
    ``where=mask``, which gives NaN for an all-padded batch.)
    """
    k, z, t, m, _ = _sequence_args("sequence_cross_entropy", logits, target, mask)
    return k.sequence_cross_entropy(z, t, m)


def sequence_cross_entropy_backward(
    grad_output: Array, logits: Array, target: Array, mask: Array
) -> Array:
    """The gradient with respect to ``logits``: ``(softmax - one_hot) / max(n_real, 1)`` at real
    tokens, times ``grad_output``; exactly 0 at padded positions."""
    fn = "sequence_cross_entropy_backward"
    k, z, t, m, nan = _sequence_args(fn, logits, target, mask)
    g = _grad_output(fn, k, grad_output, z, ())
    return _times(k.sequence_cross_entropy_backward(g, z, t, m), nan)


# --- binary cross-entropy --------------------------------------------------------------------


def _check_unit_interval(fn: str, table: Kernels, a: Array, what: str) -> Array | None:
    """ValueError naming the first element of ``a`` outside [0, 1] (NaN is let through);
    under a transformation, the abstract mask of such elements (see :func:`_checked`).

    Two reductions (``max(a)`` and ``max(-a)``: the backends' namespace has no ``min``)
    decide the common case; only where they do not (a value outside, or a NaN, which max
    propagates) is the element-wise test made, which also builds two boolean arrays and
    sums one (7 ms on 4e6 float32 elements in torch).
    """
    if math.prod(A.shape(a)) == 0:
        return None
    xp = table.backend.xp
    if not _traced(a):
        high, low = xp.max(a), xp.max(-a)
        if table.backend.is_concrete(high) and bool(high <= 1.0) and bool(low <= 0.0):
            return None
    return _check_values(fn, table, a, lambda v: (v < 0) | (v > 1), what, "in [0, 1]")


def _element_weight(fn: str, k: Kernels, weight: Any, x: Array, what: str) -> Array | None:
    """torch's ``weight`` of the binary losses: a floating array of the prediction's dtype
    that broadcasts to the prediction's shape (not the other way round)."""
    if weight is None:
        return None
    weight = A.floating(fn, k, weight, "weight", x, what)
    w, s = A.shape(weight), A.shape(x)
    if len(w) > len(s) or any(a not in (1, b) for a, b in zip(w[::-1], s[::-1], strict=False)):
        raise ValueError(
            f"{fn}: weight has shape {w}, which does not broadcast to the shape of {what} {s}"
        )
    return weight


def _single_number(table: Kernels, a: Any) -> bool:
    """Whether ``a`` stands for one number: not an array of ``table``'s backend nor a list, and
    without dimensions (a Python number or scalar, a 0-d array of another library)."""
    if _table_of(a) is table or isinstance(a, (list, tuple)):
        return False
    return not getattr(a, "shape", ())


def _bce_logits_args(
    fn: str, logits: Any, target: Any, weight: Any, pos_weight: Any, reduction: Any
):
    _check_reduction(fn, reduction)
    k, x = A.prediction(fn, logits, "logits")
    y = A.floating(fn, k, target, "target", x, "logits")
    A.same_shape(fn, y, "target", A.shape(x), "the shape of logits")
    weight = _element_weight(fn, k, weight, x, "logits")
    if pos_weight is not None:
        if _single_number(k, pos_weight):  # checked, then a 0-d array of the logits' dtype
            pos_weight = C.finite(fn, "pos_weight", pos_weight)
        pos_weight = A.floating(fn, k, pos_weight, "pos_weight", x, "logits")
        last = A.shape(x)[-1:] if x.ndim else ()
        if A.shape(pos_weight) not in (A.shape(x), last, ()):
            raise ValueError(
                f"{fn}: pos_weight has shape {A.shape(pos_weight)} but must have the shape of "
                f"logits {A.shape(x)}, of their last axis {last}, or be a single number ()"
            )
    nan = _nan_rows(k, _check_unit_interval(fn, k, y, "target"), x)
    return k, _times(x, nan), y, weight, pos_weight, nan


def binary_cross_entropy_with_logits(
    logits: Array,
    target: Array,
    *,
    weight: Array | None = None,
    pos_weight: Array | None = None,
    reduction: Reduction = "mean",
) -> Array:
    """Binary cross-entropy of ``sigmoid(logits)`` against targets in [0, 1]:
    ``-[pos_weight y log sigma(x) + (1 - y) log(1 - sigma(x))]``
    ``= (1 - y) softplus(x) + pos_weight y softplus(-x)`` (``= softplus(x) - x y`` without
    ``pos_weight``), evaluated from the softplus form: no overflow and no cancellation, finite
    for logits of any finite size, and exactly 0 (never NaN) for an infinite logit on the
    side of a hard label.

    ``pos_weight`` (torch's) weighs the positive term; it has the logits' shape, one value
    per entry of the last axis, or is a single number (a finite Python number or a 0-d array;
    torch's broadcast). ``weight`` (torch's) multiplies each
    element's loss and gradient; it broadcasts to the logits' shape (masking, class balance),
    and ``mean`` still divides by the number of elements. Gradient: ``weight ((1 - y)
    sigma(x) - pos_weight y sigma(-x))`` (``sigma(x) - y``). torch
    ``F.binary_cross_entropy_with_logits``; optax
    ``sigmoid_binary_cross_entropy`` is ``reduction="none"``; Keras ``BinaryCrossentropy(
    from_logits=True)`` averages over the last axis first. Targets outside [0, 1] raise
    (torch accepts them).
    """
    fn = "binary_cross_entropy_with_logits"
    k, x, y, w, pw, _ = _bce_logits_args(fn, logits, target, weight, pos_weight, reduction)
    return k.binary_cross_entropy_with_logits(x, y, w, pw, reduction)


def binary_cross_entropy_with_logits_backward(
    grad_output: Array,
    logits: Array,
    target: Array,
    *,
    weight: Array | None = None,
    pos_weight: Array | None = None,
    reduction: Reduction = "mean",
) -> Array:
    """grad_output * weight ((1 - y) sigma(x) - pos_weight y sigma(-x))."""
    fn = "binary_cross_entropy_with_logits_backward"
    k, x, y, w, pw, nan = _bce_logits_args(fn, logits, target, weight, pos_weight, reduction)
    g = _grad_output(fn, k, grad_output, x, _loss_shape(A.shape(x), reduction))
    return _times(k.binary_cross_entropy_with_logits_backward(g, x, y, w, pw, reduction), nan)


def _bce_args(fn: str, probs: Any, target: Any, weight: Any, reduction: Any):
    _check_reduction(fn, reduction)
    k, p = A.prediction(fn, probs, "probs")
    y = A.floating(fn, k, target, "target", p, "probs")
    A.same_shape(fn, y, "target", A.shape(p), "the shape of probs")
    weight = _element_weight(fn, k, weight, p, "probs")
    bad = _either(_check_unit_interval(fn, k, p, "probs"), _check_unit_interval(fn, k, y, "target"))
    nan = _nan_rows(k, bad, p)
    return k, _times(p, nan), y, weight, nan


def binary_cross_entropy(
    probs: Array,
    target: Array,
    *,
    weight: Array | None = None,
    reduction: Reduction = "mean",
) -> Array:
    """Binary cross-entropy of probabilities: ``-[y log p + (1 - y) log(1 - p)]`` with each log
    clamped at -100, as torch: a certain, wrong prediction (p = 0 with y = 1) costs 100, not inf.
    ``log(1 - p)`` is computed as ``log1p(-p)`` for p < 1/4 (accurate near 0).

    Gradient: the derivative of that clamped loss, ``-y / p + (1 - y) / (1 - p)`` with each term 0
    where its log is clamped (torch's backward is ``(p - y) / max(p (1 - p), 1e-12)``, which
    differs only where a log is clamped). Prefer :func:`binary_cross_entropy_with_logits`: from
    probabilities, precision is lost near 0 and 1. Keras ``BinaryCrossentropy`` instead clips
    ``p`` to [1e-7, 1 - 1e-7]. ``probs`` and ``target`` must lie in [0, 1]. ``weight`` (torch's)
    multiplies each element's loss and gradient and broadcasts to the shape of ``probs``;
    ``mean`` still divides by the number of elements.
    """
    k, p, y, w, _ = _bce_args("binary_cross_entropy", probs, target, weight, reduction)
    return k.binary_cross_entropy(p, y, w, reduction)


def binary_cross_entropy_backward(
    grad_output: Array,
    probs: Array,
    target: Array,
    *,
    weight: Array | None = None,
    reduction: Reduction = "mean",
) -> Array:
    """grad_output * weight * the derivative of the clamped loss with respect to ``probs``."""
    fn = "binary_cross_entropy_backward"
    k, p, y, w, nan = _bce_args(fn, probs, target, weight, reduction)
    g = _grad_output(fn, k, grad_output, p, _loss_shape(A.shape(p), reduction))
    return _times(k.binary_cross_entropy_backward(g, p, y, w, reduction), nan)


# --- contrastive loss ------------------------------------------------------------------------


def _contrastive_args(fn: str, x1: Any, x2: Any, y: Any, margin: Any, reduction: Any):
    _check_reduction(fn, reduction)
    margin = C.nonnegative(fn, "margin", margin)
    k, a = A.prediction(fn, x1, "x1")
    if a.ndim == 0:
        raise ValueError(f"{fn}: x1 and x2 must have at least one dimension (the embedding)")
    b = A.floating(fn, k, x2, "x2", a, "x1")
    A.same_shape(fn, b, "x2", A.shape(a), "the shape of x1")
    y = A.member(fn, k, y, "y", a, "x1")
    if _kind(k, y) not in ("bool", "int", "float"):
        raise TypeError(f"{fn}: y must hold 0/1 labels, got dtype {y.dtype}")
    A.same_shape(
        fn, y, "y", A.shape(a)[:-1], "one label per pair: the shape of x1 without its last axis"
    )
    bad = _check_values(
        fn, k, y, lambda v: (v != 0) & (v != 1), "y", "0 (similar) or 1 (dissimilar)"
    )
    nan = _nan_rows(k, bad, a, a.ndim - 1)
    return k, _times(a, nan), b, y, margin, nan


def contrastive_loss(
    x1: Array, x2: Array, y: Array, *, margin: float = 1.0, reduction: Reduction = "mean"
) -> Array:
    """Contrastive loss of Hadsell, Chopra & LeCun (CVPR 2006) on the Euclidean distance
    ``d = ||x1 - x2||`` over the last axis, one pair per leading index:

        ``L = 1/2 [(1 - y) d^2 + y max(0, margin - d)^2]``

    **Labels: y = 0 for a similar pair, y = 1 for a dissimilar pair** (the paper's
    convention; codes that use 1 for "similar" pass ``1 - y``), as bool, integer or floating
    0/1. **The 1/2 factor is the paper's**; many implementations (e.g. the Keras siamese
    example) omit it: multiply by 2. ``margin >= 0``. There is no epsilon inside the distance
    (torch's ``pairwise_distance`` adds 1e-6 to the difference).

    Gradients: for x1, ``(x1 - x2)`` for a similar pair and ``-max(0, margin - d)(x1 - x2)/d``
    for a dissimilar one, finite everywhere: at ``d = 0`` a dissimilar pair's gradient is 0
    (the minimum-norm subgradient of the cone ``-margin d``); for x2 the negative.
    """
    k, a, b, y, margin, _ = _contrastive_args("contrastive_loss", x1, x2, y, margin, reduction)
    return k.contrastive_loss(a, b, y, margin, reduction)


def contrastive_loss_backward(
    grad_output: Array,
    x1: Array,
    x2: Array,
    y: Array,
    *,
    margin: float = 1.0,
    reduction: Reduction = "mean",
) -> tuple[Array, Array]:
    """``(d L/d x1, d L/d x2)`` times ``grad_output`` (see :func:`contrastive_loss`)."""
    fn = "contrastive_loss_backward"
    k, a, b, y, margin, nan = _contrastive_args(fn, x1, x2, y, margin, reduction)
    g = _grad_output(fn, k, grad_output, a, _loss_shape(A.shape(a)[:-1], reduction))
    return _times(k.contrastive_loss_backward(g, a, b, y, margin, reduction), nan)
