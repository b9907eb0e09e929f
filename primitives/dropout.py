"""Inverted dropout on NumPy, PyTorch and JAX arrays, with an explicit, native random source.

``p`` is the drop probability (torch's ``p``, flax's and Keras's ``rate``). In training each
element is kept with probability ``1 - p`` and scaled by ``1 / (1 - p)`` (inverted dropout:
Srivastava et al. 2014, JMLR 15, scaled at training time as torch, flax and Keras do), so
``E[dropout(x)] = x``. The random source is the backend's own, passed explicitly as ``rng``:

* numpy: a ``numpy.random.Generator`` (its state advances) or an ``int`` seed;
* torch: a ``torch.Generator`` on the input's device (its state advances) or an ``int`` seed
  (a fresh generator on the input's device);
* jax: a PRNG key (``jax.random.key`` or the raw ``jax.random.PRNGKey``) or an ``int`` seed;
* another backend: what its :class:`~primitives.RandomSource` (``Backend.random``) takes.

The same source in the same state gives the same mask on the same backend and device
(:func:`dropout_mask` draws it alone). Masks differ between backends and between CPU and GPU
for one seed, as the frameworks' own do.

Conventions: ``out = x * (mask * s)`` with ``s = 1 / (1 - p)`` rounded once to x's dtype, as
torch's ``F.dropout`` computes it (bitwise equal on the CPU): a kept value is ``x * s``, a
dropped one ``x * 0`` (+0 or -0 by x's sign; NaN for a NaN or infinite x: a NaN is never quietly
turned into a number). float16/bfloat16 are computed in float32 and rounded once (``s`` then never
overflows: dropped values are ``x * 0`` for every p). On numpy this raises no floating-point
warning. p = 0 and
evaluation mode (``training=False``) return ``x`` itself (no copy; the mask is ``None``); p = 1
returns zeros (and a zero gradient), never NaN from 0/0.
"""

from __future__ import annotations

from typing import Any

from . import _array_checks as A
from . import _checks as C
from ._dispatch import Kernels, _describe, _resolve, _table_of
from .backend import Array

# --- validation ------------------------------------------------------------------------------


def _probability(fn: str, p: Any) -> float:
    return C.unit_interval(fn, "p", p, meaning="a drop probability")


def _training(fn: str, training: Any) -> bool:
    return C.flag(fn, "training", training)


def _return_mask(fn: str, return_mask: Any) -> bool:
    return C.flag(fn, "return_mask", return_mask)


def _mask(fn: str, table: Kernels, mask: Any, ref: Array, ref_what: str) -> Array:
    """``mask`` as a boolean array of ``ref``'s backend and shape, else a clear error."""
    if _table_of(mask) is not table:
        raise TypeError(
            f"{fn}: mask must be a boolean array of the same backend as {ref_what} "
            f"({_describe(ref)}), got {_describe(mask)}"
        )
    if not str(mask.dtype).endswith("bool"):
        raise TypeError(f"{fn}: mask must have a boolean dtype (True = kept), got {mask.dtype}")
    A.same_shape(fn, mask, "mask", A.shape(ref), f"the shape of {ref_what}")
    return mask


# --- the random sources ----------------------------------------------------------------------


def _is_seed(fn: str, rng: Any) -> bool:
    """Whether ``rng`` is an int seed (checked: in [0, 2**63 - 1] on every backend)."""
    if isinstance(rng, int) and not isinstance(rng, bool):
        C.seed(fn, rng)
        return True
    return False


def _draw(fn: str, table: Kernels, x: Array, p: float, rng: Any) -> Array:
    """The keep-mask drawn from ``rng`` by the backend's random source (see
    :class:`primitives.RandomSource`)."""
    backend = table.backend
    source = backend.random
    if source is None:
        raise TypeError(
            f"{fn}: the {backend.name} backend has no random source; draw a boolean mask "
            "yourself and pass mask="
        )
    if not (_is_seed(fn, rng) or source.is_source(rng)):
        raise TypeError(
            f"{fn}: rng must be {source.description} for {backend.name} arrays, got "
            f"{_describe(rng)}; random sources are not shared between backends"
        )
    try:
        return source.bernoulli(x, 1.0 - p, rng)
    except ValueError as e:
        raise ValueError(f"{fn}: {e}") from None


