"""The linear layer's properties: plain functions of (implementation, dtype, problem), judged
on the library by ``test_linear.py`` (values and gradients against the float64 reference,
finite differences, the frameworks' autodiff, ``F.linear`` and flax's ``nn.Dense``), in
float16/bfloat16 by ``test_layers_low_precision.py``, and on deliberately wrong linear layers by
``test_linear_self.py``; and the problems they are drawn on.

The bound (stated in ``test_linear.py``) is in :mod:`properties.linear_cases`, the comparison
in :mod:`properties.layer_norm_cases`.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from reference import layers as R

from . import strategies as S
from .checks import check_vjp, fold_cotangent
from .implementations import Implementation, framework_of
from .layer_norm_cases import dtype_name, gamma, within
from .layer_properties import finite_values
from .linear_cases import Problem, Run, dot_terms, forward_bound, grad_bounds

# --- problems --------------------------------------------------------------------------------


# (x shape, weight shape): batch dims of several ranks, a 1-d x, square weights (where a missing
# transpose would go unnoticed by the shapes)
CONFIGS = [((4, 3), (5, 3)), ((2, 3, 4), (2, 4)), ((3,), (3, 3)), ((2, 4), (4, 4))]


@st.composite
def problems(draw, dtype: str):
    xs, ws = draw(st.sampled_from(CONFIGS))
    x = draw(S.arrays("float64", xs, finite_values(dtype, -10.0, 10.0)))
    w = draw(S.arrays("float64", ws, finite_values(dtype, -3.0, 3.0)))
    b = draw(st.none() | S.arrays("float64", ws[:1], finite_values(dtype, -10.0, 10.0)))
    return Problem(x, w, b)


def output_shape(p: Problem) -> tuple[int, ...]:
    return p.x.shape[:-1] + p.weight.shape[:1]


# --- the properties --------------------------------------------------------------------------


def forward_matches_reference(impl: Implementation, dtype: str, p: Problem) -> None:
    """z = x W^T + b within Higham's dot-product bound, with x's dtype; inputs unchanged."""
    run = Run(impl, p, dtype)
    out = run.forward()
    what = f"linear{p.x.shape}x{p.weight.shape} on {impl.id}"
    assert dtype_name(out) == dtype, f"{what}: dtype {out.dtype}, expected {dtype}"
    run.check_unchanged()
    e = run.exact
    within(what, dtype, impl.numpy(out), R.linear(e.x, e.weight, e.bias), forward_bound(e, dtype))


def backward_matches_reference(impl: Implementation, dtype: str, p: Problem, g) -> None:
    run = Run(impl, p, dtype)
    grads = run.backward(g)
    run.check_unchanged()
    e = run.exact
    g_seen = impl.numpy(impl.array(g, dtype))
    expected = R.linear_grad(g_seen, e.x, e.weight, e.bias)
    bounds = grad_bounds(g_seen, e, dtype)
    for name, a, ex, bound in zip(("dx", "dweight", "dbias"), grads, expected, bounds, strict=True):
        what = f"linear_backward{p.x.shape}x{p.weight.shape} on {impl.id}: {name}"
        if ex is None:
            assert a is None, f"{what}: expected None (no bias), got {type(a)}"
            continue
        assert dtype_name(a) == dtype, f"{what}: dtype {a.dtype}, expected {dtype}"
        within(what, dtype, impl.numpy(a), ex, bound)


def backward_matches_finite_differences(impl: Implementation, p: Problem, g) -> None:
    run = Run(impl, p, "float64")
    grads = run.backward(g)
    for i, name in enumerate(("x", "weight", "bias")):
        if run.exact[i] is None:
            continue

        def f(v, i=i):
            args = list(run.args)
            args[i] = impl.array(v, "float64")
            return impl.numpy(run.forward(*args))

        x = run.exact[i]
        # the checker reports the cotangent at the input's worst index: where g is smaller than
        # the input, fold it into the input's shape (<ones, f'> = <g, f>), as the losses do
        fun, cot = fold_cotangent(f, g, x) if np.size(g) < x.size else (f, g)
        report = check_vjp(
            f"linear_backward on {impl.id}: d{name} [float64]", fun, impl.numpy(grads[i]), cot, x
        )
        assert report.ok, report.message


def backward_matches_autodiff(impl: Implementation, dtype: str, p: Problem, g) -> None:
    fw = framework_of(impl)
    run = Run(impl, p, dtype)
    present = [i for i, a in enumerate(run.args) if a is not None]
    ga = impl.array(g, dtype)
    if fw == "torch":
        args = list(run.args)
        for i in present:
            args[i] = args[i].detach().clone().requires_grad_(True)
        run.forward(*args).backward(ga)
        auto = [args[i].grad for i in present]
    else:
        import jax

        def f(*leaves):
            args = list(run.args)
            for i, leaf in zip(present, leaves, strict=True):
                args[i] = leaf
            return run.forward(*args)

        _, vjp = jax.vjp(f, *[run.args[i] for i in present])
        auto = vjp(ga)
    grads = run.backward(g)
    bounds = grad_bounds(impl.numpy(ga), run.exact, dtype, factor=2.0)
    for i, h in zip(present, auto, strict=True):
        what = f"linear on {impl.id}: {fw} autodiff, gradient {i}"
        within(what, dtype, impl.numpy(h), impl.numpy(grads[i]), bounds[i])


def matches_torch(impl: Implementation, dtype: str, p: Problem, g) -> None:
    """The library on ``impl`` against F.linear (values and autograd gradients)."""
    import torch
    import torch.nn.functional as F

    run = Run(impl, p, dtype)
    e = run.exact
    leaves = [
        None if a is None else torch.tensor(a, dtype=getattr(torch, dtype), requires_grad=True)
        for a in e
    ]
    z = F.linear(*leaves)
    allowed = 2 * gamma(dot_terms(e), dtype) * R.linear_magnitude(*e)
    within(
        f"linear on {impl.id} vs F.linear",
        dtype,
        impl.numpy(run.forward()),
        z.detach().double().numpy(),
        allowed,
    )
    g_seen = impl.numpy(impl.array(g, dtype))
    z.backward(torch.tensor(g_seen, dtype=getattr(torch, dtype)))
    bounds = grad_bounds(g_seen, e, dtype, factor=2.0)
    for name, leaf, a, bound in zip(
        ("dx", "dweight", "dbias"), leaves, run.backward(g), bounds, strict=True
    ):
        if leaf is not None:
            what = f"linear_backward on {impl.id} vs torch autograd of F.linear: {name}"
            within(what, dtype, impl.numpy(a), leaf.grad.double().numpy(), bound)


def matches_flax(impl: Implementation, dtype: str, p: Problem) -> None:
    """The library on ``impl`` against flax nn.Dense with kernel = W^T (flax's layout)."""
    import flax.linen as nn
    import jax.numpy as jnp

    run = Run(impl, p, dtype)
    e = run.exact
    n_out = e.weight.shape[0]
    dense = nn.Dense(n_out, use_bias=e.bias is not None, dtype=dtype, param_dtype=dtype)
    params = {"kernel": jnp.asarray(e.weight.T, dtype=dtype)}
    if e.bias is not None:
        params["bias"] = jnp.asarray(e.bias, dtype=dtype)
    z = np.asarray(dense.apply({"params": params}, jnp.asarray(e.x, dtype=dtype)), np.float64)
    allowed = 2 * gamma(dot_terms(e), dtype) * R.linear_magnitude(*e)
    within(f"linear on {impl.id} vs flax Dense", dtype, impl.numpy(run.forward()), z, allowed)
