"""Native torch kernels for activations: torch's fused kernels, guarded to their accurate domain.

torch's own kernels are one pass over memory; the generic kernels, composed in eager mode, make
a pass and a full-size allocation per operation, and ``torch.where`` on an unpredictable mask
is as slow as ten arithmetic passes. But several native kernels are wrong at the edges:

* ``torch.sigmoid`` and ``F.silu`` return 0 where the result is subnormal (exp(-x)
  overflows: x < -88.7 in float32);
* the native backwards pick a branch for NaN (``threshold_backward`` returns ``g`` at a NaN
  input) and ``threshold_backward`` returns 0 for a NaN ``grad_output`` where x <= 0;
* ``F.softplus`` overflows where ``threshold`` lets exp(beta x) reach infinity;
* ``torch.softmax`` gives NaN for a row holding +inf, where this library defines a value.

So each kernel here computes the native result and then checks, with one reduction per
input, that every element is inside the domain where the native kernel is accurate. When one
is not (rare: NaN, infinities, far tails), the elements outside are computed again by the
generic kernel (softmax: the rows holding a non-finite value). An element's result depends on
its own value only (its row's, for softmax), and the edge cases keep the generic kernels'
semantics. The check returns a Python bool: on CUDA that is a synchronization per call.

Not used: ``F.gelu`` (1 + erf cancels in the negative tail: 17% off at x = -5 in float32;
gelu is composed here from ``torch.special.erfc``, and its tanh form from ``exp``),
aten's ``sigmoid_backward``, ``tanh_backward`` and ``silu_backward`` (they form 1 - sigma or
1 - y, which cancels: those derivatives are composed here from two ``torch.sigmoid`` calls),
and ``torch.softmax``, ``torch.log_softmax`` and their backwards (their row sums are 100 ULPs
off on long rows of alike entries: the softmax family is composed from ``torch.sum``, and
log_softmax's check reads its output, redoing the rows whose largest entry is above -2).
float16/bfloat16, empty tensors and mismatched shapes take the generic kernels.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ..kernels import SPECS
from ..kernels import activation_domains as domains
from ..kernels.activations import (
    _INV_SQRT_2PI,
    _SQRT_HALF,
    GELU_FORMS,
    GELU_TWO_U_CUBIC,
    GELU_TWO_U_LINEAR,
    far_tail,
)

_aten = torch.ops.aten

Condition = tuple[torch.Tensor, float, float]  # (v, lo, hi): accurate where lo <= v <= hi


def plain(*tensors: torch.Tensor) -> bool:
    """Same float32/float64 dtype, shape and device, at least one axis, not empty, and no
    autograd to record (with grad mode on, a tensor that requires grad takes the generic,
    differentiable kernel: the native path writes in place)."""
    first = tensors[0]
    recording = torch.is_grad_enabled() and any(t.requires_grad for t in tensors)
    return (
        first.dtype in (torch.float32, torch.float64)
        and first.ndim > 0
        and first.numel() > 0
        and not recording
        and not _traced(first)
        and all(
            t.dtype == first.dtype and t.shape == first.shape and t.device == first.device
            for t in tensors
        )
    )


_is_wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", lambda t: False)


def _traced(t: torch.Tensor) -> bool:
    """Under vmap/grad transforms, on meta tensors or while torch.compile traces: the domain
    check reads values (a Python bool), which these cannot give; the generic kernel can."""
    # is_compiling() first: Dynamo cannot trace the functorch query (it warns and breaks the
    # graph there), and while compiling the answer is already known
    return torch.compiler.is_compiling() or t.device.type == "meta" or _is_wrapped(t)


def holds(conditions: list[Condition]) -> bool:
    for v, lo, hi in conditions:
        big = domains.largest_finite(v)
        if lo <= -big and hi >= big and bool(torch.isfinite(torch.sum(v))):
            # a finite sum means every element is finite, so inside [lo, hi]: one sum is 40%
            # faster than aminmax (a sum that overflows only sends the check on to aminmax)
            continue
        if lo == -math.inf:  # one-sided: one reduction (amax and amin propagate NaN)
            inside = torch.amax(v) <= hi
        elif hi == math.inf:
            inside = torch.amin(v) >= lo
        else:
            low, high = torch.aminmax(v)
            inside = (low >= lo) & (high <= hi)
        if not bool(inside):  # False with a NaN
            return False
    return True


def outside(conditions: list[Condition]) -> torch.Tensor:
    """Where any condition fails (NaN included), as a bool tensor."""
    bad = None
    for v, lo, hi in conditions:
        fails = ~((v >= lo) & (v <= hi))
        bad = fails if bad is None else bad | fails
    return bad


def _softplus_argument(x: torch.Tensor, beta: float, threshold: float) -> Condition:
    # exp(z), z = beta x, is formed only where z <= threshold: it overflows beyond -far_tail;
    # with beta < 1, / beta scales up the digits a subnormal exp(z) lost (98 ULPs at beta =
    # 0.01, x = -9323 in float32): below the smallest normal exp(z), the generic kernel
    limit = -far_tail(x)
    lo = -math.inf if beta >= 1 else math.log(torch.finfo(x.dtype).tiny)
    return (x if beta == 1 else x * beta), lo, (math.inf if threshold <= limit else limit)


def _softplus_slope(x: torch.Tensor, beta: float, threshold: float) -> Condition:
    # sigma(z) on far_tail <= z <= threshold; beyond the threshold the slope is 1 (generic)
    return (x if beta == 1 else x * beta), far_tail(x), threshold


def _softplus_backward(g, x, beta, threshold):
    # g sigma(beta x). Not aten.softplus_backward: its g exp(z) overflows for a large g.
    return torch.sigmoid(x * beta if beta != 1 else x).mul_(g)


class Blocks(NamedTuple):
    block: int  # elements per block
    min_size: int  # smaller tensors run in one piece
    rows: int  # elements per block of whole rows (at least one row)


_blocks = Blocks(block=1 << 17, min_size=1 << 18, rows=1 << 18)


def configure_blocks(
    *, block: int | None = None, min_size: int | None = None, rows: int | None = None
) -> Blocks:
    """Change the block sizes of the composed CPU kernels; returns the previous ones."""
    global _blocks
    previous = _blocks
    new = Blocks(
        block=previous.block if block is None else block,
        min_size=previous.min_size if min_size is None else min_size,
        rows=previous.rows if rows is None else rows,
    )
    if new.block < 1 or new.rows < 1 or new.min_size < 0:
        raise ValueError(f"block and rows must be >= 1 and min_size >= 0, got {new}")
    _blocks = new
    return previous


def row_blocks(t: torch.Tensor) -> list[slice] | None:
    """Slices of whole rows of the 2-D ``t``, about ``_blocks.rows`` elements each, for a
    kernel that makes several passes over a row (they then run in cache); ``None`` where
    ``t`` should be taken in one piece (small, not on the CPU, not contiguous, or autograd
    recording: the blocked kernels write into preallocated buffers)."""
    recording = torch.is_grad_enabled() and t.requires_grad
    if (
        recording
        or t.device.type != "cpu"
        or t.numel() < _blocks.min_size
        or not t.is_contiguous()
        or _traced(t)
    ):
        return None
    step = max(1, _blocks.rows // t.shape[1])
    return [slice(i, i + step) for i in range(0, t.shape[0], step)]


def element_blocks(*tensors: torch.Tensor) -> list[slice] | None:
    """Slices of the flattened tensors, ``_blocks.block`` elements each, for an element-wise
    kernel that makes several passes (they then run in cache); ``None`` where the tensors
    should be taken whole (small, not on the CPU, not all contiguous and of one shape)."""
    first = tensors[0]
    if (
        first.device.type != "cpu"
        or first.numel() < _blocks.min_size
        or not all(t.is_contiguous() and t.shape == first.shape for t in tensors)
    ):
        return None
    step = _blocks.block
    return [slice(i, i + step) for i in range(0, first.numel(), step)]


def summed_in_blocks(native: Callable, arrays: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``torch.sum(native(*arrays))`` on the :func:`element_blocks` of ``arrays``: each
    block's sum (a cascade) taken while it is in cache, then the sum of those, so the
    full-size ``native(*arrays)`` is never written (``native`` is element-wise)."""
    blocks = element_blocks(*arrays)
    if blocks is None:
        return torch.sum(native(*arrays))
    flat = [a.view(-1) for a in arrays]
    return torch.stack([torch.sum(native(*(a[s] for a in flat))) for s in blocks]).sum()


