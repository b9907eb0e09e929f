"""A catalogue of wrong third-party backends, one realistic bug each, judged through the same
``--backend=`` path a user's backend takes; ``python -m properties.mutation_score`` runs the
suite on each and prints the kill rate and the time to the first failure.

Each is the README's worked backend (``examples/subclass_backend.py``) with one kernel replaced
through ``Backend.native``, as a backend supplies its own kernels. The environment variable
``PRIMITIVES_WRONG_BACKEND`` selects one::

    PRIMITIVES_WRONG_BACKEND=gelu_tanh_on_large_arrays \\
        pytest --backend=properties.wrong_backends properties/test_sizes_and_layouts.py

and ``PRIMITIVES_WRONG_BACKEND=control`` is the worked backend itself, which must pass the
same tests (else a "kill" would prove nothing). The entries cover each blind-spot class of
issue 20 (sizes, layouts, parameters, non-finite gradients, low precision, edge points) and
each family.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import NamedTuple

from examples import subclass_backend as example
from primitives.kernels import activations as KA
from primitives.kernels import batch_norm as KB
from primitives.kernels import dropout as KD
from primitives.kernels import layers as KL
from primitives.kernels import losses as KLo
from primitives.kernels import optim as KO
from primitives.kernels import penalties as KP

B = example.BACKEND
HERE_TESTS = Path(__file__).parent


class Wrong(NamedTuple):
    blind_spot: str  # the class of bug (issue 20), or "family" for a plain wrong formula
    family: str
    what: str
    native: Callable[[], dict]  # the kernels it replaces, by primitive name
    tests: tuple[str, ...]  # the test files (under properties/) that judge that family


_ACTIVATIONS = (
    "test_activation_accuracy.py",
    "test_activation_gradients.py",
    "test_activation_laws.py",
    "test_nonfinite_grad_output.py",
    "test_parameters.py",
    "test_sizes_and_layouts.py",
)
_FAMILY_LAYOUTS = "test_family_sizes_and_layouts.py"  # every family beside the activations
_LOSSES = (
    "test_losses.py",
    "test_losses_low_precision.py",
    "test_losses_laws.py",
    "test_loss_gradient_ulps.py",
    "test_nonfinite_grad_output_families.py",
    _FAMILY_LAYOUTS,
)
_BATCH_NORM = (
    "test_batch_norm.py",
    "test_layers_low_precision.py",
    "test_batch_norm_laws.py",
    _FAMILY_LAYOUTS,
)
_OPTIMIZERS = (
    "test_optim.py",
    "test_optim_low_precision.py",
    "test_optim_laws.py",
    _FAMILY_LAYOUTS,
)
_LAYER_NORM = (
    "test_layer_norm.py",
    "test_layers_low_precision.py",
    "test_layer_norm_laws.py",
    _FAMILY_LAYOUTS,
)


def _gelu_tanh_on_large_arrays() -> dict:
    """A vectorized path for large arrays that uses the tanh approximation (4096 elements
    up): exact formula below, a different function above."""
    gelu = partial(KA.gelu, B)
    return {"gelu": lambda x, approximate: gelu(x, "tanh" if x.size >= 4096 else approximate)}


def _softplus_in_memory_order() -> dict:
    """Reads its input in memory order (a raw buffer walk), reshaped to the logical shape:
    right for C-contiguous arrays, scrambled for transposed or Fortran-ordered ones."""
    import numpy as np

    softplus = partial(KA.softplus, B)

    def run(x, beta, threshold):
        flat = np.asarray(x).ravel(order="K")
        return softplus(flat.reshape(np.shape(x)).view(type(x)), beta, threshold)

    return {"softplus": run}


def _leaky_relu_rounded_slope() -> dict:
    """The slope stored with two decimals (right for 0.01 and 0.2)."""
    leaky = partial(KA.leaky_relu, B)
    back = partial(KA.leaky_relu_backward, B)
    return {
        "leaky_relu": lambda x, s: leaky(x, round(s, 2)),
        "leaky_relu_backward": lambda g, x, s: back(g, x, round(s, 2)),
    }


def _relu_backward_select() -> dict:
    """relu' as a select: where(x > 0, g, 0) turns a NaN gradient into 0 (torch's and jax's
    own relu do this)."""
    import numpy as np

    return {
        "relu_backward": lambda g, x: (
            np.where(np.asarray(x) > 0, g, 0.0).astype(g.dtype).view(type(g))
        )
    }


def _sigmoid_backward_cancelling() -> dict:
    """sigma' = s (1 - s), on paper right: 0 from x ~ 17 in float32 and 37 in float64."""
    sigmoid = partial(KA.sigmoid, B)

    def run(g, x):
        s = sigmoid(x)
        return g * s * (1 - s)

    return {"sigmoid_backward": run}


