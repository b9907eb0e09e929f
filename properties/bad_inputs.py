"""The table of bad inputs: one row per (primitive, mistake), with the error it must raise.

Every public callable of ``primitives`` (and every optimizer of ``primitives.optim``) has at
least one row; ``properties/test_bad_inputs.py`` runs each row on every implementation judged
through the public API (numpy, torch, jax and any third-party backend) and checks that the
error is exactly the builtin type of the row (not a framework's subclass such as numpy's
``AxisError``), that its message starts with the function's name and contains the row's
fragment, and that the message is identical on numpy, torch and jax. A new primitive cannot
join without its row: a coverage test fails otherwise.

The classes of mistakes and their errors (the README's "Bad input" section lists them):

* a bool, a string, ``None`` or an array of more than 0 dimensions where a number is
  expected: ``TypeError`` "<fn>: <name> must be a real number, got <value>; pass ...";
* a float or a bool where an integer is expected (axis, ignore_index, patience):
  ``TypeError`` "<fn>: <name> must be an integer, got <value>; pass ...";
* NaN, an infinity or a value outside the parameter's domain: ``ValueError``
  "<fn>: <name> must be <domain>, got <value>";
* an axis out of range: ``ValueError`` "<fn>: axis <a> is out of range for <what> with <n>
  dimension(s); it must be in [-n, n - 1]"; ``axis=None``: ``TypeError``;
* an unknown option string: ``ValueError``; an option that is not a string, a flag that is
  not True/False: ``TypeError``;
* a negative integer seed: ``ValueError``;
* arrays of the wrong shape: ``ValueError``; non-arrays where an array is expected:
  ``TypeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import primitives as P

from .implementations import Implementation

Build = Callable[[Implementation], Callable[[], Any]]

NAN, INF = float("nan"), float("inf")


class Row(NamedTuple):
    primitive: str  # the name in primitives.__all__, or "optim.<rule>"
    mistake: str  # what is wrong, for the test id
    build: Build  # impl -> the call to make (arrays of impl's backend)
    error: type[Exception]  # exactly this type (not a subclass)
    message: str  # a fragment of the message (plain text, not a regular expression)
    starts: str = ""  # how the message starts (default: "<the function's name>:")

    @property
    def id(self) -> str:
        return f"{self.primitive}: {self.mistake}"

    @property
    def prefix(self) -> str:
        return self.starts or self.primitive.removeprefix("optim.") + ":"


# --- the arrays the calls use ---------------------------------------------------------------


def x(impl: Implementation, shape: tuple[int, ...] = (3, 4)) -> Any:
    n = int(np.prod(shape))
    return impl.array(np.linspace(-1.0, 1.0, n).reshape(shape), "float64")


def probs(impl: Implementation) -> Any:
    return impl.array(np.full((3, 4), 0.5), "float64")


def classes(impl: Implementation) -> Any:
    return impl.exact(np.array([0, 3, 1]))


def labels(impl: Implementation) -> Any:
    return impl.exact(np.array([0, 1, 0]))


def keep(impl: Implementation, shape: tuple[int, ...] = (3, 4)) -> Any:
    return impl.exact(np.ones(shape, bool))


def fn(name: str) -> Callable:
    """The public callable ``primitives.<name>`` or ``primitives.optim.<rule>``."""
    if name.startswith("optim."):
        return getattr(P.optim, name.removeprefix("optim."))
    return getattr(P, name)


# --- row builders ---------------------------------------------------------------------------


def unary(name: str, mistake: str, error: type, message: str, *args: Any, **kw: Any) -> Row:
    """``name(x, *args, **kw)``."""
    return Row(name, mistake, lambda impl: lambda: fn(name)(x(impl), *args, **kw), error, message)


def binary(name: str, mistake: str, error: type, message: str, *args: Any, **kw: Any) -> Row:
    """``name(grad_output, x, *args, **kw)`` with grad_output of x's shape."""
    return Row(
        name,
        mistake,
        lambda impl: lambda: fn(name)(x(impl), x(impl), *args, **kw),
        error,
        message,
    )


