"""The L1 and L2 penalties' problems, references and bounds: the support of
``test_penalties.py`` (which states the bounds), shared with the accuracy atlas
(``properties.atlas.layers``), which must not import test modules. The comparison is
:func:`properties.layer_norm_cases.within` (per element: ``within_elements``)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from reference import penalties as R

from .implementations import Implementation
from .layer_norm_cases import gamma

NAMES = ("l1_penalty", "l2_penalty")
REFERENCE = {"l1_penalty": R.l1_penalty, "l2_penalty": R.l2_penalty}
REFERENCE_GRAD = {"l1_penalty": R.l1_penalty_grad, "l2_penalty": R.l2_penalty_grad}


# --- structures ------------------------------------------------------------------------------

# Each template: the leaves' shapes and a function building the params structure from leaves.
TEMPLATES = {
    "array": ([(5,)], lambda a: a[0]),
    "dict": ([(2, 3), (3,)], lambda a: {"weight": a[0], "bias": a[1]}),
    "nested list": ([(2, 2), (4,), ()], lambda a: [a[0], {"inner": [a[1]], "scale": a[2]}]),
    "tuple": ([(3,), (1, 2)], lambda a: (a[0], (a[1],))),
}


def flatten(params: Any) -> list:
    """The arrays of a structure in the library's order (dict insertion order, then items)."""
    if isinstance(params, dict):
        return [leaf for v in params.values() for leaf in flatten(v)]
    if isinstance(params, (list, tuple)):
        return [leaf for v in params for leaf in flatten(v)]
    return [params]


def same_structure(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(same_structure(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(same_structure(x, y) for x, y in zip(a, b, strict=True))
        )
    return not isinstance(b, (dict, list, tuple)) and tuple(a.shape) == tuple(b.shape)


class Problem(NamedTuple):
    template: str
    leaves: tuple[np.ndarray, ...]
    lam: float


class Run:
    def __init__(self, impl: Implementation, p: Problem, dtype: str):
        self.impl, self.dtype, self.p = impl, dtype, p
        self.leaves = [impl.array(a, dtype) for a in p.leaves]
        self.exact = [impl.numpy(a) for a in self.leaves]
        self.params = TEMPLATES[p.template][1](self.leaves)

    def forward(self, name: str, leaves=None):
        params = self.params if leaves is None else TEMPLATES[self.p.template][1](leaves)
        return getattr(self.impl.ops, name)(params, self.p.lam)

    def backward(self, name: str, g: float):
        ga = self.impl.array(np.float64(g), self.dtype)
        return getattr(self.impl.ops, name + "_backward")(ga, self.params, self.p.lam)

    def check_unchanged(self) -> None:
        for i, (a, e) in enumerate(zip(self.leaves, self.exact, strict=True)):
            assert np.array_equal(self.impl.numpy(a), e, equal_nan=True), f"leaf {i} changed"


# --- the bounds ------------------------------------------------------------------------------


def forward_bound(leaves: list[np.ndarray], expected, dtype: str):
    """The allowed error of a penalty of ``leaves`` (the exact values held) whose reference is
    ``expected``: gamma_(N + L + 2) relative, N entries in L arrays."""
    n = sum(a.size for a in leaves) + len(leaves) + 2
    return gamma(n, dtype) * abs(expected)


def backward_bound(expected: np.ndarray, dtype: str) -> np.ndarray:
    """The allowed error of a gradient leaf whose reference is ``expected``: gamma_3 relative
    (lam to the dtype, lam g, the product)."""
    return gamma(3, dtype) * np.abs(expected)
