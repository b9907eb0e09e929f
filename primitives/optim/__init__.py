"""Optimizer updates on NumPy, PyTorch and JAX arrays alike, as pure functions of a state.

>>> import primitives as P
>>> opt = P.optim.adam(lr=1e-3)
>>> state = opt.init(params)             # params: one array or a dict/list/tuple of arrays
>>> params, state = opt.step(params, grads, state)
>>> state = opt.init(model.parameters())  # any other iterable of arrays is taken as a list

* Rules: :func:`sgd` (momentum, Nesterov), :func:`heavy_ball`, :func:`rmsprop`, :func:`adam`,
  :func:`adamw`, :func:`adagrad`; torch.optim's conventions and defaults, every convention on
  which the frameworks differ a named parameter (``docs/optim.md`` maps them to torch.optim
  and optax).
* params (and grads) are one array, or dicts/lists/tuples of arrays, nested; any other
  iterable of arrays (a generator such as torch's ``model.parameters()``) is read once and
  taken as a list, so the new params come back as a list.
* The state (:class:`OptState`) is an immutable record with an exact integer step count; it
  is a jax pytree, so ``jax.jit(opt.step)`` works. On torch the update runs under
  ``torch.no_grad()``, as torch.optim's: it is never recorded by autograd, and the new params
  are leaves that require grad where the given ones did (nothing leaves the device).
* Nothing passed in is mutated. Bad hyperparameters raise when the optimizer is built; bad
  params, grads or state raise in ``step`` before anything is computed; the messages are the
  same on every backend.
* NaN/inf gradients propagate: the parameter element becomes NaN (or ±inf for SGD) and its
  state keeps it; nothing is zeroed or skipped. ``eps = 0`` with a zero gradient gives 0/0 =
  NaN in Adam, RMSprop and Adagrad, as in torch.optim.
"""

from ._optimizer import Optimizer
from ._state import OptState
from .rules import adagrad, adam, adamw, heavy_ball, rmsprop, sgd

__all__ = ["OptState", "Optimizer", "adagrad", "adam", "adamw", "heavy_ball", "rmsprop", "sgd"]
