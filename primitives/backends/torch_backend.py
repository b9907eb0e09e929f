"""The PyTorch backend: torch ops on the input's device and dtype, autograd via our backwards.

When ``x.requires_grad`` (and grad mode is on) a forward kernel runs inside a
``torch.autograd.Function`` whose backward is the hand-written one, so ``loss.backward()``
gets this library's accurate derivatives; otherwise it calls the torch ops directly.
"""

from __future__ import annotations

import numbers
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from ..backend import Backend, RandomSource
from . import torch_activations, torch_layers, torch_losses, torch_optim

_LOW = (torch.float16, torch.bfloat16)


def _maximum(a, b):
    return torch.clamp_min(a, b) if isinstance(b, numbers.Real) else torch.maximum(a, b)


def _minimum(a, b):
    return torch.clamp_max(a, b) if isinstance(b, numbers.Real) else torch.minimum(a, b)


_xp = SimpleNamespace(
    abs=torch.abs,
    exp=torch.exp,
    expm1=torch.expm1,
    log=torch.log,
    log1p=torch.log1p,
    tanh=torch.tanh,
    sqrt=torch.sqrt,
    maximum=_maximum,
    minimum=_minimum,
    where=torch.where,
    isnan=torch.isnan,
    max=lambda x, axis=None, keepdims=False: torch.amax(x, dim=axis, keepdim=keepdims),
    sum=lambda x, axis=None, keepdims=False: torch.sum(x, dim=axis, keepdim=keepdims),
    asarray=torch.as_tensor,
    astype=lambda x, dtype: x.to(dtype),
    float32=torch.float32,
    float64=torch.float64,
    arange=lambda stop, *, dtype=None, device=None: torch.arange(stop, dtype=dtype, device=device),
    take_along_axis=lambda a, indices, axis: torch.take_along_dim(a, indices, dim=axis),
)


_is_functorch_wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", lambda t: False)


