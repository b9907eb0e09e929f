"""NaN and infinite incoming gradients through the backward of every loss, layer norm, batch
norm, linear, dropout and the penalties (the activations: test_nonfinite_grad_output.py).

The property is the same for each: a NaN grad_output element gives NaN wherever the exact
gradient depends on it (the reference's gradient for that element alone is nonzero); an
infinite one gives no finite value there (an infinity, or NaN where it meets a 0 or another
infinity); the elements that depend only on finite grad_output come out as they do with the
non-finite ones made 0 (within 64 ULPs: another code path is allowed, a spread is not); where
the exact gradient is 0 whatever grad_output is (an ignored target row), 0 and NaN are both
accepted (IEEE 754 gives NaN for NaN * 0). The other tests draw finite grad_output only, so a
backward that zeroed, clipped or dropped a non-finite gradient passed them.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from . import loss_cases
from . import strategies as S
from .activation_checks import within_64_ulps
from .implementations import PUBLIC_API, Implementation

IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = ("float32", "float64")

BAD = st.sampled_from([np.nan, np.inf, -np.inf])


def judge(
    what: str,
    dtype: str,
    got: np.ndarray,
    clean: np.ndarray,
    nan_at: np.ndarray,
    inf_at: np.ndarray,
    free: np.ndarray | None = None,
) -> None:
    """``got``: a gradient with non-finite grad_output; ``clean``: the same with those elements
    0; ``nan_at``/``inf_at``: where it depends on a NaN / an infinite element; ``free``: where
    it is 0 whatever grad_output is (either 0 or NaN accepted there)."""
    free = np.zeros(got.shape, bool) if free is None else free
    near = within_64_ulps(dtype, got, clean)
    with np.errstate(invalid="ignore"):
        good = np.where(
            nan_at,
            np.isnan(got),
            np.where(inf_at, ~np.isfinite(got), near | (free & np.isnan(got))),
        )
    if not good.all():
        i = int(np.argmin(good.ravel()))
        kind = "NaN" if nan_at.flat[i] else "non-finite" if inf_at.flat[i] else "as without"
        raise AssertionError(
            f"{what} [{dtype}]: {int((~good).sum())} of {good.size} element(s) wrong; first at "
            f"flat index {i}: expected {kind} (with the non-finite grad_output made 0: "
            f"{clean.flat[i]!r}), got {got.flat[i]!r}"
        )


def _place(data, g: np.ndarray) -> tuple[np.ndarray, tuple, float]:
    """g with one drawn element made NaN or ±inf: (g, its index, the value)."""
    index = tuple(data.draw(st.integers(0, n - 1), label="at") for n in g.shape)
    bad = data.draw(BAD, label="non-finite")
    g = g.copy()
    g[index] = bad
    return g, index, bad


def _finite(g: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(g), g, 0.0)


def _unit(g: np.ndarray, index: tuple) -> np.ndarray:
    """grad_output 1 at ``index`` and 0 elsewhere: the response shows where the gradient
    does not depend on that element (a zero weight, x equal to its row's mean, sign(0))."""
    unit = np.zeros(g.shape)
    unit[index] = 1.0
    return unit


def _masks(
    shape: tuple, support, bad: float, response: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nan_at, inf_at, free): the support of the bad element where ``response`` (the gradient
    for a unit grad_output there) is nonzero; ``free`` where the response is 0 (there 0 and
    NaN are both right: IEEE 754 gives NaN * 0 = NaN, a select gives 0)."""
    dep = np.zeros(shape, bool)
    dep[support] = True
    free = np.asarray(response) == 0
    dep &= ~free
    none = np.zeros(shape, bool)
    return (dep, none, free) if np.isnan(bad) else (none, dep, free)


# --- losses ----------------------------------------------------------------------------------


def loss_backward_nonfinite(
    impl: Implementation,
    case: loss_cases.LossCase,
    dtype: str,
    problem: loss_cases.Problem,
    reduction: str,
    data,
) -> None:
    run = loss_cases.Run(impl, case, problem, dtype)
    shape = loss_cases.reference(case, run.seen, reduction).shape
    if shape:
        g = data.draw(S.arrays("float64", shape, st.floats(-2, 2)), label="g")
        g, index, bad = _place(data, g)
        unit = np.zeros(shape)
        unit[index] = 1.0
    else:
        g = bad = data.draw(BAD, label="g")
        unit = np.float64(1.0)
    clean_g = np.where(np.isfinite(g), g, 0.0)
    got = [impl.numpy(a) for a in run.backward(reduction, g)]
    clean = [impl.numpy(a) for a in run.backward(reduction, clean_g)]
    depends = loss_cases.reference_grad(case, unit, run.seen, reduction)
    anywhere = loss_cases.reference_grad(case, np.ones(shape), run.seen, reduction)
    for i, (a, c, d, any_) in enumerate(zip(got, clean, depends, anywhere, strict=True)):
        dep = np.asarray(d) != 0
        none = np.zeros(dep.shape, bool)
        nan_at, inf_at = (dep, none) if np.isnan(bad) else (none, dep)
        what = f"{case.id}_backward(reduction={reduction!r}) on {impl.id}, gradient {i}"
        judge(what, dtype, a, c, nan_at, inf_at, free=np.asarray(any_) == 0)


@pytest.mark.parametrize("case", loss_cases.CASES, ids=loss_cases.ids)
@given(data=st.data())
def test_loss_backward_nan_and_inf_grad_output(impl, dtype, case, data):
    problem = data.draw(case.draw(dtype, False), label="problem")
    reduction = data.draw(st.sampled_from(case.reductions), label="reduction")
    loss_backward_nonfinite(impl, case, dtype, problem, reduction, data)


# --- layer norm, batch norm, linear ----------------------------------------------------------


def _values(dtype: str):
    return S.values(dtype, -8.0, 8.0)


def layer_norm_nonfinite(impl: Implementation, dtype: str, data) -> None:
    """x (3, 4) normalized over the last axis: a bad g[r, c] reaches the whole row r of dx,
    and dweight[c], dbias[c]."""
    x, w, b = (
        data.draw(S.arrays(dtype, s, _values(dtype)), label=n)
        for s, n in (((3, 4), "x"), ((4,), "weight"), ((4,), "bias"))
    )
    g, (r, c), bad = _place(data, data.draw(S.arrays(dtype, (3, 4), _values(dtype)), label="g"))
    args = [impl.array(a, dtype) for a in (x, w, b)]

    def backward(gv):
        ga = impl.array(gv, dtype)
        return [impl.numpy(o) for o in impl.ops.layer_norm_backward(ga, args[0], 4, *args[1:])]

    got, clean, unit = backward(g), backward(_finite(g)), backward(_unit(g, (r, c)))
    supports = [(r, slice(None)), (c,), (c,)]
    for name, a, cl, u, sup in zip(
        ("dx", "dweight", "dbias"), got, clean, unit, supports, strict=True
    ):
        what = f"layer_norm_backward on {impl.id}: {name}"
        judge(what, dtype, a, cl, *_masks(a.shape, sup, bad, u))


def batch_norm_nonfinite(impl: Implementation, dtype: str, data) -> None:
    """Training, x (4, 3) with channels on axis 1: a bad g[n, c] reaches the whole channel c of
    dx, and dweight[c], dbias[c]."""
    x = data.draw(S.arrays(dtype, (4, 3), _values(dtype)), label="x")
    w = data.draw(S.arrays(dtype, (3,), _values(dtype)), label="weight")
    g, (n, c), bad = _place(data, data.draw(S.arrays(dtype, (4, 3), _values(dtype)), label="g"))
    xa, wa = impl.array(x, dtype), impl.array(w, dtype)

    def backward(gv):
        out = impl.ops.batch_norm_backward(impl.array(gv, dtype), xa, wa)
        return [impl.numpy(o) for o in out]

    got, clean, unit = backward(g), backward(_finite(g)), backward(_unit(g, (n, c)))
    supports = [(slice(None), c), (c,), (c,)]
    for name, a, cl, u, sup in zip(
        ("dx", "dweight", "dbias"), got, clean, unit, supports, strict=True
    ):
        what = f"batch_norm_backward on {impl.id}: {name}"
        judge(what, dtype, a, cl, *_masks(a.shape, sup, bad, u))


def linear_nonfinite(impl: Implementation, dtype: str, data) -> None:
    """x (3, 4), weight (2, 4), bias (2,): a bad g[n, o] reaches dx[n, :], dweight[o, :] and
    dbias[o]."""
    x = data.draw(S.arrays(dtype, (3, 4), _values(dtype)), label="x")
    w = data.draw(S.arrays(dtype, (2, 4), _values(dtype)), label="weight")
    b = data.draw(S.arrays(dtype, (2,), _values(dtype)), label="bias")
    g, (n, o), bad = _place(data, data.draw(S.arrays(dtype, (3, 2), _values(dtype)), label="g"))
    args = [impl.array(a, dtype) for a in (x, w, b)]

    def backward(gv):
        return [impl.numpy(a) for a in impl.ops.linear_backward(impl.array(gv, dtype), *args)]

    got, clean, unit = backward(g), backward(_finite(g)), backward(_unit(g, (n, o)))
    supports = [(n, slice(None)), (o, slice(None)), (o,)]
    for name, a, cl, u, sup in zip(
        ("dx", "dweight", "dbias"), got, clean, unit, supports, strict=True
    ):
        what = f"linear_backward on {impl.id}: {name}"
        judge(what, dtype, a, cl, *_masks(a.shape, sup, bad, u))


def dropout_nonfinite(impl: Implementation, dtype: str, data) -> None:
    """A bad g[i] gives a bad gradient at i, kept or dropped (g * 0 is NaN for NaN and inf)."""
    g, index, bad = _place(data, data.draw(S.arrays(dtype, (8,), _values(dtype)), label="g"))
    mask = data.draw(hnp.arrays(np.bool_, (8,)), label="mask")
    p = data.draw(st.floats(0.05, 0.95), label="p")
    ma = impl.exact(mask)

    def backward(gv):
        return impl.numpy(impl.ops.dropout_backward(impl.array(gv, dtype), ma, p))

    got, clean, unit = backward(g), backward(_finite(g)), backward(_unit(g, index))
    what = f"dropout_backward on {impl.id}"
    judge(what, dtype, got, clean, *_masks(got.shape, index, bad, unit))


def penalties_nonfinite(impl: Implementation, dtype: str, data) -> None:
    """A bad scalar grad_output reaches every entry of every parameter's gradient."""
    params = {
        "w": impl.array(data.draw(S.arrays(dtype, (2, 3), _values(dtype)), label="w"), dtype),
        "b": impl.array(data.draw(S.arrays(dtype, (3,), _values(dtype)), label="b"), dtype),
    }
    lam = data.draw(st.floats(1e-3, 10.0), label="lam")
    bad = data.draw(BAD, label="g")
    for name in ("l1_penalty_backward", "l2_penalty_backward"):
        fn = getattr(impl.ops, name)
        got, clean, unit = fn(bad, params, lam), fn(0.0, params, lam), fn(1.0, params, lam)
        for key in params:
            a, c, u = (impl.numpy(v[key]) for v in (got, clean, unit))
            judge(f"{name} on {impl.id}: {key}", dtype, a, c, *_masks(a.shape, ..., bad, u))


FAMILIES: dict[str, Any] = {
    "layer_norm": layer_norm_nonfinite,
    "batch_norm": batch_norm_nonfinite,
    "linear": linear_nonfinite,
    "dropout": dropout_nonfinite,
    "penalties": penalties_nonfinite,
}


@pytest.mark.parametrize("family", FAMILIES)
@given(data=st.data())
def test_nan_and_inf_grad_output_through_the_layers(impl, dtype, family, data):
    FAMILIES[family](impl, dtype, data)


# --- the properties test themselves ----------------------------------------------------------


def _mutant(**overrides) -> Implementation:
    """The library on numpy with some public backward functions replaced by wrong ones."""
    import primitives as P

    from .implementations import resolve

    numpy = resolve("numpy")
    public = {name: getattr(P, name) for name in P.__all__ if not name[0].isupper()}
    return numpy._replace(id="mutant", ops=SimpleNamespace(**{**public, **overrides}))


def _zeroing(fn):
    """``fn`` with a NaN or infinite grad_output replaced by 0 first (a "safe" backward)."""

    def run(g, *args, **kwargs):
        return fn(np.nan_to_num(np.asarray(g), nan=0.0, posinf=0.0, neginf=0.0), *args, **kwargs)

    return run


def test_backward_that_zeroes_nonfinite_gradients_is_rejected():
    import primitives as P

    from .mutants import drawn

    mse = _mutant(mse_loss_backward=_zeroing(P.mse_loss_backward))
    drawn(
        st.data(),
        lambda data: loss_backward_nonfinite(
            mse,
            loss_cases.CASE["mse_loss"],
            "float32",
            data.draw(loss_cases.draw_mse("float32", False)),
            data.draw(st.sampled_from(["none", "mean"])),
            data,
        ),
    )
    for family, name in (("layer_norm", "layer_norm_backward"), ("linear", "linear_backward")):
        m = _mutant(**{name: _zeroing(getattr(P, name))})
        drawn(st.data(), lambda data, m=m, family=family: FAMILIES[family](m, "float32", data))
