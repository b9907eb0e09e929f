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


def _others(values: Sequence[mpf]) -> list[mpf]:
    """sum_{j != i} values_j for each i: the total minus values_i, except at the largest
    |values_i|, whose others are summed directly (1 - p_i by subtraction would need over 1000
    bits where p_i = 1 - e^-709). Elsewhere sum_{j != i} |values_j| >= max |values| >=
    sum |values| / n, so the subtraction's error is at most n 2^-PRECISION of that. O(n)."""
    values = list(values)
    if not values:
        return []
    total = mpmath.fsum(values)
    big = max(range(len(values)), key=lambda j: abs(values[j]))
    out = [total - v for v in values]
    out[big] = mpmath.fsum(v for j, v in enumerate(values) if j != big)
    return out


def softmax_vjp(g: Sequence[float], row: Sequence[float]) -> list[mpf]:
    """J^T g for softmax: y_i (g_i - sum_j g_j y_j) = y_i (g_i sum_{j != i} y_j - sum_{j != i}
    g_j y_j) (the same value without its cancellation, which no fixed precision survives at
    large gaps)."""
    y, g = softmax(row), [_mpf(a) for a in g]
    y_others = _others(y)
    gy_others = _others([a * b for a, b in zip(g, y, strict=True)])
    return [b * (a * yo - go) for a, b, yo, go in zip(g, y, y_others, gy_others, strict=True)]


def log_softmax_vjp(g: Sequence[float], row: Sequence[float]) -> list[mpf]:
    """J^T g for log_softmax: g_i - y_i sum_j g_j = g_i sum_{j != i} y_j - y_i sum_{j != i} g_j."""
    y, g = softmax(row), [_mpf(a) for a in g]
    y_others, g_others = _others(y), _others(g)
    return [a * yo - b * go for a, b, yo, go in zip(g, y, y_others, g_others, strict=True)]


def logit_sizes(row: Sequence[float]) -> list[mpf]:
    """The size of each logit as a softmax-type row function sees it: max(|x_j|, |x_j - m|)
    with m = max x. These functions are shift invariant, and every implementation forms the
    shifted logits x_j - m first; rounding that difference perturbs x_j by up to u |x_j - m|,
    which can exceed u |x_j| (x = [33, 0.035, 0]: the 0.035 is moved by u * 33), so the
    sensitivity to the logits is taken over the larger of the two."""
    x = [_mpf(a) for a in row]
    if not all(mpmath.isfinite(a) for a in x):
        return [abs(a) for a in x]
    m = max(x)
    return [max(abs(a), abs(a - m)) for a in x]


def _spreads(p: Sequence[mpf], row: Sequence[mpf]) -> list[mpf]:
    """sum_j |d p_i / d x_j| |x_j| / p_i = (1 - p_i) |x_i| + sum_{j != i} p_j |x_j| for each i
    (the Jacobian of softmax is diag(p) - p p^T), |x_j| as :func:`logit_sizes`."""
    x = logit_sizes(row)
    p_others = _others(p)
    px_others = _others([a * b for a, b in zip(p, x, strict=True)])
    return [po * a + pxo for a, po, pxo in zip(x, p_others, px_others, strict=True)]


_EXACT_UP_TO = 64  # row length up to which softmax_vjp_sensitivity sums |d_i + d_j| exactly


def softmax_vjp_sensitivity(g: Sequence[float], row: Sequence[float]) -> list[mpf]:
    """sum_j |d v_i / d g_j| |g_j| + |d v_i / d x_j| |x_j| for v = J^T g of softmax (|x_j| as
    :func:`logit_sizes`).

    v_i = y_i d_i with d_i = g_i - <g, y>. d v_i / d g_j = y_i (delta_ij - y_j); with
    d y_k / d x_j = y_k (delta_kj - y_j) and d<g, y>/d x_j = y_j d_j:
    d v_i / d x_j = y_i (delta_ij - y_j) d_i - y_i y_j d_j, which is y_i |1 - 2 y_i| |d_i| at
    j = i and y_i y_j |d_i + d_j| elsewhere. Rows longer than 64 take the upper bound
    |d_i| + |d_j| for |d_i + d_j| (O(n) instead of O(n^2); never a tighter bound)."""
    y, g, x = softmax(row), [_mpf(a) for a in g], logit_sizes(row)
    n = len(y)
    d = [v / b if b else mpf(0) for v, b in zip(softmax_vjp(g, row), y, strict=True)]
    ag = [abs(a) for a in g]
    y_others = _others(y)
    yg_others = _others([a * b for a, b in zip(y, ag, strict=True)])
    yx = [a * b for a, b in zip(y, x, strict=True)]
    yx_others, ydx_others = _others(yx), _others([a * abs(b) for a, b in zip(yx, d, strict=True)])
    out = []
    for i in range(n):
        wrt_g = y[i] * (ag[i] * y_others[i] + yg_others[i])
        if n <= _EXACT_UP_TO:
            off = mpmath.fsum(yx[j] * abs(d[i] + d[j]) for j in range(n) if j != i)
        else:
            off = abs(d[i]) * yx_others[i] + ydx_others[i]
        out.append(wrt_g + y[i] * (abs(1 - 2 * y[i]) * abs(d[i]) * x[i] + off))
    return out


