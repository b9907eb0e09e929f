"""A small network trained end to end, written once with ``primitives`` and once with
``torch.nn`` + ``torch.optim`` (the reference), for ``properties/test_training.py``.

The network (Ioffe & Szegedy 2015 batch norm, Hendrycks & Gimpel 2016 exact GELU, inverted
dropout, Ba et al. 2016 layer norm, Kingma & Ba 2015 Adam)::

    x (32, 64) -> linear 64->128 (no bias: batch norm would cancel it)
               -> batch_norm (training; running statistics updated) -> gelu (exact)
               -> dropout (p = 0.1) -> linear 128->64 -> layer_norm(64) -> relu
               -> linear 64->10 -> cross_entropy (mean, class labels)

trained with Adam (lr 1e-3) on a synthetic, deterministic Gaussian mixture of 10 classes.

Everything random is drawn up front with NumPy from one fixed seed (data, initial weights,
dropout masks), so every implementation trains the same network on the same minibatches with
the same masks, step for step:

* the minibatches are class-stratified: every batch has the same label vector
  ``arange(32) % 10`` (the inputs differ from batch to batch), so one concrete label array can
  be closed over by a single ``jax.jit`` of the whole training step (issue 18 items 1 and 7);
* the dropout masks are boolean keep-masks passed as ``P.dropout(h, p, mask=m)``; the reference
  cannot pass a mask to ``torch.nn.Dropout``, so it multiplies by the same mask times
  ``1 / (1 - p)`` explicitly, which is ``F.dropout``'s arithmetic (``x * (mask * s)``).

The runs, each recording the loss before every update:

* :func:`explicit_run`: the forward through ``P.*``, the backward through the explicit
  ``P.<name>_backward`` calls, then ``P.optim.adam``; on the arrays of any backend;
* :func:`torch_autograd_run` and :func:`torch_module_run`: the forward through ``P.*`` on
  tensors requiring grad, ``loss.backward()``, then ``P.optim.adam``;
* :func:`jax_jit_run`: forward, ``jax.value_and_grad`` and the Adam update in one ``jax.jit``,
  with the labels closed over (concrete) or passed in (traced);
* :func:`reference_run`: ``torch.nn`` modules, ``F.cross_entropy`` and ``torch.optim.Adam``.

Under torch.autograd and jax's transformations the activations use their hand-written
backwards; the other primitives (linear, batch and layer norm, dropout, the loss) are
differentiated by the framework through the library's forward (``primitives/kernels``), so only
:func:`explicit_run` exercises their ``_backward`` functions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

import primitives as P

from .implementations import Implementation

FEATURES, HIDDEN, MID, CLASSES = 64, 128, 64, 10
BATCH = 32
N_BATCHES = 8  # distinct minibatches, cycled (an epoch is 8 steps)
P_DROP = 0.1
LR = 1e-3
MOMENTUM = 0.1  # batch norm's running-statistics momentum (torch's convention and default)
EPS = 1e-5  # batch norm's and layer norm's eps (torch's default)

# (name, shape, init): "uniform" is torch.nn.Linear's U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for its
# weight and bias; batch norm and layer norm start at weight 1, bias 0 (as torch.nn)
PARAMS: tuple[tuple[str, tuple[int, ...], str], ...] = (
    ("W1", (HIDDEN, FEATURES), "uniform"),
    ("bn_w", (HIDDEN,), "ones"),
    ("bn_b", (HIDDEN,), "zeros"),
    ("W2", (MID, HIDDEN), "uniform"),
    ("b2", (MID,), "uniform"),
    ("ln_w", (MID,), "ones"),
    ("ln_b", (MID,), "zeros"),
    ("W3", (CLASSES, MID), "uniform"),
    ("b3", (CLASSES,), "uniform"),
)
FAN_IN = {"W1": FEATURES, "W2": HIDDEN, "b2": HIDDEN, "W3": MID, "b3": MID}


class Problem(NamedTuple):
    """Everything a run needs, as float64 / int64 / bool NumPy arrays."""

    x: np.ndarray  # (N_BATCHES, BATCH, FEATURES)
    labels: np.ndarray  # (BATCH,) int64: the same for every batch
    masks: np.ndarray  # (steps, BATCH, HIDDEN) bool, True = kept
    params: dict[str, np.ndarray]  # the initial weights

    @property
    def steps(self) -> int:
        return len(self.masks)

    def batch(self, step: int) -> np.ndarray:
        return self.x[step % N_BATCHES]


def make_problem(steps: int, seed: int = 20261206) -> Problem:
    """The data (10 Gaussian classes, unit noise, means 0.3 * N(0, 1) per coordinate), the
    initial weights and one dropout mask per step, all from ``numpy.random.Generator(seed)``."""
    rng = np.random.default_rng(seed)
    means = 0.3 * rng.standard_normal((CLASSES, FEATURES))
    labels = np.arange(BATCH, dtype=np.int64) % CLASSES
    x = means[labels] + rng.standard_normal((N_BATCHES, BATCH, FEATURES))
    params = {}
    for name, shape, init in PARAMS:
        if init == "uniform":
            bound = 1.0 / np.sqrt(FAN_IN[name])
            params[name] = rng.uniform(-bound, bound, shape)
        else:
            params[name] = np.full(shape, 1.0 if init == "ones" else 0.0)
    masks = rng.random((steps, BATCH, HIDDEN)) >= P_DROP
    return Problem(x, labels, masks, params)


class Run(NamedTuple):
    """What a training run leaves: the loss before each update, the final weights and batch
    norm's final running statistics (float64 NumPy copies)."""

    losses: np.ndarray
    params: dict[str, np.ndarray]
    running_mean: np.ndarray
    running_var: np.ndarray


