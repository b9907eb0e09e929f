"""float64 references for layer normalization and the linear layer (NumPy), written from the
definitions with no code shared with ``primitives``.

* Layer norm: mean and biased variance in two passes with ``math.fsum`` (correctly rounded
  sums); the input gradient is ``J^T g`` with the Jacobian matrix of each row built explicitly,
  ``J = rstd (I - 1/n - x_hat x_hat^T / n)`` times the weight: a different route from the
  compact form the library uses. Source: Ba, Kiros & Hinton, "Layer Normalization" (2016);
  torch ``F.layer_norm`` documentation (biased variance, eps inside the square root).
* Linear: ``z = x W^T + b`` (torch ``F.linear``) as explicit sums of products; the sizes
  ``sum |x| |W| + |b|`` that bound any floating-point evaluation's error (Higham, *Accuracy and
  Stability of Numerical Algorithms*, 2nd ed. 2002, eq. (3.4): ``|fl(x.y) - x.y| <= gamma_n
  |x|.|y|``, ``gamma_n = n u / (1 - n u)``) come with them.
"""

from __future__ import annotations

import math

import numpy as np


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _rows(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` as (rows, n): the last ``k`` axes flattened."""
    n = math.prod(x.shape[x.ndim - k :])
    return x.reshape(-1, n)


# --- layer norm ------------------------------------------------------------------------------


def layer_norm_stats(x, k: int, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x_hat, rstd, mean) per row of the last ``k`` axes, rows flattened to (rows, n)."""
    r = _rows(_f64(x), k)
    n = r.shape[1]
    mean = np.array([math.fsum(row) / n for row in r])
    d = r - mean[:, None]
    var = np.array([math.fsum(v * v for v in row) / n for row in d])
    rstd = 1.0 / np.sqrt(var + eps)
    return d * rstd[:, None], rstd, mean


def layer_norm(x, k: int, weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) * weight + bias over the last ``k`` axes."""
    x = _f64(x)
    x_hat, _, _ = layer_norm_stats(x, k, eps)
    y = x_hat.reshape(x.shape)
    if weight is not None:
        y = y * _f64(weight)
    if bias is not None:
        y = y + _f64(bias)
    return y


def layer_norm_grad(g, x, k: int, weight=None, bias=None, eps: float = 1e-5):
    """(dx, dweight, dbias): dx = J^T (g * weight) row by row with the explicit Jacobian."""
    x, g = _f64(x), _f64(g)
    x_hat, rstd, _ = layer_norm_stats(x, k, eps)
    gw = g if weight is None else g * _f64(weight)
    gw = _rows(gw, k)
    n = x_hat.shape[1]
    dx = np.empty_like(gw)
    eye = np.eye(n)
    for i in range(gw.shape[0]):
        jac = rstd[i] * (eye - 1.0 / n - np.outer(x_hat[i], x_hat[i]) / n)
        dx[i] = jac.T @ gw[i]
    norm_shape = x.shape[x.ndim - k :]
    g_rows = _rows(g, k)
    dweight = None if weight is None else np.sum(g_rows * x_hat, axis=0).reshape(norm_shape)
    dbias = None if bias is None else np.sum(g_rows, axis=0).reshape(norm_shape)
    return dx.reshape(x.shape), dweight, dbias


# --- linear ----------------------------------------------------------------------------------


def linear(x, weight, bias=None) -> np.ndarray:
    """z[..., o] = sum_i x[..., i] W[o, i] + b[o]."""
    z = np.sum(_f64(x)[..., None, :] * _f64(weight), axis=-1)
    return z if bias is None else z + _f64(bias)


def linear_magnitude(x, weight, bias=None) -> np.ndarray:
    """sum_i |x[..., i]| |W[o, i]| + |b[o]|: the size that scales the rounding of z."""
    return linear(np.abs(_f64(x)), np.abs(_f64(weight)), None if bias is None else np.abs(bias))


def linear_grad(g, x, weight, bias=None):
    """(dx, dweight, dbias) of z = x W^T + b for the cotangent g of z's shape."""
    g, x, w = _f64(g), _f64(x), _f64(weight)
    dx = np.sum(g[..., :, None] * w, axis=-2)
    g2, x2 = g.reshape(-1, w.shape[0]), x.reshape(-1, w.shape[1])
    dweight = np.sum(g2[:, :, None] * x2[:, None, :], axis=0)
    dbias = None if bias is None else np.sum(g2, axis=0)
    return dx, dweight, dbias


def linear_grad_magnitude(g, x, weight, bias=None):
    """The same sums of absolute products (|g| |W|, |g|^T |x|, sum |g|): what scales the rounding
    of each gradient entry."""
    return linear_grad(np.abs(_f64(g)), np.abs(_f64(x)), np.abs(_f64(weight)), bias)


def gamma(n: int, u: float) -> float:
    """Higham's gamma_n = n u / (1 - n u) (requires n u < 1)."""
    return n * u / (1.0 - n * u)
