"""High-precision scalar references in mpmath, the oracle for ULP measurements.

Every function takes exact inputs (any float converts to ``mpf`` without loss) and evaluates
at :data:`PRECISION` bits, far beyond float64, so its rounding never matters. Formulas are the
textbook definitions, deliberately not the numerically careful forms of the library: here the
precision does the work.

Elementwise functions are ``f(x, *params)`` with derivatives ``f_prime(x, *params)``; the row
functions (softmax, log_softmax) take and return lists.

Precision does not rescue a formula that cancels completely: 1 - sigma(710) or 1 + tanh(-301)
need over 1000 bits. Such differences are written with exact identities instead
(1 - sigma(x) = sigma(-x), 1 + tanh(u) = 2 sigma(2u), 1 - tanh(u)^2 = 1/cosh(u)^2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mpmath
from mpmath import mp, mpf

PRECISION = 200
mp.prec = PRECISION

Scalar = mpf


def _mpf(x: float) -> mpf:
    return mpf(x)


# --- elementwise activations: value and first derivative -------------------------------------


def relu(x):
    return max(_mpf(x), mpf(0))


def relu_prime(x):
    return mpf(1) if x > 0 else mpf(0)  # relu'(0) = 0 (torch, jax)


def leaky_relu(x, negative_slope=0.01):
    x = _mpf(x)
    return x if x > 0 else mpf(negative_slope) * x


def leaky_relu_prime(x, negative_slope=0.01):
    return mpf(1) if x > 0 else mpf(negative_slope)  # torch: slope at 0


def sigmoid(x):
    return 1 / (1 + mpmath.exp(-_mpf(x)))


def sigmoid_prime(x):
    return sigmoid(x) * sigmoid(-_mpf(x))  # s (1 - s)


def tanh(x):
    return mpmath.tanh(_mpf(x))


def tanh_prime(x):
    return 1 / mpmath.cosh(_mpf(x)) ** 2


def _Phi(x):
    if abs(x) > 1e100:  # mpmath's erfc overflows on such arguments; Phi is 0 or 1 there
        return mpf(0) if x < 0 else mpf(1)
    return mpmath.erfc(-x / mpmath.sqrt(2)) / 2


def _gelu_tanh_u(x):
    return mpmath.sqrt(2 / mpmath.pi) * (x + mpf("0.044715") * x**3)


def gelu(x, approximate="none"):
    """x Phi(x) (Hendrycks & Gimpel 2016), or x (1 + tanh u)/2, u = sqrt(2/pi)(x + 0.044715 x^3)."""
    x = _mpf(x)
    if approximate == "none":
        return x * _Phi(x)
    return x * sigmoid(2 * _gelu_tanh_u(x))  # x (1 + tanh u)/2


def gelu_prime(x, approximate="none"):
    x = _mpf(x)
    if approximate == "none":
        return _Phi(x) + x * mpmath.npdf(x)
    u = _gelu_tanh_u(x)
    du = mpmath.sqrt(2 / mpmath.pi) * (1 + 3 * mpf("0.044715") * x**2)
    # (1 + tanh u)/2 + x (1 - tanh^2 u) u'/2
    return sigmoid(2 * u) + x * du / (2 * mpmath.cosh(u) ** 2)


def silu(x):
    x = _mpf(x)
    return x * sigmoid(x)


def silu_prime(x):
    x = _mpf(x)
    return sigmoid(x) * (1 + x * sigmoid(-x))  # s (1 + x (1 - s))


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x))/beta, and x where beta x > threshold (torch's convention)."""
    x = _mpf(x)
    z = mpf(beta) * x
    if z > threshold:
        return x
    return mpmath.log1p(mpmath.exp(z)) / mpf(beta)


def softplus_prime(x, beta=1.0, threshold=20.0):
    z = mpf(beta) * _mpf(x)
    return mpf(1) if z > threshold else sigmoid(z)


def elu(x, alpha=1.0):
    x = _mpf(x)
    return x if x > 0 else mpf(alpha) * mpmath.expm1(x)


def elu_prime(x, alpha=1.0):
    x = _mpf(x)
    return mpf(1) if x > 0 else mpf(alpha) * mpmath.exp(x)  # torch: alpha at 0


ELEMENTWISE: dict[str, tuple[Callable, Callable]] = {
    name: (globals()[name], globals()[name + "_prime"])
    for name in ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "silu", "softplus", "elu")
}


# --- row functions -----------------------------------------------------------------------------


def _row_infinities(row: Sequence[float]) -> list[mpf] | None:
    """Apply the library's documented convention for infinite entries (softmax's docstring):
    the +inf entries share the mass equally; an all -inf row is treated as a constant row.
    Returns the row of exponent weights, or None when the row has no infinity to resolve."""
    if any(mpmath.isnan(v) for v in map(_mpf, row)):
        return [mpf("nan")] * len(row)
    if any(v == float("inf") for v in row):
        return [mpf(1) if v == float("inf") else mpf(0) for v in row]
    if all(v == float("-inf") for v in row):
        return [mpf(1)] * len(row)
    return None