# --- the network through primitives ----------------------------------------------------------


def forward(p: dict, running: tuple, x: Any, labels: Any, mask: Any) -> tuple[Any, tuple, dict]:
    """``(loss, (new_running_mean, new_running_var), cache)``; ``cache`` holds what the explicit
    backward needs."""
    z1 = P.linear(x, p["W1"])  # no bias: batch norm would cancel it
    a1, rm, rv = P.batch_norm(z1, running[0], running[1], p["bn_w"], p["bn_b"], True, MOMENTUM, EPS)
    h1 = P.gelu(a1)
    d1 = P.dropout(h1, P_DROP, mask=mask)
    z2 = P.linear(d1, p["W2"], p["b2"])
    a2 = P.layer_norm(z2, MID, p["ln_w"], p["ln_b"], EPS)
    h2 = P.relu(a2)
    z3 = P.linear(h2, p["W3"], p["b3"])
    loss = P.cross_entropy(z3, labels)
    cache = {"x": x, "z1": z1, "a1": a1, "d1": d1, "z2": z2, "a2": a2, "h2": h2, "z3": z3}
    return loss, (rm, rv), cache


def backward(p: dict, cache: dict, labels: Any, mask: Any, one: Any) -> dict:
    """The gradient of the loss with respect to every parameter, through the explicit
    backwards (``one``: the 0-d seed d loss / d loss of the params' backend and dtype)."""
    c = cache
    g = {}
    gz3 = P.cross_entropy_backward(one, c["z3"], labels)
    gh2, g["W3"], g["b3"] = P.linear_backward(gz3, c["h2"], p["W3"], p["b3"])
    ga2 = P.relu_backward(gh2, c["a2"])
    gz2, g["ln_w"], g["ln_b"] = P.layer_norm_backward(ga2, c["z2"], MID, p["ln_w"], p["ln_b"], EPS)
    gd1, g["W2"], g["b2"] = P.linear_backward(gz2, c["d1"], p["W2"], p["b2"])
    gh1 = P.dropout_backward(gd1, mask, P_DROP)
    ga1 = P.gelu_backward(gh1, c["a1"])
    gz1, g["bn_w"], g["bn_b"] = P.batch_norm_backward(
        ga1, c["z1"], p["bn_w"], None, None, True, EPS
    )
    _, g["W1"], _ = P.linear_backward(gz1, c["x"], p["W1"])
    return g


class Arrays(NamedTuple):
    """How a trainer makes its backend's arrays: floating (from float64 NumPy, in the run's
    dtype), integer/boolean (dtype kept), and back to float64 NumPy."""

    floating: Callable[[np.ndarray], Any]
    exact: Callable[[np.ndarray], Any]
    numpy: Callable[[Any], np.ndarray]

    @classmethod
    def of(cls, impl: Implementation, dtype: str) -> Arrays:
        """The arrays of a suite implementation (its backend and ``--device``)."""
        return cls(lambda a: impl.array(a, dtype), impl.exact, impl.numpy)