def _gelu_one_plus_erf() -> dict:
    """The textbook exact GELU x/2 (1 + erf(x/sqrt 2)), evaluated in float64 for every dtype:
    right except in the negative tail, where 1 + erf cancels (float64: 1 % off at x = -7.7,
    0 below -8.3 where gelu is -1.4e-16; float32 after rounding: from about -8)."""
    import numpy as np

    gelu = partial(KA.gelu, B)

    def run(x, approximate):
        if approximate != "none":
            return gelu(x, approximate)
        x64 = np.asarray(x, dtype=np.float64)
        y = 0.5 * x64 * (1.0 + np.asarray(B.erf(x64 * 0.7071067811865476)))
        return y.astype(np.asarray(x).dtype).view(type(x))

    return {"gelu": run}


def _huber_rounded_delta() -> dict:
    """delta stored with two decimals (right for the 0.5, 1 and 2 that examples use)."""
    loss = partial(KLo.huber_loss, B)
    back = partial(KLo.huber_loss_backward, B)
    return {
        "huber_loss": lambda x, y, delta, r: loss(x, y, round(delta, 2), r),
        "huber_loss_backward": lambda g, x, y, delta, r: back(g, x, y, round(delta, 2), r),
    }


def _batch_norm_momentum_in_tenths() -> dict:
    """momentum rounded to a tenth (right for torch's default 0.1)."""
    train = partial(KB.batch_norm_train, B)
    return {
        "batch_norm_train": lambda x, rm, rv, w, b, momentum, eps, axis: train(
            x, rm, rv, w, b, round(momentum, 1), eps, axis
        )
    }


def _mse_in_float16() -> dict:
    """float16 inputs computed in float16 arithmetic, the sum included (the library and torch
    compute in float32 and round once)."""
    import numpy as np

    mse = partial(KLo.mse_loss, B)

    def run(x, y, reduction):
        if np.asarray(x).dtype != np.float16:
            return mse(x, y, reduction)
        d = np.asarray(x) - np.asarray(y)
        sq = d * d
        out = sq if reduction == "none" else sq.sum(dtype=np.float16)
        if reduction == "mean":
            out = out / np.float16(sq.size)
        return np.asarray(out, np.float16).view(type(x))

    return {"mse_loss": run}


def _in_own_dtype(kernel: Callable) -> Callable:
    """The library's ``kernel`` on a backend that never moves float16 to float32: every
    intermediate is rounded to float16."""
    in_own_dtype = copy.copy(B)
    in_own_dtype.low_precision = lambda x: False
    return partial(kernel, in_own_dtype)


def _adam_in_float16() -> dict:
    """Adam on float16 params computed in float16 arithmetic: each moment's products and sums
    round to 11 bits, and a small gradient's square underflows."""
    return {"optim_adam": _in_own_dtype(KO.adam_step)}


def _batch_norm_in_float16() -> dict:
    """Batch norm of float16 computed in float16 arithmetic (the sums, the centring and the
    normalization each rounded to 11 bits; torch computes them in float32)."""
    return {
        "batch_norm_train": _in_own_dtype(KB.batch_norm_train),
        "batch_norm_eval": _in_own_dtype(KB.batch_norm_eval),
    }


def _mse_mean_over_rows() -> dict:
    """reduction="mean" divides by the number of rows, not of elements."""
    mse = partial(KLo.mse_loss, B)

    def run(x, y, reduction):
        if reduction != "mean" or x.ndim < 2:
            return mse(x, y, reduction)
        return mse(x, y, "sum") / x.shape[0]

    return {"mse_loss": run}


def _rmsprop_negated_grad_avg() -> dict:
    """Centered RMSProp keeping -grad_avg in its state: the params are right (only the
    square is used), the state is not (a checkpoint read by another library is wrong)."""
    step = partial(KO.rmsprop_step, B)

    def negate(slots):
        return (slots[0], tuple(-a for a in slots[1]), *slots[2:])

    def run(xs, gs, slots, count, lr, h, centered, *flags):
        if not centered:
            return step(xs, gs, slots, count, lr, h, centered, *flags)
        new_xs, new_slots = step(xs, gs, negate(slots), count, lr, h, centered, *flags)
        return new_xs, negate(new_slots)

    return {"optim_rmsprop": run}