def in_blocks(native: Callable, n_arrays: int, args: tuple) -> torch.Tensor:
    """``native(*args)`` on the :func:`element_blocks` of its first ``n_arrays`` arguments
    (the others are passed whole), into one output of the last array's shape; in one piece
    where there are no blocks.

    A composed kernel makes a full-size temporary per intermediate and a pass over memory per
    operation; a fresh full-size buffer costs as much as several passes in page faults (glibc
    hands two freed 16 MB buffers back to the system). On blocks the temporaries are small
    and reused, and the passes over one block stay in cache: the backwards that hold two or
    more temporaries run 1.5-2.5x faster at 4e6 elements. (Kernels with one temporary lose:
    the copy into the output costs more than the block saves.)
    """
    arrays, params = args[:n_arrays], args[n_arrays:]
    blocks = element_blocks(*arrays)
    if blocks is None:
        return native(*args)
    out = torch.empty_like(arrays[-1])  # (contiguous inputs only: views, no copies)
    flat_out, flat = out.view(-1), [a.view(-1) for a in arrays]
    for s in blocks:
        flat_out[s] = native(*(a[s] for a in flat), *params)
    return out


class _Guarded:
    """An elementwise kernel: ``native(*args)``, with the elements outside its domain
    (``domain(*args)``: conditions on the inputs) computed again by ``generic``."""

    def __init__(
        self,
        generic: Callable,
        native: Callable,
        domain: Callable,
        n_arrays: int,
        params_ok: Callable | None = None,
        blocked: bool = False,
        text_params: bool = False,
    ):
        self.generic, self.native, self.domain, self.n_arrays = generic, native, domain, n_arrays
        self.params_ok, self.blocked, self.text_params = params_ok, blocked, text_params

    def applies(self, *args) -> bool:
        params = args[self.n_arrays :]
        scalars = all(  # not 0-d tensors; a string only where the kernel takes one
            isinstance(p, numbers.Real) or (type(p) is str and self.text_params) for p in params
        )
        ok = scalars and (self.params_ok is None or self.params_ok(*params))
        return ok and plain(*args[: self.n_arrays])

    def __call__(self, *args):
        if not self.applies(*args):
            return self.generic(*args)
        out = in_blocks(self.native, self.n_arrays, args) if self.blocked else self.native(*args)
        conditions = self.conditions(out, args)
        if not holds(conditions):
            self.redo(out, outside(conditions), args)
        return out

    def conditions(self, out: torch.Tensor, args: tuple) -> list[Condition]:
        return self.domain(*args)

    def redo(self, out: torch.Tensor, bad: torch.Tensor, args: tuple) -> None:
        arrays, params = args[: self.n_arrays], args[self.n_arrays :]
        where = bad.nonzero(as_tuple=True)
        out[where] = self.generic(*(a[where] for a in arrays), *params)


