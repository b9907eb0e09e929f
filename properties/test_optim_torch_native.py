"""torch's native Adam/AdamW step (``primitives/backends/torch_optim.py``) against the generic
kernel on torch, step by step, and a mutant of it that the same comparison rejects.

The suite's optimizer properties judge the native step through the public API (the ``torch``
id: trajectories against the float64 references, torch.optim and optax); this checks that it
computes the generic kernel's formula on drawn trajectories, with and without (decoupled)
weight decay, and that AMSGrad (which it hands to the generic kernel) still runs through it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from . import tolerances

torch = pytest.importorskip("torch", reason="these are the torch backend's own kernels")

import primitives as P  # noqa: E402
from primitives import _dispatch  # noqa: E402
from primitives.backends import torch_optim  # noqa: E402

GENERIC = _dispatch.Kernels(_dispatch.kernels("torch").backend, use_native=False)
_TORCH_DTYPE = {"float32": torch.float32, "float64": torch.float64}


def _trajectory(step, opt, x, grads):
    state = opt.init(x)
    with torch.no_grad():
        for g in grads:
            x, state = step(opt, x, g, state)
    return x, state


def _native(opt, x, g, state):
    return opt.step(x, g, state)


def _generic(opt, x, g, state):
    table = _dispatch.kernels("torch")
    saved = table.optim_adam
    table.optim_adam = GENERIC.optim_adam
    try:
        return opt.step(x, g, state)
    finally:
        table.optim_adam = saved


def _close(what, dtype, a, b, steps, terms):
    """Normwise: |a - b| <= OPTIM_RTOL k (max|b| + terms), ``terms`` the size of what the
    step sums (the moments' g and g^2: their terms cancel, so the result's size is no bound)."""
    a, b = a.double().numpy(), b.double().numpy()
    bound = tolerances.OPTIM_RTOL[dtype] * steps * (np.abs(b).max() + terms)
    assert np.all(np.abs(a - b) <= bound), f"{what}: max error {np.max(np.abs(a - b))}"


@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("rule", ("adam", "adamw", "adam_l2", "adam_amsgrad"))
@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 6))
def test_native_adam_matches_generic(dtype, rule, seed, steps):
    rng = np.random.default_rng(seed)
    kwargs = {
        "adam": {},
        "adamw": {"weight_decay": 0.05},
        "adam_l2": {"weight_decay": 0.05},
        "adam_amsgrad": {"amsgrad": True},
    }[rule]
    opt = (P.optim.adamw if rule == "adamw" else P.optim.adam)(lr=1e-2, **kwargs)
    x = torch.tensor(rng.standard_normal(7), dtype=_TORCH_DTYPE[dtype])
    grads = [torch.tensor(rng.standard_normal(7), dtype=x.dtype) for _ in range(steps)]
    native, ns = _trajectory(_native, opt, x, grads)
    generic, gs = _trajectory(_generic, opt, x, grads)
    gmax = max(float(g.abs().max()) for g in grads)
    terms = 1.0 + gmax + gmax**2
    _close(f"{rule} params [{dtype}]", dtype, native, generic, steps, terms)
    assert ns.slots.keys() == gs.slots.keys()
    for name in ns.slots:
        _close(f"{rule} {name} [{dtype}]", dtype, ns.slots[name], gs.slots[name], steps, terms)


def test_native_adam_without_bias_correction_is_rejected(monkeypatch):
    """The mutant: the native kernel with its bias corrections replaced by 1."""
    real_expm1 = torch.expm1
    monkeypatch.setattr(torch_optim.torch, "expm1", lambda t: torch.full_like(t, -1.0))
    table = _dispatch.kernels("torch")
    mutant = torch_optim.kernels(lambda: table.backend)["optim_adam"]
    monkeypatch.setattr(table, "optim_adam", mutant)
    opt = P.optim.adam(lr=1e-2)
    x = torch.linspace(-1.0, 1.0, 7, dtype=torch.float64)
    grads = [torch.full_like(x, 0.5)] * 3
    bad, _ = _trajectory(_native, opt, x, grads)
    monkeypatch.setattr(torch_optim.torch, "expm1", real_expm1)
    monkeypatch.setattr(table, "optim_adam", GENERIC.optim_adam)
    good, _ = _trajectory(_native, opt, x, grads)
    with pytest.raises(AssertionError, match="max error"):
        _close("mutant", "float64", bad, good, 3, 1.5)
