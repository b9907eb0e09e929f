"""Fast NumPy activation kernels: branch-free formulas, written in place, block by block.

Why these exist: ``np.where`` on an unpredictable mask costs about 6 ns an element (a
mispredicted branch each), 15x an ``np.add``, and the generic kernels
(:mod:`primitives.kernels.activations`) are written with it; they also allocate a full-size
temporary per operation. The kernels here use ``minimum``/``maximum``, multiplications by a
0/1 mask and in-place (``out=``) ufuncs, and run on cache-sized blocks across threads
(:mod:`.numpy_blocks`). (The exact GELU is the exception: its float32 form is computed in
float64 and assigned, its float64 form is the generic formula, both run on the blocks.)

Each fast formula is accurate only on a *domain* of values (no NaN, no infinity where the
formula would form inf * 0, no tail where an intermediate overflows or loses its bits). A
block whose minimum and maximum lie inside it takes the fast formula alone; in any other
block the elements outside the domain are computed again by the generic kernel (softmax: the
rows holding a non-finite value). Every array the fast path does not take (float16,
broadcasting, non-contiguous, small) runs the generic kernel. So an element's result depends
on its own value only (its row's, for softmax), never on its neighbours, and the edge cases
keep the generic kernels' semantics by construction. The property suite judges both paths:
``numpy`` (these kernels, with small blocks so that one drawn array mixes them) and
``numpy:generic``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps

import numpy as np

from ..backend import Backend
from ..kernels import SPECS, activations
from ..kernels import activation_domains as domains
from ..kernels.activations import (
    _INV_SQRT_2PI,
    _SQRT_HALF,
    GELU_TWO_U_CUBIC,
    GELU_TWO_U_LINEAR,
    far_tail,
)
from . import numpy_blocks

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


Fast = Callable[..., None]  # fast(out, *arrays, *params): writes the block's result into out
# domain(x, *params) -> (v, lo, hi): the fast formula is accurate where lo <= v <= hi, with
# v = x or a function of it (NaN is outside every domain)
Domain = Callable[..., domains.Domain]


def _outside(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Indices (flat) of the elements outside [lo, hi], NaN included."""
    return np.flatnonzero(~((v >= lo) & (v <= hi)))


def _eligible(arrays: tuple, size: int) -> bool:
    first = arrays[0]
    return (
        all(type(a) is np.ndarray for a in arrays)
        and first.dtype in _FLOATS
        and first.size >= size
        and all(a.shape == first.shape and a.dtype == first.dtype for a in arrays)
        and all(a.flags.c_contiguous for a in arrays)
    )


def elementwise(
    backend: Backend,
    name: str,
    fast: Fast,
    domain: Domain | None,
    applies: Callable[..., bool] | None = None,
    *,
    backward: bool,
) -> Callable:
    """The kernel ``name`` (``name_backward`` when ``backward``): ``fast`` on the elements of
    x in its ``domain``, where ``applies(*params)``; the generic kernel elsewhere. A ``None``
    domain: ``fast`` is the generic formula itself, exact for every input (no check)."""
    spec = SPECS[name]
    generic = partial(spec.backward if backward else spec.forward, backend)
    n_arrays = 2 if backward else 1

    def kernel(*args):
        arrays, params = args[:n_arrays], args[n_arrays:]
        if (
            not _eligible(arrays, numpy_blocks.settings().min_size)
            or not all(type(p) in (int, float, str) for p in params)
            or (applies and not applies(*params))
        ):
            # (a numpy scalar parameter would change the generic kernel's result dtype)
            return generic(*args)
        x = arrays[-1]
        out = np.empty_like(x)
        flat = [a.reshape(-1) for a in arrays]
        flat_out = out.reshape(-1)

        def body(i: int, j: int) -> None:
            block, block_out = [a[i:j] for a in flat], flat_out[i:j]
            with np.errstate(all="ignore"):
                fast(block_out, *block, *params)
                if domain is None:
                    return
                v, lo, hi = domain(block[-1], *params)
                if lo <= v.min() and v.max() <= hi:  # False with a NaN
                    return
                redo = _outside(v, lo, hi)
                block_out[redo] = generic(*(a[redo] for a in block), *params)

        numpy_blocks.run(x.size, body)
        return out

    kernel.__name__ = name + ("_backward" if backward else "")
    return kernel