class _GuardedRows(_Guarded):
    """A softmax-like kernel along ``axis``: the rows holding a non-finite value (in any
    input) computed again by ``generic``."""

    def applies(self, *args) -> bool:
        x, axis = args[self.n_arrays - 1], args[-1]
        valid = isinstance(axis, int) and not isinstance(axis, bool) and -x.ndim <= axis < x.ndim
        return valid and super().applies(*args)

    def redo(self, out: torch.Tensor, bad: torch.Tensor, args: tuple) -> None:
        arrays, axis = args[: self.n_arrays], args[-1]
        # a bool per row, as a mask (0-d for a 1-D tensor: the mask then selects the whole
        # row, where the indices of nonzero() would select its first element)
        rows = bad.movedim(axis, -1).any(-1)
        moved = [a.movedim(axis, -1) for a in arrays]
        out.movedim(axis, -1)[rows] = self.generic(*(m[rows] for m in moved), -1)


class _GuardedByOutput(_GuardedRows):
    """A row kernel whose accurate rows are read off its own output (``domain(out, *args)``)."""

    def conditions(self, out: torch.Tensor, args: tuple) -> list[Condition]:
        return self.domain(out, *args)


# log_softmax rows whose largest entry, -log S, is at most this (S >= e^2 = 7.4) are accurate
# from (x - m) - log S (see _log_softmax_rows)
_LOG_SOFTMAX_CONFIDENT = -2.0


