"""The optimizer state: an immutable record, a jax pytree (so ``jax.jit(opt.step)`` works),
created on the parameters' backend and device."""

from __future__ import annotations

from typing import Any, NamedTuple

from ..backend import Array, Backend
from ._tree import Tree


class OptState(NamedTuple):
    """State of one optimizer for one params tree.

    count:
        Steps taken so far: a 0-d integer array on the params' backend and device (int64;
        int32 on jax without ``jax_enable_x64``, exact up to 2**31 - 1 steps). An integer
        never drifts or freezes (a float32 counter stops at 2**24, a bfloat16 one at 256).
    slots:
        ``{slot name: tree like params}``: the optimizer's buffers (``exp_avg``, ...), in the
        params' dtypes.
    rule:
        Which optimizer made it (``"adam[exp_avg,exp_avg_sq]"``); ``step`` refuses another's.
    signature:
        The params it was made for: (backend, container, shapes, dtypes).

    On jax, ``count`` and ``slots`` are the pytree's children and ``rule`` and ``signature``
    its static data.
    """

    count: Array
    slots: dict[str, Tree]
    rule: str
    signature: tuple


_registered = False


def register_pytree() -> None:
    """Register :class:`OptState` as a jax pytree node (once; called when jax params arrive)."""
    global _registered
    if _registered:
        return
    import jax

    jax.tree_util.register_pytree_node(
        OptState,
        lambda s: ((s.count, s.slots), (s.rule, s.signature)),
        lambda aux, children: OptState(children[0], children[1], *aux),
    )
    _registered = True


def zero_count(backend: Backend, like: Array) -> Array:
    """A 0-d integer zero on ``like``'s backend and device."""
    if backend.name == "numpy":
        import numpy as np

        return np.zeros((), np.int64)
    if backend.name == "torch":
        import torch

        return torch.zeros((), dtype=torch.int64, device=like.device)
    if backend.name == "jax":
        import jax.numpy as jnp

        return jnp.zeros((), dtype=int)  # int64 with x64 enabled, else int32
    return backend.xp.asarray(0)


def full_like(backend: Backend, x: Array, value: float) -> Array:
    """An array of ``value`` with ``x``'s shape, dtype and device."""
    if backend.name in ("numpy", "torch", "jax"):
        import importlib

        module = importlib.import_module("jax.numpy" if backend.name == "jax" else backend.name)
        return module.full_like(x, value)
    xp = backend.xp
    return xp.astype(xp.where(xp.isnan(x), value, value), x.dtype)


def dtype_name(x: Any) -> str:
    return str(x.dtype).rsplit(".", 1)[-1]