def softmax(row: Sequence[float]) -> list[mpf]:
    weights = _row_infinities(row)
    if weights is None:
        weights = [mpmath.exp(_mpf(v)) for v in row]
    total = mpmath.fsum(weights)
    return [w / total for w in weights]


def log_softmax(row: Sequence[float]) -> list[mpf]:
    """(x_i - m) - log1p(sum of the other exp(x_j - m)), m = max x: the same value as
    x_i - logsumexp(x), but at a fixed precision log(1 + tiny) or (m + tiny) would keep only
    part of ``tiny``."""
    weights = _row_infinities(row)
    if weights is not None:
        total = mpmath.fsum(weights)
        return [mpmath.log(w / total) if w != 0 else mpf("-inf") for w in weights]
    row = [_mpf(v) for v in row]
    top = max(range(len(row)), key=lambda j: row[j])
    m = row[top]
    rest = mpmath.fsum(mpmath.exp(v - m) for j, v in enumerate(row) if j != top)
    return [(v - m) - mpmath.log1p(rest) for v in row]


def softmax_sensitivity(row: Sequence[float]) -> list[mpf]:
    """sum_j |d y_i / d x_j| |x_j| for y = softmax(row), in closed form (d y_i / d x_j =
    y_i (delta_ij - y_j)): y_i (|x_i| (1 - 2 y_i) + sum_j y_j |x_j|), for a finite row."""
    y = softmax(row)
    spread = mpmath.fsum(b * abs(_mpf(a)) for a, b in zip(row, y, strict=True))
    return [b * (abs(_mpf(a)) * (1 - 2 * b) + spread) for a, b in zip(row, y, strict=True)]


def log_softmax_sensitivity(row: Sequence[float]) -> list[mpf]:
    """sum_j |d y_i / d x_j| |x_j| for y = log_softmax(row), in closed form (d y_i / d x_j =
    delta_ij - p_j, p = softmax(row)): |x_i| (1 - 2 p_i) + sum_j p_j |x_j|, for a finite row."""
    p = softmax(row)
    spread = mpmath.fsum(b * abs(_mpf(a)) for a, b in zip(row, p, strict=True))
    return [abs(_mpf(a)) * (1 - 2 * b) + spread for a, b in zip(row, p, strict=True)]


def softmax_vjp(g: Sequence[float], row: Sequence[float]) -> list[mpf]:
    """J^T g for softmax: y_i (g_i - sum_j g_j y_j)."""
    y = softmax(row)
    s = mpmath.fsum(_mpf(a) * b for a, b in zip(g, y, strict=True))
    return [b * (_mpf(a) - s) for a, b in zip(g, y, strict=True)]


def log_softmax_vjp(g: Sequence[float], row: Sequence[float]) -> list[mpf]:
    """J^T g for log_softmax: g_i - y_i sum_j g_j."""
    y = softmax(row)
    s = mpmath.fsum(_mpf(a) for a in g)
    return [_mpf(a) - b * s for a, b in zip(g, y, strict=True)]


def softmax_vjp_magnitude(g: Sequence[float], row: Sequence[float]) -> list[mpf]:
    """y_i (|g_i| + sum_j |g_j| y_j): the size of the terms y_i (g_i - <g, y>) is formed from."""
    y = softmax(row)
    s = mpmath.fsum(abs(_mpf(a)) * b for a, b in zip(g, y, strict=True))
    return [b * (abs(_mpf(a)) + s) for a, b in zip(g, y, strict=True)]


def log_softmax_vjp_magnitude(g: Sequence[float], row: Sequence[float]) -> list[mpf]:
    """|g_i| + y_i sum_j |g_j|: the size of the terms g_i - y_i sum(g) is formed from."""
    y = softmax(row)
    s = mpmath.fsum(abs(_mpf(a)) for a in g)
    return [abs(_mpf(a)) + b * s for a, b in zip(g, y, strict=True)]


# --- sensitivity of a result to its inputs -----------------------------------------------------


def sensitivity(fn: Callable[..., mpf], args: Sequence[float]) -> mpf:
    """sum_j |d fn / d a_j| |a_j|: how much ``fn(*args)`` moves, in absolute terms, when every
    argument is perturbed by one part in 1 (multiply by the unit roundoff u to get the error a
    correctly implemented routine may make from rounding its intermediates, inputs or
    results at relative size u). For elementwise f this is |x f'(x)|, the numerator of the
    relative condition number |x f'(x) / f(x)|.

    Partial derivatives are taken numerically in mpmath, at twice the working precision, with
    a step relative to |a_j| (2^-80), so a step never straddles a kink at 0.
    """
    with mp.workprec(2 * PRECISION):
        return +_sensitivity(fn, args)


def _sensitivity(fn: Callable[..., mpf], args: Sequence[float]) -> mpf:
    total = mpf(0)
    for j, a in enumerate(args):
        a = _mpf(a)
        if a == 0 or not mpmath.isfinite(a):
            continue
        h = abs(a) * mpf(2) ** -80

        def along(t, j=j, a=a):
            moved = list(args)
            moved[j] = a + t
            return fn(*moved)

        d = (along(h) - along(-h)) / (2 * h)
        total += abs(d) * abs(a)
    return total