def _log_softmax_rows(out, x, axis):
    """The rows where (x - m) - log S is accurate: its largest entry <= -2 (and no NaN).

    S = sum exp(x - m) >= 1 carries a relative rounding error of a few u (the exps, and
    torch.sum's cascade), which log S turns into an absolute one: a relative error of a few
    u / log S in the row's largest entry, -log S, and less in the others (|(x - m) - log S| >=
    log S). Where log S >= 2 that is within a ULP or two; in a confident row (log S -> 0) it
    grows as 1/log S (torch's own log_softmax: 9e6 ULPs where the largest entry is -1.3e-7):
    those rows go to the generic kernel (log1p of the non-maximal terms). A row holding NaN,
    +inf, or only -inf comes out NaN, and is redone too.
    """
    return [(out, -math.inf, _LOG_SOFTMAX_CONFIDENT)]  # (every row's largest entry: all)


def _silu_backward(g, x):
    # g sigma(x) (1 + x sigma(-x)) from torch's sigmoid kernel. Not aten.silu_backward: its
    # 1 - sigma(x) cancels (13 ULPs at x = 37.43 in float64).
    t = torch.sigmoid(-x).mul_(x).add_(1.0)
    return t.mul_(torch.sigmoid(x)).mul_(g)


def _sigmoid_backward(g, x):
    # g sigma(x) sigma(-x), both from torch's sigmoid kernel (aten.sigmoid_backward forms
    # 1 - sigma, which cancels: 0 at x = 37.43 in float64, where 5.6e-17 is representable)
    return torch.sigmoid(-x).mul_(torch.sigmoid(x)).mul_(g)


def _tanh_backward(g, x):
    # g / cosh^2 x = 4 g sigma(2x) sigma(-2x): 2x is exact
    return _sigmoid_backward(g, 2.0 * x).mul_(4.0)


def _gelu(x, approximate):
    # x Phi(x) = x erfc(-x/sqrt 2)/2 from torch's erfc kernel. Not F.gelu: 1 + erf cancels.
    return torch.mul(x, -_SQRT_HALF).erfc_().mul_(0.5).mul_(x)  # (2 x overflows near max)


def _gelu_backward(g, x, approximate):
    # g (Phi(x) + x phi(x))
    x_density = torch.mul(x, x).mul_(-0.5).exp_().mul_(_INV_SQRT_2PI).mul_(x)
    return torch.mul(x, -_SQRT_HALF).erfc_().mul_(0.5).add_(x_density).mul_(g)


def _minus_two_u(x):
    return torch.mul(x, x).mul_(-GELU_TWO_U_CUBIC).sub_(GELU_TWO_U_LINEAR).mul_(x)


def _gelu_tanh(x, approximate):
    # x sigma(2u) = x / (1 + exp(-2u)), 2u = x (A + B x^2). Not F.gelu: its tanh form
    # cancels in 1 + tanh u (30% off at x = -5 in float32).
    t = _minus_two_u(x).exp_().add_(1.0)
    return torch.div(x, t, out=t)


def _gelu_tanh_backward(g, x, approximate):
    if x.dtype == torch.float32:
        # (as the generic kernel: in float32, 1 + x 2u' E r cancels in part for x in (-2.5, -1)
        # and carries the rounding of 2u with it, to 8 ULPs against a bound of 8.1)
        return _gelu_tanh_backward_formula(g.double(), x.double()).float()
    return _gelu_tanh_backward_formula(g, x)


def _gelu_tanh_backward_formula(g, x):
    # sigma(2u) + x sigma'(2u) 2u' = r (1 + x 2u' E r), E = exp(-2u), r = 1/(1 + E),
    # 2u' = A + 3B x^2 (E r r, not E/(1 + E)^2: (1 + E)^2 overflows in the tail)
    # (two full-size buffers: each fresh one can cost as much as a pass in page faults)
    x_slope = torch.mul(x, x).mul_(3.0 * GELU_TWO_U_CUBIC).add_(GELU_TWO_U_LINEAR).mul_(x)
    t = _minus_two_u(x).exp_()  # E
    x_slope.mul_(t)
    t.add_(1.0).reciprocal_()  # r
    return x_slope.mul_(t).add_(1.0).mul_(t).mul_(g)