def _initial(problem: Problem, arrays: Arrays) -> tuple[dict, tuple]:
    params = {k: arrays.floating(v) for k, v in problem.params.items()}
    running = (arrays.floating(np.zeros(HIDDEN)), arrays.floating(np.ones(HIDDEN)))
    return params, running


def _finish(losses: list[float], params: dict, running: tuple, arrays: Arrays) -> Run:
    return Run(
        np.asarray(losses, dtype=np.float64),
        {k: arrays.numpy(v) for k, v in params.items()},
        arrays.numpy(running[0]),
        arrays.numpy(running[1]),
    )


def explicit_run(problem: Problem, arrays: Arrays, labels_dtype: Any = np.int64) -> Run:
    """Train with the explicit backwards and ``P.optim.adam`` on any backend's arrays."""
    params, running = _initial(problem, arrays)
    labels = arrays.exact(problem.labels.astype(labels_dtype))
    one = arrays.floating(np.array(1.0))
    opt = P.optim.adam(LR)
    state = opt.init(params)
    losses = []
    for step in range(problem.steps):
        x = arrays.floating(problem.batch(step))
        mask = arrays.exact(problem.masks[step])
        loss, running, cache = forward(params, running, x, labels, mask)
        grads = backward(params, cache, labels, mask, one)
        params, state = opt.step(params, grads, state)
        losses.append(float(arrays.numpy(loss)))
    return _finish(losses, params, running, arrays)


# --- torch: autograd through the library -----------------------------------------------------


def torch_autograd_run(problem: Problem, arrays: Arrays, labels_dtype: Any = np.int64) -> Run:
    """Leaf tensors requiring grad, the forward through ``P.*``, ``loss.backward()``, and
    ``P.optim.adam`` stepping detached copies (the new params are made leaves again).

    The running statistics that ``P.batch_norm`` returns are detached: they are buffers, not
    part of any step's graph (``torch.nn.BatchNorm1d`` updates them outside autograd)."""
    params, running = _initial(problem, arrays)
    params = {k: v.requires_grad_() for k, v in params.items()}
    labels = arrays.exact(problem.labels.astype(labels_dtype))
    opt = P.optim.adam(LR)
    state = opt.init({k: v.detach() for k, v in params.items()})
    losses = []
    for step in range(problem.steps):
        x = arrays.floating(problem.batch(step))
        mask = arrays.exact(problem.masks[step])
        loss, running, _ = forward(params, running, x, labels, mask)
        running = (running[0].detach(), running[1].detach())
        loss.backward()
        grads = {k: v.grad for k, v in params.items()}
        detached = {k: v.detach() for k, v in params.items()}
        new, state = opt.step(detached, grads, state)
        params = {k: v.requires_grad_() for k, v in new.items()}
        losses.append(loss.item())
    return _finish(losses, params, running, arrays)


def torch_module_run(problem: Problem, arrays: Arrays) -> Run:
    """What a torch user writes: an ``nn.Module`` holding ``nn.Parameter``s whose forward is
    ``P.*``, ``opt.init(model.parameters())`` (a generator), ``loss.backward()``, and
    ``opt.step`` on the module's parameters themselves, whose results are written back with
    ``copy_``.

    The new params must come back without a ``grad_fn`` (no graph built by the update, none
    kept across steps); this is asserted after every step. The running statistics are kept as
    ``P.batch_norm`` returns them, as a user would, and must carry no graph either."""
    import torch

    names = [name for name, _, _ in PARAMS]
    init, running = _initial(problem, arrays)

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for k in names:
                self.register_parameter(k, torch.nn.Parameter(init[k].clone()))

    model = Net()
    labels = arrays.exact(problem.labels)
    opt = P.optim.adam(LR)
    state = opt.init(model.parameters())
    losses = []
    for step in range(problem.steps):
        params = dict(model.named_parameters())
        x = arrays.floating(problem.batch(step))
        mask = arrays.exact(problem.masks[step])
        loss, running, _ = forward(params, running, x, labels, mask)
        model.zero_grad()
        loss.backward()
        current = list(model.parameters())
        new, state = opt.step(current, [p.grad for p in current], state)
        bad = [k for k, n in zip(names, new, strict=True) if n.grad_fn is not None]
        assert not bad, f"step {step}: adam returned non-leaf tensors (grad_fn) for {bad}"
        assert all(r.grad_fn is None for r in running), f"step {step}: running stats with a graph"
        with torch.no_grad():
            for p, n in zip(current, new, strict=True):
                p.copy_(n)
        losses.append(loss.item())
    return _finish(losses, dict(model.named_parameters()), running, arrays)


