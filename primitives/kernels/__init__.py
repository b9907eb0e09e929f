"""The tables of primitives that backends build their kernel tables from.

* :data:`SPECS`: differentiable primitives of one array (the activations), each a forward and
  a backward kernel; backends wrap them for their autodiff (``Backend.wrap``).
* :data:`FUNCTIONS`: every other kernel (losses, optimizer updates, layers, ...), a plain
  function ``fn(b, *args)`` with the positions of its static (non-array) arguments, which a
  backend may compile with them fixed (``Backend.compile``; jax jits). On torch and jax these
  stay differentiable by the framework's autodiff through their (numerically stable) ops, or,
  for a spec that names its ``backward`` (the losses), through that hand-written gradient.
  A family registers its kernels with :func:`register_functions`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from . import activations as _act


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


def _spec(name: str, *params: tuple[str, Any], elementwise: bool = True) -> PrimitiveSpec:
    return PrimitiveSpec(
        name,
        getattr(_act, name),
        getattr(_act, name + "_backward"),
        tuple(params),
        elementwise,
    )


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


FUNCTIONS: dict[str, FunctionSpec] = {}


def register_functions(*specs: FunctionSpec) -> None:
    """Add a family's kernels to :data:`FUNCTIONS` (before any backend is loaded)."""
    for spec in specs:
        FUNCTIONS[spec.name] = spec


SPECS: dict[str, PrimitiveSpec] = {
    s.name: s
    for s in (
        _spec("relu"),
        _spec("leaky_relu", ("negative_slope", 0.01)),
        _spec("sigmoid"),
        _spec("tanh"),
        _spec("gelu", ("approximate", "none")),
        _spec("silu"),
        _spec("softplus", ("beta", 1.0), ("threshold", 20.0)),
        _spec("elu", ("alpha", 1.0)),
        _spec("softmax", ("axis", -1), elementwise=False),
        _spec("log_softmax", ("axis", -1), elementwise=False),
    )
}

from ..optim import _kernels as _optim  # noqa: E402,F401  (registers the optimizer kernels)
from . import batch_norm as _batch_norm  # noqa: E402,F401  (dropout and batch norm)
from . import dropout as _dropout  # noqa: E402,F401
from . import layers as _layers  # noqa: E402,F401  (layer norm and linear)
from . import losses as _losses  # noqa: E402,F401  (registers the loss kernels)
from . import penalties as _penalties  # noqa: E402,F401  (L1/L2 penalties)
