"""Optimizers in training loops: params as any iterable of arrays, and torch autograd.

* ``opt.init(model.parameters())`` and ``opt.step(iterable, iterable, state)``: any iterable of
  arrays other than a dict, list or tuple (a generator, a ``dict.values()`` view) is read once
  and taken as a list, on every backend; the new params are a list, equal to the step on the
  list. A set is refused (it has no order to pair params with grads), as are strings and
  iterables of non-arrays, with the library's messages.
* torch: the update is never recorded by autograd (as torch.optim steps under
  ``torch.no_grad``), for every rule, its fused and generic paths and a schedule: the new
  params are leaves (``grad_fn is None``) requiring grad where the given ones did, the state
  requires none, and the given tensors are unchanged. A real loop (``torch.nn.Linear``, the loss
  through torch autograd, the new params used for the next forward or copied back into the
  module) gives torch.optim's params at every step (float64, relative 1e-10: the two differ
  only in the rounding of the bias corrections), with Adam's L2 ``weight_decay`` (which raised
  ``RuntimeError`` on an ``out=`` operation when the update was recorded) among the rules.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

import primitives as P

from .implementations import PUBLIC_API

IMPLEMENTATION_KINDS = PUBLIC_API

X0 = [np.linspace(-1.0, 1.0, 6).reshape(2, 3), np.array([0.5, -0.25, 2.0])]
G0 = [np.linspace(0.5, -0.75, 6).reshape(2, 3), np.array([1.0, 0.125, -3.0])]


def _same(impl, a, b) -> bool:
    return len(a) == len(b) and all(
        np.array_equal(impl.numpy(u), impl.numpy(v)) for u, v in zip(a, b, strict=True)
    )


# --- any iterable of arrays ------------------------------------------------------------------


def test_an_iterable_of_arrays_is_taken_as_a_list(impl):
    opt = P.optim.adam(0.1, weight_decay=0.01)
    params = [impl.array(x, "float32") for x in X0]
    grads = [impl.array(g, "float32") for g in G0]
    before = [np.array(impl.numpy(x)) for x in params]
    state = opt.init(p for p in params)  # a generator, as torch's model.parameters()
    assert state.signature == opt.init(params).signature
    expected, expected_state = opt.step(params, grads, opt.init(params))
    named = {"w": params[0], "b": params[1]}  # insertion order: w, b
    for given_params, given_grads in (
        ((p for p in params), (g for g in grads)),
        (iter(params), grads),
        (named.values(), iter(grads)),
        (params, (g for g in grads)),
    ):
        new, new_state = opt.step(given_params, given_grads, state)
        assert isinstance(new, list), type(new)
        assert _same(impl, new, expected)
        assert _same(impl, new_state.slots["exp_avg"], expected_state.slots["exp_avg"])
    again, _ = opt.step(new, grads, new_state)  # the returned list takes the next step
    assert len(again) == 2
    assert all(np.array_equal(impl.numpy(x), b) for x, b in zip(params, before, strict=True))


def test_iterables_that_are_not_arrays_are_refused(impl):
    opt = P.optim.sgd(0.1)
    x = impl.array(np.ones(3), "float32")
    state = opt.init([x, x])
    cases = [
        (lambda: opt.init({1, 2}), TypeError, "sgd.init: params holds a set, which has no order"),
        (
            lambda: opt.init(v for v in (1.0, 2.0)),
            TypeError,
            "sgd.init: params[0] is a builtins.float; expected an array of a registered backend",
        ),
        (lambda: opt.init("ab"), TypeError, "sgd.init: params is a builtins.str; expected"),
        (lambda: opt.init(iter([])), ValueError, "sgd.init: params holds no arrays"),
        (
            lambda: opt.step(iter([x, x]), iter([x]), state),
            ValueError,
            "sgd.step: grads has structure [array] but params has [array, array]",
        ),
        (
            lambda: opt.step([x, x], frozenset([1.0, 2.0]), state),
            TypeError,
            "sgd.step: grads holds a frozenset, which has no order",
        ),
    ]
    for call, error, message in cases:
        with pytest.raises(error) as info:
            call()
        assert str(info.value).startswith(message), str(info.value)


# --- torch: the update is not recorded by autograd --------------------------------------------


RULES = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("heavy_ball", dict(lr=0.1, momentum=0.9)),
    ("rmsprop", dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01)),
    ("adam", dict(lr=0.01)),
    ("adam", dict(lr=0.01, weight_decay=0.01)),
    ("adam", dict(lr=0.01, amsgrad=True, eps_root=1e-12)),
    ("adam", dict(lr=lambda count: 0.01 / (1 + count), weight_decay=0.01)),  # a schedule
    ("adamw", dict(lr=0.01)),
    ("adagrad", dict(lr=0.1)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16"])
@pytest.mark.parametrize(
    ("rule", "kwargs"), RULES, ids=[f"{r}{i}" for i, (r, _) in enumerate(RULES)]
)
def test_torch_step_returns_leaves_keeping_requires_grad(rule, kwargs, dtype):
    """Two steps with a parameter that requires grad (its gradient carrying a graph, as with
    ``create_graph=True``) and one that does not: the new params are leaves with the given
    params' ``requires_grad``, the state carries no graph, the given tensors are unchanged.
    (bfloat16 and the schedule take the generic Adam kernel, float32/64 the fused one.)"""
    import torch

    dt = getattr(torch, dtype)
    w = torch.tensor(X0[0], dtype=dt, requires_grad=True)
    b = torch.tensor(X0[1], dtype=dt)
    gw = w * 0.5  # a gradient with a grad_fn
    gb = torch.tensor(G0[1], dtype=dt)
    snapshot = [(t.detach().clone(), t._version) for t in (w, b, gw, gb)]
    opt = getattr(P.optim, rule)(**kwargs)
    params, state = [w, b], opt.init([w, b])
    for _ in range(2):
        params, state = opt.step(params, [gw, gb], state)
        assert [p.requires_grad for p in params] == [True, False]
        for p in params:
            assert p.grad_fn is None and p.is_leaf and p.dtype == dt
        for slot in state.slots.values():
            assert all(s.grad_fn is None and not s.requires_grad for s in slot)
    for t, (value, version) in zip((w, b, gw, gb), snapshot, strict=True):
        assert t._version == version and torch.equal(t.detach(), value)
    assert gw.grad_fn is not None and w.grad is None


# rule: (hyperparameters, the torch.optim class taking the same ones)
TORCH_RULES = {
    "sgd": (dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), "SGD"),
    "rmsprop": (dict(lr=0.01, momentum=0.5, centered=True, weight_decay=0.01), "RMSprop"),
    "adam": (dict(lr=0.01, weight_decay=0.01), "Adam"),
    "adamw": (dict(lr=0.01, weight_decay=0.01), "AdamW"),
    "adagrad": (dict(lr=0.1), "Adagrad"),
}


@pytest.mark.parametrize("style", ["functional", "copied back"])
@pytest.mark.parametrize("rule", sorted(TORCH_RULES))
def test_torch_training_loop_matches_torch_optim(rule, style):
    """``state = opt.init(model.parameters())``; each step: a forward with the current params,
    ``loss.backward()``, ``opt.step(params, [p.grad for p in params], state)``; the new params
    are used for the next forward (``torch.func.functional_call``: the module's own parameters
    stay unchanged) or copied back into the module. After every step they are leaves that
    require grad and equal torch.optim's on a copy of the module."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3, dtype=torch.float64)
    reference = copy.deepcopy(model)
    original = [p.detach().clone() for p in model.parameters()]
    inputs = torch.randn(8, 4, dtype=torch.float64)
    targets = torch.randn(8, 3, dtype=torch.float64)
    hyper, torch_class = TORCH_RULES[rule]
    opt = getattr(P.optim, rule)(**hyper)
    torch_opt = getattr(torch.optim, torch_class)(reference.parameters(), **hyper)
    names = [name for name, _ in model.named_parameters()]

    state = opt.init(model.parameters())
    params = list(model.parameters())
    for step in range(6):
        if style == "functional":
            out = torch.func.functional_call(model, dict(zip(names, params, strict=True)), inputs)
        else:
            out = model(inputs)
        torch.nn.functional.mse_loss(out, targets).backward()
        params, state = opt.step(params, [p.grad for p in params], state)
        assert all(p.is_leaf and p.grad_fn is None and p.requires_grad for p in params)
        if style == "copied back":
            with torch.no_grad():
                for p, new in zip(model.parameters(), params, strict=True):
                    p.copy_(new)
            model.zero_grad()
            params = list(model.parameters())

        torch_opt.zero_grad()
        torch.nn.functional.mse_loss(reference(inputs), targets).backward()
        torch_opt.step()
        for p, q in zip(params, reference.parameters(), strict=True):
            np.testing.assert_allclose(
                p.detach().numpy(),
                q.detach().numpy(),
                rtol=1e-10,
                atol=1e-14,
                err_msg=f"{rule} ({style}) after step {step + 1}",
            )
    if style == "functional":  # nothing passed in was mutated
        for p, before in zip(model.parameters(), original, strict=True):
            assert torch.equal(p.detach(), before)
