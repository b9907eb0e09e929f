"""The ``train`` rows time a real training step: their gradients are the explicit backward's.

For every case with a project and a native function on torch and jax, in float64 at 1000
elements, the gradient the training step computes (torch's ``backward()`` through autograd,
jax's jitted vector-Jacobian product) equals the ``backward`` row's, for the project and for
the native peer (NumPy's step is the forward and then the backward row's own call): a step
that dropped an input's gradient or differentiated the wrong output would time the wrong work.

No pytest import at module level (see ``test_benchmarks.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import harness
from .cases import BACKENDS, CASES, IMPLS

# the cases whose steps draw a fresh random mask per call: their gradients differ by design
_RANDOM = {"dropout"}


def _arrays(value: Any) -> list[np.ndarray]:
    """The arrays of a gradient result (one array, or a tuple or list of them), as NumPy."""
    items = value if isinstance(value, (tuple, list)) else (value,)
    out = []
    for v in items:
        if hasattr(v, "detach"):
            v = v.detach().cpu().numpy()
        out.append(np.asarray(v, dtype=np.float64))
    return out


def pytest_generate_tests(metafunc: Any) -> None:
    if "combo" in metafunc.fixturenames:
        combos = [
            (case, backend, impl)
            for case in CASES
            if "train" in case.directions and case.id not in _RANDOM
            # numpy's step calls the backward row's own callable after the forward: comparing
            # the two could not fail
            for backend in BACKENDS
            if backend != "numpy"
            for impl in IMPLS
        ]
        metafunc.parametrize("combo", combos, ids=[f"{c.id}-{b}-{i}" for c, b, i in combos])


def test_train_step_gradient_is_the_backward(combo: Any) -> None:
    import pytest

    case, backend, impl = combo
    size = 1000  # (as .ci/check-benchmarks: every build takes any size)
    try:
        runner = harness.prepare(case, backend, size, "float64", "cpu", impl)
    except NotImplementedError as e:
        pytest.skip(str(e))
    _, step_grads = runner.train()
    step, explicit = _arrays(step_grads), _arrays(runner.backward())
    # the step differentiates the case's ``wrt`` inputs, the leading ones of the backward's
    # results (the project's contrastive backward gives both embeddings' gradients)
    assert 0 < len(step) <= len(explicit), (case.id, backend, impl)
    explicit = explicit[: len(step)]
    for i, (a, b) in enumerate(zip(step, explicit, strict=True)):
        np.testing.assert_allclose(
            a, b, rtol=1e-9, atol=1e-12, err_msg=f"{case.id} {backend} {impl}: gradient {i}"
        )
