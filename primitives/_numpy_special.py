"""Vectorised ``erf`` and ``erfc`` for NumPy arrays, ported from fdlibm ``s_erf.c``.

NumPy has no error function and SciPy is not a required dependency, so this module
ports the double-precision algorithm of Sun's fdlibm (as shipped in FreeBSD
``lib/msun/src/s_erf.c``) to array code, with fdlibm's coefficients and intervals.
Every input is evaluated in float64 and the result cast back to the input's floating
dtype, so float32 and float16 results are correctly rounded but for rare double roundings.

Method (``ax = |x|``; the interval edges are fdlibm's high-word tests, read as doubles)::

    ax < 0.84375            erf(x)  = x + x*R(x^2),  R = P/Q, P deg 4 and Q deg 5 in x^2
                            erfc(x) = 1 - (x + x*R)            if x < 1/4
                                    = 1/2 - (x*R + (x - 1/2))  otherwise
    0.84375 <= ax < 1.25    s = ax - 1, c = erx = (float)0.84506291151
                            erf(x)  = sign(x) * (c + P1(s)/Q1(s))
                            erfc(x) = (1 - c) - P1/Q1 if x > 0 else 1 + (c + P1/Q1)
    1.25 <= ax < 1/0.35     erfc(ax) = exp(-ax^2 - 0.5625 + R1(s)/S1(s)) / ax,  s = 1/ax^2
    1/0.35 <= ax < 28       erfc(ax) = exp(-ax^2 - 0.5625 + R2(s)/S2(s)) / ax
                            erf(x)  = sign(x) * (1 - erfc(ax))    (ax < 6; else sign(x))
                            erfc(x) = 2 - erfc(ax) for x < 0      (x > -6; else 2)
    ax >= 28                erfc(x) = 0 if x > 0 else 2

The exponential is split so that it does not lose the low bits of ``ax^2``: with
``z = ax`` with the low 32 bits of its mantissa cleared, ``z*z`` is exact and

    exp(-ax^2 - 0.5625 + R/S) = exp(-z*z - 0.5625) * exp((z - ax)*(z + ax) + R/S).

``erf`` is exactly fdlibm's algorithm (below one ulp, as fdlibm states).  fdlibm's
``erfc`` errs by up to ~2.7 ulp for x > 0 (glibc, which uses the same code, lists it
at several ulps); to keep erfc below one ulp the positive-x branches are refined with
error-free transformations, still on fdlibm's approximations:

* 0.25 <= x < 1.25: ``x*x``, the last Horner steps of the rational (compensated
  Horner), the division and the final subtraction are carried in double-double;
* 1.25 <= x < 28: the exponential is ``exp(hi + lo) / x`` evaluated by a table-driven
  exp (2**(j/64) in double-double, exact argument reduction, degree-6 expm1) with the
  division's remainder recovered, so it is rounded once; on [1.25, 1/0.35] the plain
  evaluation of ``R1/S1`` errs by up to 2**-52.8, so it is compensated as well.

For x < 0.25 erfc is fdlibm's, unchanged (there the result is at least 0.72).

For float32 and float16 results the refinements cannot matter and are skipped: erfc
is then fdlibm's, unrefined.  Against mpmath (200 bits, ~4e5 points) the largest float64
errors seen are 0.88 ulp (erf) and 0.86 ulp (erfc), and 0.75 of the subnormal spacing
where erfc(x) is subnormal (26.5 < x < 27.3); float32 results were all correctly rounded.
Special values: erf(+-0) = +-0, erf(+-inf) = +-1, erfc(+inf) = 0, erfc(-inf) = 2, and NaN
propagates.

The coefficients below are fdlibm's, digit for digit; the hex comments give their
IEEE-754 bit patterns.  The fdlibm source carries the following notice, which its
licence requires to be kept:

    ====================================================
    Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.

    Developed at SunPro, a Sun Microsystems, Inc. business.
    Permission to use, copy, modify, and distribute this
    software is freely granted, provided that this notice
    is preserved.
    ====================================================
"""

from __future__ import annotations

import decimal
import math
from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["erf", "erfc"]