def _autograd(name: str, forward, backward, grads: tuple[int, ...] = (0,)):
    """``forward`` as an ``autograd.Function`` whose backward is the hand-written
    ``backward(grad_output, *args)``: the gradient with respect to the arguments at positions
    ``grads`` (one array for ``(0,)``, else a tuple in that order), used when only those
    arguments require grad; where another tensor argument requires grad too (a probability
    target, a class weight), and under torch.func's transforms, autograd differentiates the
    forward's own operations, which serve them all."""
    several = grads != (0,)

    class _Function(torch.autograd.Function):
        @staticmethod
        def forward(*args):
            return forward(*args)

        @staticmethod
        def setup_context(ctx, inputs, output):
            tensors = [i for i, a in enumerate(inputs) if isinstance(a, torch.Tensor)]
            ctx.save_for_backward(*(inputs[i] for i in tensors))
            ctx.tensor_positions = tensors
            # the other arguments only: tensors go through save_for_backward (version checks,
            # no references held on ctx)
            ctx.args = [None if i in tensors else a for i, a in enumerate(inputs)]

        @staticmethod
        def backward(ctx, grad_output):
            args = list(ctx.args)
            for i, t in zip(ctx.tensor_positions, ctx.saved_tensors, strict=True):
                args[i] = t
            found = backward(grad_output, *args)
            out = [None] * len(args)
            for i, d in zip(grads, found if several else (found,), strict=True):
                out[i] = d if ctx.needs_input_grad[i] else None
            return tuple(out)

    _Function.__name__ = _Function.__qualname__ = f"{name}_function"
    apply = _Function.apply

    def differentiable(*args):
        if torch.is_grad_enabled():
            tensors = [(i, a) for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
            wanted = [i for i, a in tensors if a.requires_grad]
            # by position, not identity: one tensor passed at a grads position and at another
            # (cross_entropy(z, z)) needs autograd through the forward for its second share
            if (
                wanted
                and all(i in grads for i in wanted)
                and (
                    torch.compiler.is_compiling()
                    or not any(_is_functorch_wrapped(a) for _, a in tensors)
                )
            ):
                return apply(*args)
        # torch.func transforms (grad, vmap, jacfwd, hessian) differentiate the forward's
        # operations: the Function has no vmap or jvp rule
        return forward(*args)

    differentiable.__name__ = name
    return differentiable


def _wrap(spec, forward, backward):
    return _autograd(spec.name, forward, backward), backward


def _wrap_function(spec, forward, backward):
    return _autograd(spec.name, forward, backward, spec.grads)


def _to_numpy(x: torch.Tensor) -> np.ndarray:
    x = x.detach().cpu()
    if x.dtype in _LOW:
        x = x.float()
    return x.numpy()


def _from_numpy(a, dtype: str) -> torch.Tensor:
    return torch.from_numpy(np.array(a, dtype=np.float64)).to(getattr(torch, dtype))


def _asarray(obj) -> torch.Tensor:
    t = torch.as_tensor(obj)
    return t if t.is_floating_point() else t.to(torch.get_default_dtype())


# Native kernels: torch's own fused kernels where this project's properties find them
# accurate for every input; torch_activations adds those accurate only on a domain, guarded.
_NATIVE = {
    "relu": torch.relu,
    "leaky_relu": F.leaky_relu,
    "tanh": torch.tanh,
    "elu": F.elu,
}


def _bernoulli(x: torch.Tensor, keep: float, rng) -> torch.Tensor:
    if not isinstance(rng, torch.Generator):
        rng = torch.Generator(device=x.device).manual_seed(rng)  # an int seed
    device = torch.device(rng.device)
    if device.type != x.device.type or (device.index or 0) != (x.device.index or 0):
        raise ValueError(
            f"rng is a torch.Generator on {device} but x is on {x.device}; create the "
            f"generator there: torch.Generator(device=x.device)"
        )
    return torch.empty(x.shape, dtype=torch.bool, device=x.device).bernoulli_(keep, generator=rng)


_RANDOM = RandomSource(
    description="a torch.Generator on the input's device or an int seed",
    is_source=lambda rng: isinstance(rng, torch.Generator),
    bernoulli=_bernoulli,
    from_seed=lambda seed, like: torch.Generator(device=like.device).manual_seed(seed),
    advances=True,
)

BACKEND = Backend(
    name="torch",
    array_types=(torch.Tensor,),
    xp=_xp,
    erf=torch.special.erf,
    erfc=torch.special.erfc,
    is_floating=torch.Tensor.is_floating_point,
    low_precision=lambda x: x.dtype in _LOW,
    asarray=_asarray,
    to_numpy=_to_numpy,
    from_numpy=_from_numpy,
    dtypes=("float16", "bfloat16", "float32", "float64"),
    native=_NATIVE,
    wrap=_wrap,
    wrap_function=_wrap_function,
    # take_along_dim indexes with int64 only
    index_dtype=lambda: torch.int64,
    stop_gradient=torch.Tensor.detach,
    random=_RANDOM,
    full_like=torch.full_like,
    integer_zero=lambda like: torch.zeros((), dtype=torch.int64, device=like.device),
)
# torch's fused activation kernels on the inputs where they are accurate (torch_activations),
BACKEND.native.update(torch_activations.kernels(lambda: BACKEND))
# the cross-entropy losses composed from torch's kernels, with the generic kernel where that
# is inaccurate, and torch's fused huber and mse (torch_losses); the Adam step on fused
# element-wise ops (torch_optim)
BACKEND.native.update(torch_losses.kernels(lambda: BACKEND))
BACKEND.native.update(torch_optim.kernels(lambda: BACKEND))
# layer norm in float32/float64 on torch's fused kernels, the backward given the centred input
# (torch_layers)
BACKEND.native.update(torch_layers.kernels(lambda: BACKEND))
