"""Bad input to the losses: a clear error, raised before anything is computed, with the same
message on every backend."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest

import primitives as P
from primitives import _dispatch

from . import loss_properties
from .implementations import Implementation, library_backends, resolve
from .loss_cases import as_backend

# the loss family's collection filter (see properties/conftest.py)
IMPLEMENTATION_KINDS = loss_properties.IMPLEMENTATION_KINDS
DTYPES = loss_properties.DTYPES


class Bad(NamedTuple):
    id: str
    name: str
    args: tuple  # numpy arrays (floating ones become float64 arrays of the backend) or values
    kwargs: dict[str, Any]
    match: str  # regular expression the message must match


Z = np.zeros((3, 4))
T = np.array([0, 3, 1])
X = np.zeros((2, 3))
SEQ = np.zeros((2, 3, 5))
SEQ_T = np.zeros((2, 3), np.int64)
SEQ_M = np.ones((2, 3), bool)

BAD = [
    Bad("class too large", "cross_entropy", (Z, np.array([0, 4, 1])), {},
        r"target class 4 at index \(1,\) is out of range \[0, 4\) "
        r"\(other than ignore_index=-100\)"),
    Bad("negative class", "cross_entropy", (Z, np.array([0, 1, -1])), {},
        r"target class -1 at index \(2,\) is out of range"),
    Bad("ignore_index is not a class", "cross_entropy", (Z, np.array([0, -100, 1])),
        {"ignore_index": 5}, r"target class -100 at index \(1,\)"),
    Bad("class out of range (backward)", "cross_entropy_backward",
        (np.float64(1.0), Z, np.array([0, 9, 1])), {}, r"target class 9"),
    Bad("class targets of the wrong shape", "cross_entropy", (Z, np.array([0, 1, 2, 3])), {},
        r"target has shape \(4,\) but must have shape \(3,\)"),
    Bad("class axis moved, targets not", "cross_entropy",
        (np.zeros((2, 4, 3)), np.zeros((2, 4), np.int64)), {"axis": 1},
        r"must have shape \(2, 3\)"),
    Bad("negative probability target", "cross_entropy",
        (Z, np.array([[0.5, 0.5, 0, 0], [1, 0, 0, 0], [0, 0, -0.25, 1.25]])), {},
        r"probability targets must be nonnegative; got -0.25 at index \(2, 2\)"),
    Bad("probability targets of another shape", "cross_entropy", (Z, np.zeros((3, 5))), {},
        r"target has shape \(3, 5\) but must have shape \(3, 4\)"),
    Bad("weight of the wrong length", "cross_entropy", (Z, T), {"weight": np.ones(3)},
        r"weight has shape \(3,\) but must have shape \(4,\)"),
    Bad("label smoothing above 1", "cross_entropy", (Z, T), {"label_smoothing": 1.5},
        r"label_smoothing must be in \[0, 1\]"),
    Bad("axis out of range", "cross_entropy", (Z, T), {"axis": 2}, r"axis 2 is out of range"),
    Bad("unknown reduction", "cross_entropy", (Z, T), {"reduction": "avg"},
        r"reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    Bad("nll class out of range", "nll_loss", (Z, np.array([0, 1, 7])), {}, r"target class 7"),
    Bad("mse shapes (no broadcasting)", "mse_loss", (X, np.zeros((1, 3))), {},
        r"mse_loss: target has shape \(1, 3\) but must have shape \(2, 3\)"),
    Bad("l1 transposed target", "l1_loss", (X, np.zeros((3, 2))), {}, r"l1_loss: target has shape"),
    Bad("unknown reduction (mse)", "mse_loss", (X, X), {"reduction": "batchmean"},
        r"got 'batchmean'"),
    Bad("negative delta", "huber_loss", (X, X), {"delta": -1.0},
        r"delta must be a finite number > 0, got -1.0"),
    Bad("zero delta", "huber_loss_backward", (np.float64(1.0), X, X), {"delta": 0.0},
        r"delta must be a finite number > 0"),
    Bad("mask of the wrong shape", "sequence_cross_entropy", (SEQ, SEQ_T, np.ones((2, 4), bool)),
        {}, r"mask has shape \(2, 4\) but must have shape \(2, 3\)"),
    Bad("sequence target of the wrong shape", "sequence_cross_entropy",
        (SEQ, np.zeros((3, 2), np.int64), SEQ_M), {}, r"target has shape \(3, 2\)"),
    Bad("sequence class out of range at a real token", "sequence_cross_entropy",
        (SEQ, np.array([[0, 1, 5], [0, 0, 0]]), SEQ_M), {},
        r"target class 5 at index \(0, 2\) at a real \(unmasked\) position is out of range "
        r"\[0, 5\)"),
    Bad("sequence logits not [B, T, V]", "sequence_cross_entropy", (Z, T, np.ones(3, bool)), {},
        r"logits must have shape \[B, T, V\]"),
    Bad("BCE target above 1", "binary_cross_entropy_with_logits",
        (X, np.array([[0, 0.5, 1.5], [0, 0, 0]])), {}, r"target must be in \[0, 1\]; got 1.5"),
    Bad("BCE negative target", "binary_cross_entropy_with_logits",
        (X, np.array([[0, 0.5, 1], [0, -1, 0]])), {}, r"got -1.0 at index \(1, 1\)"),
    # (a NaN, which is allowed, must not hide a value outside: max() propagates it)
    Bad("BCE target above 1 beside a NaN", "binary_cross_entropy_with_logits",
        (X, np.array([[0, np.nan, 1.5], [0, 0, 0]])), {}, r"got 1.5 at index \(0, 2\)"),
    Bad("BCE probability below 0 beside a NaN", "binary_cross_entropy",
        (np.array([np.nan, -0.25]), np.zeros(2)), {}, r"probs must be in \[0, 1\]; got -0.25"),
    Bad("pos_weight of the wrong shape", "binary_cross_entropy_with_logits", (X, X),
        {"pos_weight": np.ones(2)}, r"pos_weight has shape \(2,\)"),
    Bad("BCE probability above 1", "binary_cross_entropy", (np.array([0.5, 1.25]), np.zeros(2)),
        {}, r"probs must be in \[0, 1\]; got 1.25 at index \(1,\)"),
    Bad("BCE shapes", "binary_cross_entropy", (np.full(2, 0.5), np.zeros(3)), {},
        r"target has shape \(3,\) but must have shape \(2,\)"),
    Bad("negative margin", "contrastive_loss", (X, X, np.array([0, 1])), {"margin": -0.5},
        r"margin must be a finite number >= 0, got -0.5"),
    Bad("label 2", "contrastive_loss", (X, X, np.array([0, 2])), {},
        r"y must be 0 \(similar\) or 1 \(dissimilar\); got 2 at index \(1,\)"),
    Bad("embeddings of different shapes", "contrastive_loss",
        (X, np.zeros((2, 4)), np.array([0, 1])), {},
        r"x2 has shape \(2, 4\) but must have shape \(2, 3\)"),
    Bad("one label per pair", "contrastive_loss", (X, X, np.array([0, 1, 1])), {},
        r"y has shape \(3,\) but must have shape \(2,\)"),
    Bad("grad_output of the wrong shape", "mse_loss_backward", (np.ones(3), X, X), {},
        r"grad_output has shape \(3,\) but the loss has shape \(\)"),
    Bad("grad_output for reduction none", "cross_entropy_backward", (np.float64(1.0), Z, T),
        {"reduction": "none"}, r"grad_output has shape \(\) but the loss has shape \(3,\)"),
]  # fmt: skip
ids = [b.id for b in BAD]


def _call(impl: Implementation, bad: Bad) -> None:
    args = [as_backend(impl, np.asarray(a), "float64") for a in bad.args]
    kw = {
        k: as_backend(impl, v, "float64") if isinstance(v, np.ndarray) else v
        for k, v in bad.kwargs.items()
    }
    getattr(impl.ops, bad.name)(*args, **kw)


@pytest.mark.parametrize("bad", BAD, ids=ids)
def test_bad_input_is_a_clear_error(impl, bad):
    with pytest.raises(ValueError, match=bad.match) as info:
        _call(impl, bad)
    assert str(info.value).startswith(bad.name.removesuffix("_backward")), str(info.value)


@pytest.mark.parametrize("bad", BAD, ids=ids)
def test_bad_input_gives_the_same_message_on_every_backend(bad):
    messages = {}
    for impl in library_backends():
        with pytest.raises(ValueError) as info:
            _call(impl, bad)
        messages[impl.id] = str(info.value)
    assert len(set(messages.values())) == 1, messages


@pytest.mark.parametrize("bad", BAD, ids=ids)
def test_bad_input_is_rejected_before_any_computation(bad, monkeypatch):
    """No kernel runs: every loss kernel of the numpy table is replaced by one that fails."""
    from primitives.kernels import losses as kernels

    table = _dispatch.kernels("numpy")

    def ran(*args, **kwargs):
        raise AssertionError("a kernel ran before the input was validated")

    for name in vars(kernels):
        if hasattr(table, name) and callable(getattr(table, name)):
            monkeypatch.setattr(table, name, ran)
    with pytest.raises(ValueError, match=bad.match):
        _call(resolve("numpy"), bad)


def test_type_errors():
    z32 = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError, match="floating dtype"):
        P.cross_entropy(np.zeros((3, 4), np.int64), T)
    with pytest.raises(TypeError, match="class targets must be an integer array"):
        P.nll_loss(Z, np.zeros(3))
    with pytest.raises(TypeError, match="target has dtype float64 but input has float32"):
        P.mse_loss(z32, Z)
    with pytest.raises(TypeError, match="integer class indices or floating probabilities"):
        P.cross_entropy(Z, np.zeros(3, bool))
    with pytest.raises(TypeError, match="mask must be a boolean array"):
        P.sequence_cross_entropy(SEQ, SEQ_T, np.ones((2, 3), np.int64))
    with pytest.raises(TypeError, match="ignore_index must be an integer"):
        P.cross_entropy(Z, T, ignore_index=0.5)
    with pytest.raises(TypeError, match="grad_output has dtype float64 but the prediction"):
        P.mse_loss_backward(np.float64(1.0), z32, z32)


def test_mixing_backends_is_a_type_error():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"different backends.*numpy\.ndarray.*torch\.Tensor"):
        P.cross_entropy(torch.zeros(3, 4, dtype=torch.float64), T)
    with pytest.raises(TypeError, match="different backends"):
        P.mse_loss(Z[0], torch.zeros(4, dtype=torch.float64))


def test_value_checks_under_jax_tracing():
    """Under jax.jit a traced target has no values to check: an out-of-range class makes its
    row NaN (never a number from another class); a concrete one closed over still raises, as
    eagerly. Shapes are always checked. (properties/test_transformations.py checks
    every loss this way.)"""
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    z, t = jnp.zeros((3, 4)), jnp.asarray([0, 9, 1])
    with pytest.raises(ValueError, match="target class 9"):
        P.cross_entropy(z, t)
    with pytest.raises(ValueError, match="target class 9"):
        jax.jit(lambda v: P.cross_entropy(v, t))(z)
    out = np.asarray(jax.jit(lambda *a: P.cross_entropy(*a, reduction="none"))(z, t))
    assert np.isnan(out[1]) and np.isfinite(out[[0, 2]]).all(), out
    with pytest.raises(ValueError, match="target has shape"):
        jax.jit(P.cross_entropy)(z, jnp.asarray([0, 1]))