_F64Array = NDArray[np.float64]
_Kernel = Callable[[_F64Array], _F64Array]

# erx = (float)0.84506291151: erf(1) rounded to single precision.
_ERX = 8.45062911510467529297e-01  # 0x3FEB0AC1, 0x60000000
# For |x| < 2**-28 only the first term of the power series is needed.
_EFX = 1.28379167095512586316e-01  # 0x3FC06EBA, 0x8214DB69
_EFX8 = 1.02703333676410069053e00  # 0x3FF06EBA, 0x8214DB69

# erf on [0, 0.84375]: R(z) = PP(z) / QQ(z), z = x*x.  Coefficients in increasing degree.
_PP = (
    1.28379167095512558561e-01,  # 0x3FC06EBA, 0x8214DB68
    -3.25042107247001499370e-01,  # 0xBFD4CD7D, 0x691CB913
    -2.84817495755985104766e-02,  # 0xBF9D2A51, 0xDBD7194F
    -5.77027029648944159157e-03,  # 0xBF77A291, 0x236668E4
    -2.37630166566501626084e-05,  # 0xBEF8EAD6, 0x120016AC
)
_QQ = (
    1.0,
    3.97917223959155352819e-01,  # 0x3FD97779, 0xCDDADC09
    6.50222499887672944485e-02,  # 0x3FB0A54C, 0x5536CEBA
    5.08130628187576562776e-03,  # 0x3F74D022, 0xC4D36B0F
    1.32494738004321644526e-04,  # 0x3F215DC9, 0x221C1A10
    -3.96022827877536812320e-06,  # 0xBED09C43, 0x42A26120
)

# erf on [0.84375, 1.25]: erf(1 + s) - erx = PA(s) / QA(s).
_PA = (
    -2.36211856075265944077e-03,  # 0xBF6359B8, 0xBEF77538
    4.14856118683748331666e-01,  # 0x3FDA8D00, 0xAD92B34D
    -3.72207876035701323847e-01,  # 0xBFD7D240, 0xFBB8C3F1
    3.18346619901161753674e-01,  # 0x3FD45FCA, 0x805120E4
    -1.10894694282396677476e-01,  # 0xBFBC6398, 0x3D3E28EC
    3.54783043256182359371e-02,  # 0x3FA22A36, 0x599795EB
    -2.16637559486879084300e-03,  # 0xBF61BF38, 0x0A96073F
)
_QA = (
    1.0,
    1.06420880400844228286e-01,  # 0x3FBB3E66, 0x18EEE323
    5.40397917702171048937e-01,  # 0x3FE14AF0, 0x92EB6F33
    7.18286544141962662868e-02,  # 0x3FB2635C, 0xD99FE9A7
    1.26171219808761642112e-01,  # 0x3FC02660, 0xE763351F
    1.36370839120290507362e-02,  # 0x3F8BEDC2, 0x6B51DD1C
    1.19844998467991074170e-02,  # 0x3F888B54, 0x5735151D
)

# erfc on [1.25, 1/0.35]: log(x*erfc(x)) + x*x + 0.5625 = RA(s) / SA(s), s = 1/x**2.
_RA = (
    -9.86494403484714822705e-03,  # 0xBF843412, 0x600D6435
    -6.93858572707181764372e-01,  # 0xBFE63416, 0xE4BA7360
    -1.05586262253232909814e01,  # 0xC0251E04, 0x41B0E726
    -6.23753324503260060396e01,  # 0xC04F300A, 0xE4CBA38D
    -1.62396669462573470355e02,  # 0xC0644CB1, 0x84282266
    -1.84605092906711035994e02,  # 0xC067135C, 0xEBCCABB2
    -8.12874355063065934246e01,  # 0xC0545265, 0x57E4D2F2
    -9.81432934416914548592e00,  # 0xC023A0EF, 0xC69AC25C
)
_SA = (
    1.0,
    1.96512716674392571292e01,  # 0x4033A6B9, 0xBD707687
    1.37657754143519042600e02,  # 0x4061350C, 0x526AE721
    4.34565877475229228821e02,  # 0x407B290D, 0xD58A1A71
    6.45387271733267880336e02,  # 0x40842B19, 0x21EC2868
    4.29008140027567833386e02,  # 0x407AD021, 0x57700314
    1.08635005541779435134e02,  # 0x405B28A3, 0xEE48AE2C
    6.57024977031928170135e00,  # 0x401A47EF, 0x8E484A93
    -6.04244152148580987438e-02,  # 0xBFAEEFF2, 0xEE749A62
)