# The softmax family is composed from torch.sum, not taken from torch.softmax, torch.log_softmax
# or aten's _softmax_backward_data: their CPU kernels sum a row in one running sum per vector
# lane, whose error grows with the row's length where its terms are alike (a row of zeros and
# one 3: 100 ULPs off at 8192 entries in float32, 8 already at 1000 in float64). torch.sum
# sums in a cascade, whose error grows with the logarithm of the length.


def row_softmax(x, axis):
    """softmax along ``axis`` from torch.sum (see above); the torch loss kernels use it too."""
    # exp(x - m) / sum exp(x - m), m the row's maximum (in place, unless autograd records:
    # the cross-entropy backward is called on tensors that require grad)
    e = torch.exp(torch.sub(x, torch.amax(x, axis, keepdim=True)))
    if torch.is_grad_enabled() and e.requires_grad:
        return e / e.sum(axis, keepdim=True)
    return e.div_(e.sum(axis, keepdim=True))


def _log_softmax(x, axis):
    # (x - m) - log S, S = sum exp(x - m) >= 1 (see _log_softmax_rows for where it is accurate)
    s = torch.sub(x, torch.amax(x, axis, keepdim=True))
    return s.sub_(torch.exp(s).sum(axis, keepdim=True).log_())


def _lone_top(x, axis):
    """``(y, rest / (1 + rest), lone)``: softmax along ``axis`` from torch.sum, ``lone`` where an
    entry is its row's only maximum and ``rest`` the sum of the other terms exp(x - m), so
    that 1 - y = rest / (1 + rest) there without cancellation (the generic ``_lone_top``)."""
    e = torch.sub(x, torch.amax(x, axis, keepdim=True))
    is_max = e == 0
    e = e.exp_()  # exactly 1 at the maxima
    maxima = is_max.sum(axis, keepdim=True).to(x.dtype)
    rest = torch.sub(e, is_max.to(x.dtype)).sum(axis, keepdim=True).add_(maxima - 1.0)
    total = rest + 1.0
    return e / total, rest / total, is_max & (maxima == 1)


def _softmax_backward_lone(g, x, axis):
    # y (g - <g, y>), at a lone maximum y (g (1 - y) - sum_{j != i} g_j y_j) (the generic
    # softmax_backward)
    y, comp, lone = _lone_top(x, axis)
    gy = torch.mul(g, y)
    dot = gy.sum(axis, keepdim=True)
    off = torch.where(lone, 0.0, gy).sum(axis, keepdim=True)
    return torch.where(lone, g * comp - off, g - dot).mul_(y)


def _log_softmax_backward_lone(g, x, axis):
    # g - y sum(g), at a lone maximum g (1 - y) - y sum_{j != i} g_j (the generic kernel)
    y, comp, lone = _lone_top(x, axis)
    off = torch.where(lone, 0.0, g).sum(axis, keepdim=True)
    plain = torch.addcmul(g, y, g.sum(axis, keepdim=True), value=-1.0)
    return torch.where(lone, g * comp - y * off, plain)


def _softmax_and_total(x, axis):
    """``(softmax, S)`` along ``axis`` from torch.sum, ``S = sum exp(x - max)`` (kept dims)."""
    e = torch.exp(torch.sub(x, torch.amax(x, axis, keepdim=True)))
    total = e.sum(axis, keepdim=True)
    return e.div_(total), total


def _confident_rows(out, total, g, x, axis, lone_kernel):
    """``out`` with the rows whose largest softmax exceeds 1/2 (``S < 2``) computed again by
    ``lone_kernel``: only there does ``1 - y`` by subtraction lose relative accuracy (beyond
    a factor 2). Every other row keeps the plain formula's few passes."""
    confident = total < 2.0
    if bool(confident.any()):
        rows = confident.movedim(axis, -1)[..., 0]
        gm, xm = g.movedim(axis, -1), x.movedim(axis, -1)
        out.movedim(axis, -1)[rows] = lone_kernel(gm[rows], xm[rows], -1)
    return out


def _softmax_backward(g, x, axis):
    # y (g - <g, y>); rows with a dominant entry by _softmax_backward_lone
    y, total = _softmax_and_total(x, axis)
    out = torch.sub(g, torch.mul(g, y).sum(axis, keepdim=True)).mul_(y)
    return _confident_rows(out, total, g, x, axis, _softmax_backward_lone)