def pair(name: str, mistake: str, error: type, message: str, target: Callable, **kw: Any) -> Row:
    """A loss ``name(x, target(impl), **kw)``; a backward gets grad_output 1.0 first."""
    if name.endswith("_backward"):
        return Row(
            name,
            mistake,
            lambda impl: lambda: fn(name)(1.0, x(impl), target(impl), **kw),
            error,
            message,
        )
    return Row(
        name, mistake, lambda impl: lambda: fn(name)(x(impl), target(impl), **kw), error, message
    )


def plain(name: str, mistake: str, error: type, message: str, call: Callable[[], Any]) -> Row:
    """A call that needs no array (constructors of optimizers and of EarlyStopping)."""
    return Row(name, mistake, lambda impl: call, error, message)


def _self(impl: Implementation) -> Any:
    return x(impl)


def _contrastive(name: str, mistake: str, error: type, message: str, **kw: Any) -> Row:
    def build(impl: Implementation) -> Callable[[], Any]:
        args = (x(impl), x(impl), labels(impl))
        if name.endswith("_backward"):
            return lambda: fn(name)(1.0, *args, **kw)
        return lambda: fn(name)(*args, **kw)

    return Row(name, mistake, build, error, message)


def _sequence(name: str, mistake: str, error: type, message: str) -> Row:
    def build(impl: Implementation) -> Callable[[], Any]:
        z = x(impl, (2, 3, 4))
        t = impl.exact(np.zeros((2, 3), np.int64))
        m = keep(impl, (2, 2))  # [B, T] is (2, 3)
        if name.endswith("_backward"):
            return lambda: fn(name)(1.0, z, t, m)
        return lambda: fn(name)(z, t, m)

    return Row(name, mistake, build, error, message)


def _batch_norm(name: str, mistake: str, error: type, message: str, **kw: Any) -> Row:
    def build(impl: Implementation) -> Callable[[], Any]:
        a = x(impl, (4, 3))
        stats = (impl.array(np.zeros(3), "float64"), impl.array(np.ones(3), "float64"))
        if name.endswith("_backward"):
            return lambda: fn(name)(a, a, **kw)
        return lambda: fn(name)(a, *stats, **kw)

    return Row(name, mistake, build, error, message)


def _layer_norm(name: str, mistake: str, error: type, message: str, **kw: Any) -> Row:
    def build(impl: Implementation) -> Callable[[], Any]:
        a = x(impl)
        if name.endswith("_backward"):
            return lambda: fn(name)(a, a, 4, **kw)
        return lambda: fn(name)(a, 4, **kw)

    return Row(name, mistake, build, error, message)


def _linear(name: str, mistake: str, error: type, message: str) -> Row:
    def build(impl: Implementation) -> Callable[[], Any]:
        a, w = x(impl), x(impl, (4,))  # weight must be (out_features, in_features)
        if name.endswith("_backward"):
            return lambda: fn(name)(a, a, w)
        return lambda: fn(name)(a, w)

    return Row(name, mistake, build, error, message)


def _penalty(name: str, mistake: str, error: type, message: str, lam: Any) -> Row:
    def build(impl: Implementation) -> Callable[[], Any]:
        params = {"w": x(impl)}
        if name.endswith("_backward"):
            return lambda: fn(name)(1.0, params, lam)
        return lambda: fn(name)(params, lam)

    return Row(name, mistake, build, error, message)


def _dropout(name: str, mistake: str, error: type, message: str, *args: Any, **kw: Any) -> Row:
    def build(impl: Implementation) -> Callable[[], Any]:
        a = x(impl)
        if name == "dropout_backward":
            return lambda: fn(name)(a, keep(impl), *args, **kw)
        return lambda: fn(name)(a, *args, **kw)

    return Row(name, mistake, build, error, message)


# --- the table ------------------------------------------------------------------------------

REAL = "must be a real number, got"
INTEGER = "must be an integer, got"
FLAG = "must be True or False, got"
# The activations' arrays are checked on the dispatch's fast path, which does not know the
# function's name: those messages name the argument instead.
DISPATCH = "x: "
SHAPES = "grad_output has shape"

