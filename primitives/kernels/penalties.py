"""L1 and L2 penalties over a flat tuple of parameter arrays, written once over a
:class:`~primitives.backend.Backend`. The public functions (:mod:`primitives.penalties`) flatten
and rebuild the parameter structures and state the conventions.

``|x|`` is ``maximum(x, -x)``: torch and jax split the derivative at the tie x = 0, so their
autodiff gives the documented subgradient 0 there (jax's ``abs`` would give 1). Each sum is of
nonnegative terms, so the penalties are accurate to a relative ``gamma_n`` (any summation order).
float16/bfloat16 leaves are computed in float32 and rounded once
(:func:`~primitives.kernels.working_precision.in_float32`).
"""

from __future__ import annotations

from ..backend import Array, Backend
from .specs import FunctionSpec
from .working_precision import in_float32


def _total(b: Backend, terms: list[Array]) -> Array:
    total = b.xp.sum(terms[0])
    for t in terms[1:]:
        total = total + b.xp.sum(t)
    return total


@in_float32
def l1_penalty(b: Backend, leaves: tuple[Array, ...], lam: float) -> Array:
    # a 0-d array of the backend (NumPy's sum gives a scalar type), as the reduced losses
    return b.xp.asarray(lam * _total(b, [b.xp.maximum(x, -x) for x in leaves]))


@in_float32
def l1_penalty_backward(
    b: Backend, g: Array, leaves: tuple[Array, ...], lam: float
) -> tuple[Array, ...]:
    xp = b.xp
    c = lam * g
    # sign(x) with sign(+-0) = +-0 and sign(NaN) = NaN: no arithmetic on x (no 0 * inf)
    return tuple(c * xp.where(x > 0, 1.0, xp.where(x < 0, -1.0, x)) for x in leaves)


@in_float32
def l2_penalty(b: Backend, leaves: tuple[Array, ...], lam: float) -> Array:
    return b.xp.asarray((0.5 * lam) * _total(b, [x * x for x in leaves]))


@in_float32
def l2_penalty_backward(
    b: Backend, g: Array, leaves: tuple[Array, ...], lam: float
) -> tuple[Array, ...]:
    c = lam * g
    return tuple(c * x for x in leaves)


KERNELS: tuple[FunctionSpec, ...] = (
    FunctionSpec("l1_penalty", l1_penalty, (1,)),
    FunctionSpec("l1_penalty_backward", l1_penalty_backward, (2,)),
    FunctionSpec("l2_penalty", l2_penalty, (1,)),
    FunctionSpec("l2_penalty_backward", l2_penalty_backward, (2,)),
)
