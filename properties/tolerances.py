"""The one tolerance table of the suite. Every accuracy bound is read from here.

ULP bounds (elementwise and row functions, against mpmath):

    allowed ULPs at an element = ulps[dtype] + condition_ulps * u * S / ulp_dtype(y)

where y is the exact result, ``S`` = sum_j |dy/da_j| |a_j| is the result's sensitivity to its
inputs (``reference.mp.sensitivity``; for f(x) it is |x f'(x)|) and ``u`` is the unit roundoff
of the precision the primitive computes in (float32 for float16/bfloat16, which are computed in
float32 and rounded once). The second term is what any good implementation loses to rounding
its intermediates where the function itself amplifies relative errors (GELU's far tail,
softmax of large logits); where the function is well conditioned it is below one ULP and the
bound is simply ``ulps[dtype]``.

``S`` is always the function's own sensitivity, never the size of the terms one formula
subtracts: the same table judges the softmax/log_softmax backwards (``S`` over g and x in
closed form, ``reference.mp.*_vjp_sensitivity``) and the cross-entropy family's gradients
(``S`` over the logits, the weighted smoothed target and the scale,
``reference.mp.cross_entropy_row_sensitivity``; ``properties/test_loss_gradient_ulps.py``),
where a confident row's gradient 1 - p must keep its relative accuracy, and every loss and
loss gradient (``S`` over every floating input, ``properties/loss_ulps.py``).
"""

from __future__ import annotations

from typing import NamedTuple


class UlpTolerance(NamedTuple):
    ulps: float
    condition_ulps: float


ULP = {
    "float64": UlpTolerance(ulps=4.0, condition_ulps=4.0),
    "float32": UlpTolerance(ulps=4.0, condition_ulps=4.0),
    # computed in float32 and rounded once: within one ULP of the low-precision result
    "float16": UlpTolerance(ulps=1.0, condition_ulps=4.0),
    "bfloat16": UlpTolerance(ulps=1.0, condition_ulps=4.0),
}

# Precision a dtype is computed in (the library computes float16/bfloat16 in float32).
WORKING_DTYPE = {"float16": "float32", "bfloat16": "float32"}


def working_dtype(dtype: str) -> str:
    """The precision ``dtype`` is computed in: float32 for float16/bfloat16, else itself. The
    families' float32 bounds then give the slack within which a low-precision result must be
    a correct rounding (``properties.checks.rounding.rounds_once_within``)."""
    return WORKING_DTYPE.get(dtype, dtype)


class FiniteDifferenceTolerance(NamedTuple):
    """|analytic - R| <= estimate_factor * (roundoff + truncation) + rtol * max(|R|, |analytic|),
    R the Richardson-extrapolated central difference (see checks.finite_differences)."""

    rtol: float
    estimate_factor: float


FINITE_DIFFERENCES = FiniteDifferenceTolerance(rtol=1e-7, estimate_factor=10.0)

# Differential checks between two implementations of the same formula (this library against
# a framework's native function, or a law such as softplus(x) - softplus(-x) = x):
# |a - b| <= rtol * (max(|a|, |b|) + scale), scale = the size of the terms the result is formed
# from. A few ULPs of each side; the frameworks compute float16/bfloat16 in that precision.
DIFFERENTIAL_RTOL = {
    "float64": 1e-13,
    "float32": 4e-6,
    "float16": 4e-3,
    "bfloat16": 3.2e-2,
}

# Losses and their gradients against the float64 references (larger shapes, every axis, long
# rows): |a - b| <= rtol * (max(|a|, |b|) + terms) + tiny, where ``terms`` is 0 where the loss
# is a sum of nonnegative terms (the bound is relative), the gradient's sensitivity to its
# inputs for the cross-entropy family (reference.losses.cross_entropy_grad_sensitivity: small
# where a prediction is confident and right, so p - 1 by subtraction fails), and the size of
# what the other losses' gradients are formed from. About 35 units of roundoff: a few per
# term and per summation level. The judgement by the function's condition is the ULP bound
# above, against mpmath, for every loss and every loss gradient (test_losses.py's
# test_loss_ulps and test_backward_ulps, with properties/loss_ulps.py;
# test_loss_gradient_ulps.py for the cross-entropy family's confident rows); two
# implementations are each judged against the truth, never against each other
# (test_losses_torch_native.py).
LOSS_RTOL = {
    "float64": 4e-15,
    "float32": 2e-6,
}

# Batch normalization (outputs, running statistics, gradients) against the float64 reference
# and against torch/flax: |a - b| <= rtol * (|b| + terms), ``terms`` the size of what each
# result is computed from (test_batch_norm.py: for the output |weight| (|x_hat| + R / sigma) +
# |bias| with R the channel's largest |x - mean|: centring costs an absolute ulp of R, which
# the division by sigma carries over). About 35 units of roundoff.
BATCH_NORM_RTOL = {
    "float64": 8e-15,
    "float32": 4e-6,
}

# Statistical checks (dropout masks): the whole run's probability of failing a correct
# implementation by bad luck; each test divides it among its checks (test_dropout_stats.py).
STATISTICAL_FALSE_FAILURE = 1e-9

# Layer norm against the float64 reference (properties/test_layer_norm.py states the bound):
# |error| <= LAYER_NORM_ROUNDING * (n + rows) * u * magnitude, u the dtype's unit roundoff plus
# float64's; the magnitude carries the amplification max|x| / sqrt(var + eps) of the input's
# rounding. Measured worst ratio with factor 1: see docs/layers.md.
LAYER_NORM_ROUNDING = 1.0

# Optimizer trajectories against the float64 references (reference/optim.py): after step k,
# |x - x_ref| <= rtol * k * scale, where ``scale`` is |x| plus the sum of every update computed
# with all its terms in absolute value and times the condition number of its denominator.
# Each step rounds a handful of times (moments, root, division, the update), each at most a
# unit roundoff u of what it is formed from; rtol is 4 u (the most seen over 900 drawn
# trajectories per dtype and backend was 2 u).
OPTIM_RTOL = {
    "float64": 4 * 2.0**-53,
    "float32": 4 * 2.0**-24,
}

# The linear layer and the penalties (sums and dot products of k terms) against the float64
# references: Higham, Accuracy and Stability of Numerical Algorithms (2nd ed. 2002), eq. (3.4):
# |fl(x.y) - x.y| <= gamma_k |x|.|y|, gamma_k = k u / (1 - k u), for any summation order. A check
# allows gamma_k(u_dtype) + gamma_k(u_float64) (the implementation's and the reference's
# rounding) times this factor: 1, the bound is rigorous and needs no slack.
DOT_PRODUCT_SLACK = 1.0
