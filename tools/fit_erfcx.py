"""Fit the polynomial behind the numpy float32 GELU (``primitives/backends/numpy_fast.py``).

erfc(a) = exp(-a^2) erfcx(a), and erfcx(a) = t P(t) with t = 1 / (1 + p a): the factor t
carries erfcx's 1/(a sqrt(pi)) decay, so P is smooth on t in (0, 1]. This script fits P
(degree 9, p = 0.4) by least squares in relative error on Chebyshev nodes of
t in [1/(1 + 9.5 p), 1] (0 <= a <= 9.5, which covers every float32 x >= -13.4) against
``scipy.special.erfcx``, prints the halved coefficients (highest degree first, as the kernel
uses them) and the largest relative error on a dense grid (7.8e-9: 0.07 of float32's unit
roundoff; the kernel computes in float64, so its float32 results are within 0.63 ULPs).

Run: ``python tools/fit_erfcx.py`` (needs scipy, from the ``test`` extra).
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfcx

P = 0.4
DEGREE = 9
A_MAX = 9.5
NODES = 6000


def fit(p: float = P, degree: int = DEGREE, a_max: float = A_MAX) -> np.ndarray:
    """Coefficients c_0..c_degree of P, lowest degree first."""
    t_min = 1.0 / (1.0 + p * a_max)
    k = np.arange(NODES)
    t = (t_min + 1.0) / 2.0 + (1.0 - t_min) / 2.0 * np.cos(np.pi * (k + 0.5) / NODES)
    a = (1.0 / t - 1.0) / p
    target = erfcx(a) / t
    weights = 1.0 / target  # relative error
    vander = np.vander(t, degree + 1, increasing=True)
    coeffs, *_ = np.linalg.lstsq(vander * weights[:, None], target * weights, rcond=None)
    return coeffs


def max_relative_error(coeffs: np.ndarray, p: float = P, a_max: float = A_MAX) -> float:
    a = np.linspace(0.0, a_max, 400_001)
    t = 1.0 / (1.0 + p * a)
    return float(np.max(np.abs(t * np.polyval(coeffs[::-1], t) / erfcx(a) - 1.0)))


if __name__ == "__main__":
    c = fit()
    print("_HALF_ERFCX = (")
    for value in (0.5 * c)[::-1]:
        print(f"    {float(value)!r},")
    print(")")
    print(
        f"# max relative error of t P(t) against erfcx on [0, {A_MAX}]: {max_relative_error(c):.2e}"
    )