# --- formulas --------------------------------------------------------------------------------
# Each writes f(x) (or g f'(x)) into out; domain as registered below.


# relu and tanh: the generic formulas (one ufunc each), on the blocks: two threads make the
# pass faster (4e6 float32: np.maximum 1.57 -> 1.10 ms, np.tanh 1.59 -> 1.14 ms here)


def _relu(out, x):
    np.maximum(x, 0.0, out=out)


def _tanh(out, x):
    np.tanh(x, out=out)


def _relu_backward(out, g, x):
    # g * [x > 0]: a NaN or infinite g gives NaN where x <= 0, as g * 0.0 in the generic kernel
    np.multiply(g, x > 0, out=out)


def _leaky_relu(out, x, slope):
    # max(x, s x) for 0 < s <= 1, min(x, s x) for s > 1
    np.multiply(x, slope, out=out)
    (np.maximum if slope <= 1 else np.minimum)(out, x, out=out)  # ties (+-0): x, as generic


def _leaky_relu_backward(out, g, x, slope):
    # g * max([x > 0], s) = g (x > 0), g s (x <= 0) for 0 <= s <= 1
    np.maximum(x > 0, x.dtype.type(slope), out=out)
    out *= g


def _sigmoid_into(out, x):
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)


def _sigmoid_derivative_into(out, x, tmp):
    # e/(1+e)^2 with e = exp(-|x|) (see kernels.activations._sigmoid_derivative)
    np.abs(x, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.add(out, 1.0, out=tmp)
    out /= tmp
    out /= tmp


def _sigmoid_backward(out, g, x):
    _sigmoid_derivative_into(out, x, np.empty_like(x))
    out *= g


def _tanh_backward(out, g, x):
    # 4 sigma'(2x) = 1/cosh^2(x)
    _sigmoid_derivative_into(out, 2.0 * x, np.empty_like(x))
    out *= 4.0
    out *= g


def _silu(out, x):
    # x / (1 + exp(-x)), one rounding fewer than x * sigma(x)
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1.0
    np.divide(x, out, out=out)


def _silu_backward(out, g, x):
    # sigma(x) + x sigma'(x), sigma = 1/(1+E), sigma' = E sigma^2, E = exp(-x)
    s = np.negative(x)
    np.exp(s, out=out)  # E
    s[...] = out
    s += 1.0
    np.reciprocal(s, out=s)  # sigma(x)
    out *= s
    out *= s
    out *= x
    out += s
    out *= g


def _log1p_small(out, e, tmp):
    """log1p(e) for 0 <= e <= 1 from log: u = 1 + e rounds, u - 1 is exact (Sterbenz) and
    e - (u - 1) is the rounding error of the sum, so log1p(e) = log(u) + (e - (u - 1))/u to
    within a few ULPs (np.log1p has no SIMD loop: 7x slower than np.log)."""
    np.add(e, 1.0, out=out)  # u
    np.subtract(out, 1.0, out=tmp)
    np.subtract(e, tmp, out=tmp)
    tmp /= out
    np.log(out, out=out)
    out += tmp


def _softplus(out, x, beta, threshold):
    # (max(z, 0) + log1p(exp(-|z|)))/beta, z = beta x <= threshold on this block
    z = np.multiply(x, beta)
    e = np.abs(z)
    np.negative(e, out=e)
    np.exp(e, out=e)
    _log1p_small(out, e, np.empty_like(x))
    np.maximum(z, 0.0, out=z)
    out += z
    out /= beta


def _softplus_domain(x, beta, threshold) -> tuple[np.ndarray, float, float]:
    # z = beta x as the generic kernel rounds it, at most the threshold (else the identity)
    return np.multiply(x, beta), far_tail(x), threshold


def _softplus_backward(out, g, x, beta, threshold):
    _sigmoid_into(out, np.multiply(x, beta))
    out *= g


def _elu(out, x, alpha):
    # max(x, alpha expm1(min(x, 0))) for 0 <= alpha <= 1: alpha expm1(x) >= x for x <= 0
    np.minimum(x, 0.0, out=out)
    np.expm1(out, out=out)
    out *= alpha
    np.maximum(x, out, out=out)  # on a tie (x = -0.0) the second: +0.0, as the generic kernel


def _elu_backward(out, g, x, alpha):
    # g * max(alpha exp(min(x, 0)), [x > 0]) for 0 <= alpha <= 1
    np.minimum(x, 0.0, out=out)
    np.exp(out, out=out)
    out *= alpha
    np.maximum(out, x > 0, out=out)
    out *= g


# A float32 kernel that computes in float64 makes float64 temporaries, twice a float32 block's
# bytes each, several per thread: it runs on pieces of at most this many elements, so that they
# stay in a core's L2 and the forward's peak memory stays near its output (gelu: 1.3 outputs
# with pieces, 2.35 with whole 2^18-element blocks; and 15-25% faster here).
_FLOAT64_PIECE = 1 << 16


def _in_float64_pieces(fast: Fast) -> Fast:
    """``fast(out, *arrays, *params)`` run piece by piece over the block (see _FLOAT64_PIECE);
    the block's arrays are 1-D and its parameters never arrays (see ``elementwise``)."""

    @wraps(fast)
    def pieces(out, *args):
        n = out.shape[0]
        if n <= _FLOAT64_PIECE:
            fast(out, *args)
            return
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        params = args[len(arrays) :]
        for i in range(0, n, _FLOAT64_PIECE):
            j = i + _FLOAT64_PIECE
            fast(out[i:j], *(a[i:j] for a in arrays), *params)

    return pieces


def _minus_two_u(out, x, x_squared):
    np.multiply(x_squared, -GELU_TWO_U_CUBIC, out=out)
    out -= GELU_TWO_U_LINEAR
    out *= x


def _gelu_tanh(out, x, approximate):
    # x / (1 + exp(-2u)): one rounding fewer than x * sigma(2u)
    _minus_two_u(out, x, np.multiply(x, x))
    np.exp(out, out=out)
    out += 1.0
    np.divide(x, out, out=out)


def _gelu_tanh_backward(out, g, x, approximate):
    if out.dtype == np.float32:
        _gelu_tanh_backward_float32(out, g, x)
    else:
        _gelu_tanh_derivative(out, x)
        out *= g


@_in_float64_pieces
def _gelu_tanh_backward_float32(out, g, x):
    # (as the generic kernel: in float32, 1 + x 2u' E r cancels in part for x in (-2.5, -1)
    # and carries the rounding of 2u with it, to 8 ULPs against a bound of 8.1)
    wide = np.empty(out.shape, np.float64)
    _gelu_tanh_derivative(wide, x.astype(np.float64))
    out[...] = wide  # f'(x) rounded once, then g f'(x) once more: within 1 ULP
    out *= g


def _gelu_tanh_derivative(out, x):
    # sigma(2u) + x sigma'(2u) 2u' = r (1 + x 2u' E r), E = exp(-2u), r = 1/(1 + E), and
    # 2u' = A + 3B x^2 (E r r, not E/(1 + E)^2: (1 + E)^2 would overflow in the tail)
    x_squared = np.multiply(x, x)
    _minus_two_u(out, x, x_squared)
    np.exp(out, out=out)  # E
    r = np.add(out, 1.0)
    np.reciprocal(r, out=r)
    out *= r  # E r
    x_squared *= 3.0 * GELU_TWO_U_CUBIC
    x_squared += GELU_TWO_U_LINEAR  # 2u'
    x_squared *= x
    out *= x_squared
    out += 1.0
    out *= r


# Exact GELU for float32, computed in float64: Phi(x) = h for x < 0 and 1 - h for x >= 0, with
# h = erfc(a)/2 = exp(-a^2) t P(t)/2, a = |x|/sqrt 2, t = 1/(1 + p a). Coefficients of P/2,
# highest degree first, from tools/fit_erfcx.py: t P(t) is within 7.8e-9 of erfcx(a) for
# 0 <= a <= 9.5 (x >= -13.4); above, for x > 13.4, h < 1e-40 is lost in 1 - h anyway.
_ERFCX_P = 0.4
_HALF_ERFCX = (
    -0.015712712334381113,
    0.10391873673519166,
    -0.2608110715781259,
    0.288729890993605,
    -0.15450353509155626,
    0.14255823276602436,
    0.06261350445916446,
    0.10793068897730695,
    0.11241995810153338,
    0.11285630929539482,
)


def _phi_float64(x32: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, Phi(x), exp(-x^2/2)) in float64 for a float32 block, branch-free."""
    x = x32.astype(np.float64)
    t = np.abs(x)
    t *= _ERFCX_P * _SQRT_HALF
    t += 1.0
    np.reciprocal(t, out=t)
    h = np.full_like(t, _HALF_ERFCX[0])
    for c in _HALF_ERFCX[1:]:
        h *= t
        h += c
    h *= t
    e = np.multiply(x, x)
    e *= -0.5
    np.exp(e, out=e)  # exp(-a^2)
    h *= e  # erfc(a)/2
    np.copysign(h, x, out=h)
    # [x >= +0] - copysign(h, x): 1 - h for x >= +0, h for x <= -0 (Phi(+-0) = 1/2)
    return x, np.subtract(~np.signbit(x), h), e


@_in_float64_pieces
def _gelu_erf_float32(out, x, approximate):
    x64, phi, _ = _phi_float64(x)
    phi *= x64
    out[...] = phi  # rounded once to float32


@_in_float64_pieces
def _gelu_erf_backward_float32(out, g, x, approximate):
    # g (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2)/sqrt(2 pi)
    x64, phi, e = _phi_float64(x)
    e *= x64
    e *= _INV_SQRT_2PI
    phi += e
    phi *= g
    out[...] = phi


def _gelu_by_form(exact: Callable, exact_float32: Fast, tanh_form: Fast) -> Fast:
    def fast(out, *args):
        if args[-1] == "tanh":
            tanh_form(out, *args)
        elif out.dtype == np.float32:
            exact_float32(out, *args)
        else:  # float64: the generic formula on blocks across threads
            out[...] = exact(*args)

    return fast


def _gelu_form(approximate) -> bool:
    return approximate in activations.GELU_FORMS


def _unit_interval(p) -> bool:
    return 0.0 <= p <= 1.0


def _positive_unit_interval(p) -> bool:
    return 0.0 < p <= 1.0


# --- rows: softmax and log_softmax along the last axis ---------------------------------------


def _softmax_rows(out, x):
    np.subtract(x, x.max(axis=-1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=-1, keepdims=True)


def _log_softmax_rows(out, x):
    # s - log1p(rest), rest = the sum of exp(s) over the non-maximal entries + (ties - 1), as
    # the generic kernel; exp(s) - [s == 0] zeroes the maximal entries without np.where.
    np.subtract(x, x.max(axis=-1, keepdims=True), out=out)
    is_max = (out == 0).astype(x.dtype)
    e = np.exp(out)
    e -= is_max
    rest = e.sum(axis=-1, keepdims=True) + (is_max.sum(axis=-1, keepdims=True) - 1.0)
    out -= np.log1p(rest)


def _lone_top_rows(out, x):
    """softmax into ``out``; returns ``(comp, lone)``: ``lone`` where an entry is its row's
    only maximum, ``comp = rest / (1 + rest)`` per row (``1 - y`` there, without the
    cancellation of 1 - y: ``rest`` sums the other terms, as the generic ``_lone_top``)."""
    np.subtract(x, x.max(axis=-1, keepdims=True), out=out)
    is_max = out == 0
    np.exp(out, out=out)  # exactly 1 at the maxima
    maxima = is_max.sum(axis=-1, keepdims=True, dtype=out.dtype)
    rest = np.subtract(out, is_max).sum(axis=-1, keepdims=True) + (maxima - 1.0)
    total = rest + 1.0
    out /= total
    return rest / total, is_max & (maxima == 1)


def _softmax_backward_rows(out, g, x):
    # y (g - <g, y>), at a lone maximum y (g (1 - y) - sum_{j != i} g_j y_j) (the generic
    # softmax_backward). (<g, y> by np.sum's pairwise summation: einsum's running sums are 33
    # ULPs off on a float64 row of 2048 alike terms)
    comp, lone = _lone_top_rows(out, x)
    gy = np.multiply(g, out)
    dot = gy.sum(axis=-1, keepdims=True)
    off = np.where(lone, 0.0, gy).sum(axis=-1, keepdims=True)
    inner = np.subtract(g, dot)
    np.copyto(inner, g * comp - off, where=lone)
    out *= inner


def _log_softmax_backward_rows(out, g, x):
    # g - y sum(g), at a lone maximum g (1 - y) - y sum_{j != i} g_j (the generic kernel)
    comp, lone = _lone_top_rows(out, x)
    total = g.sum(axis=-1, keepdims=True)
    off = np.where(lone, 0.0, g).sum(axis=-1, keepdims=True)
    top = g * comp - out * off
    out *= total
    np.subtract(g, out, out=out)
    np.copyto(out, top, where=lone)


def rows(backend: Backend, name: str, fast: Fast, *, backward: bool) -> Callable:
    """A softmax-like kernel along ``axis``: ``fast`` on blocks of whole rows when ``axis`` is
    the last one, the generic kernel for the rows holding a non-finite value and otherwise."""
    spec = SPECS[name]
    generic = partial(spec.backward if backward else spec.forward, backend)
    n_arrays = 2 if backward else 1

    def kernel(*args):
        arrays, (axis,) = args[:n_arrays], args[n_arrays:]
        x = arrays[-1]
        if (
            not _eligible(arrays, numpy_blocks.settings().min_size)
            or type(axis) is bool
            or not isinstance(axis, int | np.integer)
            or x.ndim == 0
            or axis not in (-1, x.ndim - 1)
        ):
            return generic(*args)
        length = x.shape[-1]
        out = np.empty_like(x)
        if length == 0:
            return generic(*args)
        flat = [a.reshape(-1, length) for a in arrays]
        flat_out = out.reshape(-1, length)

        def body(i: int, j: int) -> None:
            block, block_out = [a[i:j] for a in flat], flat_out[i:j]
            with np.errstate(all="ignore"):
                fast(block_out, *block)
                if all(np.isfinite(a.min()) and np.isfinite(a.max()) for a in block):
                    return
                redo = np.flatnonzero(~np.all([np.isfinite(a).all(axis=-1) for a in block], axis=0))
                block_out[redo] = generic(*(a[redo] for a in block), -1)

        numpy_blocks.run(flat[0].shape[0], body, unit=length)
        return out

    kernel.__name__ = name + ("_backward" if backward else "")
    return kernel


def kernels(backend: Backend) -> dict[str, Callable]:
    """The numpy backend's native kernel table."""
    fwd = partial(elementwise, backend, backward=False)
    bwd = partial(elementwise, backend, backward=True)
    row = partial(rows, backend)
    return {
        "relu": fwd("relu", _relu, None),
        "tanh": fwd("tanh", _tanh, None),
        "relu_backward": bwd("relu", _relu_backward, domains.not_nan),
        # finite: a slope that rounds to 0 in x's dtype would make inf * 0
        "leaky_relu": fwd("leaky_relu", _leaky_relu, domains.finite, lambda s: s > 0),
        "leaky_relu_backward": bwd(
            "leaky_relu", _leaky_relu_backward, domains.not_nan, _unit_interval
        ),
        "sigmoid": fwd("sigmoid", _sigmoid_into, domains.above_tail),
        "sigmoid_backward": bwd("sigmoid", _sigmoid_backward, domains.not_nan),
        "tanh_backward": bwd("tanh", _tanh_backward, domains.tanh_normal),
        "gelu": fwd(
            "gelu",
            _gelu_by_form(
                partial(activations.gelu_in_own_precision, backend),
                _gelu_erf_float32,
                _gelu_tanh,
            ),
            domains.gelu_form_normal,
            _gelu_form,
        ),
        "gelu_backward": bwd(
            "gelu",
            _gelu_by_form(
                partial(activations.gelu_backward_in_own_precision, backend),
                _gelu_erf_backward_float32,
                _gelu_tanh_backward,
            ),
            domains.gelu_form_normal,
            _gelu_form,
        ),
        "silu": fwd("silu", _silu, domains.above_tail),
        "silu_backward": bwd("silu", _silu_backward, domains.above_tail_finite),
        "softplus": fwd("softplus", _softplus, _softplus_domain, lambda beta, t: beta != 0),
        "softplus_backward": bwd(
            "softplus", _softplus_backward, _softplus_domain, lambda beta, t: beta != 0
        ),
        "elu": fwd("elu", _elu, domains.not_nan, _positive_unit_interval),
        "elu_backward": bwd("elu", _elu_backward, domains.not_nan, _positive_unit_interval),
        "softmax": row("softmax", _softmax_rows, backward=False),
        "softmax_backward": row("softmax", _softmax_backward_rows, backward=True),
        "log_softmax": row("log_softmax", _log_softmax_rows, backward=False),
        "log_softmax_backward": row("log_softmax", _log_softmax_backward_rows, backward=True),
    }