def _log_softmax_backward(g, x, axis):
    # g - y sum(g); rows with a dominant entry by _log_softmax_backward_lone
    y, total = _softmax_and_total(x, axis)
    out = torch.addcmul(g, y, g.sum(axis, keepdim=True), value=-1.0)
    return _confident_rows(out, total, g, x, axis, _log_softmax_backward_lone)


def kernels(backend_of: Callable) -> dict[str, Callable]:
    """The guarded native kernels, falling back to the generic ones on ``backend_of()``."""

    def generic(name: str) -> Callable:
        spec = SPECS[name.removesuffix("_backward")]
        fn = spec.backward if name.endswith("_backward") else spec.forward
        return lambda *args: fn(backend_of(), *args)

    def guard(name: str, native: Callable, domain: Callable, kind=_Guarded, **kw) -> _Guarded:
        return kind(generic(name), native, domain, 2 if name.endswith("_backward") else 1, **kw)

    def positive_beta(beta, threshold):
        return beta > 0

    def all_finite(*args):
        return [domains.finite(a) for a in args if isinstance(a, torch.Tensor)]

    def by_form(erf_form: Callable, tanh_form: Callable) -> Callable:
        return lambda *args: (tanh_form if args[-1] == "tanh" else erf_form)(*args)

    def gelu_guard(name: str, erf_form: Callable, tanh_form: Callable) -> _Guarded:
        return guard(
            name,
            by_form(erf_form, tanh_form),
            lambda *args: [domains.gelu_form_normal(*args[-2:])],
            params_ok=lambda approximate: approximate in GELU_FORMS,
            text_params=True,
            blocked=name.endswith("_backward"),  # (the backward holds two temporaries)
        )

    return {
        "sigmoid": guard("sigmoid", torch.sigmoid, lambda x: [domains.above_tail(x)]),
        "silu": guard("silu", F.silu, lambda x: [domains.above_tail(x)]),
        # sigma(-|x|) normal: |x| <= -far_tail (the tail rounds once, in the generic kernel)
        "sigmoid_backward": guard(
            "sigmoid_backward",
            _sigmoid_backward,
            lambda g, x: [domains.sigmoid_normal(x)],
            blocked=True,
        ),
        "tanh_backward": guard(
            "tanh_backward", _tanh_backward, lambda g, x: [domains.tanh_normal(x)], blocked=True
        ),
        "silu_backward": guard(
            "silu_backward",
            _silu_backward,
            lambda g, x: [domains.above_tail_finite(x)],
            blocked=True,
        ),
        # threshold_backward gives 0 where x <= 0 even for a NaN or infinite g (and +0.0
        # where the generic kernel's g * 0.0 keeps the sign of g: torch's own convention)
        "relu_backward": guard(
            "relu_backward", lambda g, x: _aten.threshold_backward(g, x, 0.0), all_finite
        ),
        "leaky_relu_backward": guard(
            "leaky_relu_backward",
            lambda g, x, slope: _aten.leaky_relu_backward(g, x, slope, False),
            lambda g, x, slope: [domains.not_nan(x)],
        ),
        "elu_backward": guard(
            "elu_backward",
            lambda g, x, alpha: _aten.elu_backward(g, alpha, 1, 1, False, x),
            lambda g, x, alpha: [domains.not_nan(x)],
            params_ok=lambda alpha: abs(alpha) <= 1,  # it forms g alpha first: no overflow
        ),
        "gelu": gelu_guard("gelu", _gelu, _gelu_tanh),
        "gelu_backward": gelu_guard("gelu_backward", _gelu_backward, _gelu_tanh_backward),
        "softplus": guard(
            "softplus",
            F.softplus,
            lambda x, beta, t: [_softplus_argument(x, beta, t)],
            params_ok=positive_beta,
        ),
        "softplus_backward": guard(
            "softplus_backward",
            _softplus_backward,
            lambda g, x, beta, t: [_softplus_slope(x, beta, t)],
            params_ok=positive_beta,
        ),
        "softmax": guard("softmax", row_softmax, all_finite, _GuardedRows),
        "softmax_backward": guard("softmax_backward", _softmax_backward, all_finite, _GuardedRows),
        "log_softmax": guard("log_softmax", _log_softmax, _log_softmax_rows, _GuardedByOutput),
        "log_softmax_backward": guard(
            "log_softmax_backward", _log_softmax_backward, all_finite, _GuardedRows
        ),
    }
