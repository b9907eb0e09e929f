"""Activations and their derivatives, written once over a :class:`~primitives.backend.Backend`.

Each forward kernel is ``f(b, x, *params)`` and each backward kernel
``f_backward(b, grad_output, x, *params)`` (the vector-Jacobian product). The public,
documented functions live in :mod:`primitives.activations`; the formulas and their numerical
reasoning are here.

Conventions shared by every kernel:

* float16 and bfloat16 inputs are computed in float32 and rounded once (:func:`_working`);
* a NaN input gives a NaN output and a NaN gradient (never a number);
* elementwise backwards return ``grad_output * f'(x)``, so a NaN in ``grad_output`` propagates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import wraps

from ..backend import Array, Backend

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_TANH_CUBIC = 0.044715
# The fast kernels' form of the tanh-GELU argument: 2u(x) = x (LINEAR + CUBIC x^2)
GELU_TWO_U_LINEAR = 2.0 * _SQRT_2_OVER_PI
GELU_TWO_U_CUBIC = 2.0 * _SQRT_2_OVER_PI * _GELU_TANH_CUBIC

# Beyond |x| = 40 every GELU value and derivative is, in every floating dtype, exactly x or 0
# (and 1 or 0): Phi(-40) ~ 4e-350 and sigma(-4600) underflow even in float64. Clamping there
# keeps x**3 and x * inf from producing inf * 0 = NaN at the ends of the range.
_GELU_SATURATION = 40.0


def _run_in(b: Backend, working, fn: Callable, args: tuple, arrays: list[int]):
    """``fn(b, *args)`` with the arrays at ``arrays`` cast to ``working``, rounded once back."""
    dtype = args[arrays[0]].dtype
    args = list(args)
    for i in arrays:
        args[i] = b.xp.astype(args[i], working)
    return b.xp.astype(fn(b, *args), dtype)


def _array_positions(b: Backend, args: tuple) -> list[int]:
    """Positions of the floating arrays among ``args`` (not a parameter such as np.str_)."""
    return [i for i, a in enumerate(args) if isinstance(a, b.array_types) and b.is_floating(a)]


def _working(fn: Callable) -> Callable:
    """Run ``fn`` in float32 for float16/bfloat16 arrays (all array arguments) and round once."""

    @wraps(fn)
    def run(b: Backend, *args):
        arrays = _array_positions(b, args)
        if not b.low_precision(args[arrays[0]]):
            return fn(b, *args)
        return _run_in(b, b.xp.float32, fn, args, arrays)

    return run


def _float32_in_float64(fn: Callable) -> Callable:
    """Run ``fn`` in float64 for float32 arrays and round once, where the backend keeps
    subnormals. GELU's tails multiply a subnormal intermediate (Phi(x), sigma(2u), sigma'(2u))
    by factors up to |x| u'(x) ~ 200, which carry its rounding error, up to half a subnormal ULP,
    into the result many times over (10.7 subnormal ULPs at x = -13.85 in float32); float64
    keeps those bits. (Where the backend flushes subnormals, as XLA does, there is nothing to
    keep.) Under ``_working`` a float16/bfloat16 result then rounds twice (float64 to float32
    to float16): half a float16 ULP plus half a float32 one, still within 1 ULP."""

    @wraps(fn)
    def run(b: Backend, *args):
        arrays = _array_positions(b, args)
        if args[arrays[0]].dtype != b.xp.float32 or b.flushes_subnormals or not b.has_float64():
            return fn(b, *args)
        return _run_in(b, b.xp.float64, fn, args, arrays)

    return run


def _nan_where_x_is_nan(b: Backend, x: Array, grad: Array) -> Array:
    """``grad`` with NaN wherever ``x`` is NaN (a piecewise formula would pick a branch)."""
    return b.xp.where(b.xp.isnan(x), x, grad)


def _exp_neg_abs(b: Backend, x: Array) -> Array:
    """e = exp(-|x|) in (0, 1]: the overflow-free building block of sigmoid and friends."""
    return b.xp.exp(-b.xp.abs(x))


# --- relu -----------------------------------------------------------------------------------


@_working
def relu(b: Backend, x: Array) -> Array:
    return b.xp.maximum(x, 0.0)


@_working
def relu_backward(b: Backend, g: Array, x: Array) -> Array:
    return _nan_where_x_is_nan(b, x, b.xp.where(x > 0, g, 0.0 * g))


# --- leaky_relu ------------------------------------------------------------------------------


@_working
def leaky_relu(b: Backend, x: Array, negative_slope: float) -> Array:
    return b.xp.where(x > 0, x, x * negative_slope)


@_working
def leaky_relu_backward(b: Backend, g: Array, x: Array, negative_slope: float) -> Array:
    return _nan_where_x_is_nan(b, x, b.xp.where(x > 0, g, g * negative_slope))


# --- sigmoid ---------------------------------------------------------------------------------


def _sigmoid(b: Backend, x: Array) -> Array:
    """sigma(x) = 1/(1+e) for x >= 0, e/(1+e) for x < 0, with e = exp(-|x|): no overflow."""
    e = _exp_neg_abs(b, x)
    r = 1.0 / (1.0 + e)
    return b.xp.where(x >= 0, r, e * r)


def _sigmoid_derivative(b: Backend, x: Array) -> Array:
    """sigma'(x) = sigma(x) sigma(-x) = e/(1+e)^2 with e = exp(-|x|).

    Never the cancelling s*(1-s): that is 0 in float64 from x ~ 37 although the true value
    (~5.6e-17 at 37.43) is representable; e/(1+e)^2 is accurate until e itself underflows.
    """
    e = _exp_neg_abs(b, x)
    r = 1.0 / (1.0 + e)
    return e * r * r


@_working
def sigmoid(b: Backend, x: Array) -> Array:
    return _sigmoid(b, x)


@_working
def sigmoid_backward(b: Backend, g: Array, x: Array) -> Array:
    return g * _sigmoid_derivative(b, x)


# --- tanh ------------------------------------------------------------------------------------


@_working
def tanh(b: Backend, x: Array) -> Array:
    return b.xp.tanh(x)


def tanh_tail(x: Array) -> float:
    """Beyond this |x|, e = exp(-2|x|) is near or below the smallest normal number of x's
    dtype (tanh_backward takes its tail form)."""
    return 40.0 if x.dtype.itemsize <= 4 else 350.0


@_working
def tanh_backward(b: Backend, g: Array, x: Array) -> Array:
    # tanh'(x) = 1 - tanh(x)^2 = 1/cosh(x)^2 = 4 sigma'(2x): no cancellation as |x| grows.
    # Far out e = exp(-2|x|) is subnormal and has lost bits before the factor 4 scales them
    # (5 subnormal ULPs at x = 48 in float32): there 1/cosh^2 = q^2 with q = 2h/(1 + h^2),
    # h = exp(-|x|) normal, rounding once into the result.
    xp = b.xp
    direct = 4.0 * _sigmoid_derivative(b, 2.0 * x)
    if b.flushes_subnormals:  # (XLA on the CPU) there is no subnormal tail to keep
        return g * direct
    h = _exp_neg_abs(b, x)
    q = 2.0 * h / (1.0 + h * h)
    return g * xp.where(xp.abs(x) > tanh_tail(x), q * q, direct)


# --- gelu ------------------------------------------------------------------------------------


def _phi_cdf(b: Backend, x: Array) -> Array:
    """Phi(x) = erfc(-x/sqrt 2)/2: no cancellation in the negative tail (1 + erf would)."""
    return 0.5 * b.erfc(-_SQRT_HALF * x)


def _gelu_tanh_u(b: Backend, x: Array) -> Array:
    """u = sqrt(2/pi) (x + 0.044715 x^3), so that tanh-GELU = x (1 + tanh u)/2 = x sigma(2u)."""
    return _SQRT_2_OVER_PI * (x + _GELU_TANH_CUBIC * (x * x * x))


def _gelu_tanh_two_u_slope(x: Array) -> Array:
    """2u'(x) = 2 sqrt(2/pi) (1 + 3 c x^2), the derivative of _gelu_tanh_u doubled."""
    return 2.0 * _SQRT_2_OVER_PI * (1.0 + 3.0 * _GELU_TANH_CUBIC * (x * x))


