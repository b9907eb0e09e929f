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


_registered: set = set()  # the register_tree callables already called (jax's: once)


def register_tree(backend: Backend) -> None:
    """Make :class:`OptState` a node of ``backend``'s tree utilities (once per registering
    function, so two backends on jax register it once; jax:
    a pytree whose children are ``count`` and ``slots`` and whose static data are ``rule`` and
    ``signature``)."""
    if backend.register_tree in _registered:
        return
    backend.register_tree(
        OptState,
        lambda s: ((s.count, s.slots), (s.rule, s.signature)),
        lambda aux, children: OptState(children[0], children[1], *aux),
    )
    _registered.add(backend.register_tree)


def dtype_name(x: Any) -> str:
    return str(x.dtype).rsplit(".", 1)[-1]