# erfc on [1/0.35, 28]: the same function, RB(s) / SB(s).
_RB = (
    -9.86494292470009928597e-03,  # 0xBF843412, 0x39E86F4A
    -7.99283237680523006574e-01,  # 0xBFE993BA, 0x70C285DE
    -1.77579549177547519889e01,  # 0xC031C209, 0x555F995A
    -1.60636384855821916062e02,  # 0xC064145D, 0x43C5ED98
    -6.37566443368389627722e02,  # 0xC083EC88, 0x1375F228
    -1.02509513161107724954e03,  # 0xC0900461, 0x6A2E5992
    -4.83519191608651397019e02,  # 0xC07E384E, 0x9BDC383F
)
_SB = (
    1.0,
    3.03380607434824582924e01,  # 0x403E568B, 0x261D5190
    3.25792512996573918826e02,  # 0x40745CAE, 0x221B9F0A
    1.53672958608443695994e03,  # 0x409802EB, 0x189D5118
    3.19985821950859553908e03,  # 0x40A8FFB7, 0x688C246A
    2.55305040643316442583e03,  # 0x40A3F219, 0xCEDF3BE6
    4.74528541206955367215e02,  # 0x407DA874, 0xE79FE763
    -2.24409524465858183362e01,  # 0xC03670E2, 0x42712D62
)

# Interval edges.  fdlibm tests the high 32 bits of |x|; ``ix < H`` is ``|x| < H * 2**32``
# read as a double, so each edge is the double whose high word is H and low word zero.
_TINY_ERF = 2.0**-28  # 0x3E300000: erf(x) = x + efx*x below this
_SUBNORMAL_ERF = 2.0**-1015  # 0x00800000: scale by 8 below this (avoids underflow)
_SMALL = 0.84375  # 0x3FEB0000
_NEAR_ONE = 1.25  # 0x3FF40000
# 1/0.35: erf tests ix < 0x4006DB6E and erfc tests ix < 0x4006DB6D.
_TAIL_B_ERF = float.fromhex("0x1.6db6e00000000p+1")  # 2.8571434020996094
_TAIL_B_ERFC = float.fromhex("0x1.6db6d00000000p+1")  # 2.8571414947509766
_ERF_SATURATED = 6.0  # 0x40180000: erf(x) rounds to sign(x), erfc(x < -6) to 2
_ERFC_UNDERFLOW = 28.0  # 0x403C0000: erfc(x) underflows to 0

_HIGH_WORD_MASK = np.uint64(0xFFFFFFFF00000000)

# Work is done in blocks of this many elements.  The many elementwise passes below are
# memory-bound on big arrays; 32 KiB temporaries stay in cache and well below glibc's
# mmap threshold (128 KiB temporaries are much slower to allocate and free).
_BLOCK = 1 << 12

# How many of the final Horner steps are compensated in each refined erfc interval:
# enough to push the evaluation error well below one ulp (measured with mpmath).
_NCOMP_MID = 2  # PP/QQ on [0.25, 0.84375]
_NCOMP_NEAR_ONE = 3  # PA/QA
_NCOMP_TAIL_A = 5  # RA/SA: long sums of large terms, whose roundings pile up

# ---------------------------------------------------------------------------------------
# Polynomials and error-free transformations
# ---------------------------------------------------------------------------------------


def _horner(t: _F64Array, coeffs: Sequence[float]) -> _F64Array:
    """``coeffs[0] + t*(coeffs[1] + t*(coeffs[2] + ...))``, in fdlibm's order of operations."""
    acc = np.full_like(t, coeffs[-1])
    for c in coeffs[-2::-1]:
        acc *= t
        acc += c
    return acc