def gelu_tail(x: Array) -> float:
    """Below this x, Phi(x) nears the smallest normal number of x's dtype (Phi(-12) = 1.8e-33,
    Phi(-37) = 5.7e-300): the torch composition x erfc(-x/sqrt 2)/2 leaves the subnormal tail
    (and -inf, where it is -inf * 0) to the generic kernel."""
    return -12.0 if x.dtype.itemsize <= 4 else -37.0


def gelu_tanh_tail(x: Array) -> float:
    """From this x up, 2u(x) stays above far_tail(x), so sigma(2u) is normal in x's dtype
    (2u(-9.6) = -78.5 > -80 and 2u(-21) = -694 > -700)."""
    return -9.6 if x.dtype.itemsize <= 4 else -21.0


GELU_FORMS = ("none", "tanh")  # the values of gelu's ``approximate``


def _check_approximate(approximate: str) -> None:
    if approximate not in GELU_FORMS:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


@_working
def gelu(b: Backend, x: Array, approximate: str) -> Array:
    direct = _float32_in_float64(gelu_in_own_precision)(b, x, approximate)
    return _gelu_subnormal_tail(b, x, direct, approximate, _gelu_log_magnitude)


@_working
def gelu_backward(b: Backend, g: Array, x: Array, approximate: str) -> Array:
    direct = _float32_in_float64(gelu_backward_in_own_precision)(b, g, x, approximate)
    return _gelu_subnormal_tail(b, x, direct, approximate, _gelu_slope_log_magnitude, g)