# --- jax: one jit of the whole step ----------------------------------------------------------


def jax_jit_run(
    problem: Problem, arrays: Arrays, *, closed_over: bool, labels_dtype: Any = np.int64
) -> Run:
    """Forward, ``jax.value_and_grad`` and the Adam update in one ``jax.jit``, compiled once.

    ``closed_over=True``: the labels are a concrete jax array captured by the step function (the
    same for every stratified batch); ``False``: they are an argument (traced)."""
    import jax

    params, running = _initial(problem, arrays)
    labels = arrays.exact(problem.labels.astype(labels_dtype))
    opt = P.optim.adam(LR)

    def loss_of(p, running, x, mask, y):
        loss, new_running, _ = forward(p, running, x, y, mask)
        return loss, new_running

    def update(p, state, running, x, mask, y):
        (loss, running), grads = jax.value_and_grad(loss_of, has_aux=True)(p, running, x, mask, y)
        p, state = opt.step(p, grads, state)
        return p, state, running, loss

    if closed_over:
        compiled = jax.jit(
            lambda p, state, running, x, mask: update(p, state, running, x, mask, labels)
        )
    else:
        compiled = jax.jit(update)
    extra = () if closed_over else (labels,)
    state = opt.init(params)
    losses = []
    for step in range(problem.steps):
        x = arrays.floating(problem.batch(step))
        mask = arrays.exact(problem.masks[step])
        params, state, running, loss = compiled(params, state, running, x, mask, *extra)
        losses.append(float(loss))
    return _finish(losses, params, running, arrays)


# --- the reference: torch.nn + torch.optim ---------------------------------------------------


def reference_run(problem: Problem, dtype: str) -> Run:
    """The same network in ``torch.nn`` (``Linear``, ``BatchNorm1d``, ``F.gelu``, ``LayerNorm``,
    ``F.relu``, ``F.cross_entropy``) trained by ``torch.optim.Adam``, on the CPU.

    Dropout is the explicit product ``h * (mask * (1 / (1 - p)))`` with the same masks
    (``torch.nn.Dropout`` draws its own and cannot take one)."""
    import torch
    import torch.nn.functional as F

    tdtype = getattr(torch, dtype)
    lin1, lin2, lin3 = (
        torch.nn.Linear(FEATURES, HIDDEN, bias=False),
        torch.nn.Linear(HIDDEN, MID),
        torch.nn.Linear(MID, CLASSES),
    )
    bn = torch.nn.BatchNorm1d(HIDDEN, eps=EPS, momentum=MOMENTUM)
    ln = torch.nn.LayerNorm(MID, eps=EPS)
    model = torch.nn.ModuleList([lin1, bn, lin2, ln, lin3]).to(tdtype)
    where = {
        "W1": lin1.weight, "bn_w": bn.weight, "bn_b": bn.bias,
        "W2": lin2.weight, "b2": lin2.bias, "ln_w": ln.weight, "ln_b": ln.bias,
        "W3": lin3.weight, "b3": lin3.bias,
    }  # fmt: skip
    with torch.no_grad():
        for k, v in problem.params.items():
            where[k].copy_(torch.from_numpy(np.asarray(v, dtype=dtype)))
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    labels = torch.from_numpy(problem.labels)
    scale = 1.0 / (1.0 - P_DROP)
    losses = []
    for step in range(problem.steps):
        x = torch.from_numpy(np.asarray(problem.batch(step), dtype=dtype))
        keep = torch.from_numpy(problem.masks[step]).to(tdtype)
        h = F.gelu(bn(lin1(x)))
        h = h * (keep * scale)
        logits = lin3(F.relu(ln(lin2(h))))
        loss = F.cross_entropy(logits, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    f64 = {k: v.detach().numpy().astype(np.float64) for k, v in where.items()}
    return Run(
        np.asarray(losses),
        f64,
        bn.running_mean.numpy().astype(np.float64),
        bn.running_var.numpy().astype(np.float64),
    )