def _rational(t: _F64Array, num: Sequence[float], den: Sequence[float]) -> _F64Array:
    """The rational function ``num(t) / den(t)`` (coefficients in increasing degree)."""
    return _horner(t, num) / _horner(t, den)


_SPLITTER = 134217729.0  # 2**27 + 1, Veltkamp's splitting constant for doubles


def _split(a: _F64Array) -> tuple[_F64Array, _F64Array]:
    """``a = hi + lo`` exactly, with ``hi`` and ``lo`` of at most 26 significant bits."""
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


def _two_prod(
    a: _F64Array, b: _F64Array, b_split: tuple[_F64Array, _F64Array] | None = None
) -> tuple[_F64Array, _F64Array]:
    """``a*b = p + err`` exactly (Dekker), with ``p = fl(a*b)``."""
    p = a * b
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b) if b_split is None else b_split
    return p, ((a_hi * b_hi - p) + a_hi * b_lo + a_lo * b_hi) + a_lo * b_lo


def _two_sum(a: _F64Array, b: _F64Array | float) -> tuple[_F64Array, _F64Array]:
    """``a + b = s + err`` exactly (Knuth), with ``s = fl(a + b)``."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _horner_compensated(
    t: _F64Array, t_lo: _F64Array | None, coeffs: Sequence[float], n_comp: int
) -> tuple[_F64Array, _F64Array]:
    """Horner's scheme at ``t + t_lo`` as an unevaluated sum ``hi + lo``.

    The high-degree part is plain ``_horner``; its last ``n_comp`` steps are compensated
    (Graillat, Langlois & Louvet 2005): the rounding error of every product and sum is
    recovered exactly and carried along in ``lo``, as is the first-order effect of ``t_lo``.
    """
    n_comp = min(n_comp, len(coeffs) - 1)
    hi = _horner(t, coeffs[n_comp:])
    lo = np.zeros_like(t)
    t_split = _split(t)
    for c in coeffs[n_comp - 1 :: -1] if n_comp else ():
        prod, prod_err = _two_prod(hi, t, t_split)
        lo *= t
        lo += prod_err
        if t_lo is not None:
            lo += hi * t_lo
        hi, sum_err = _two_sum(prod, c)
        lo += sum_err
    return hi, lo


def _rational_compensated(
    t: _F64Array,
    t_lo: _F64Array | None,
    num: Sequence[float],
    den: Sequence[float],
    n_comp: int,
) -> tuple[_F64Array, _F64Array]:
    """``num(t + t_lo) / den(t + t_lo)`` as ``hi + lo``, from compensated Horner sums."""
    p_hi, p_lo = _horner_compensated(t, t_lo, num, n_comp)
    q_hi, q_lo = _horner_compensated(t, t_lo, den, n_comp)
    y = p_hi / q_hi
    prod, prod_err = _two_prod(y, q_hi)  # p_hi - prod is exact (Sterbenz)
    return y, (((p_hi - prod) - prod_err) + (p_lo - y * q_lo)) / q_hi


# ---------------------------------------------------------------------------------------
# exp(hi + lo) / x, rounded once (for the erfc tail)
# ---------------------------------------------------------------------------------------

_EXP_BITS = 6
_EXP_N = 1 << _EXP_BITS  # the table holds 2**(j/64), j = 0..63


def _exp_constants() -> tuple[_F64Array, _F64Array, float, float, float]:
    """``2**(j/N)`` as double-double pairs, and ``ln(2)/N`` split for exact reduction."""
    ctx = decimal.Context(prec=50)
    two = decimal.Decimal(2)
    table_hi, table_lo = [], []
    for j in range(_EXP_N):
        exact = ctx.power(two, ctx.divide(decimal.Decimal(j), _EXP_N))
        hi = float(exact)
        table_hi.append(hi)
        table_lo.append(float(ctx.subtract(exact, decimal.Decimal(hi))))
    step = ctx.divide(ctx.ln(two), _EXP_N)
    # 36 significant bits, so k * step_hi is exact for the |k| < 2**17 met here.
    step_hi = math.ldexp(round(math.ldexp(float(step), 42)), -42)
    step_lo = float(ctx.subtract(step, decimal.Decimal(step_hi)))
    inv_step = float(ctx.divide(_EXP_N, ctx.ln(two)))
    return np.array(table_hi), np.array(table_lo), step_hi, step_lo, inv_step


_EXP_TABLE_HI, _EXP_TABLE_LO, _EXP_STEP_HI, _EXP_STEP_LO, _EXP_INV_STEP = _exp_constants()
# Taylor coefficients of (exp(r) - 1 - r) / r**2.  With |r| <= ln(2)/128 (plus a little
# from ``lo``) the degree-6 truncation of exp(r) - 1 errs by under 2**-64 relative.
_EXPM1_TAIL = (1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720)


def _exp_over(e_hi: _F64Array, e_lo: _F64Array, x: _F64Array) -> _F64Array:
    """``exp(e_hi + e_lo) / x`` for ``-800 < e_hi < 0``, ``|e_lo| < 2**-9`` and ``x > 0``.

    ``e = k*ln(2)/64 + r`` with ``|r| <~ ln(2)/128`` (the reduction is exact), so
    ``exp(e) = 2**(k//64) * 2**((k%64)/64) * (1 + expm1(r))``.  The table entry and
    ``expm1(r)`` are carried to ~2**-60 and the division's remainder is recovered
    exactly, leaving just the final rounding (two where ``ldexp`` makes a subnormal).
    """
    k = np.rint(e_hi * _EXP_INV_STEP)
    r_hi = e_hi - k * _EXP_STEP_HI  # exact (Sterbenz)
    r_lo = e_lo - k * _EXP_STEP_LO
    r = r_hi + r_lo
    expm1 = r_hi + (r_lo + r * r * _horner(r, _EXPM1_TAIL))
    k_int = k.astype(np.int32)  # |k| < 2**17
    j = k_int & (_EXP_N - 1)
    scale_hi = _EXP_TABLE_HI[j]
    # exp(e) / x = 2**m * (scale_hi + v_lo) / x, v_lo = scale_lo + scale_hi*expm1.
    v_lo = _EXP_TABLE_LO[j] + scale_hi * expm1
    q = scale_hi / x
    prod, prod_err = _two_prod(q, x)  # scale_hi - prod is exact (Sterbenz)
    q_lo = (((scale_hi - prod) - prod_err) + v_lo) / x
    return np.ldexp(q + q_lo, k_int >> _EXP_BITS)


# ---------------------------------------------------------------------------------------
# The erfc tail, 1.25 <= |x| < 28
# ---------------------------------------------------------------------------------------


def _tail_split(ax: _F64Array) -> tuple[_F64Array, _F64Array]:
    """``(a, d)``, ``a + d = -ax*ax - 0.5625``: ``a = -z*z - 0.5625``, ``d = (z-ax)*(z+ax)``.

    ``z`` is ``ax`` with the low 32 bits of its mantissa cleared, so ``z*z`` and ``a`` are
    exact for ``ax < 28``, and ``d`` is small (below 2**-19 * ax**2) and accurate.
    """
    z = (ax.view(np.uint64) & _HIGH_WORD_MASK).view(np.float64)
    return -z * z - 0.5625, (z - ax) * (z + ax)


def _erfc_tail_plain(ax: _F64Array, num: Sequence[float], den: Sequence[float]) -> _F64Array:
    """fdlibm's ``erfc(ax) = exp(-z*z - 0.5625) * exp((z-ax)*(z+ax) + R/S) / ax``.

    Up to ~2.7 ulp: fine where it is added to 1 (erf) or subtracted from 2 (erfc, x < 0).
    """
    a, d = _tail_split(ax)
    return np.exp(a) * np.exp(d + _rational(1.0 / (ax * ax), num, den)) / ax


def _tail_exponent(
    ax: _F64Array, num: Sequence[float], den: Sequence[float], n_comp: int
) -> tuple[_F64Array, _F64Array]:
    """``log(ax * erfc(ax)) = -ax**2 - 0.5625 + R(s)/S(s)`` (``s = 1/ax**2``) as ``hi + lo``.

    With ``n_comp = 0`` ``R/S`` is evaluated as fdlibm does (on [1/0.35, 28) that errs by
    under 2**-55, a quarter ulp of erfc at most).  On [1.25, 1/0.35] the roundings of ``s``
    and of the long Horner sums of large terms add up to 2**-52.8, several ulps of erfc;
    there ``n_comp > 0`` forms ``s`` in double-double and compensates the last ``n_comp``
    Horner steps.
    """
    if n_comp == 0:
        rs_hi: _F64Array = _rational(1.0 / (ax * ax), num, den)
        rs_lo: _F64Array | float = 0.0
    else:
        xx, xx_lo = _two_prod(ax, ax)
        s = 1.0 / xx
        prod, prod_err = _two_prod(s, xx)
        s_lo = s * (((1.0 - prod) - prod_err) - s * xx_lo)
        rs_hi, rs_lo = _rational_compensated(s, s_lo, num, den, n_comp)
    a, d = _tail_split(ax)
    hi = a + rs_hi  # |a| > 2 > |rs_hi|: the sum's error is rs_hi - (hi - a)
    return hi, (rs_hi - (hi - a)) + (rs_lo + d)


# ---------------------------------------------------------------------------------------
# Kernels: each evaluates one interval on the x values that fall in it
# ---------------------------------------------------------------------------------------


def _erf_tiny(x: _F64Array) -> _F64Array:
    """|x| < 2**-28 (and NaN): erf(x) = x + efx*x, scaled by 8 near underflow."""
    return np.where(np.abs(x) < _SUBNORMAL_ERF, (8.0 * x + _EFX8 * x) / 8.0, x + _EFX * x)


def _erf_small(x: _F64Array) -> _F64Array:
    """2**-28 <= |x| < 0.84375."""
    return x + x * _rational(x * x, _PP, _QQ)


def _erf_near_one(x: _F64Array) -> _F64Array:
    """0.84375 <= |x| < 1.25."""
    return np.copysign(_ERX + _rational(np.abs(x) - 1.0, _PA, _QA), x)


def _erf_tail(num: Sequence[float], den: Sequence[float]) -> _Kernel:
    """1.25 <= |x| < 6."""

    def kernel(x: _F64Array) -> _F64Array:
        return np.copysign(1.0 - _erfc_tail_plain(np.abs(x), num, den), x)

    return kernel


def _erf_saturated(x: _F64Array) -> _F64Array:
    """|x| >= 6, including the infinities."""
    return np.copysign(1.0, x)


def _erfc_small(x: _F64Array) -> _F64Array:
    """-0.84375 < x < 0.25 (and NaN): erfc(x) = 1 - (x + x*R(x*x)).

    For |x| < 2**-56 fdlibm returns 1 - x; this rounds to the same.
    """
    return 1.0 - (x + x * _rational(x * x, _PP, _QQ))


def _erfc_mid_plain(x: _F64Array) -> _F64Array:
    """0.25 <= x < 0.84375, as fdlibm: erfc(x) = 1/2 - (x*R(x*x) + (x - 1/2))."""
    return 0.5 - (x * _rational(x * x, _PP, _QQ) + (x - 0.5))


def _erfc_mid(x: _F64Array) -> _F64Array:
    """0.25 <= x < 0.84375: erfc(x) = 1/2 - (x - 1/2) - x*R(x*x), in double-double.

    erfc(x) falls to 0.23 while fdlibm's ``x*R`` carries absolute errors near 2**-54.
    """
    z, z_lo = _two_prod(x, x)
    y_hi, y_lo = _rational_compensated(z, z_lo, _PP, _QQ, _NCOMP_MID)
    xy_hi, xy_lo = _two_prod(x, y_hi)
    xy_lo += x * y_lo
    s, s_err = _two_sum(x - 0.5, xy_hi)  # x - 0.5 is exact here
    hi, lo = _two_sum(-s, 0.5)
    return hi + (lo - (s_err + xy_lo))


def _erfc_near_one_plain(x: _F64Array) -> _F64Array:
    """0.84375 <= x < 1.25, as fdlibm: erfc(x) = (1 - erx) - P1/Q1."""
    return (1.0 - _ERX) - _rational(x - 1.0, _PA, _QA)


def _erfc_near_one(x: _F64Array) -> _F64Array:
    """0.84375 <= x < 1.25: (1 - erx) - P1/Q1, in double-double."""
    pq_hi, pq_lo = _rational_compensated(x - 1.0, None, _PA, _QA, _NCOMP_NEAR_ONE)
    hi, lo = _two_sum(pq_hi, -(1.0 - _ERX))  # 1 - erx is exact
    return -hi - (lo + pq_lo)


def _erfc_tail(num: Sequence[float], den: Sequence[float], n_comp: int | None) -> _Kernel:
    """1.25 <= x < 28: erfc(x) = exp(log(x erfc(x))) / x, rounded once (fdlibm's if None)."""

    def kernel(x: _F64Array) -> _F64Array:
        if n_comp is None:
            return _erfc_tail_plain(x, num, den)
        return _exp_over(*_tail_exponent(x, num, den, n_comp), x)

    return kernel


def _erfc_negative_near_one(x: _F64Array) -> _F64Array:
    """-1.25 < x <= -0.84375: erfc(x) = 1 + (erx + P1/Q1)."""
    return 1.0 + (_ERX + _rational(-x - 1.0, _PA, _QA))


def _erfc_negative_tail(num: Sequence[float], den: Sequence[float]) -> _Kernel:
    """-6 < x <= -1.25: erfc(x) = 2 - erfc(-x)."""

    def kernel(x: _F64Array) -> _F64Array:
        return 2.0 - _erfc_tail_plain(-x, num, den)

    return kernel


def _erfc_saturated(x: _F64Array) -> _F64Array:
    """x >= 28 or x <= -6, including the infinities: erfc rounds to 0 or 2."""
    return np.where(x > 0, 0.0, 2.0)


# ---------------------------------------------------------------------------------------
# Binning and the driver
# ---------------------------------------------------------------------------------------


def _count_edges(ax: _F64Array, edges: Sequence[float], bins: NDArray[np.uint8]) -> None:
    """``bins = number of edges <= ax``; NaN exceeds no edge and gets 0."""
    np.greater_equal(ax, edges[0], out=bins, casting="unsafe")
    for edge in edges[1:]:
        bins += ax >= edge


_ERF_EDGES = (_TINY_ERF, _SMALL, _NEAR_ONE, _TAIL_B_ERF, _ERF_SATURATED)
_ERF_KERNELS: tuple[_Kernel, ...] = (
    _erf_tiny,
    _erf_small,
    _erf_near_one,
    _erf_tail(_RA, _SA),
    _erf_tail(_RB, _SB),
    _erf_saturated,
)


def _erf_bins(x: _F64Array, bins: NDArray[np.uint8]) -> None:
    _count_edges(np.abs(x), _ERF_EDGES, bins)


# erfc is not symmetric, so its bins are intervals of x itself.  fdlibm's tests are on
# |x| < edge, so the negative intervals are closed on the left, (-edge', -edge], and the
# positive ones on the right, [edge, edge').
_ERFC_NEGATIVE_EDGES = (-_ERF_SATURATED, -_TAIL_B_ERFC, -_NEAR_ONE, -_SMALL)
_ERFC_POSITIVE_EDGES = (0.25, _SMALL, _NEAR_ONE, _TAIL_B_ERFC, _ERFC_UNDERFLOW)
_ERFC_KERNELS: tuple[_Kernel, ...] = (
    _erfc_saturated,  # x <= -6: 2
    _erfc_negative_tail(_RB, _SB),  # -6 < x <= -1/0.35
    _erfc_negative_tail(_RA, _SA),  # -1/0.35 < x <= -1.25
    _erfc_negative_near_one,  # -1.25 < x <= -0.84375
    _erfc_small,  # -0.84375 < x < 0.25, and NaN
    _erfc_mid,  # 0.25 <= x < 0.84375
    _erfc_near_one,  # 0.84375 <= x < 1.25
    _erfc_tail(_RA, _SA, _NCOMP_TAIL_A),  # 1.25 <= x < 1/0.35
    _erfc_tail(_RB, _SB, 0),  # 1/0.35 <= x < 28
    _erfc_saturated,  # x >= 28: 0
)
# fdlibm's erfc unrefined (below ~3 ulp of float64): ample for float32 and float16
# results, and several times faster on the refined intervals.
_ERFC_KERNELS_FDLIBM: tuple[_Kernel, ...] = (
    *_ERFC_KERNELS[:5],
    _erfc_mid_plain,
    _erfc_near_one_plain,
    _erfc_tail(_RA, _SA, None),
    _erfc_tail(_RB, _SB, None),
    _erfc_saturated,
)


def _erfc_bins(x: _F64Array, bins: NDArray[np.uint8]) -> None:
    """``4 - #{negative edges >= x} + #{positive edges <= x}``: NaN counts neither, gets 4."""
    bins.fill(len(_ERFC_NEGATIVE_EDGES))
    for edge in _ERFC_NEGATIVE_EDGES:
        bins -= x <= edge
    for edge in _ERFC_POSITIVE_EDGES:
        bins += x >= edge


def _evaluate(
    x: ArrayLike,
    binner: Callable[[_F64Array, NDArray[np.uint8]], None],
    kernels: Sequence[_Kernel],
    kernels_narrow: Sequence[_Kernel] | None = None,
) -> np.ndarray:
    """Bin every element by interval, then run each interval's kernel on its elements.

    ``kernels_narrow``, if given, replaces ``kernels`` for float32 and float16 results.

    Kernels see their elements gathered into blocks of ``_BLOCK``, so that even a sparse
    interval is computed with few, cache-sized passes; an interval that holds the whole
    array is computed on contiguous slices without gather or scatter.
    """
    arr = np.asarray(x)
    if arr.dtype.kind == "f":
        dtype = arr.dtype
    elif arr.dtype.kind in "biu":
        dtype = np.dtype(np.float64)
    else:
        raise TypeError(f"erf/erfc expect a real floating array, got dtype {arr.dtype}")
    if kernels_narrow is not None and dtype.itemsize < 8:
        kernels = kernels_narrow
    flat = arr.astype(np.float64, copy=False).ravel()  # only ever read
    out = np.empty_like(flat)
    bins = np.empty(flat.shape, dtype=np.uint8)
    n = flat.size
    with np.errstate(under="ignore"):
        for start in range(0, n, _BLOCK):
            binner(flat[start : start + _BLOCK], bins[start : start + _BLOCK])
        for k, kernel in enumerate(kernels):
            in_bin = bins == k
            count = np.count_nonzero(in_bin)
            if count == n:
                for start in range(0, n, _BLOCK):
                    out[start : start + _BLOCK] = kernel(flat[start : start + _BLOCK])
            elif count:
                idx = np.flatnonzero(in_bin)
                for start in range(0, count, _BLOCK):
                    sel = idx[start : start + _BLOCK]
                    out[sel] = kernel(flat[sel])
        return out.reshape(arr.shape).astype(dtype, copy=False)  # may underflow in float16


def erf(x: np.ndarray) -> np.ndarray:
    """The error function ``2/sqrt(pi) * integral_0^x exp(-t**2) dt``, elementwise.

    Accepts any real floating array (integers are treated as float64); computes in
    float64 and returns an array of the input's shape and dtype.  The input is not modified.
    """
    return _evaluate(x, _erf_bins, _ERF_KERNELS)


def erfc(x: np.ndarray) -> np.ndarray:
    """The complementary error function ``1 - erf(x)``, elementwise, without cancellation.

    Accepts any real floating array (integers are treated as float64); computes in
    float64 and returns an array of the input's shape and dtype.  The input is not modified.
    """
    return _evaluate(x, _erfc_bins, _ERFC_KERNELS, _ERFC_KERNELS_FDLIBM)
