"""The atlas's measurements: every primitive of every family, forward and backward, on every
implementation and dtype, over a dense grid of inputs, with the suite's references and bounds.

Each family is a module with ``PRIMITIVES`` (its atlas ids) and ``curve(impl, primitive,
direction, dtype, x64)``, which builds the family's problem from the grid (one input takes the
grid's values, the others are fixed; the module's docstring says how), measures it as the
family's accuracy property does and returns a :class:`~properties.atlas.curve.Curve`, or None
where the family has no such direction or dtype:

* :mod:`.activations`: the activations and softmax/log_softmax (mpmath, ULP bounds by the
  function's sensitivity);
* :mod:`.losses`: every loss (mpmath, ULP bounds by the sensitivity; ``properties.loss_ulps``);
* :mod:`.layers`: layer norm, batch norm (training and evaluation), linear, the L1/L2
  penalties (float64 references, the layer properties' bounds);
* :mod:`.optim`: every optimizer's update rule, its new parameter and state (float64
  references, the optimizer properties' bounds; no backward).

Inputs (:func:`~properties.atlas.curve.grid`): evenly spaced over [-40, 40], logarithmically
spaced magnitudes of both signs from 1e-40 to 1e308 (subnormals, the far tails, overflow), and
the suite's edge points (``properties.cases.EDGE_POINTS``), each rounded to the dtype judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

from ..implementations import DEFAULT_DEVICE, default_ids, installed, resolve
from . import activations, layers, losses, optim
from .curve import Curve, grid

FAMILIES: tuple[ModuleType, ...] = (activations, losses, layers, optim)
PRIMITIVES: tuple[str, ...] = tuple(p for f in FAMILIES for p in f.PRIMITIVES)
"""Every primitive the atlas measures, by the suite's case ids (``gelu(none)``,
``softmax``, ``cross_entropy``, ...)."""

DIRECTIONS = ("forward", "backward")

_FAMILY = {p: f for f in FAMILIES for p in f.PRIMITIVES}


def implementation_ids(backends: Sequence[str] = ()) -> list[str]:
    """The built-in implementations whose framework is installed, then ``backends`` (module
    paths of third-party backends, or built-in ids)."""
    ids = [i for i, fw in default_ids() if fw is None or installed(fw)]
    return ids + [b for b in backends if b not in ids]


def measure(
    primitive: str,
    impl_ids: Sequence[str],
    dtypes: Sequence[str] | None = None,
    points: int = 1200,
    device: str = DEFAULT_DEVICE,
) -> list[Curve]:
    """Every curve of one primitive (forward and backward) on each implementation, in each of
    its dtypes (those in ``dtypes`` only, where given)."""
    family = _FAMILY[primitive]
    x64 = grid(points)
    curves = []
    for impl_id in impl_ids:
        impl = resolve(impl_id, device)
        for dtype in impl.dtypes:
            if dtypes is not None and dtype not in dtypes:
                continue
            for direction in DIRECTIONS:
                curve = family.curve(impl, primitive, direction, dtype, x64)
                if curve is not None:
                    curves.append(curve)
    return curves