ACTIVATIONS = [
    # no parameters: a string is no array
    Row("relu", "x is a string", lambda impl: lambda: P.relu("1.0"), TypeError,
        "x: unsupported type builtins.str", starts=DISPATCH),
    Row("sigmoid", "x is a string", lambda impl: lambda: P.sigmoid("1.0"), TypeError,
        "x: unsupported type builtins.str", starts=DISPATCH),
    Row("tanh", "x is a string", lambda impl: lambda: P.tanh("1.0"), TypeError,
        "x: unsupported type builtins.str", starts=DISPATCH),
    Row("silu", "x is a string", lambda impl: lambda: P.silu("1.0"), TypeError,
        "x: unsupported type builtins.str", starts=DISPATCH),
    Row("relu_backward", "grad_output of another shape",
        lambda impl: lambda: P.relu_backward(x(impl, (4,)), x(impl)), ValueError,
        "grad_output has shape (4,) but x has (3, 4); they must match", starts=SHAPES),
    Row("sigmoid_backward", "grad_output of another shape",
        lambda impl: lambda: P.sigmoid_backward(x(impl, (4,)), x(impl)), ValueError,
        "grad_output has shape (4,) but x has (3, 4)", starts=SHAPES),
    Row("tanh_backward", "grad_output of another shape",
        lambda impl: lambda: P.tanh_backward(x(impl, (4,)), x(impl)), ValueError,
        "grad_output has shape (4,) but x has (3, 4)", starts=SHAPES),
    Row("silu_backward", "grad_output of another shape",
        lambda impl: lambda: P.silu_backward(x(impl, (4,)), x(impl)), ValueError,
        "grad_output has shape (4,) but x has (3, 4)", starts=SHAPES),
    # leaky_relu: negative_slope finite
    unary("leaky_relu", "negative_slope a string", TypeError,
          f"leaky_relu: negative_slope {REAL} '0.1'", negative_slope="0.1"),
    unary("leaky_relu", "negative_slope NaN", ValueError,
          "leaky_relu: negative_slope must be a finite number, got nan", negative_slope=NAN),
    unary("leaky_relu", "negative_slope a bool", TypeError,
          f"negative_slope {REAL} True", negative_slope=True),
    binary("leaky_relu_backward", "negative_slope inf", ValueError,
           "leaky_relu_backward: negative_slope must be a finite number, got inf",
           negative_slope=INF),
    binary("leaky_relu_backward", "negative_slope None", TypeError,
           f"negative_slope {REAL} None", negative_slope=None),
    # gelu: approximate "none" or "tanh"
    unary("gelu", "approximate a bool", TypeError,
          "gelu: approximate must be a string, 'none' or 'tanh'; got True", approximate=True),
    binary("gelu_backward", "approximate unknown", ValueError,
           "gelu_backward: approximate must be 'none' or 'tanh', got 'exact'",
           approximate="exact"),
    # softplus: beta > 0 finite, threshold not NaN nor -inf
    unary("softplus", "beta zero", ValueError,
          "softplus: beta must be a finite number > 0, got 0.0", beta=0.0),
    unary("softplus", "beta NaN", ValueError, "softplus: beta must be a finite number > 0, got nan",
          beta=NAN),
    unary("softplus", "beta a bool", TypeError, f"softplus: beta {REAL} True", beta=True),
    unary("softplus", "beta an array", TypeError,
          "softplus: beta must be a real number, got an array of shape (2,)",
          beta=np.ones(2)),
    unary("softplus", "threshold NaN", ValueError,
          "softplus: threshold must be a number or +inf (no threshold), not NaN or -inf, got nan",
          threshold=NAN),
    binary("softplus_backward", "beta a string", TypeError,
           f"softplus_backward: beta {REAL} '1'", beta="1"),
    binary("softplus_backward", "beta negative", ValueError,
           "softplus_backward: beta must be a finite number > 0, got -1.0", beta=-1.0),
    binary("softplus_backward", "threshold -inf", ValueError,
           "softplus_backward: threshold must be a number or +inf", threshold=-INF),
    # elu: alpha finite
    unary("elu", "alpha NaN", ValueError, "elu: alpha must be a finite number, got nan",
          alpha=NAN),
    unary("elu", "alpha a string", TypeError, f"elu: alpha {REAL} '1'", alpha="1"),
    binary("elu_backward", "alpha inf", ValueError,
           "elu_backward: alpha must be a finite number, got inf", alpha=INF),
    # softmax family: axis an integer in range, never None
    unary("softmax", "axis out of range", ValueError,
          "softmax: axis 5 is out of range for x with 2 dimension(s); it must be in [-2, 1]",
          axis=5),
    unary("softmax", "axis None", TypeError,
          "softmax: axis must be an integer, got None; pass the axis explicitly", axis=None),
    unary("softmax", "axis a bool", TypeError, f"softmax: axis {INTEGER} True", axis=True),
    unary("softmax", "axis a float", TypeError, f"softmax: axis {INTEGER} 1.0", axis=1.0),
    binary("softmax_backward", "axis out of range", ValueError,
           "softmax_backward: axis -3 is out of range for x with 2 dimension(s)", axis=-3),
    unary("log_softmax", "axis out of range", ValueError,
          "log_softmax: axis 2 is out of range for x with 2 dimension(s)", axis=2),
    unary("log_softmax", "axis None", TypeError, "log_softmax: axis must be an integer, got None",
          axis=None),
    binary("log_softmax_backward", "axis a bool", TypeError,
           f"log_softmax_backward: axis {INTEGER} False", axis=False),
]  # fmt: skip