def _dropout_backward_unscaled() -> dict:
    """The backward forgets the 1 / (1 - p) scale of the kept gradients."""
    apply = partial(KD.dropout_apply, B)
    return {"dropout_apply_backward": lambda g, mask, scale: apply(g, mask, 1.0)}


def _batch_norm_biased_running_var() -> dict:
    """The running variance updated with the biased batch variance (torch uses the unbiased
    one, n / (n - 1) times larger)."""
    train = partial(KB.batch_norm_train, B)

    def run(x, running_mean, running_var, weight, bias, momentum, eps, axis):
        out, rm, rv = train(x, running_mean, running_var, weight, bias, momentum, eps, axis)
        if running_var is not None:
            n = x.size // x.shape[axis]
            kept = (1 - momentum) * running_var
            rv = kept + (rv - kept) * ((n - 1) / n)
        return out, rm, rv

    return {"batch_norm_train": run}


def _layer_norm_without_eps() -> dict:
    """eps left out of the normalization."""
    norm = partial(KL.layer_norm, B)
    return {"layer_norm": lambda x, w, b, k, eps: norm(x, w, b, k, 0.0)}


def _layer_norm_in_memory_order() -> dict:
    """Normalizes the input's raw buffer walked in memory order, reshaped to the logical
    shape: right for C-contiguous arrays, the wrong rows for transposed or Fortran ones."""
    import numpy as np

    norm = partial(KL.layer_norm, B)

    def run(x, w, b, k, eps):
        flat = np.asarray(x).ravel(order="K").reshape(np.shape(x)).view(type(x))
        return norm(flat, w, b, k, eps)

    return {"layer_norm": run}


def _bce_with_logits_large_path_without_pos_weight() -> dict:
    """A vectorized path for 2^16 elements and up that supports no ``pos_weight`` (and drops
    it): right on every small array the rest of the suite draws."""
    loss = partial(KLo.binary_cross_entropy_with_logits, B)
    back = partial(KLo.binary_cross_entropy_with_logits_backward, B)

    def large(x, pos_weight):
        return None if x.size >= 2**16 else pos_weight

    return {
        "binary_cross_entropy_with_logits": lambda x, y, w, pw, r: loss(x, y, w, large(x, pw), r),
        "binary_cross_entropy_with_logits_backward": (
            lambda g, x, y, w, pw, r: back(g, x, y, w, large(x, pw), r)
        ),
    }


def _bce_with_logits_gradient_by_subtraction() -> dict:
    """torch's formula, sigma(x) (1 + (pw - 1) y) - pw y, with the library's scaling and
    weighting around it: right to an ulp of 1 only, so a confident right prediction (y = 1,
    sigma(x) rounding to 1 from x ~ 17 in float32) gets 0 where the gradient is -sigma(-x)."""
    sigmoid = partial(KA.sigmoid, B)

    def run(g, x, y, w, pw, r):
        s = sigmoid(x)
        grad = s - y if pw is None else s * (1.0 + (pw - 1.0) * y) - pw * y
        grad = grad * KLo._scale(B, g, r, KLo._numel(x))
        return grad if w is None else grad * w

    return {"binary_cross_entropy_with_logits_backward": run}


def _linear_bias_gradient_mean() -> dict:
    """dbias as the mean over the batch instead of the sum."""
    back = partial(KL.linear_backward, B)

    def run(g, x, w, bias):
        dx, dw, db = back(g, x, w, bias)
        rows = g.size // g.shape[-1]
        return dx, dw, None if db is None else db / rows

    return {"linear_backward": run}


def _l2_penalty_without_half() -> dict:
    """Keras's lam * sum x^2 where this library's (and torch's weight decay) is lam/2."""
    l2 = partial(KP.l2_penalty, B)
    return {"l2_penalty": lambda leaves, lam: l2(leaves, lam) * 2}


