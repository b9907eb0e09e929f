"""The frameworks' own optimizers, as the suite judges them: ``torch.optim``'s and optax's, each
mapped from this library's update rules (``primitives.optim``), and tables of them in the
library's calls (``getattr(table, rule)(**hyper, lr=lr)`` with ``init(x) -> state`` and
``step(x, g, state) -> (new_x, new_state)``, the state the library's
:class:`~primitives.optim.OptState`) for ``torch-native`` and ``jax-native``
(:mod:`properties.framework_backends`), so that ``properties.atlas.optim`` measures them with
the library's judge. ``test_optim_frameworks.py`` compares the library's trajectories with
torch.optim's and optax's through :func:`torch_optimizer` and :func:`optax_transform`.

One ``step`` is one step of the framework's optimizer from the given state: torch, one
``opt.step()`` of a fresh ``torch.optim.<Class>`` on a clone of ``x`` whose ``grad`` is a clone
of ``g``, its per-parameter state (``opt.state[p]``: ``step``, ``exp_avg``, ...) loaded from
the library state's ``count`` and ``slots`` before the step and read back after it; optax, one
``update`` and ``apply_updates`` of the transform (``jax.jit``-ed, as optax is used), its state
built from ``count`` and ``slots`` (``mu``, ``nu``, ``trace``, ``sum_of_squares``, ``count``)
and read back. Nothing passed in is modified. ``init`` is the library's (count 0, every slot at
its initial value: zeros, Adagrad's ``initial_accumulator_value``), the value both frameworks
start from too. The new count is the framework's own where it keeps one (torch's ``step``, a
float32 tensor that stops at 2**24; optax's int32 ``count``), else ``count + 1``.

Names and conventions:

* torch.optim's state names are the library's slot names (``momentum_buffer``,
  ``square_avg``, ``grad_avg``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``, ``sum``).
  ``torch.optim.SGD`` has no buffer before its first step (it starts it at g, as the library
  at count 0): at count 0 none is loaded.
* optax: SGD's ``trace`` is ``momentum_buffer`` (0 at count 0: optax's trace then starts at
  g too); Adam's ``mu``/``nu`` are ``exp_avg``/``exp_avg_sq``; RMSprop's ``nu`` is
  ``square_avg`` and, centered, ``mu`` is ``grad_avg``; Adagrad's ``sum_of_squares`` is
  ``sum``.
* optax's RMSprop applies lr before its momentum ``trace`` (lr inside the buffer):
  ``trace = -lr · momentum_buffer`` at a constant lr, converted the same way.

Where the framework has no counterpart the constructor raises ``NotImplementedError`` saying
what it lacks (the atlas leaves that cell empty):

* torch: RMSprop's ``eps_in_sqrt`` and ``bias_correction`` (torch.optim.RMSprop always adds
  eps outside the root and never corrects), Adam's ``eps_root``;
* optax: SGD's ``dampening``, AMSGrad in torch's form (``optax.amsgrad`` takes the maximum of
  the corrected v), Adagrad with ``eps`` > 0 (optax puts eps inside the root);
* both: ``heavy_ball``. Neither framework has the rule: its state is the step
  ``v = x_t - x_{t-1}``, where SGD with momentum (``torch.optim.SGD``, ``optax.sgd``) keeps a
  buffer of gradients, ``b = -v / lr`` only at a constant lr; a step from the library's state
  would measure that conversion's roundings, not the framework (``test_optim_frameworks.py``
  compares the trajectories, which agree at a constant lr);
* optax: RMSprop with momentum under a schedule (a buffer that holds lr is not the library's at
  another lr) or at lr 0.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import primitives

RULES = ("sgd", "heavy_ball", "rmsprop", "adam", "adamw", "adagrad")
"""The library's rules; each framework's table has a constructor for each, raising where the
framework cannot express the rule or its hyperparameters."""

_NO_HEAVY_BALL = (
    "{framework} has no heavy-ball rule: its SGD momentum keeps a buffer of gradients, not the "
    "step x_t - x_(t-1) (test_optim_frameworks.py compares trajectories)"
)


def _library(rule: str, args: tuple, kwargs: dict) -> tuple[Any, Any, dict]:
    """The library's optimizer for these arguments (checked, its defaults filled), its lr and
    its other hyperparameters."""
    lib = getattr(primitives.optim, rule)(*args, **kwargs)
    return lib, lib.lr, {k: v for k, v in lib.hyperparameters.items() if k != "lr"}


def _velocity_scale(framework: str, rule: str, lr: Any, what: str) -> float:
    """``-lr``, the factor between the library's slot and the framework's buffer, where it
    holds (a constant lr > 0)."""
    if callable(lr):
        raise NotImplementedError(
            f"{framework} {rule}: {what} is the library's slot times lr only at a constant lr; "
            "it has no counterpart under a schedule"
        )
    if lr == 0:
        raise NotImplementedError(f"{framework} {rule}: at lr 0 {what} does not hold the slot")
    return -float(lr)


# --- torch.optim -----------------------------------------------------------------------------


def torch_missing(rule: str, hyper: dict) -> str | None:
    """What torch.optim lacks for ``hyper`` (the library's full hyperparameters), or None."""
    if rule == "rmsprop":
        if hyper.get("eps_in_sqrt"):
            return "torch.optim.RMSprop adds eps outside the root only (no eps_in_sqrt)"
        if hyper.get("bias_correction"):
            return "torch.optim.RMSprop has no bias correction"
    if rule in ("adam", "adamw") and hyper.get("eps_root"):
        return f"torch.optim.{'Adam' if rule == 'adam' else 'AdamW'} has no eps_root"
    return None


def torch_optimizer(rule: str, hyper: dict) -> tuple[type, dict] | None:
    """torch.optim's class and arguments for the same rule, or None where there is none."""
    import torch

    if torch_missing(rule, hyper) is not None:
        return None
    h = dict(hyper)
    if rule in ("sgd", "heavy_ball"):
        return torch.optim.SGD, h
    if rule == "rmsprop":
        h.pop("eps_in_sqrt")
        h.pop("bias_correction")
        return torch.optim.RMSprop, h
    if rule in ("adam", "adamw"):
        h.pop("eps_root")
        return (torch.optim.Adam if rule == "adam" else torch.optim.AdamW), h
    if rule == "adagrad":
        return torch.optim.Adagrad, h
    raise AssertionError(rule)


_TORCH_COUNTS = ("rmsprop", "adam", "adamw", "adagrad")
"""The classes that keep a ``step`` count in their state."""


class TorchOptimizer:
    """One library rule as a ``torch.optim`` step from the library's state (module
    docstring)."""

    def __init__(self, rule: str, *args: Any, **kwargs: Any) -> None:
        if rule == "heavy_ball":
            raise NotImplementedError(_NO_HEAVY_BALL.format(framework="torch.optim"))
        self.library, lr, self.hyper = _library(rule, args, kwargs)
        self.rule, self.lr = rule, lr
        missing = torch_missing(rule, self.hyper)
        if missing is not None:
            raise NotImplementedError(f"torch {rule}: {missing}")
        self.cls, self.kwargs = torch_optimizer(rule, self.hyper)

    def init(self, x):
        return self.library.init(x)

    def step(self, x, g, state):
        import torch

        from primitives.optim import OptState

        if not isinstance(state, OptState) or state.rule != self.library.rule:
            raise ValueError(f"torch {self.rule}: the state must be this rule's OptState")
        count = int(state.count)
        lr = self.lr(state.count) if callable(self.lr) else self.lr
        p = x.detach().clone()
        p.grad = g.detach().clone()
        opt = self.cls([p], **self.kwargs, lr=float(lr))
        loaded: dict[str, Any] = {}
        if self.rule in _TORCH_COUNTS:
            scalar = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
            loaded["step"] = torch.tensor(float(count), dtype=scalar)
        for name, value in state.slots.items():
            if not (self.rule == "sgd" and count == 0):  # (no buffer before the first step)
                loaded[name] = value.detach().clone()
        opt.state[p] = loaded
        opt.step()
        after = opt.state[p]
        slots = {name: after[name] for name in state.slots}
        if "step" in after:
            new_count = torch.tensor(int(after["step"]), dtype=state.count.dtype)
            new_count = new_count.to(state.count.device)
        else:
            new_count = state.count + 1
        new_x = p.detach().requires_grad_(x.requires_grad)
        return new_x, state._replace(count=new_count, slots=slots)


def torch_optim() -> SimpleNamespace:
    """The ``torch-native`` table's ``optim``: each rule's constructor (``**hyper, lr=``),
    raising ``NotImplementedError`` where torch.optim has no counterpart."""
    return SimpleNamespace(**{rule: _constructor(TorchOptimizer, rule) for rule in RULES})


def _constructor(cls: type, rule: str) -> Callable:
    """``rule``'s constructor: the library's arguments (``**hyper, lr=``; its defaults)."""

    def construct(*args: Any, **kwargs: Any):
        return cls(rule, *args, **kwargs)

    construct.__name__ = construct.__qualname__ = rule
    return construct


# --- optax -----------------------------------------------------------------------------------


def optax_missing(rule: str, hyper: dict) -> str | None:
    """What optax lacks for ``hyper`` (the library's full hyperparameters), or None."""
    if rule == "sgd" and hyper.get("dampening"):
        return "optax.sgd has no dampening"
    if rule in ("adam", "adamw") and hyper.get("amsgrad"):
        return "optax.amsgrad maximizes the corrected v, not torch's uncorrected one"
    if rule == "adagrad" and hyper.get("eps"):
        return "optax.adagrad puts eps inside the root (eps > 0 has no counterpart)"
    return None


def optax_transform(rule: str, hyper: dict, lr: Any):
    """The optax transformation of the same rule with each convention mapped (asserting that
    ``hyper`` has a counterpart, :func:`optax_missing`)."""
    import optax

    missing = optax_missing(rule, hyper)
    assert missing is None, missing
    h = hyper
    decay = optax.add_decayed_weights(h.get("weight_decay", 0.0))
    if rule == "sgd":
        momentum = h["momentum"] or None
        return optax.chain(decay, optax.sgd(lr, momentum=momentum, nesterov=h["nesterov"]))
    if rule == "heavy_ball":
        return optax.sgd(lr, momentum=h["momentum"] or None)
    if rule == "rmsprop":
        return optax.chain(
            decay,
            optax.rmsprop(
                lr,
                decay=h["alpha"],
                eps=h["eps"],
                initial_scale=0.0,
                eps_in_sqrt=h["eps_in_sqrt"],
                centered=h["centered"],
                momentum=h["momentum"] or None,
                bias_correction=h["bias_correction"],
            ),
        )
    b1, b2 = h.get("betas", (0.9, 0.999))
    if rule == "adam":
        return optax.chain(decay, optax.adam(lr, b1, b2, h["eps"], h["eps_root"]))
    if rule == "adamw":
        return optax.adamw(lr, b1, b2, h["eps"], h["eps_root"], weight_decay=h["weight_decay"])
    if rule == "adagrad":
        return optax.adagrad(lr, h["initial_accumulator_value"], eps=0.0)
    raise AssertionError(rule)


_OPTAX_FIELDS = {
    "sgd": {"trace": "momentum_buffer"},
    "rmsprop": {"nu": "square_avg", "mu": "grad_avg", "trace": "momentum_buffer"},
    "adam": {"mu": "exp_avg", "nu": "exp_avg_sq"},
    "adamw": {"mu": "exp_avg", "nu": "exp_avg_sq"},
    "adagrad": {"sum_of_squares": "sum"},
}
"""Each rule's optax state fields (in any state of its chain) and the library's slots."""


def _is_record(node: Any) -> bool:
    return isinstance(node, tuple) and hasattr(node, "_fields")


def _replace_fields(node: Any, value: Callable[[str, Any], Any]) -> Any:
    """The optax state ``node`` with every NamedTuple field replaced by ``value(name, old)``
    (tuples, such as ``optax.chain``'s, walked)."""
    if _is_record(node):
        return type(node)(
            *(value(f, _replace_fields(v, value)) for f, v in zip(node._fields, node, strict=True))
        )
    if isinstance(node, tuple | list):
        return type(node)(_replace_fields(v, value) for v in node)
    return node


def _fields(node: Any, out: dict[str, list]) -> dict[str, list]:
    """Every NamedTuple field of the optax state ``node``, by name (a name may recur)."""
    if _is_record(node):
        for f, v in zip(node._fields, node, strict=True):
            out.setdefault(f, []).append(v)
            _fields(v, out)
    elif isinstance(node, tuple | list):
        for v in node:
            _fields(v, out)
    return out


def _scaled(factor: float) -> Callable:
    """``a * factor`` computed in float64 (float32 without ``jax_enable_x64``) and rounded once
    to ``a``'s dtype: the conversion between a slot and a buffer that holds lr."""

    def scale(a):
        import jax
        import jax.numpy as jnp

        wide = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
        return (a.astype(wide) * factor).astype(a.dtype)

    return scale


class OptaxOptimizer:
    """One library rule as an optax ``update`` + ``apply_updates`` from the library's state
    (module docstring)."""

    def __init__(self, rule: str, *args: Any, **kwargs: Any) -> None:
        import jax
        import optax

        if rule == "heavy_ball":
            raise NotImplementedError(_NO_HEAVY_BALL.format(framework="optax"))
        self.library, lr, self.hyper = _library(rule, args, kwargs)
        self.rule = rule
        missing = optax_missing(rule, self.hyper)
        if missing is not None:
            raise NotImplementedError(f"optax {rule}: {missing}")
        # slot -> (to optax, from optax): the identity but for the buffer that holds lr
        self.convert: dict[str, tuple[Callable, Callable]] = {}
        if rule == "rmsprop" and self.hyper["momentum"]:
            s = _velocity_scale("optax", rule, lr, "optax.rmsprop's trace")
            self.convert["momentum_buffer"] = (_scaled(s), _scaled(1 / s))
        self.tx = optax_transform(rule, self.hyper, lr)

        def update(x, g, framework_state):
            updates, new_state = self.tx.update(g, framework_state, x)
            return optax.apply_updates(x, updates), new_state

        self._update = jax.jit(update)

    def init(self, x):
        return self.library.init(x)

    def step(self, x, g, state):
        import jax.numpy as jnp

        from primitives.optim import OptState

        if not isinstance(state, OptState) or state.rule != self.library.rule:
            raise ValueError(f"optax {self.rule}: the state must be this rule's OptState")
        fields = _OPTAX_FIELDS[self.rule]
        count = int(state.count)

        def load(name: str, old: Any) -> Any:
            if name == "count":
                return jnp.asarray(count, old.dtype)
            slot = fields.get(name)
            if slot is None or slot not in state.slots:
                return old
            if self.rule == "sgd" and count == 0:  # (no buffer before the first step)
                return jnp.zeros_like(old)
            to_optax = self.convert.get(slot, (lambda a: a, None))[0]
            return jnp.asarray(to_optax(state.slots[slot]), old.dtype)

        framework_state = _replace_fields(self.tx.init(x), load)
        used = _fields(framework_state, {})
        for slot in state.slots:
            held = [f for f, s in fields.items() if s == slot and f in used]
            if len(held) != 1 or len(used[held[0]]) != 1:
                raise AssertionError(f"optax {self.rule}: slot {slot} held as {held}")
        new_x, new_framework_state = self._update(x, g, framework_state)
        after = _fields(new_framework_state, {})
        slots = {}
        for f, slot in fields.items():
            if slot in state.slots:
                from_optax = self.convert.get(slot, (None, lambda a: a))[1]
                slots[slot] = from_optax(after[f][0])
        if "count" in after:
            new_count = jnp.asarray(after["count"][0], state.count.dtype)
        else:
            new_count = state.count + 1
        return new_x, state._replace(count=new_count, slots=slots)


def optax_optim() -> SimpleNamespace:
    """The ``jax-native`` table's ``optim``: each rule's constructor (``**hyper, lr=``),
    raising ``NotImplementedError`` where optax has no counterpart."""
    return SimpleNamespace(**{rule: _constructor(OptaxOptimizer, rule) for rule in RULES})
