"""Where the fast activation formulas are accurate, for the numpy and torch fast kernels.

The backends' fast kernels (``backends/numpy_fast.py``, ``backends/torch_activations.py``)
evaluate a formula that is accurate only on part of the input range, then check, with one
minimum/maximum reduction, that every input lies there; the elements outside are computed
again by the generic kernel. Each function here names one such domain as ``(v, lo, hi)``:
the formula is accurate where ``lo <= v <= hi``, ``v`` being the input (NaN is outside every
domain: it fails both comparisons). Extra arguments (the activation's parameters) are
accepted and ignored, so a domain can be passed for any kernel's signature.

Only float32 and float64 arrays reach the fast kernels, so the bounds depend on the item
size alone and serve NumPy and torch arrays alike.
"""

from __future__ import annotations

import math

from ..backend import Array
from .activations import _GELU_SATURATION, far_tail, gelu_tail, gelu_tanh_tail, tanh_tail

Domain = tuple[Array, float, float]

_LARGEST = {4: 3.4028234663852886e38, 8: 1.7976931348623157e308}  # float32, float64


def largest_finite(x: Array) -> float:
    """The largest finite value of x's dtype (float32 or float64)."""
    return _LARGEST[x.dtype.itemsize]


def not_nan(x: Array, *params) -> Domain:
    return x, -math.inf, math.inf


def finite(x: Array, *params) -> Domain:
    big = largest_finite(x)
    return x, -big, big


def above_tail(x: Array, *params) -> Domain:
    """sigma(x) normal: 1/(1 + exp(-x)) neither underflows nor overflows."""
    return x, far_tail(x), math.inf


def above_tail_finite(x: Array, *params) -> Domain:
    return x, far_tail(x), largest_finite(x)


def sigmoid_normal(x: Array, *params) -> Domain:
    """sigma(x) and sigma(-x) both normal: |x| <= -far_tail."""
    return x, far_tail(x), -far_tail(x)


def tanh_normal(x: Array, *params) -> Domain:
    """exp(-2|x|) normal (tanh_backward's direct form)."""
    return x, -tanh_tail(x), tanh_tail(x)


def gelu_normal(x: Array, *params) -> Domain:
    """Phi(x) normal, and x phi(x) finite: gelu(approximate='none') and its derivative."""
    return x, gelu_tail(x), largest_finite(x)


def gelu_tanh_normal(x: Array, *params) -> Domain:
    """sigma(2u) normal; beyond the saturation gelu is x (the generic kernel clamps there)."""
    return x, gelu_tanh_tail(x), _GELU_SATURATION


def gelu_form_normal(x: Array, approximate: str, *params) -> Domain:
    """The normal range of the GELU form ``approximate`` names."""
    return (gelu_tanh_normal if approximate == "tanh" else gelu_normal)(x)