# --- public API ------------------------------------------------------------------------------


def dropout_mask(x: Array, p: float = 0.5, *, rng: Any) -> Array:
    """The boolean keep-mask (True = kept, probability ``1 - p`` each, independently) that
    :func:`dropout` draws from ``rng``, with x's shape, on x's backend and device."""
    fn = "dropout_mask"
    p = _probability(fn, p)
    _is_seed(fn, rng)  # a bad seed is refused first, as in dropout
    table, x = _resolve(x, f"{fn}: x")
    return _draw(fn, table, x, p, rng)


def _scale(p: float) -> float:
    return 1.0 / (1.0 - p) if p < 1.0 else 1.0  # p = 1: nothing is kept, the scale is unused


def _apply(table: Kernels, kernel: str, a: Array, mask: Array, p: float) -> Array:
    """The kernel on (a, mask, scale), without the floating-point warnings (NumPy's) of
    inf * 0 = NaN and of an overflow to inf, which are the defined results here."""
    with table.backend.ignoring_errors():
        return getattr(table, kernel)(a, mask, _scale(p))


def _nothing_kept(table: Kernels, x: Array) -> Array:
    """An all-False mask of x's shape, backend and device (p = 1, whatever mask was given)."""
    return table.backend.xp.isnan(x) & False


def dropout(
    x: Array,
    p: float = 0.5,
    training: bool = True,
    *,
    rng: Any = None,
    mask: Array | None = None,
    return_mask: bool = False,
) -> Array | tuple[Array, Array | None]:
    """Inverted dropout: ``x * m / (1 - p)`` with ``m_i ~ Bernoulli(1 - p)`` independent
    (computed as ``x * (m * s)``, see the module docstring).

    Give either ``rng`` (the backend's random source, see the module docstring) or ``mask``
    (a boolean array of x's shape, True = kept). With ``return_mask=True`` returns
    ``(out, mask)`` for :func:`dropout_backward`; the mask is ``None`` where dropout is the
    identity (``training=False`` or ``p = 0``: ``x`` itself is returned, no copy, and neither
    ``rng`` nor ``mask`` is needed or used). ``p = 1`` gives zeros without any random draw (the
    mask is all False, whatever mask was given).

    Mapping: torch ``F.dropout(x, p, training)``; flax ``nn.Dropout(rate=p)`` with
    ``deterministic = not training``; Keras ``Dropout(rate=p)``. All scale kept values by
    ``1 / (1 - p)`` at training time.
    """
    fn = "dropout"
    p = _probability(fn, p)
    training = _training(fn, training)
    return_mask = _return_mask(fn, return_mask)
    _is_seed(fn, rng)  # a bad seed is refused even where it would not be used
    table, x = _resolve(x, f"{fn}: x")
    if mask is not None and rng is not None:
        raise ValueError(f"{fn}: pass either rng or mask, not both")
    if mask is not None:
        mask = _mask(fn, table, mask, x, "x")
    if not training or p == 0.0:
        return (x, None) if return_mask else x
    if p == 1.0:
        mask = _nothing_kept(table, x)
    elif mask is None:
        if rng is None:
            raise ValueError(
                f"{fn}: training with 0 < p < 1 needs a random source: pass rng= "
                "(the backend's generator, key or an int seed) or mask="
            )
        mask = _draw(fn, table, x, p, rng)
    out = _apply(table, "dropout_apply", x, mask, p)
    return (out, mask) if return_mask else out


def dropout_backward(grad_output: Array, mask: Array | None, p: float = 0.5) -> Array:
    """The gradient of :func:`dropout` with respect to ``x``: ``grad_output * (m * s)`` with
    the forward's ``mask`` (``grad_output * 0`` where dropped; no 0/0 for p = 1).

    ``mask=None`` (what the forward returns when it was the identity) gives ``grad_output``
    itself.
    """
    fn = "dropout_backward"
    p = _probability(fn, p)
    table, g = _resolve(grad_output, f"{fn}: grad_output")
    if mask is None:
        return g
    mask = _mask(fn, table, mask, g, "grad_output")
    if p == 1.0:
        mask = _nothing_kept(table, g)
    return _apply(table, "dropout_apply_backward", g, mask, p)


__all__ = ["dropout", "dropout_backward", "dropout_mask"]
