"""The frameworks' own losses, as the suite judges them: ``torch.nn.functional``'s and optax's
(jax itself has no losses), with this library's conventions mapped to theirs (the class axis
moved to torch's 1; optax's per-example losses reduced as ``reduction`` asks), and tables of
them in this library's signatures, each backward the framework's autodiff of its loss
(``torch.autograd.grad``, ``jax.vjp``), for ``torch-native`` and ``jax-native``
(:mod:`properties.framework_backends`).

Where the framework has no such loss the table has no entry: torch has no contrastive loss;
optax has no L1 loss, no NLL loss on log-probabilities, no binary cross-entropy on
probabilities and no contrastive loss, and none of its losses takes class weights,
``pos_weight`` or ``ignore_index`` (its table raises on them rather than judge another loss).
``test_losses_frameworks.py`` compares the library with these on drawn problems;
``properties.atlas.losses`` measures them against mpmath.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

import primitives

# --- the frameworks' losses in their own calls -----------------------------------------------


def torch_loss(case_id: str, t: list, kw: dict, params: dict, reduction: str) -> Any:
    """torch.nn.functional's loss for the case, on torch tensors in the library's layout (the
    class axis ``params["axis"]`` moved to torch's 1)."""
    import torch.nn.functional as F

    if case_id in ("mse_loss", "l1_loss"):
        return getattr(F, case_id)(t[0], t[1], reduction=reduction)
    if case_id == "huber_loss":
        return F.huber_loss(t[0], t[1], reduction=reduction, delta=params["delta"])
    if case_id in ("cross_entropy", "cross_entropy(probabilities)", "nll_loss"):
        axis = params["axis"] % t[0].ndim
        z = t[0].movedim(axis, 1)
        target = t[1].movedim(axis, 1) if t[1].is_floating_point() else t[1]
        common = {"weight": kw.get("weight"), "reduction": reduction}
        if case_id == "nll_loss":
            return F.nll_loss(z, target, ignore_index=params["ignore_index"], **common)
        extra = {"label_smoothing": params["label_smoothing"]}
        if "ignore_index" in params and not t[1].is_floating_point():
            extra["ignore_index"] = params["ignore_index"]
        return F.cross_entropy(z, target, **common, **extra)
    if case_id == "sequence_cross_entropy":
        z, target, mask = t
        return F.cross_entropy(z[mask], target[mask])
    if case_id == "binary_cross_entropy_with_logits":
        return F.binary_cross_entropy_with_logits(
            t[0],
            t[1],
            weight=kw.get("weight"),
            reduction=reduction,
            pos_weight=kw.get("pos_weight"),
        )
    if case_id == "binary_cross_entropy":
        return F.binary_cross_entropy(t[0], t[1], weight=kw.get("weight"), reduction=reduction)
    raise KeyError(case_id)


TORCH_CASES = [
    "mse_loss",
    "l1_loss",
    "huber_loss",
    "cross_entropy",
    "cross_entropy(probabilities)",
    "nll_loss",
    "sequence_cross_entropy",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy",
]


def optax_loss(case_id: str, arrays: list, params: dict, reduction: str) -> Callable:
    """optax's loss for the case (per example) reduced as ours, on jax arrays: a function of
    the predictions ``arrays[0]`` (the other arrays and the parameters closed over)."""
    import jax.numpy as jnp
    import optax

    def reduce(per):
        if reduction == "none":
            return per
        return jnp.mean(per) if reduction == "mean" else jnp.sum(per)

    if case_id == "mse_loss":
        return lambda x: reduce(optax.losses.squared_error(x, arrays[1]))
    if case_id == "huber_loss":
        return lambda x: reduce(optax.losses.huber_loss(x, arrays[1], delta=params["delta"]))
    if case_id == "binary_cross_entropy_with_logits":
        return lambda x: reduce(optax.losses.sigmoid_binary_cross_entropy(x, arrays[1]))
    if case_id == "cross_entropy":
        axis, eps = params["axis"], params["label_smoothing"]
        n = arrays[0].shape[axis]
        if eps:
            hot = jnp.moveaxis(jnp.eye(n, dtype=arrays[0].dtype)[arrays[1]], -1, axis)
            labels = optax.smooth_labels(hot, eps, axis=axis)
            return lambda z: reduce(optax.losses.softmax_cross_entropy(z, labels, axis=axis))
        return lambda z: reduce(
            optax.losses.softmax_cross_entropy_with_integer_labels(z, arrays[1], axis=axis)
        )
    if case_id == "cross_entropy(probabilities)":
        axis, eps = params["axis"], params["label_smoothing"]
        labels = optax.smooth_labels(arrays[1], eps, axis=axis) if eps else arrays[1]
        return lambda z: reduce(optax.losses.softmax_cross_entropy(z, labels, axis=axis))
    if case_id == "sequence_cross_entropy":
        target, mask = arrays[1], arrays[2]

        def masked_mean(z):
            safe = jnp.where(mask[..., None], z, 0.0)
            per = optax.losses.softmax_cross_entropy_with_integer_labels(
                safe, jnp.where(mask, target, 0)
            )
            return jnp.sum(jnp.where(mask, per, 0.0)) / jnp.maximum(jnp.sum(mask), 1)

        return masked_mean
    raise KeyError(case_id)


OPTAX_CASES = [
    "mse_loss",
    "huber_loss",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "cross_entropy(probabilities)",
    "sequence_cross_entropy",
]


# --- tables in this library's signatures ------------------------------------------------------

_FLOATING_KEYWORDS = ("weight", "pos_weight")


def _case_id(name: str, target: Any) -> str:
    """The suite's case id of a call: cross-entropy with a floating target takes probabilities."""
    if name == "cross_entropy" and "float" in str(target.dtype):
        return "cross_entropy(probabilities)"
    return name


def _split(name: str, arrays: tuple, kwargs: dict) -> tuple[dict, dict, str]:
    """A call's keyword arguments as the mappings take them: (floating keyword arrays that were
    given, every parameter with the library's defaults, the reduction)."""
    bound = inspect.signature(getattr(primitives, name)).bind(*arrays, **kwargs)
    bound.apply_defaults()
    rest = dict(list(bound.arguments.items())[len(arrays) :])
    kw = {k: rest.pop(k) for k in _FLOATING_KEYWORDS if k in rest}
    reduction = rest.pop("reduction", "mean")
    return {k: v for k, v in kw.items() if v is not None}, rest, reduction


def torch_table() -> dict[str, Callable]:
    """``name`` and ``name_backward`` for each loss torch has, in this library's signatures."""
    import torch

    def forward_of(name: str) -> Callable:
        def forward(*arrays: Any, **kwargs: Any) -> Any:
            kw, params, reduction = _split(name, arrays, kwargs)
            return torch_loss(_case_id(name, arrays[1]), list(arrays), kw, params, reduction)

        return forward

    def backward_of(forward: Callable) -> Callable:
        def backward(grad_output: Any, x: Any, *rest: Any, **kwargs: Any) -> Any:
            with torch.enable_grad():
                x = x.detach().requires_grad_(True)
                (grad,) = torch.autograd.grad(forward(x, *rest, **kwargs), x, grad_output)
            return grad

        return backward

    table = {}
    for name in {c.partition("(")[0] for c in TORCH_CASES}:
        table[name] = forward_of(name)
        table[name + "_backward"] = backward_of(table[name])
    return table


def jax_table() -> dict[str, Callable]:
    """``name`` and ``name_backward`` for each loss optax has, in this library's signatures."""
    import jax

    def loss_of(name: str, arrays: tuple, kwargs: dict) -> Callable:
        kw, params, reduction = _split(name, arrays, kwargs)
        unsupported = sorted(kw) + (
            ["ignore_index"]
            if "ignore_index" in params and np.any(np.asarray(arrays[1]) == params["ignore_index"])
            else []
        )
        if unsupported:
            raise NotImplementedError(f"optax's {name} has no {', '.join(unsupported)}")
        return optax_loss(_case_id(name, arrays[1]), list(arrays), params, reduction)

    def forward_of(name: str) -> Callable:
        def forward(*arrays: Any, **kwargs: Any) -> Any:
            return loss_of(name, arrays, kwargs)(arrays[0])

        return forward

    def backward_of(name: str) -> Callable:
        def backward(grad_output: Any, *arrays: Any, **kwargs: Any) -> Any:
            _, pullback = jax.vjp(loss_of(name, arrays, kwargs), arrays[0])
            return pullback(grad_output)[0]

        return backward

    table = {}
    for name in {c.partition("(")[0] for c in OPTAX_CASES}:
        table[name] = forward_of(name)
        table[name + "_backward"] = backward_of(name)
    return table