LOSSES = [
    pair("mse_loss", "reduction unknown", ValueError,
         "mse_loss: reduction must be 'mean', 'sum' or 'none', got 'avg'", _self, reduction="avg"),
    pair("mse_loss_backward", "reduction None", TypeError,
         "mse_loss_backward: reduction must be a string", _self, reduction=None),
    pair("l1_loss", "reduction a bool", TypeError, "l1_loss: reduction must be a string",
         _self, reduction=True),
    pair("l1_loss_backward", "reduction unknown", ValueError,
         "l1_loss_backward: reduction must be 'mean', 'sum' or 'none', got 'max'", _self,
         reduction="max"),
    pair("huber_loss", "delta a string", TypeError, f"huber_loss: delta {REAL} '1'", _self,
         delta="1"),
    pair("huber_loss", "delta inf", ValueError, "huber_loss: delta must be a finite number > 0, "
         "got inf", _self, delta=INF),
    pair("huber_loss_backward", "delta zero", ValueError,
         "huber_loss_backward: delta must be a finite number > 0, got 0.0", _self, delta=0.0),
    pair("cross_entropy", "ignore_index a bool", TypeError,
         f"cross_entropy: ignore_index {INTEGER} True", classes, ignore_index=True),
    pair("cross_entropy", "label_smoothing above 1", ValueError,
         "cross_entropy: label_smoothing must be in [0, 1], got 1.5", classes,
         label_smoothing=1.5),
    pair("cross_entropy", "label_smoothing a string", TypeError,
         f"cross_entropy: label_smoothing {REAL} '0.1'", classes, label_smoothing="0.1"),
    pair("cross_entropy", "axis None", TypeError,
         "cross_entropy: axis must be an integer, got None", classes, axis=None),
    pair("cross_entropy_backward", "axis out of range", ValueError,
         "cross_entropy_backward: axis 2 is out of range for logits with 2 dimension(s)",
         classes, axis=2),
    pair("nll_loss", "ignore_index a float", TypeError, f"nll_loss: ignore_index {INTEGER} -100.0",
         classes, ignore_index=-100.0),
    pair("nll_loss_backward", "axis a bool", TypeError, f"nll_loss_backward: axis {INTEGER} True",
         classes, axis=True),
    pair("binary_cross_entropy", "reduction unknown", ValueError,
         "binary_cross_entropy: reduction must be 'mean', 'sum' or 'none', got 'avg'", probs,
         reduction="avg"),
    pair("binary_cross_entropy_backward", "reduction a number", TypeError,
         "binary_cross_entropy_backward: reduction must be a string", probs, reduction=0),
    pair("binary_cross_entropy_with_logits", "pos_weight a string", TypeError,
         f"binary_cross_entropy_with_logits: pos_weight {REAL} '2'", probs, pos_weight="2"),
    pair("binary_cross_entropy_with_logits", "pos_weight NaN", ValueError,
         "binary_cross_entropy_with_logits: pos_weight must be a finite number, got nan", probs,
         pos_weight=NAN),
    pair("binary_cross_entropy_with_logits_backward", "pos_weight a bool", TypeError,
         f"binary_cross_entropy_with_logits_backward: pos_weight {REAL} True", probs,
         pos_weight=True),
    _contrastive("contrastive_loss", "margin negative", ValueError,
                 "contrastive_loss: margin must be a finite number >= 0, got -1.0", margin=-1.0),
    _contrastive("contrastive_loss", "margin a bool", TypeError,
                 f"contrastive_loss: margin {REAL} True", margin=True),
    _contrastive("contrastive_loss_backward", "margin NaN", ValueError,
                 "contrastive_loss_backward: margin must be a finite number >= 0, got nan",
                 margin=NAN),
    _sequence("sequence_cross_entropy", "mask of another shape", ValueError,
              "sequence_cross_entropy: mask has shape (2, 2) but must have shape (2, 3)"),
    _sequence("sequence_cross_entropy_backward", "mask of another shape", ValueError,
              "sequence_cross_entropy_backward: mask has shape (2, 2) but must have shape (2, 3)"),
]  # fmt: skip

