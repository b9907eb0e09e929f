"""The L1 and L2 penalties' properties: plain functions of (implementation, name, dtype,
problem), judged on the library by ``test_penalties.py`` (values and gradients against the
float64 references, finite differences away from 0, the frameworks' autodiff), in
float16/bfloat16 by ``test_layers_low_precision.py``, and on deliberately wrong penalties by
``test_penalties.py``'s self-tests; and the problems and cotangents they are drawn on.

The bounds (stated in ``test_penalties.py``) are in :mod:`properties.penalty_cases`, the
comparison in :mod:`properties.layer_norm_cases`.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from . import strategies as S
from .checks import check_vjp, fold_cotangent
from .implementations import Implementation, framework_of
from .layer_norm_cases import dtype_name, gamma, within
from .penalty_cases import (
    REFERENCE,
    REFERENCE_GRAD,
    TEMPLATES,
    Problem,
    Run,
    backward_bound,
    flatten,
    forward_bound,
    same_structure,
)

# --- problems --------------------------------------------------------------------------------


def _entries(dtype: str, away_from_zero: bool):
    width = 32 if dtype == "float32" else 64
    v = st.floats(-10, 10, width=width, allow_subnormal=False)
    if away_from_zero:  # off the kink of |x| by at least 1e-2 (by construction, not filtering)
        return v.map(lambda t: float(np.copysign(max(abs(t), 1e-2), t)))
    # exact zeros (the subgradient), and no tiny squares that XLA would flush
    return v.map(lambda t: 0.0 if abs(t) < 1e-3 else t)


@st.composite
def problems(draw, dtype: str, away_from_zero: bool = False, whole_domain: bool = False):
    """(``whole_domain``: lam over [0, 1e6], not a few values; jax compiles each anew.)"""
    template = draw(st.sampled_from(sorted(TEMPLATES)))
    shapes, _ = TEMPLATES[template]
    leaves = tuple(draw(S.arrays("float64", s, _entries(dtype, away_from_zero))) for s in shapes)
    few = st.sampled_from([0.0, 0.01, 0.5, 3.0])
    lam = draw((st.just(0.0) | S.magnitudes(1e-6, 1e6)) if whole_domain else few, label="lam")
    return Problem(template, leaves, lam)


def draw_grad_output(data) -> float:
    return data.draw(st.sampled_from([1.0, -0.5, 2.0]), label="g")


# --- the properties --------------------------------------------------------------------------


def forward_matches_reference(impl: Implementation, name: str, dtype: str, p: Problem) -> None:
    run = Run(impl, p, dtype)
    out = run.forward(name)
    what = f"{name}({p.template}, lam={p.lam}) on {impl.id}"
    assert dtype_name(out) == dtype, f"{what}: dtype {out.dtype}, expected {dtype}"
    assert tuple(out.shape) == (), f"{what}: shape {tuple(out.shape)}, expected ()"
    run.check_unchanged()
    expected = REFERENCE[name](run.exact, p.lam)
    within(what, dtype, impl.numpy(out), expected, forward_bound(run.exact, expected, dtype))


def backward_matches_reference(
    impl: Implementation, name: str, dtype: str, p: Problem, g: float
) -> None:
    """The gradient keeps the structure and dtype and is (lam g) sign(x) / (lam g) x."""
    run = Run(impl, p, dtype)
    grads = run.backward(name, g)
    what = f"{name}_backward({p.template}, lam={p.lam}) on {impl.id}"
    assert same_structure(run.params, grads), f"{what}: structure {grads!r} != the params'"
    run.check_unchanged()
    g_seen = float(impl.numpy(impl.array(np.float64(g), dtype)))
    expected = REFERENCE_GRAD[name](g_seen, run.exact, p.lam)
    for i, (a, e) in enumerate(zip(flatten(grads), expected, strict=True)):
        assert dtype_name(a) == dtype, f"{what}: leaf {i} dtype {a.dtype}, expected {dtype}"
        within(f"{what}, leaf {i}", dtype, impl.numpy(a), e, backward_bound(e, dtype))


def backward_matches_finite_differences(impl: Implementation, name: str, p: Problem, g) -> None:
    """In float64, away from 0, each leaf's gradient agrees with finite differences."""
    run = Run(impl, p, "float64")
    grads = flatten(run.backward(name, g))
    for i, x in enumerate(run.exact):

        def f(v, i=i):
            leaves = list(run.leaves)
            leaves[i] = impl.array(v, "float64")
            return np.asarray(impl.numpy(run.forward(name, leaves)))

        fun, cot = fold_cotangent(f, np.float64(g), x) if x.size > 1 else (f, np.float64(g))
        label = f"{name}_backward({p.template}) on {impl.id}, leaf {i} [float64]"
        report = check_vjp(label, fun, impl.numpy(grads[i]), cot, x)
        assert report.ok, report.message


def backward_matches_autodiff(
    impl: Implementation, name: str, dtype: str, p: Problem, g: float
) -> None:
    """torch.autograd / jax.grad through the penalty equal the backward, zeros included (the
    subgradient 0 of |x| at 0)."""
    fw = framework_of(impl)
    run = Run(impl, p, dtype)
    ga = impl.array(np.float64(g), dtype)
    if fw == "torch":
        leaves = [a.detach().clone().requires_grad_(True) for a in run.leaves]
        run.forward(name, leaves).backward(ga)
        auto = [a.grad for a in leaves]
    else:
        import jax

        _, vjp = jax.vjp(lambda *leaves: run.forward(name, list(leaves)), *run.leaves)
        auto = vjp(ga)
    ours = flatten(run.backward(name, g))
    for i, (h, a) in enumerate(zip(auto, ours, strict=True)):
        a, h = impl.numpy(a), impl.numpy(h)
        what = f"{name}({p.template}) on {impl.id}: {fw} autodiff, leaf {i}"
        within(what, dtype, h, a, 2 * gamma(3, dtype) * np.abs(a))
