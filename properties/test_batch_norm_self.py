"""The batch-norm properties test themselves: deliberately wrong implementations must be
rejected by the same property functions that judge the library, on fixed inputs and on
Hypothesis-drawn ones. A property that let one of these through would be too weak."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import strategies as st

import primitives as P
from primitives import _dispatch

from . import batch_norm_properties as B
from .batch_norm_cases import Problem, along
from .implementations import Implementation
from .mutants import drawn, rejects

_B = _dispatch.kernels("numpy").backend
_PUBLIC = {name: getattr(P, name) for name in P.__all__ if not name[0].isupper()}


def mutant(**overrides) -> Implementation:
    """The library on numpy with some public functions replaced by wrong ones."""
    return Implementation("mutant", _B, SimpleNamespace(**{**_PUBLIC, **overrides}), "mutant")


# --- the wrong batch norms (numpy, written plainly) ------------------------------------------


def _bn(unbiased_normalization=False, flax_momentum=False, unshifted=False):
    """A numpy batch norm with one of three classic bugs."""

    def batch_norm(x, running_mean, running_var, weight=None, bias=None, training=True,
                   momentum=0.1, eps=1e-5, axis=1):  # fmt: skip
        if not training:
            return P.batch_norm(x, running_mean, running_var, weight, bias, False, momentum,
                                eps, axis)  # fmt: skip
        axis = axis % x.ndim
        dims = tuple(i for i in range(x.ndim) if i != axis)
        n = x.size // x.shape[axis]
        shift = 0.0 if unshifted else _first(x, axis)
        mean = np.mean(x - shift, axis=dims, keepdims=True) + shift
        d = x - mean
        var = np.mean(d * d, axis=dims, keepdims=True)
        norm_var = var * n / (n - 1) if unbiased_normalization else var
        out = d / np.sqrt(norm_var + eps)
        if weight is not None:
            out = out * along(weight, axis, x.ndim)
        if bias is not None:
            out = out + along(bias, axis, x.ndim)
        if running_mean is None:
            return out, None, None
        m = 1.0 - momentum if flax_momentum else momentum  # flax's m on the old value
        flat_mean, flat_var = mean.reshape(-1), var.reshape(-1) * n / (n - 1)
        new_rm = (1.0 - m) * running_mean + m * flat_mean
        new_rv = (1.0 - momentum) * running_var + momentum * flat_var
        return out.astype(x.dtype), new_rm.astype(x.dtype), new_rv.astype(x.dtype)

    return batch_norm


def _first(x: np.ndarray, axis: int) -> np.ndarray:
    """Each channel's first value, broadcastable to x (the shift)."""
    index = tuple(slice(None) if i == axis else slice(0, 1) for i in range(x.ndim))
    return x[index]


def _backward_without_the_x_hat_term(g, x, weight=None, running_mean=None, running_var=None,
                                     training=True, eps=1e-5, axis=1):  # fmt: skip
    # the common slip: dx = (g_hat - mean(g_hat)) / sigma, forgetting the variance's path
    dx, dw, db = P.batch_norm_backward(g, x, weight, running_mean, running_var, training, eps,
                                       axis)  # fmt: skip
    if not training:
        return dx, dw, db
    axis = axis % x.ndim
    dims = tuple(i for i in range(x.ndim) if i != axis)
    var = np.var(x, axis=dims, keepdims=True)
    sigma = np.sqrt(var + eps)
    x_hat = (x - np.mean(x, axis=dims, keepdims=True)) / sigma
    g_hat = g if weight is None else g * along(weight, axis, x.ndim)
    return dx + x_hat * np.mean(g_hat * x_hat, axis=dims, keepdims=True) / sigma, dw, db


