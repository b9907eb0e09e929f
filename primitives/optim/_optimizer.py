"""The optimizer object: ``init(params) -> state`` and ``step(params, grads, state)``.

Everything is checked before any arithmetic (the same messages on every backend); nothing
passed in is mutated; the new params and state are new arrays of the params' backend, device
and dtype. On torch the update is not recorded by autograd (``torch.no_grad()``, as
torch.optim): the new params are leaves requiring grad where the given ones did.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .. import _dispatch
from . import _validate
from ._state import OptState, dtype_name, register_tree
from ._tree import Tree, describe, flatten, paths, unflatten


class _Params:
    """A params (or grads) tree checked and flattened: its backend table, arrays, container
    and signature."""

    def __init__(self, fn: str, tree: Tree, what: str) -> None:
        leaves, description = flatten(tree, f"{fn}: {what}")
        if not leaves:
            raise ValueError(f"{fn}: {what} holds no arrays")
        names = [what + p for p in paths(description)]
        table = None
        for leaf, name in zip(leaves, names, strict=True):
            owner = _dispatch._table_of(leaf)
            if owner is None:
                raise TypeError(
                    f"{fn}: {name} is a {_dispatch._describe(leaf)}; expected an array of a "
                    f"registered backend {sorted(_dispatch._paths)} (convert it first)"
                )
            if table is None:
                table, first = owner, name
            elif owner is not table:
                raise TypeError(
                    f"{fn}: {what} mix backends: {first} is a {table.backend.name} array but "
                    f"{name} is a {_dispatch._describe(leaf)}; move all of them to one library"
                )
            if not owner.is_floating(leaf):
                raise TypeError(
                    f"{fn}: {name} must have a floating dtype, got {leaf.dtype}; convert it "
                    "first, e.g. x.astype(float32) / x.float()"
                )
        self.table = table
        self.leaves = tuple(leaves)
        self.names = names
        self.description = description
        self.shapes = tuple(tuple(int(n) for n in x.shape) for x in leaves)
        self.dtypes = tuple(dtype_name(x) for x in leaves)
        self.signature = (table.backend.name, description, self.shapes, self.dtypes)

    def check_grads(self, fn: str, grads: _Params) -> None:
        """Same container, backend, dtypes and shapes as these params."""
        if grads.description != self.description:
            raise ValueError(
                f"{fn}: grads has structure {describe(grads.description)} but params has "
                f"{describe(self.description)}; pass one gradient per parameter"
            )
        if grads.table is not self.table:
            raise TypeError(
                f"{fn}: grads are {grads.table.backend.name} arrays but params are "
                f"{self.table.backend.name} arrays; move both to one library"
            )
        for g, p, gd, pd, gs, ps in zip(
            grads.names,
            self.names,
            grads.dtypes,
            self.dtypes,
            grads.shapes,
            self.shapes,
            strict=True,
        ):
            if gd != pd:
                raise TypeError(f"{fn}: {g} has dtype {gd} but {p} has {pd}; cast one to match")
            if gs != ps:
                raise ValueError(
                    f"{fn}: {g} has shape {gs} but {p} has {ps}; they must match (no broadcasting)"
                )


class Optimizer:
    """An update rule with its hyperparameters; build one with :func:`primitives.optim.adam`
    and the other constructors of :mod:`primitives.optim`.

    ``init(params)`` makes the state; ``step(params, grads, state)`` returns
    ``(new_params, new_state)``. ``params`` is one array or a dict/list/tuple (nested) of
    arrays of one backend; any other iterable of arrays (a generator, such as torch's
    ``model.parameters()``) is read once and taken as a list (sets are refused: they have no
    order). ``grads`` has the same structure (a list and a generator both count as a list),
    shapes and dtypes. The new params have params' structure (a list for an iterable).

    torch: ``step`` runs under ``torch.no_grad()`` as torch.optim's does: the update is never
    recorded by autograd, the new params are leaves (``grad_fn is None``) that require grad
    where the given params did, and the state requires none. A training loop is::

        params = list(model.parameters())
        state = opt.init(params)
        for batch in data:
            loss = loss_of(params, batch)       # e.g. with torch.func.functional_call
            loss.backward()                     # fills p.grad of these (fresh) leaves
            params, state = opt.step(params, [p.grad for p in params], state)
    """

    __slots__ = ("_flags", "_h", "_initial", "_kernel", "hyperparameters", "lr", "name", "rule")

    def __init__(
        self,
        name: str,
        hyperparameters: Mapping[str, Any],
        kernel: str,
        h: tuple[float, ...],
        flags: tuple[bool, ...],
        initial: Mapping[str, float],
    ) -> None:
        self.name = name
        self.hyperparameters = MappingProxyType(dict(hyperparameters))
        self.lr: float | Callable = hyperparameters["lr"]
        self._kernel = kernel
        self._h = h  # the kernel's real hyperparameters (traced under jax)
        self._flags = flags  # the kernel's static flags
        self._initial = dict(initial)  # slot name -> initial value, in kernel order
        self.rule = f"{name}[{','.join(self._initial)}]"

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparameters.items())
        return f"{self.name}({args})"

    @property
    def slot_names(self) -> tuple[str, ...]:
        return tuple(self._initial)

    def init(self, params: Tree) -> OptState:
        """The state before the first step: count 0 and each slot filled with its initial
        value (0, or Adagrad's ``initial_accumulator_value``), like ``params`` (an array, a
        dict/list/tuple of arrays, or any other iterable of arrays, taken as a list)."""
        p = _Params(f"{self.name}.init", params, "params")
        backend = p.table.backend
        register_tree(backend)
        slots = {
            name: unflatten(p.description, [backend.full_like(x, value) for x in p.leaves])
            for name, value in self._initial.items()
        }
        return OptState(backend.integer_zero(p.leaves[0]), slots, self.rule, p.signature)

    def _check_state(self, fn: str, state: Any, p: _Params) -> None:
        if not isinstance(state, OptState):
            raise TypeError(
                f"{fn}: state must be the OptState returned by init or step, got "
                f"{_dispatch._describe(state)}"
            )
        if state.rule != self.rule:
            raise ValueError(
                f"{fn}: the state belongs to {state.rule}, not to this {self.rule}; create it "
                "with this optimizer's init"
            )
        if state.signature != p.signature:
            raise ValueError(
                f"{fn}: the state was made for other params ({_signature_text(state.signature)}) "
                f"than these ({_signature_text(p.signature)}); create it with init(params)"
            )

    def step(self, params: Tree, grads: Tree, state: OptState) -> tuple[Tree, OptState]:
        """One update: ``(new_params, new_state)``; the arguments are left unchanged (torch:
        computed under ``torch.no_grad()``; the new params are leaves that require grad
        where the given ones did).

        A NaN or ±inf gradient element makes that parameter element NaN or ±inf (never
        silently skipped or zeroed) and stays in its state slots; other elements are
        unaffected.
        """
        fn = f"{self.name}.step"
        p = _Params(fn, params, "params")
        gr = _Params(fn, grads, "grads")
        p.check_grads(fn, gr)
        self._check_state(fn, state, p)
        lr = self.lr
        if callable(lr):
            lr = _validate.scheduled_lr(fn, lr(state.count))
        slots = tuple(tuple(flatten(state.slots[name])[0]) for name in self._initial)
        kernel = getattr(p.table, self._kernel)
        backend = p.table.backend
        # NaN and inf propagate by design (documented); NumPy would also warn about them
        with backend.ignoring_errors():
            new_xs, new_slots = kernel(
                p.leaves, gr.leaves, slots, state.count, lr, self._h, *self._flags
            )
        arrays = lambda values: [backend.ensure_array(v) for v in values]  # noqa: E731
        new_state = OptState(
            backend.ensure_array(state.count + 1),
            {
                slot: unflatten(p.description, arrays(values))
                for slot, values in zip(self._initial, new_slots, strict=True)
            },
            state.rule,
            state.signature,
        )
        return unflatten(p.description, arrays(new_xs)), new_state


def _signature_text(signature: tuple) -> str:
    backend, description, shapes, dtypes = signature
    return f"{backend} {describe(description)}, shapes {list(shapes)}, dtypes {list(dtypes)}"
