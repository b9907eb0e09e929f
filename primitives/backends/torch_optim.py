"""A native torch kernel for the Adam/AdamW step: the generic kernel's formula
(:func:`primitives.optim._kernels.adam_step`) with torch's fused element-wise ops
(``lerp``, ``addcmul_``, in-place division and addition on the new buffers).

The generic kernel makes a fresh tensor for every intermediate (about fourteen full passes,
each allocating); here the three results (new parameter, first and second moment) are the
only allocations besides one scratch buffer, and each op runs once over memory. Nothing
passed in is mutated and nothing is read back to the host: the bias corrections are 0-d
tensors computed on the device from the exact integer count (``-expm1(t log beta)``, as the
generic kernel). AMSGrad, ``eps_root``, float16/bfloat16 leaves and array learning rates
(schedules) take the generic kernel.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

_LOW = (torch.float16, torch.bfloat16)


def kernels(backend_of: Callable) -> dict[str, Callable]:
    """``{"optim_adam": ...}``, taking the generic kernel's arguments without the backend;
    ``backend_of()`` gives the torch backend for the fallback."""

    def generic(*args):
        from ..optim import _kernels

        return partial(_kernels.adam_step, backend_of())(*args)

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

    return {"optim_adam": adam_step}