LAYERS = [
    _batch_norm("batch_norm", "eps zero", ValueError,
                "batch_norm: eps must be a finite number > 0, got 0.0", eps=0.0),
    _batch_norm("batch_norm", "momentum a bool", TypeError, f"batch_norm: momentum {REAL} True",
                momentum=True),
    _batch_norm("batch_norm", "momentum above 1", ValueError,
                "batch_norm: momentum must be in [0, 1], got 1.5", momentum=1.5),
    _batch_norm("batch_norm", "axis out of range", ValueError,
                "batch_norm: axis 2 is out of range for x with 2 dimension(s)", axis=2),
    _batch_norm("batch_norm", "training not a bool", TypeError,
                f"batch_norm: training {FLAG} 1", training=1),
    _batch_norm("batch_norm_backward", "eps a string", TypeError,
                f"batch_norm_backward: eps {REAL} '1e-5'", eps="1e-5"),
    _batch_norm("batch_norm_backward", "axis a float", TypeError,
                f"batch_norm_backward: axis {INTEGER} 1.0", axis=1.0),
    _layer_norm("layer_norm", "eps negative", ValueError,
                "layer_norm: eps must be a finite number >= 0, got -1.0", eps=-1.0),
    _layer_norm("layer_norm", "eps a bool", TypeError, f"layer_norm: eps {REAL} True", eps=True),
    _layer_norm("layer_norm_backward", "eps NaN", ValueError,
                "layer_norm_backward: eps must be a finite number >= 0, got nan", eps=NAN),
    _linear("linear", "weight of one dimension", ValueError,
            "linear: weight must have shape (out_features, in_features), got (4,)"),
    _linear("linear_backward", "weight of one dimension", ValueError,
            "linear_backward: weight must have shape (out_features, in_features), got (4,)"),
    _penalty("l1_penalty", "lam negative", ValueError,
             "l1_penalty: lam must be a finite number >= 0, got -1.0", -1.0),
    _penalty("l1_penalty_backward", "lam a bool", TypeError,
             f"l1_penalty_backward: lam {REAL} True", True),
    _penalty("l2_penalty", "lam a string", TypeError, f"l2_penalty: lam {REAL} '0.1'", "0.1"),
    _penalty("l2_penalty_backward", "lam inf", ValueError,
             "l2_penalty_backward: lam must be a finite number >= 0, got inf", INF),
]  # fmt: skip