MUTANTS = {
    "normalizing with the unbiased variance": mutant(batch_norm=_bn(unbiased_normalization=True)),
    "running mean with flax's momentum under torch's name": mutant(
        batch_norm=_bn(flax_momentum=True)
    ),
    "centring without a shift": mutant(batch_norm=_bn(unshifted=True)),
    "backward without the x_hat term": mutant(batch_norm_backward=_backward_without_the_x_hat_term),
}


# --- rejection -------------------------------------------------------------------------------


X = np.array([[1.0, -2.0, 0.5], [0.0, 0.25, -1.0], [4.0, 1.0, 1.0], [2.0, 3.0, -3.0]])
G = np.array([[1.0, 0.5, -1.0], [0.25, -2.0, 1.0], [0.0, 1.0, 1.5], [-1.0, 0.0, 0.5]])
FIXED = Problem(X, np.zeros(3), np.ones(3), np.array([1.5, -1.0, 0.5]),
                np.array([0.0, 0.25, -1.0]), True, 0.1, 1e-5, 1)  # fmt: skip


def test_unbiased_normalization_is_rejected():
    m = MUTANTS["normalizing with the unbiased variance"]
    rejects(lambda: B.batch_norm_matches_reference(m, "float32", FIXED))
    rejects(lambda: B.normalized_moments(m, "float64", FIXED))
    rejects(lambda: B.evaluation_with_batch_statistics_is_training(m, "float64", FIXED))
    rejects(lambda: B.matches_torch(m, "float64", FIXED, G))
    drawn(B.problems("float32", training=True),
           lambda p: B.batch_norm_matches_reference(m, "float32", p))  # fmt: skip


def test_flax_momentum_under_the_torch_name_is_rejected():
    m = MUTANTS["running mean with flax's momentum under torch's name"]
    rejects(lambda: B.batch_norm_matches_reference(m, "float64", FIXED))
    rejects(lambda: B.matches_torch(m, "float32", FIXED, G))
    rejects(lambda: B.matches_flax(m, "float64", FIXED))
    drawn(B.problems("float64", training=True, running=True),
           lambda p: B.batch_norm_matches_reference(m, "float64", p))  # fmt: skip


def test_centring_without_a_shift_is_rejected():
    m = MUTANTS["centring without a shift"]
    rejects(lambda: B.constant_channel_gives_bias(m, "float32", (7, 2), 0.1, 1e-5))
    drawn(st.sampled_from(B.CONSTANT_VALUES),
           lambda v: B.constant_channel_gives_bias(m, "float64", (7, 3), v, 1e-5))  # fmt: skip


def test_backward_without_the_x_hat_term_is_rejected():
    m = MUTANTS["backward without the x_hat term"]
    rejects(lambda: B.backward_matches_reference(m, "float64", FIXED, G))
    rejects(lambda: B.backward_matches_finite_differences(m, FIXED, G))
    rejects(lambda: B.input_gradient_laws(m, "float32", FIXED, G))


def test_the_library_passes_the_same_checks():
    """The same fixed-input checks accept the library itself (so the rejections above are the
    mutations', not the inputs')."""
    lib = mutant()
    for dtype in ("float32", "float64"):
        B.batch_norm_matches_reference(lib, dtype, FIXED)
        B.normalized_moments(lib, dtype, FIXED)
        B.evaluation_with_batch_statistics_is_training(lib, dtype, FIXED)
        B.matches_torch(lib, dtype, FIXED, G)
        B.matches_flax(lib, dtype, FIXED)
        B.backward_matches_reference(lib, dtype, FIXED, G)
        B.input_gradient_laws(lib, dtype, FIXED, G)
        B.constant_channel_gives_bias(lib, dtype, (7, 2), 0.1, 1e-5)
    B.backward_matches_finite_differences(lib, FIXED, G)


def test_every_mutant_is_exercised():
    """Each mutant above is rejected by some test in this module (kept in sync by name)."""
    import inspect
    import sys

    source = inspect.getsource(sys.modules[__name__])
    for name in MUTANTS:
        assert source.count(f'MUTANTS["{name}"]') >= 1, name
