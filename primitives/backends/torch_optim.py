"""A native torch kernel for the Adam/AdamW step: the generic kernel's formula
(:func:`primitives.kernels.optim.adam_step`) with torch's fused element-wise ops
(``lerp``, ``addcmul_``, in-place division and addition on the new buffers).

The generic kernel makes a fresh tensor for every intermediate (about fourteen full passes,
each allocating); here the three results (new parameter, first and second moment) are the
only allocations besides one scratch buffer, and each op runs once over memory. Nothing
passed in is mutated and nothing is read back to the host: the bias corrections are 0-d
tensors computed on the device from the exact integer count (``-expm1(t log beta)``, as the
generic kernel). AMSGrad, ``eps_root``, float16/bfloat16 leaves and array learning rates
(schedules) take the generic kernel.

Every update rule (this Adam and the generic kernels of the others) runs under
``torch.no_grad()``, as torch.optim's ``step``: the update is never recorded by autograd, so
the graph does not grow from step to step and no ``out=`` operation meets a tensor that
requires grad. The new parameters are leaves (``grad_fn is None``) that require grad where
the given ones did, ready for the next forward and ``backward()``; the new state requires
none.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

_LOW = (torch.float16, torch.bfloat16)


# the optimizer kernels of primitives.kernels.optim (FUNCTIONS names)
_RULES = ("optim_sgd", "optim_heavy_ball", "optim_rmsprop", "optim_adam", "optim_adagrad")


def _leaf(new: torch.Tensor, given: torch.Tensor) -> torch.Tensor:
    """A new parameter (made under no_grad: a leaf) requiring grad where the given one did."""
    return new.requires_grad_() if given.requires_grad and not new.requires_grad else new


def _outside_autograd(kernel: Callable) -> Callable:
    """``kernel`` run as torch.optim steps, under ``torch.no_grad()`` (see the module
    docstring)."""

    def step(xs, gs, slots, count, lr, h, *flags):
        with torch.no_grad():
            new_xs, new_slots = kernel(xs, gs, slots, count, lr, h, *flags)
        return tuple(_leaf(n, x) for n, x in zip(new_xs, xs, strict=True)), new_slots

    step.__name__ = getattr(kernel, "__name__", "step")
    return step


def _generic(name: str, backend_of: Callable) -> Callable:
    """The generic kernel ``name`` on the torch backend (looked up when first called: the
    optimizer kernels register themselves when primitives.optim is imported)."""

    def run(*args):
        from ..kernels import FUNCTIONS

        return FUNCTIONS[name].fn(backend_of(), *args)

    run.__name__ = name
    return run


def kernels(backend_of: Callable) -> dict[str, Callable]:
    """``{"optim_adam": ..., "optim_sgd": ..., ...}``, taking the generic kernels' arguments
    without the backend, each under ``torch.no_grad()``; ``backend_of()`` gives the torch
    backend for the generic kernels."""
    out = {name: _outside_autograd(_generic(name, backend_of)) for name in _RULES}
    out["optim_adam"] = _outside_autograd(_fused_adam(backend_of))
    return out


def _fused_adam(backend_of: Callable) -> Callable:
    """The Adam/AdamW step on torch's fused element-wise ops, the generic kernel where it does
    not apply (see the module docstring)."""
    generic = _generic("optim_adam", backend_of)

    def adam_step(xs, gs, slots, count, lr, h, has_decay, decoupled, amsgrad, has_eps_root):
        if (
            amsgrad
            or has_eps_root
            or isinstance(lr, torch.Tensor)
            or any(x.dtype in _LOW for x in xs)
        ):
            return generic(xs, gs, slots, count, lr, h, has_decay, decoupled, amsgrad, has_eps_root)
        beta1, one_minus_b1, log_b1, beta2, one_minus_b2, log_b2, eps, _, weight_decay = h
        new_xs, new_m, new_v = [], [], []
        for x, g, m0, v0 in zip(xs, gs, slots[0], slots[1], strict=True):
            t = (count + 1).to(x.dtype)
            bc1 = -torch.expm1(t * log_b1)  # 1 - beta1^t
            bc2 = -torch.expm1(t * log_b2)
            if has_decay and not decoupled:
                g = g + weight_decay * x  # L2 (Adam)
            m = m0 * beta1
            m.add_(g, alpha=one_minus_b1)
            v = v0 * beta2
            v.addcmul_(g, g, value=one_minus_b2)
            step = torch.div(v, bc2).sqrt_().add_(eps)  # sqrt(v^) + eps
            torch.div(m, step, out=step).mul_(lr / bc1)  # lr m^ / (sqrt(v^) + eps)
            if has_decay and decoupled:
                new_x = x * (1 - lr * weight_decay)  # AdamW: decoupled decay first
                new_x.sub_(step)
            else:
                new_x = torch.sub(x, step)
            new_xs.append(new_x)
            new_m.append(m)
            new_v.append(v)
        return tuple(new_xs), (tuple(new_m), tuple(new_v))

    return adam_step
