"""The frameworks' own losses and layers as implementations (``torch-native``, ``jax-native``;
:mod:`properties.framework_losses`, :mod:`properties.framework_layers`), which the accuracy
atlas measures beside the library:

* each table entry, forward and backward, agrees with the library on a well-conditioned
  float64 problem, with the conventions that differ exercised (the class axis not last, label
  smoothing, a padded sequence, batch norm's channels last, layer norm over two axes), so a
  mapping that loses a parameter, a reduction or a gradient position fails;
* what a framework lacks raises instead of computing another loss;
* a ``:generic`` id, as the loss, layer and optimizer families call it
  (:func:`properties.implementations.public`), runs the public API on the generic kernels;
* the atlas shows the frameworks' cross-entropy at a confident row as what it is: 0 in
  float32 for the row ``[20, 0]`` (``log(e^20 + 1) - 20`` rounds to 0; the loss is
  ``log1p(e^-20) = 2.06e-9``), over the bound, where the library is within it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import primitives as P

from .implementations import Implementation, installed, public, resolve

FRAMEWORKS = ("torch-native", "jax-native")
RNG = np.random.default_rng(20261208)


def _impl(impl_id: str) -> Implementation:
    framework = impl_id.removesuffix("-native")
    if not installed(framework) or (framework == "jax" and not installed("flax")):
        pytest.skip(f"{impl_id} needs {framework}")
    return resolve(impl_id)  # (float64 on jax: the root conftest enables x64)


def _softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _loss_problems() -> list[tuple[str, str, tuple, dict]]:
    """(id, public name, arrays, keywords): one problem per loss and convention."""
    x, t = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    z3 = RNG.normal(size=(3, 5, 4))  # classes on axis 1
    z = RNG.normal(size=(6, 5))
    labels = RNG.integers(0, 5, size=6)
    seq, seq_target = RNG.normal(size=(2, 3, 5)), RNG.integers(0, 5, size=(2, 3))
    mask = np.array([[True, True, False], [True, False, False]])
    p, y = RNG.uniform(0.1, 0.9, size=(4, 3)), RNG.uniform(size=(4, 3))
    return [
        ("mse_loss", "mse_loss", (x, t), {}),
        ("l1_loss", "l1_loss", (x, t), {}),
        ("huber_loss", "huber_loss", (x, t), {"delta": 0.7}),
        ("bce_with_logits", "binary_cross_entropy_with_logits", (x, y), {}),
        ("bce", "binary_cross_entropy", (p, y), {}),
        (
            "cross_entropy(axis=1, smoothing)",
            "cross_entropy",
            (z3, RNG.integers(0, 5, size=(3, 4))),
            {"axis": 1, "label_smoothing": 0.1},
        ),
        ("cross_entropy", "cross_entropy", (z, labels), {}),
        ("cross_entropy(probabilities)", "cross_entropy", (z, _softmax(2 * z[::-1])), {}),
        ("nll_loss", "nll_loss", (np.log(_softmax(z)), labels), {}),
        ("sequence_cross_entropy", "sequence_cross_entropy", (seq, seq_target, mask), {}),
        # the keyword arrays and ignore_index (torch only: optax has none of them)
        (
            "cross_entropy(weight, ignore_index)",
            "cross_entropy",
            (z, np.where(labels == 2, 3, labels)),  # (class 3 ignored, class 2 never a target)
            {"weight": RNG.uniform(0.5, 2.0, size=5), "ignore_index": 3},
        ),
        (
            "nll_loss(weight, ignore_index)",
            "nll_loss",
            (np.log(_softmax(z)), labels),
            {"weight": RNG.uniform(0.5, 2.0, size=5), "ignore_index": int(labels[0])},
        ),
        (
            "bce_with_logits(weight, pos_weight)",
            "binary_cross_entropy_with_logits",
            (x, y),
            {"weight": RNG.uniform(0.5, 2.0, size=(4, 3)), "pos_weight": RNG.uniform(0.5, 2, 3)},
        ),
        ("bce(weight)", "binary_cross_entropy", (p, y), {"weight": RNG.uniform(0.5, 2, (4, 3))}),
    ]


LOSS_PROBLEMS = _loss_problems()


def _as(impl: Implementation, a: np.ndarray) -> Any:
    return impl.array(a, "float64") if a.dtype.kind == "f" else impl.exact(a)


def _op(impl: Implementation, name: str, *args: Any, **kwargs: Any) -> Any:
    return getattr(impl.ops, name)(*args, **kwargs)


def _keywords(impl: Implementation, kwargs: dict) -> dict:
    """The keyword arrays (``weight``, ``pos_weight``) as ``impl``'s arrays."""
    return {k: _as(impl, v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}


def _first(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out


@pytest.mark.parametrize("impl_id", FRAMEWORKS)
@pytest.mark.parametrize("case", LOSS_PROBLEMS, ids=[c[0] for c in LOSS_PROBLEMS])
def test_each_framework_loss_agrees_with_the_library(impl_id, case):
    impl = _impl(impl_id)
    _, name, arrays, kwargs = case
    if not hasattr(impl.ops, name):
        pytest.skip(f"{impl_id} has no {name} (properties.framework_losses says why)")
    lacking = {"weight", "pos_weight", "ignore_index"} & set(kwargs)
    if impl_id == "jax-native" and lacking:  # (optax's losses take none of them)
        with pytest.raises(NotImplementedError, match="|".join(sorted(lacking))):
            _op(impl, name, *(_as(impl, a) for a in arrays), **_keywords(impl, kwargs))
        return
    reductions = ("mean",) if name == "sequence_cross_entropy" else ("none", "mean", "sum")
    for reduction in reductions:
        kw = (
            dict(kwargs) if name == "sequence_cross_entropy" else {**kwargs, "reduction": reduction}
        )
        ours = P.__dict__[name](*arrays, **kw)
        theirs = impl.numpy(_op(impl, name, *(_as(impl, a) for a in arrays), **_keywords(impl, kw)))
        np.testing.assert_allclose(theirs, ours, rtol=1e-10, atol=1e-13, err_msg=reduction)
        g = RNG.uniform(0.5, 2.0, size=np.shape(ours))
        ours_grad = _first(P.__dict__[name + "_backward"](g, *arrays, **kw))
        their_grad = _op(
            impl,
            name + "_backward",
            impl.array(g, "float64"),
            *(_as(impl, a) for a in arrays),
            **_keywords(impl, kw),
        )
        np.testing.assert_allclose(
            impl.numpy(their_grad), ours_grad, rtol=1e-10, atol=1e-13, err_msg=reduction
        )


def test_optax_losses_refuse_what_optax_lacks():
    impl = _impl("jax-native")
    z, labels = impl.array(RNG.normal(size=(3, 4)), "float64"), impl.exact(np.array([0, 1, -100]))
    with pytest.raises(NotImplementedError, match="ignore_index"):
        _op(impl, "cross_entropy", z, labels)
    x = impl.array(RNG.normal(size=3), "float64")
    with pytest.raises(NotImplementedError, match="weight"):
        _op(impl, "binary_cross_entropy_with_logits", x, x, weight=x)
    assert not hasattr(impl.ops, "nll_loss") and not hasattr(impl.ops, "contrastive_loss")


def _layer_problems() -> list[tuple[str, str, tuple, dict, tuple]]:
    """(id, public name, forward arguments, keywords, the backward's arguments after g)."""
    x = RNG.normal(size=(4, 2, 3))
    w, b = RNG.normal(size=(2, 3)), RNG.normal(size=(2, 3))
    xb = RNG.normal(size=(5, 3))  # batch norm, channels last
    cw, cb = RNG.normal(size=3), RNG.normal(size=3)
    rm, rv = RNG.normal(size=3), RNG.uniform(0.5, 2.0, size=3)
    W, bias = RNG.normal(size=(2, 3)), RNG.normal(size=2)
    xl = RNG.normal(size=(4, 3))
    return [
        ("layer_norm(2 axes)", "layer_norm", (x, (2, 3), w, b), {"eps": 1e-3}, (x, (2, 3), w, b)),
        ("layer_norm(no affine)", "layer_norm", (x, 3), {}, (x, 3)),
        (
            "batch_norm(train, axis=-1)",
            "batch_norm",
            (xb, rm, rv, cw, cb),
            {"training": True, "momentum": 0.25, "eps": 1e-3, "axis": -1},
            (xb, cw, rm, rv),
        ),
        (
            "batch_norm(eval)",
            "batch_norm",
            (xb, rm, rv, cw, cb),
            {"training": False},
            (xb, cw, rm, rv),
        ),
        ("linear", "linear", (xl, W, bias), {}, (xl, W, bias)),
        ("linear(no bias)", "linear", (xl, W), {}, (xl, W)),
    ]


LAYER_PROBLEMS = _layer_problems()


def _arg(impl: Implementation, a: Any) -> Any:
    return impl.array(a, "float64") if isinstance(a, np.ndarray) else a


def _outputs(out: Any) -> list:
    return list(out) if isinstance(out, tuple) else [out]


@pytest.mark.parametrize("impl_id", FRAMEWORKS)
@pytest.mark.parametrize("case", LAYER_PROBLEMS, ids=[c[0] for c in LAYER_PROBLEMS])
def test_each_framework_layer_agrees_with_the_library(impl_id, case):
    impl = _impl(impl_id)
    _, name, args, kwargs, backward_args = case
    if not hasattr(impl.ops, name):
        pytest.skip(f"{impl_id} has no {name} (properties.framework_layers says why)")
    ours = _outputs(P.__dict__[name](*args, **kwargs))
    theirs = _outputs(_op(impl, name, *(_arg(impl, a) for a in args), **kwargs))
    assert len(theirs) == len(ours)
    for a, b in zip(theirs, ours, strict=True):
        assert (a is None) == (b is None)
        if b is not None:
            np.testing.assert_allclose(impl.numpy(a), b, rtol=1e-10, atol=1e-13)
    g = RNG.uniform(0.5, 2.0, size=np.shape(ours[0]))
    back_kw = {k: v for k, v in kwargs.items() if k != "momentum"}
    ours_grads = _outputs(P.__dict__[name + "_backward"](g, *backward_args, **back_kw))
    their_grads = _outputs(
        _op(
            impl,
            name + "_backward",
            impl.array(g, "float64"),
            *(_arg(impl, a) for a in backward_args),
            **back_kw,
        )
    )
    assert len(their_grads) == len(ours_grads)
    for i, (a, b) in enumerate(zip(their_grads, ours_grads, strict=True)):
        assert (a is None) == (b is None), i
        if b is not None:
            np.testing.assert_allclose(impl.numpy(a), b, rtol=1e-10, atol=1e-12, err_msg=str(i))


@pytest.mark.parametrize("impl_id", FRAMEWORKS)
def test_the_atlas_shows_the_frameworks_cross_entropy_zero_at_a_confident_row(impl_id):
    from .atlas import losses

    impl = _impl(impl_id)
    for direction in ("forward", "backward"):
        curve = losses.curve(impl, "cross_entropy", direction, "float32", np.array([1.0, 20.0]))
        assert curve.x.tolist() == [1.0, 20.0]
        assert curve.over.tolist() == [False, True] and curve.got[1] == 0.0, (direction, curve)
        library = losses.curve(resolve("numpy"), "cross_entropy", direction, "float32", curve.x)
        assert not library.over.any() and abs(library.got[1]) == pytest.approx(2.0611536e-9)


def test_a_generic_id_runs_the_public_api_on_the_generic_kernels(monkeypatch):
    """``public(resolve("torch:generic"))``: the loss, layer and optimizer families call the
    public API with torch's arrays served by the generic table (never the native kernel), and
    the registered table serves them again after the call."""
    if not installed("torch"):
        pytest.skip("torch:generic needs torch")
    import torch

    from primitives import _dispatch

    impl = public(resolve("torch:generic"))
    registered = _dispatch.kernels("torch")
    assert "cross_entropy" in registered.native  # (else this test would prove nothing)
    calls = []
    for who, table in (("generic", impl.ops._table), ("native", registered)):
        kernel = table.cross_entropy
        monkeypatch.setattr(
            table,
            "cross_entropy",
            lambda *a, who=who, kernel=kernel: calls.append(who) or kernel(*a),
        )
    z, y = torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([0])
    generic = impl.ops.cross_entropy(z, y)
    assert calls == ["generic"]
    assert torch.equal(P.cross_entropy(z, y), generic) and calls == ["generic", "native"]
    assert _dispatch._table_of(z) is registered
