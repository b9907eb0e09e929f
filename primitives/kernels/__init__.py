"""The tables of primitives that backends build their kernel tables from.

* :data:`SPECS`: differentiable primitives of one array (the activations), each a forward and
  a backward kernel; backends wrap them for their autodiff (``Backend.wrap``).
* :data:`FUNCTIONS`: every other kernel (losses, optimizer updates, layers, ...), a plain
  function ``fn(b, *args)`` with the positions of its static (non-array) arguments, which a
  backend may compile with them fixed (``Backend.compile``; jax jits). On torch and jax these
  stay differentiable by the framework's autodiff through their (numerically stable) ops, or,
  for a spec that names its ``backward`` (the losses), through that hand-written gradient.
  Each family module lists its kernels in ``KERNELS`` (records of :mod:`.specs`); nothing is
  registered by importing a module.
"""

from __future__ import annotations

from typing import Any

from . import activations as _act
from . import batch_norm, dropout, layers, losses, optim, penalties
from .specs import FunctionSpec, PrimitiveSpec

__all__ = ["FUNCTIONS", "SPECS", "FunctionSpec", "PrimitiveSpec"]


def _spec(name: str, *params: tuple[str, Any], elementwise: bool = True) -> PrimitiveSpec:
    return PrimitiveSpec(
        name,
        getattr(_act, name),
        getattr(_act, name + "_backward"),
        tuple(params),
        elementwise,
    )


FUNCTIONS: dict[str, FunctionSpec] = {
    spec.name: spec
    for family in (optim, batch_norm, dropout, layers, losses, penalties)
    for spec in family.KERNELS
}

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