def log_softmax_vjp_sensitivity(g: Sequence[float], row: Sequence[float]) -> list[mpf]:
    """sum_j |d v_i / d g_j| |g_j| + |d v_i / d x_j| |x_j| for v = g - y sum(g):
    d v_i / d g_j = delta_ij - y_i and d v_i / d x_j = -sum(g) y_i (delta_ij - y_j), so
    S_i = (1 - y_i) |g_i| + y_i sum_{j != i} |g_j| + |sum(g)| y_i (the spread of x at i)."""
    y, g = softmax(row), [_mpf(a) for a in g]
    total = abs(mpmath.fsum(g))
    y_others, ag_others = _others(y), _others([abs(a) for a in g])
    spreads = _spreads(y, row)
    return [
        yo * abs(a) + b * ago + total * b * sp
        for a, b, yo, ago, sp in zip(g, y, y_others, ag_others, spreads, strict=True)
    ]


def cross_entropy_row_grad(row: Sequence[float], q: Sequence[mpf], k: mpf) -> list[mpf]:
    """d/dz of k sum_c -q_c log softmax(z)_c: k (T p_c - q_c), T = sum_c q_c, written as
    k (p_c sum_{j != c} q_j - q_c sum_{j != c} p_j) (no cancellation beyond the function's)."""
    p = softmax(row)
    q_others, p_others = _others(q), _others(p)
    return [k * (a * qo - b * po) for a, b, qo, po in zip(p, q, q_others, p_others, strict=True)]


def cross_entropy_row_sensitivity(row: Sequence[float], q: Sequence[mpf], k: mpf) -> list[mpf]:
    """sum_j |d v_c / d a_j| |a_j| over the row's logits z, its target distribution q (the
    weighted, smoothed target, formed by any implementation first) and the factor k, for
    v_c = k (T p_c - q_c):

    * d v_c / d z_j = k T p_c (delta_cj - p_j) (the Jacobian of softmax is diag(p) - p p^T):
      |k| T p_c ((1 - p_c) |z_c| + sum_{j != c} p_j |z_j|);
    * d v_c / d q_j = k (p_c - delta_cj): |k| (p_c sum_{j != c} |q_j| + (1 - p_c) |q_c|);
    * d v_c / d k = v_c / k: |v_c|.

    Where the prediction is confident and right (p_t = 1 - d), every term at the target is
    of the size of d: the bound is relative to the gradient itself, never to 1."""
    p = softmax(row)
    total = abs(mpmath.fsum(q))
    p_others, aq_others = _others(p), _others([abs(a) for a in q])
    spreads = _spreads(p, row)
    grads = cross_entropy_row_grad(row, q, k)
    return [
        abs(k) * (total * a * sp + a * aqo + po * abs(b)) + abs(v)
        for a, b, po, aqo, sp, v in zip(p, q, p_others, aq_others, spreads, grads, strict=True)
    ]


# --- sensitivity of a result to its inputs -----------------------------------------------------


def sensitivity(
    fn: Callable[..., mpf], args: Sequence[float], sizes: Sequence[float] | None = None
) -> mpf:
    """sum_j |d fn / d a_j| |a_j|: how much ``fn(*args)`` moves, in absolute terms, when every
    argument is perturbed by one part in 1 (multiply by the unit roundoff u to get the error a
    correctly implemented routine may make from rounding its intermediates, inputs or
    results at relative size u). For elementwise f this is |x f'(x)|, the numerator of the
    relative condition number |x f'(x) / f(x)|.

    ``sizes`` (default |a_j|) replaces |a_j| where an argument's perturbation is measured
    otherwise: 0 for an argument held exactly, or the distance to the nearer of 0 and 1 for a
    binary target y (a loss that is the same function of y and 1 - y). An argument that is 0
    or not finite counts nothing, whatever its size.

    Partial derivatives are taken numerically in mpmath, at twice the working precision, with
    a step relative to |a_j| (2^-80), so a step never straddles a kink at 0.
    """
    with mp.workprec(2 * PRECISION):
        return +_sensitivity(fn, args, sizes)


def _sensitivity(
    fn: Callable[..., mpf], args: Sequence[float], sizes: Sequence[float] | None
) -> mpf:
    total = mpf(0)
    for j, a in enumerate(args):
        a = _mpf(a)
        size = abs(a) if sizes is None else abs(_mpf(sizes[j]))
        if a == 0 or size == 0 or not mpmath.isfinite(a):
            continue
        h = abs(a) * mpf(2) ** -80

        def along(t, j=j, a=a):
            moved = list(args)
            moved[j] = a + t
            return fn(*moved)

        d = (along(h) - along(-h)) / (2 * h)
        total += abs(d) * size
    return total