CATALOGUE: dict[str, Wrong] = {
    "gelu_tanh_on_large_arrays": Wrong(
        "sizes",
        "activations",
        "gelu's large-array path uses the tanh approximation",
        _gelu_tanh_on_large_arrays,
        _ACTIVATIONS,
    ),
    "softplus_in_memory_order": Wrong(
        "layouts",
        "activations",
        "softplus reads its input in memory order",
        _softplus_in_memory_order,
        _ACTIVATIONS,
    ),
    "leaky_relu_rounded_slope": Wrong(
        "parameters",
        "activations",
        "leaky_relu rounds its slope to 2 decimals",
        _leaky_relu_rounded_slope,
        _ACTIVATIONS,
    ),
    "relu_backward_select": Wrong(
        "non-finite gradients",
        "activations",
        "relu' turns a NaN gradient into 0",
        _relu_backward_select,
        _ACTIVATIONS,
    ),
    "sigmoid_backward_cancelling": Wrong(
        "edge points",
        "activations",
        "sigmoid' = s (1 - s) cancels in the tail",
        _sigmoid_backward_cancelling,
        _ACTIVATIONS,
    ),
    "gelu_one_plus_erf": Wrong(
        "edge points",
        "activations",
        "gelu = x/2 (1 + erf(x/sqrt 2)) cancels in the negative tail",
        _gelu_one_plus_erf,
        _ACTIVATIONS,
    ),
    "huber_rounded_delta": Wrong(
        "parameters",
        "losses",
        "huber_loss rounds delta to 2 decimals",
        _huber_rounded_delta,
        _LOSSES,
    ),
    "bce_with_logits_large_path_without_pos_weight": Wrong(
        "sizes",
        "losses",
        "bce_with_logits drops pos_weight on its path for 2^16 elements and up",
        _bce_with_logits_large_path_without_pos_weight,
        _LOSSES,
    ),
    "bce_with_logits_gradient_by_subtraction": Wrong(
        "edge points",
        "losses",
        "bce_with_logits' = sigma(x) - y is 0 for a confident right prediction",
        _bce_with_logits_gradient_by_subtraction,
        _LOSSES,
    ),
    "mse_in_float16": Wrong(
        "low precision",
        "losses",
        "mse_loss of float16 computed in float16",
        _mse_in_float16,
        _LOSSES,
    ),
    "mse_mean_over_rows": Wrong(
        "family",
        "losses",
        "mse_loss's mean divides by the rows, not the elements",
        _mse_mean_over_rows,
        _LOSSES,
    ),
    "adam_in_float16": Wrong(
        "low precision",
        "optimizers",
        "Adam on float16 params computed in float16",
        _adam_in_float16,
        _OPTIMIZERS,
    ),
    "rmsprop_negated_grad_avg": Wrong(
        "family",
        "optimizers",
        "centered RMSProp keeps -grad_avg in its state",
        _rmsprop_negated_grad_avg,
        _OPTIMIZERS,
    ),
    "dropout_backward_unscaled": Wrong(
        "family",
        "dropout",
        "dropout's backward forgets the 1/(1-p) scale",
        _dropout_backward_unscaled,
        ("test_dropout.py", "test_dropout_stats.py", "test_nonfinite_grad_output_families.py"),
    ),
    "batch_norm_biased_running_var": Wrong(
        "family",
        "batch norm",
        "the running variance takes the biased batch variance",
        _batch_norm_biased_running_var,
        _BATCH_NORM,
    ),
    "batch_norm_in_float16": Wrong(
        "low precision",
        "batch norm",
        "batch norm of float16 computed in float16",
        _batch_norm_in_float16,
        _BATCH_NORM,
    ),
    "batch_norm_momentum_in_tenths": Wrong(
        "parameters",
        "batch norm",
        "batch norm rounds momentum to a tenth",
        _batch_norm_momentum_in_tenths,
        _BATCH_NORM,
    ),
    "layer_norm_without_eps": Wrong(
        "family",
        "layer norm",
        "layer_norm leaves eps out",
        _layer_norm_without_eps,
        _LAYER_NORM,
    ),
    "layer_norm_in_memory_order": Wrong(
        "layouts",
        "layer norm",
        "layer_norm reads its input in memory order",
        _layer_norm_in_memory_order,
        _LAYER_NORM,
    ),
    "linear_bias_gradient_mean": Wrong(
        "family",
        "linear",
        "linear's dbias is the batch mean, not the sum",
        _linear_bias_gradient_mean,
        ("test_linear.py", "test_layers_low_precision.py", _FAMILY_LAYOUTS),
    ),
    "l2_penalty_without_half": Wrong(
        "family",
        "penalties",
        "l2_penalty is lam sum x^2 (no 1/2)",
        _l2_penalty_without_half,
        ("test_penalties.py", "test_layers_low_precision.py", _FAMILY_LAYOUTS),
    ),
}

ENVIRONMENT = "PRIMITIVES_WRONG_BACKEND"


def backend(name: str):
    """The worked backend with entry ``name``'s kernels ("control": none replaced)."""
    wrong = copy.copy(B)
    wrong.name = f"wrong-{name}"
    wrong.native = {} if name == "control" else CATALOGUE[name].native()
    return wrong


_selected = os.environ.get(ENVIRONMENT)
if _selected:
    BACKEND = backend(_selected)
