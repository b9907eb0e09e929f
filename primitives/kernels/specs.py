"""The records a primitive is declared with: :class:`PrimitiveSpec` for the activations (a
forward and a backward kernel), :class:`FunctionSpec` for every other kernel. Each family module
of :mod:`primitives.kernels` lists its own in ``KERNELS``; the package collects them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple


class PrimitiveSpec(NamedTuple):
    """A differentiable primitive ``forward(b, x, *params)`` with ``backward(b, g, x, *params)``.

    ``params`` lists the parameter names and defaults in positional order; ``elementwise``
    says whether output element i depends on input element i alone.
    """

    name: str
    forward: Callable[..., Any]
    backward: Callable[..., Any]
    params: tuple[tuple[str, Any], ...] = ()
    elementwise: bool = True


class FunctionSpec(NamedTuple):
    """A kernel ``fn(b, *args)``; ``static_argnums`` are the positions (among ``args``) of its
    non-array arguments.

    ``backward`` names the kernel, also in :data:`FUNCTIONS`, that is this one's hand-written
    gradient: ``backward(b, g, *args)``, with ``g`` of the (first) result's shape, returns the
    gradient with respect to each argument listed in ``grads`` (positions among ``args``; one
    array for the first argument alone, else a tuple in that order, ``None`` for an argument
    that is ``None``). Backends then make autodiff use it (``Backend.wrap_function``), so
    ``loss.backward()`` and ``jax.grad`` get the accurate gradient, not the derivative of the
    forward formula's operations (which can cancel where the hand-written one does not).
    """

    name: str
    fn: Callable[..., Any]
    static_argnums: tuple[int, ...] = ()  # positions among the arguments after ``b``
    backward: str | None = None
    grads: tuple[int, ...] = (0,)