DROPOUT = [
    _dropout("dropout", "p a bool", TypeError, f"dropout: p {REAL} True", True, rng=0),
    _dropout("dropout", "p above 1", ValueError,
             "dropout: p must be a drop probability in [0, 1], got 1.5", 1.5, rng=0),
    _dropout("dropout", "negative seed", ValueError,
             "dropout: an int seed must be in [0, 2**63 - 1], got -1", 0.5, rng=-1),
    _dropout("dropout", "training not a bool", TypeError, f"dropout: training {FLAG} 'yes'",
             0.5, "yes", rng=0),
    _dropout("dropout", "return_mask not a bool", TypeError, f"dropout: return_mask {FLAG} 1",
             0.5, rng=0, return_mask=1),
    _dropout("dropout_mask", "p NaN", ValueError,
             "dropout_mask: p must be a drop probability in [0, 1], got nan", NAN, rng=0),
    _dropout("dropout_mask", "negative seed", ValueError,
             "dropout_mask: an int seed must be in [0, 2**63 - 1], got -5", rng=-5),
    _dropout("dropout_backward", "p a string", TypeError, f"dropout_backward: p {REAL} '0.5'",
             "0.5"),
]  # fmt: skip

OTHERS = [
    plain("EarlyStopping", "patience a bool", TypeError, f"EarlyStopping: patience {INTEGER} True",
          lambda: P.EarlyStopping(True)),
    plain("EarlyStopping", "min_delta NaN", ValueError,
          "EarlyStopping: min_delta must be a finite number >= 0, got nan",
          lambda: P.EarlyStopping(2, min_delta=NAN)),
    plain("EarlyStopping", "mode unknown", ValueError,
          "EarlyStopping: mode must be 'min' or 'max', got 'mean'",
          lambda: P.EarlyStopping(2, mode="mean")),
    plain("optim.sgd", "lr a bool", TypeError, f"sgd: lr {REAL} True",
          lambda: P.optim.sgd(lr=True)),
    plain("optim.sgd", "dampening above 1", ValueError, "sgd: dampening must be in [0, 1], got 1.5",
          lambda: P.optim.sgd(0.1, momentum=0.9, dampening=1.5)),
    plain("optim.heavy_ball", "momentum a string", TypeError, f"heavy_ball: momentum {REAL} '0.9'",
          lambda: P.optim.heavy_ball(0.1, momentum="0.9")),
    plain("optim.rmsprop", "alpha NaN", ValueError, "rmsprop: alpha must be in [0, 1), got nan",
          lambda: P.optim.rmsprop(0.1, alpha=NAN)),
    plain("optim.adam", "lr a string", TypeError, f"adam: lr {REAL} '1e-3'",
          lambda: P.optim.adam(lr="1e-3")),
    plain("optim.adam", "beta2 NaN", ValueError, "adam: betas[1] must be in [0, 1), got nan",
          lambda: P.optim.adam(betas=(0.9, NAN))),
    plain("optim.adamw", "weight_decay a bool", TypeError, f"adamw: weight_decay {REAL} True",
          lambda: P.optim.adamw(weight_decay=True)),
    plain("optim.adagrad", "eps inf", ValueError,
          "adagrad: eps must be a finite number >= 0, got inf", lambda: P.optim.adagrad(eps=INF)),
]  # fmt: skip

ROWS: list[Row] = ACTIVATIONS + LOSSES + LAYERS + DROPOUT + OTHERS

# Public names that take no data to be judged (the backend registry, classes that the rules
# build): they have no row.
EXEMPT = {
    "Backend",  # the backend contract, a class of fields (checked by load_backend)
    "RandomSource",  # a field of the backend contract
    "available_backends",  # the registry: no parameters
    "get_backend",  # the registry (an unknown name is its own ValueError, tested elsewhere)
    "load_backend",
    "register_backend",
    "set_backend",
    "use_backend",
    "optim",  # the subpackage: its rules are listed as "optim.<rule>"
    "optim.OptState",  # a record the optimizers build (checked in step)
    "optim.Optimizer",  # built by the rules below, which check the hyperparameters
}


def public_callables() -> list[str]:
    """Every public callable of primitives and primitives.optim, by its row name."""
    names = [n for n in P.__all__ if callable(getattr(P, n)) or n == "optim"]
    names += [f"optim.{n}" for n in P.optim.__all__]
    return sorted(names)
