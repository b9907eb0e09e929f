"""The activation cases and inputs shared by the at-scale tests of the backends' fast kernels,
``test_numpy_fast.py`` (the numpy backend's) and ``test_activations_torch_native.py`` (torch's
native ones): every elementwise case and the row functions (``CASES``, with their ``ids``), the
special values sprinkled over large arrays (``SPECIAL``), moderate in-domain inputs and each
case's forward and backward calls.
"""

from __future__ import annotations

import numpy as np

from .cases import ELEMENTWISE, ActivationCase

SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0, -100.0, -750.0, 1e30, -1e30, 5e-324, 1e-40]


def calls(case: ActivationCase, dtype: str, rng: np.random.Generator, x: np.ndarray):
    g = rng.uniform(-2.0, 2.0, x.shape).astype(dtype)
    return [
        (case.name, (x,), case.params),
        (case.backward, (g, x), case.params),
    ]


def moderate_inputs(dtype: str, shape, rng, case: ActivationCase | None = None) -> np.ndarray:
    """Random normal values times 4, inside the fast domains: for softplus below its
    threshold, for gelu above the float32 tail of its tanh form."""
    x = rng.standard_normal(shape) * 4.0
    if case is not None and case.name == "softplus":
        beta, threshold = case.params
        x = np.minimum(x, 0.99 * threshold / beta)
    if case is not None and case.name == "gelu":
        x = np.maximum(x, -9.5)
    return x.astype(dtype)


ROW_CASES = [ActivationCase("softmax", (-1,)), ActivationCase("log_softmax", (-1,))]
CASES = ELEMENTWISE + ROW_CASES
ids = [c.id for c in CASES]
