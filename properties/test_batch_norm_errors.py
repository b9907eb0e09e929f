"""Bad input to batch norm: a clear error, raised before anything is computed, with the same
message on every backend; and the type errors (integer input, mixed backends or dtypes)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pytest

import primitives as P
from primitives import _dispatch

from .implementations import PUBLIC_API, Implementation, library_backends, resolve

IMPLEMENTATION_KINDS = PUBLIC_API


class Bad(NamedTuple):
    id: str
    name: str
    args: tuple  # numpy float arrays become float64 arrays of the backend; others as they are
    kwargs: dict[str, Any]
    match: str  # regular expression the message must match


X = np.zeros((4, 3, 2))
C3, C2, C4 = np.zeros(3), np.zeros(2), np.ones(4)
ONE = np.ones(3)

BAD = [
    Bad("axis out of range", "batch_norm", (X, C3, ONE), {"axis": 3},
        r"axis 3 is out of range for x with 3 dimension\(s\); it must be in \[-3, 2\]; the "
        r"channel axis is 1"),
    Bad("negative axis out of range", "batch_norm", (X, C3, ONE), {"axis": -4},
        r"axis -4 is out of range"),
    Bad("running_mean of the wrong length", "batch_norm", (X, C2, ONE), {},
        r"running_mean has shape \(2,\) but must have shape \(3,\) \(one value per channel: x "
        r"has 3 channels\)"),
    Bad("running_var of the wrong length", "batch_norm", (X, C3, C4), {},
        r"running_var has shape \(4,\) but must have shape \(3,\)"),
    Bad("weight of the wrong length", "batch_norm", (X, C3, ONE), {"weight": C2},
        r"weight has shape \(2,\) but must have shape \(3,\)"),
    Bad("bias of the wrong length", "batch_norm", (X, C3, ONE), {"bias": C4},
        r"bias has shape \(4,\) but must have shape \(3,\)"),
    Bad("channels-last stats for channels-first x", "batch_norm",
        (np.zeros((4, 3, 2)), C2, np.ones(2)), {}, r"running_mean has shape \(2,\)"),
    Bad("negative eps", "batch_norm", (X, C3, ONE), {"eps": -1e-5},
        r"eps must be a finite number > 0, got -1e-05"),
    Bad("zero eps", "batch_norm", (X, C3, ONE), {"eps": 0.0}, r"eps must be a finite number > 0"),
    Bad("NaN eps", "batch_norm", (X, C3, ONE), {"eps": float("nan")},
        r"eps must be a finite number > 0, got nan"),
    Bad("momentum above 1", "batch_norm", (X, C3, ONE), {"momentum": 1.5},
        r"momentum must be in \[0, 1\], got 1.5 \(torch's convention"),
    Bad("negative momentum", "batch_norm", (X, C3, ONE), {"momentum": -0.1},
        r"momentum must be in \[0, 1\]"),
    Bad("flax-style momentum 0.99 is fine, NaN is not", "batch_norm", (X, C3, ONE),
        {"momentum": float("nan")}, r"momentum must be in \[0, 1\]"),
    Bad("one value per channel in training", "batch_norm", (np.zeros((1, 3)), C3, ONE), {},
        r"expected more than 1 value per channel when training, got x of shape \(1, 3\)"),
    Bad("x of one dimension", "batch_norm", (np.zeros(3), C3, ONE), {},
        r"x must have at least 2 dimensions \(N, C, \.\.\.\), got shape \(3,\)"),
    Bad("only one running statistic", "batch_norm", (X, C3, None), {},
        r"pass both running_mean and running_var, or neither"),
    Bad("evaluation without running statistics", "batch_norm", (X, None, None),
        {"training": False}, r"evaluation mode \(training=False\) needs running_mean"),
    Bad("backward: grad_output of another shape", "batch_norm_backward",
        (np.zeros((4, 3)), X), {}, r"grad_output has shape \(4, 3\) but must have shape"),
    Bad("backward: weight of the wrong length", "batch_norm_backward", (X, X, C2), {},
        r"weight has shape \(2,\) but must have shape \(3,\)"),
    Bad("backward: evaluation without running statistics", "batch_norm_backward", (X, X),
        {"training": False}, r"evaluation mode \(training=False\) needs running_mean"),
    Bad("backward: one value per channel", "batch_norm_backward",
        (np.zeros((1, 3, 1)), np.zeros((1, 3, 1))), {}, r"expected more than 1 value"),
    Bad("backward: negative eps", "batch_norm_backward", (X, X), {"eps": -1.0},
        r"eps must be a finite number > 0"),
]  # fmt: skip
ids = [b.id for b in BAD]


def _as(impl: Implementation, v: Any) -> Any:
    return impl.array(v, "float64") if isinstance(v, np.ndarray) else v


def _call(impl: Implementation, bad: Bad) -> None:
    args = [_as(impl, a) for a in bad.args]
    getattr(impl.ops, bad.name)(*args, **{k: _as(impl, v) for k, v in bad.kwargs.items()})


@pytest.mark.parametrize("bad", BAD, ids=ids)
def test_bad_input_is_a_clear_error(impl, bad):
    with pytest.raises(ValueError, match=bad.match) as info:
        _call(impl, bad)
    assert str(info.value).startswith(bad.name + ":"), str(info.value)


@pytest.mark.parametrize("bad", BAD, ids=ids)
def test_bad_input_gives_the_same_message_on_every_backend(bad):
    messages = {}
    for impl in library_backends():
        with pytest.raises(ValueError) as info:
            _call(impl, bad)
        messages[impl.id] = str(info.value)
    assert len(messages) == 3 and len(set(messages.values())) == 1, messages


@pytest.mark.parametrize("bad", BAD, ids=ids)
def test_bad_input_is_rejected_before_any_computation(bad, monkeypatch):
    """No kernel runs: every batch-norm kernel of the numpy table is replaced by one that fails."""
    from primitives.kernels import batch_norm as kernels

    table = _dispatch.kernels("numpy")

    def ran(*args, **kwargs):
        raise AssertionError("a kernel ran before the input was validated")

    for name in vars(kernels):
        if name.startswith("batch_norm") and hasattr(table, name):
            monkeypatch.setattr(table, name, ran)
    with pytest.raises(ValueError, match=bad.match):
        _call(resolve("numpy"), bad)


def test_type_errors():
    x32 = np.zeros((4, 3), np.float32)
    with pytest.raises(TypeError, match="floating dtype"):
        P.batch_norm(np.zeros((4, 3), np.int64), None, None)
    with pytest.raises(TypeError, match="running_mean has dtype float64 but x has float32"):
        P.batch_norm(x32, np.zeros(3), np.ones(3, np.float32))
    with pytest.raises(TypeError, match="weight must have a floating dtype like x"):
        P.batch_norm(x32, None, None, np.ones(3, np.int32))
    with pytest.raises(TypeError, match="training must be True or False, got 1"):
        P.batch_norm(x32, None, None, training=1)
    with pytest.raises(TypeError, match=r"axis must be an integer, got 1\.0"):
        P.batch_norm(x32, None, None, axis=1.0)
    with pytest.raises(TypeError, match="eps must be a real number"):
        P.batch_norm(x32, None, None, eps="small")
    with pytest.raises(TypeError, match="grad_output has dtype float64 but x has float32"):
        P.batch_norm_backward(np.zeros((4, 3)), x32)


def test_mixing_backends_is_a_type_error():
    torch = pytest.importorskip("torch")
    x = torch.zeros(4, 3, dtype=torch.float64)
    with pytest.raises(TypeError, match=r"different backends.*numpy\.ndarray.*torch\.Tensor"):
        P.batch_norm(x, np.zeros(3), np.ones(3))
    with pytest.raises(TypeError, match="different backends"):
        P.batch_norm_backward(np.zeros((4, 3)), x)


def test_inputs_are_not_mutated_even_in_place_capable_torch():
    """torch's F.batch_norm updates its running buffers in place; this library never does."""
    torch = pytest.importorskip("torch")
    x = torch.arange(12.0, dtype=torch.float64).reshape(4, 3)
    rm, rv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    _, new_rm, new_rv = P.batch_norm(x, rm, rv)
    assert torch.equal(rm, torch.zeros(3, dtype=torch.float64))
    assert torch.equal(rv, torch.ones(3, dtype=torch.float64))
    assert not torch.equal(new_rm, rm) and not torch.equal(new_rv, rv)
