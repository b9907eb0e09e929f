"""The accuracy atlas: every primitive of every family (activations and row functions, losses,
layers, optimizers), forward and backward, on every implementation and dtype its properties
judge, measured in ULPs against the suite's references over a dense grid of inputs, written as
a static HTML page with a heat table, error-versus-x plots and the frameworks' deviations.

    python -m properties.atlas --out atlas            # every built-in implementation
    python -m properties.atlas --out atlas --backend mypkg.mybackend

:mod:`.measure` dispatches to the family modules (each with its property's own judge), :mod:`.page`
writes the page, :mod:`.run` spreads the primitives over processes.
"""

from .measure import PRIMITIVES, Curve, grid, implementation_ids, measure
from .page import write
from .run import measure_all

__all__ = ["PRIMITIVES", "Curve", "grid", "implementation_ids", "measure", "measure_all", "write"]