# Asymptotic series of Mills' ratio (Abramowitz & Stegun 26.2.12), in z = 1/x^2, for x -> -inf:
# Phi(x) = phi(x)/|x| (1 - z + 3z^2 - 15z^3 + ...), so that
#   gelu(x)  = x Phi(x)           = -phi(x) (1 + z P(z)),   P = -1 + 3z - 15z^2 + ...
#   gelu'(x) = Phi(x) + x phi(x)  = -|x| phi(x) (1 + z Q(z)), Q = -1 + z - 3z^2 + 15z^3 - ...
# Coefficients lowest degree first; below x = -37 (z < 7.3e-4) the first omitted term of either
# is below 1e-18.
_MILLS_GELU = (-1.0, 3.0, -15.0, 105.0, -945.0, 10395.0, -135135.0)
_MILLS_GELU_SLOPE = (-1.0, 1.0, -3.0, 15.0, -105.0, 945.0, -10395.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _gelu_subnormal_tail(
    b: Backend,
    x: Array,
    direct: Array,
    approximate: str,
    log_magnitude: Callable,
    g: Array | None = None,
) -> Array:
    """``direct`` above GELU's float64 tail; below it -exp(log_magnitude(x)) (times ``g``, for
    the backward).

    Where Phi(x) (sigma(2u)) is subnormal the direct formulas round it to half a subnormal
    ULP and then scale it by |x|, or by |1 + x 2u'(x)| ~ 2000 in the tanh form's derivative:
    29 subnormal ULPs at x = -38.4 in float64, 1067 for that derivative at x = -21.48. Formed
    in the exponent, a subnormal result rounds once (0.5 ULP measured). Just below the tail,
    where the result is still normal, the exponent's own rounding (1e-13 relative at -700 in
    float64, about 1e-5 at -85 in float32) is inside the suite's condition-number allowance,
    as the direct formula's error is.
    Where the backend keeps subnormals, float64 inputs only: float32 is computed in float64,
    where every result below the float64 tail rounds to zero in float32. Where it flushes
    them (XLA on the CPU), every dtype: there the direct formulas flush Phi(x) (sigma(2u))
    below the smallest normal number although the result, |x| or |1 + x 2u'| times larger,
    is normal (gelu'(-13.02) = -7.8e-37 in float32 came out 9e4 ULPs off, and gelu_tanh'
    (-10.04) = -4.1e-37 as 0); formed in the exponent the result flushes only where it is
    itself subnormal.
    """
    if x.dtype != b.xp.float64 and not b.flushes_subnormals:
        return direct
    xp = b.xp
    tail = gelu_tanh_tail(x) if approximate == "tanh" else gelu_tail(x)
    # (clamped: the tail formula sees tail values only; below -40 it underflows to -0)
    t = xp.minimum(xp.maximum(x, -_GELU_SATURATION), tail)
    in_tail = -xp.exp(log_magnitude(b, t, approximate))
    return xp.where(x < tail, in_tail if g is None else g * in_tail, direct)


def _mills_series(z: Array, coefficients: tuple[float, ...]) -> Array:
    """z (c0 + c1 z + c2 z^2 + ...), by Horner's rule."""
    acc = coefficients[-1] + 0.0 * z
    for c in reversed(coefficients[:-1]):
        acc = acc * z + c
    return z * acc


def _gelu_log_magnitude(b: Backend, t: Array, approximate: str) -> Array:
    """log |gelu(t)| in the negative tail: 2u + log|t| (tanh form: t sigma(2u), sigma(2u) =
    exp(2u) there), -t^2/2 - log sqrt(2 pi) + log(1 + z P(z)) (exact form)."""
    xp = b.xp
    if approximate == "tanh":
        return 2.0 * _gelu_tanh_u(b, t) + xp.log(-t)
    series = _mills_series(1.0 / (t * t), _MILLS_GELU)
    return -0.5 * (t * t) - _LOG_SQRT_2PI + xp.log1p(series)


def _gelu_slope_log_magnitude(b: Backend, t: Array, approximate: str) -> Array:
    """log |gelu'(t)| in the negative tail: 2u + log(-(1 + t 2u'(t))) (tanh form, from
    sigma(2u) (1 + t 2u' sigma(-2u)) with sigma(-2u) = 1 there), -t^2/2 - log sqrt(2 pi) +
    log|t| + log(1 + z Q(z)) (exact form)."""
    xp = b.xp
    if approximate == "tanh":
        return 2.0 * _gelu_tanh_u(b, t) + xp.log(-(1.0 + t * _gelu_tanh_two_u_slope(t)))
    series = _mills_series(1.0 / (t * t), _MILLS_GELU_SLOPE)
    return -0.5 * (t * t) - _LOG_SQRT_2PI + xp.log(-t) + xp.log1p(series)


def gelu_in_own_precision(b: Backend, x: Array, approximate: str) -> Array:
    """gelu computed in x's dtype: accurate wherever Phi(x) (sigma(2u)) is a normal number
    (``gelu`` adds float64 for the float32 tail). The numpy fast kernels run its exact form
    on float64 blocks, on that normal range."""
    _check_approximate(approximate)
    xs = b.xp.maximum(x, -_GELU_SATURATION)  # the factor: -40 * 0 = -0 where x = -inf
    inner = b.xp.minimum(xs, _GELU_SATURATION)  # the CDF's argument: no overflow in x^3
    if approximate == "none":
        return xs * _phi_cdf(b, inner)
    # x (1 + tanh u)/2 = x sigma(2u): the sigmoid form does not cancel where tanh u -> -1.
    return xs * _sigmoid(b, 2.0 * _gelu_tanh_u(b, inner))


def gelu_backward_in_own_precision(b: Backend, g: Array, x: Array, approximate: str) -> Array:
    """gelu_backward computed in x's dtype (see gelu_in_own_precision)."""
    _check_approximate(approximate)
    xp = b.xp
    if approximate == "tanh":
        return _gelu_tanh_backward(b, g, x)
    xs = xp.minimum(xp.maximum(x, -_GELU_SATURATION), _GELU_SATURATION)
    # d/dx x Phi(x) = Phi(x) + x phi(x)
    density = _INV_SQRT_2PI * xp.exp(-0.5 * (xs * xs))
    return g * (_phi_cdf(b, xs) + xs * density)


def _gelu_tanh_backward(b: Backend, g: Array, x: Array) -> Array:
    # d/dx x sigma(2u) = sigma(2u) + x sigma'(2u) 2u'(x),  u' = sqrt(2/pi)(1 + 3c x^2)
    xp = b.xp
    xs = xp.minimum(xp.maximum(x, -_GELU_SATURATION), _GELU_SATURATION)
    two_u = 2.0 * _gelu_tanh_u(b, xs)
    du = _gelu_tanh_two_u_slope(xs)
    return g * (_sigmoid(b, two_u) + xs * du * _sigmoid_derivative(b, two_u))


# --- silu ------------------------------------------------------------------------------------


# sigma(-800) = 0 even in float64: below it silu is -0.0 and its derivative 0, and clamping
# there keeps -inf * 0 = NaN out of silu(-inf).
_SILU_SATURATION = 800.0


def _negative_tail(b: Backend, x: Array) -> tuple[Array, Array]:
    """``(h, r)`` for x < 0: ``h = exp(x / 2)`` and ``r = 1 / (1 + exp(x)) = sigma(-x)``, so
    that ``sigma(x) = (h r) h``.

    Far in the negative tail sigma(x) is subnormal (x < -87 in float32) and has lost relative
    precision before silu multiplies it by a large x (41 subnormal ULPs at x = -96). Written
    with h, which stays normal, every product is formed at full precision and the last
    multiplication by h rounds once into the (possibly subnormal) result.
    """
    xn = b.xp.minimum(x, 0.0)
    return b.xp.exp(0.5 * xn), 1.0 / (1.0 + b.xp.exp(xn))


def far_tail(x: Array) -> float:
    """Below this x, sigma(x) is near or below the smallest normal number of x's dtype (and
    silu takes the _negative_tail form; above it the direct form is the more accurate, h*h
    rounding twice)."""
    return -80.0 if x.dtype.itemsize <= 4 else -700.0


@_working
def silu(b: Backend, x: Array) -> Array:
    # x sigma(x); far in the negative tail formed as ((x h) r) h (see _negative_tail)
    xs = b.xp.maximum(x, -_SILU_SATURATION)
    h, r = _negative_tail(b, xs)
    return b.xp.where(xs < far_tail(x), ((xs * h) * r) * h, xs * _sigmoid(b, xs))


@_working
def silu_backward(b: Backend, g: Array, x: Array) -> Array:
    # d/dx x sigma(x) = sigma(x) + x sigma(x) sigma(-x), exactly 1 or 0 beyond the clamp; far
    # in the negative tail formed as ((h r)(1 + x r)) h = sigma(x) (1 + x sigma(-x)).
    xs = b.xp.minimum(b.xp.maximum(x, -_SILU_SATURATION), _SILU_SATURATION)
    h, r = _negative_tail(b, xs)
    direct = _sigmoid(b, xs) + xs * _sigmoid_derivative(b, xs)
    tail = ((h * r) * (1.0 + xs * r)) * h
    return g * b.xp.where(xs < far_tail(x), tail, direct)


# --- softplus --------------------------------------------------------------------------------


@_working
def softplus(b: Backend, x: Array, beta: float, threshold: float) -> Array:
    # log(1 + exp(z))/beta with z = beta x, written max(z, 0) + log1p(exp(-|z|)): no overflow.
    # torch's convention: the identity where beta x > threshold. With beta < 1 the division
    # scales up the rounding error of a subnormal exp(z) (see _softplus): float32 then runs
    # in float64, where exp(z) of a float32 result's range is normal.
    if beta < 1:
        return _float32_in_float64(_softplus)(b, x, beta, threshold)
    return _softplus(b, x, beta, threshold)


_LOG_FLOAT64_TINY = math.log(2.0**-1022)  # below it exp(z) is subnormal in float64


def _softplus(b: Backend, x: Array, beta: float, threshold: float) -> Array:
    """Where exp(z) is subnormal, log1p(exp(z)) = exp(z) keeps only the subnormal's digits and
    / beta < 1 scales that loss up (float32 computed in float32, beta = 0.01, x = -9323: 98
    ULPs of the result); in float64 the result there is exp(z - log beta), whose error is the
    rounding of z - log beta, within the function's own condition number |z|."""
    xp = b.xp
    z = x * beta
    smooth = (xp.maximum(z, 0.0) + xp.log1p(_exp_neg_abs(b, z))) / beta
    if beta < 1 and x.dtype == xp.float64:
        deep = xp.exp(xp.minimum(z, _LOG_FLOAT64_TINY) - math.log(beta))
        smooth = xp.where(z < _LOG_FLOAT64_TINY, deep, smooth)
    return xp.where(z > threshold, x, smooth)


@_working
def softplus_backward(b: Backend, g: Array, x: Array, beta: float, threshold: float) -> Array:
    # d/dx softplus = sigma(beta x), and 1 where beta x > threshold (the test is on the input).
    z = x * beta
    return b.xp.where(z > threshold, g, g * _sigmoid(b, z))


# --- elu -------------------------------------------------------------------------------------


@_working
def elu(b: Backend, x: Array, alpha: float) -> Array:
    xp = b.xp
    return xp.where(x > 0, x, alpha * xp.expm1(xp.minimum(x, 0.0)))


@_working
def elu_backward(b: Backend, g: Array, x: Array, alpha: float) -> Array:
    # elu'(x) = 1 for x > 0, alpha exp(x) for x <= 0 (torch's convention at 0: alpha).
    xp = b.xp
    return xp.where(x > 0, g, g * (alpha * xp.exp(xp.minimum(x, 0.0))))


# --- softmax and log_softmax -----------------------------------------------------------------


def _shifted(b: Backend, x: Array, axis: int) -> Array:
    """x - max(x) along ``axis``, with entries equal to an infinite maximum set to 0.

    So a row's +inf entries share the probability mass equally (the limit as they grow
    together), an all -inf row becomes uniform (the limit of a constant row, by shift
    invariance), and a NaN anywhere in a row makes the whole row NaN.
    """
    xp = b.xp
    m = xp.max(x, axis=axis, keepdims=True)
    return xp.where(x == m, 0.0, x - m)


@_working
def softmax(b: Backend, x: Array, axis: int) -> Array:
    e = b.xp.exp(_shifted(b, x, axis))
    return e / b.row_sum(e, axis)


def _lone_top(b: Backend, x: Array, axis: int) -> tuple[Array, Array, Array]:
    """``(y, 1 - y, lone)`` along ``axis``: ``y = softmax(x)``; ``lone`` where an entry is its
    row's only maximum, and there ``1 - y = rest / (1 + rest)`` with ``rest`` the sum of the
    other terms exp(x_j - m), free of cancellation (computed as 1 - y elsewhere, where
    ``y <= 1/2``: exact by Sterbenz's lemma)."""
    xp = b.xp
    s = _shifted(b, x, axis)
    is_max = s == 0
    e = xp.exp(s)
    ties = xp.sum(xp.astype(is_max, s.dtype), axis=axis, keepdims=True) - 1.0
    rest = b.row_sum(xp.where(is_max, 0.0, e), axis) + ties
    y = e / (1.0 + rest)
    lone = is_max & (ties == 0.0)
    return y, xp.where(lone, rest / (1.0 + rest), 1.0 - y), lone


@_working
def softmax_backward(b: Backend, g: Array, x: Array, axis: int) -> Array:
    """J^T g = y (g - <g, y>), y = softmax(x) (the Jacobian diag(y) - y y^T is symmetric).

    At a row's lone maximum ``g - <g, y> = g (1 - y) - sum_{j != i} g_j y_j``, with ``1 - y``
    from :func:`_lone_top`: subtracting ``<g, y>`` loses everything below an ulp of ``g`` where
    ``y`` is near 1. Elsewhere ``y <= 1/2`` and the plain form is accurate (its terms are at
    most twice the function's sensitivity to ``g``).
    """
    xp = b.xp
    y, comp, lone = _lone_top(b, x, axis)
    gy = g * y
    dot = b.row_sum(gy, axis)
    off = b.row_sum(xp.where(lone, 0.0, gy), axis)
    return y * xp.where(lone, g * comp - off, g - dot)


@_working
def log_softmax(b: Backend, x: Array, axis: int) -> Array:
    # s - log(sum exp s), where the sum is 1 (the maximum's term, exactly) + rest. log1p(rest)
    # with rest summed from the smaller terms keeps log_softmax of the largest entry accurate
    # to a few ULPs; log(1 + rest) rounded first would cost ~u/|result| there.
    xp = b.xp
    s = _shifted(b, x, axis)
    is_max = s == 0
    ties = xp.sum(xp.astype(is_max, s.dtype), axis=axis, keepdims=True) - 1.0
    rest = b.row_sum(xp.where(is_max, 0.0, xp.exp(s)), axis) + ties
    return s - xp.log1p(rest)


@_working
def log_softmax_backward(b: Backend, g: Array, x: Array, axis: int) -> Array:
    """J^T g = g - y sum(g), y = softmax(x).

    At a row's lone maximum ``g (1 - y) - y sum_{j != i} g_j`` with ``1 - y`` from
    :func:`_lone_top` (``g - y sum(g)`` with a one-hot g is ``1 - y``: 0 by subtraction once
    ``y > 1 - u``); elsewhere ``y <= 1/2`` and the plain form is accurate.
    """
    xp = b.xp
    y, comp, lone = _lone_top(b, x, axis)
    total = b.row_sum(g, axis)
    off = b.row_sum(xp.where(lone, 0.0, g), axis)
    return xp.where(lone, g * comp - y * off, g - y * total)
