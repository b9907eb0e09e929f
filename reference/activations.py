"""float64 closed forms of the activations and their analytic derivatives (NumPy + SciPy).

Written from the definitions, with SciPy's special functions (``expit``, ``ndtr``,
``logsumexp``) rather than the library's own formulations, so the two can disagree when one
is wrong. Inputs are converted to float64; results are float64.
"""

from __future__ import annotations

import numpy as np
from scipy import special

GELU_TANH_C = 0.044715
SQRT_2_OVER_PI = np.sqrt(2.0 / np.pi)


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def relu(x):
    """max(x, 0)."""
    return np.maximum(_f64(x), 0.0)


def relu_prime(x):
    """1 for x > 0, else 0 (relu'(0) = 0, torch and jax)."""
    x = _f64(x)
    return np.where(np.isnan(x), np.nan, (x > 0).astype(np.float64))


def leaky_relu(x, negative_slope=0.01):
    """x for x > 0, negative_slope x otherwise (Maas et al. 2013)."""
    x = _f64(x)
    return np.where(x > 0, x, negative_slope * x)


def leaky_relu_prime(x, negative_slope=0.01):
    """1 for x > 0, negative_slope otherwise (torch's convention at 0)."""
    x = _f64(x)
    return np.where(np.isnan(x), np.nan, np.where(x > 0, 1.0, negative_slope))


def sigmoid(x):
    """1 / (1 + exp(-x)) (SciPy's expit)."""
    return special.expit(_f64(x))


def sigmoid_prime(x):
    """sigma(x) sigma(-x)."""
    x = _f64(x)
    return special.expit(x) * special.expit(-x)


def tanh(x):
    return np.tanh(_f64(x))


def tanh_prime(x):
    """1 / cosh(x)^2."""
    with np.errstate(over="ignore"):
        return 1.0 / np.cosh(_f64(x)) ** 2


def gelu(x, approximate="none"):
    """x Phi(x) with Phi the standard normal CDF (SciPy's ndtr) (Hendrycks & Gimpel 2016);
    tanh form: x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3)))/2."""
    x = _f64(x)
    if approximate == "none":
        return x * special.ndtr(x)
    with np.errstate(over="ignore", invalid="ignore"):
        u = SQRT_2_OVER_PI * (x + GELU_TANH_C * x**3)
        return np.where(x < -40, 0.0, x * (1.0 + np.tanh(u)) / 2.0)


def gelu_prime(x, approximate="none"):
    """Phi(x) + x phi(x); tanh form: (1 + t)/2 + x (1 - t^2) u'(x)/2 with t = tanh u."""
    x = _f64(x)
    if approximate == "none":
        return special.ndtr(x) + x * np.exp(-0.5 * x * x) / np.sqrt(2.0 * np.pi)
    with np.errstate(over="ignore", invalid="ignore"):
        u = SQRT_2_OVER_PI * (x + GELU_TANH_C * x**3)
        du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_C * x * x)
        sech2 = 1.0 / np.cosh(u) ** 2
        out = (1.0 + np.tanh(u)) / 2.0 + x * sech2 * du / 2.0
        return np.where(np.abs(x) > 40, (x > 0).astype(np.float64), out)


def silu(x):
    """x sigma(x)."""
    x = _f64(x)
    return x * special.expit(x)


def silu_prime(x):
    """sigma(x) (1 + x (1 - sigma(x)))."""
    x = _f64(x)
    with np.errstate(invalid="ignore"):
        out = special.expit(x) * (1.0 + x * special.expit(-x))
    return np.where(np.isinf(x), (x > 0).astype(np.float64), out)


def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x))/beta (NumPy's logaddexp), and x where beta x > threshold."""
    x = _f64(x)
    z = beta * x
    return np.where(z > threshold, x, np.logaddexp(0.0, z) / beta)


def softplus_prime(x, beta=1.0, threshold=20.0):
    """sigma(beta x), and 1 where beta x > threshold."""
    z = beta * _f64(x)
    return np.where(z > threshold, 1.0, special.expit(z))


def elu(x, alpha=1.0):
    """x for x > 0, alpha (exp(x) - 1) otherwise (Clevert et al. 2016)."""
    x = _f64(x)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def elu_prime(x, alpha=1.0):
    """1 for x > 0, alpha exp(x) otherwise (torch's convention at 0)."""
    x = _f64(x)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def _resolve_infinities(x: np.ndarray, axis: int) -> np.ndarray:
    """The library's convention for rows with infinities (see primitives.softmax): rows with
    +inf keep only their +inf entries (as equal logits), all -inf rows become constant."""
    x = x.copy()
    has_pos_inf = np.any(x == np.inf, axis=axis, keepdims=True)
    x = np.where(has_pos_inf, np.where(x == np.inf, 0.0, -np.inf), x)
    all_neg_inf = np.all(x == -np.inf, axis=axis, keepdims=True)
    return np.where(all_neg_inf, 0.0, x)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis`` (via SciPy's logsumexp)."""
    return np.exp(log_softmax(x, axis))


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``."""
    x = _resolve_infinities(_f64(x), axis)
    with np.errstate(invalid="ignore"):
        return x - special.logsumexp(x, axis=axis, keepdims=True)


def softmax_vjp(g, x, axis=-1):
    """y (g - sum(g y)), y = softmax(x)."""
    y = softmax(x, axis)
    g = _f64(g)
    return y * (g - np.sum(g * y, axis=axis, keepdims=True))


def log_softmax_vjp(g, x, axis=-1):
    """g - y sum(g), y = softmax(x)."""
    g = _f64(g)
    return g - softmax(x, axis) * np.sum(g, axis=axis, keepdims=True)
