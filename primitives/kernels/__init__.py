"""The table of primitives: for each, its generic forward and backward kernels and parameters.

Backends build their kernel tables from :data:`SPECS`; the property suite iterates over it.
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
