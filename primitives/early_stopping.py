"""Early stopping: a small state machine fed one validation metric per epoch.

No framework is imported or needed: a metric is a Python number or a 0-d array of any backend
(NumPy, PyTorch, JAX, ...), read once with ``float()``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal

from . import _checks as C

__all__ = ["EarlyStopping"]

Mode = Literal["min", "max"]


def _patience(patience: Any) -> int:
    patience = C.integer("EarlyStopping", "patience", patience)
    if patience < 1:
        raise ValueError(
            f"EarlyStopping: patience must be >= 1 (the number of epochs without improvement "
            f"that stop training), got {patience}"
        )
    return patience


def _is_number(value: Any) -> bool:
    """A real number or an array-like (0-d arrays of any backend), never a bool or a string."""
    if isinstance(value, bool) or str(getattr(value, "dtype", "")).endswith("bool"):
        return False
    return isinstance(value, numbers.Real) or hasattr(value, "shape")


def _min_delta(min_delta: Any) -> float:
    return C.nonnegative("EarlyStopping", "min_delta", min_delta)


def _metric(metric: Any) -> float:
    """The metric as a Python float: a real number or a 0-d array (never a bool)."""
    if not _is_number(metric):
        raise TypeError(f"EarlyStopping.step: metric must be a real number, got {metric!r}")
    shape = getattr(metric, "shape", ())
    if tuple(shape) != ():
        raise ValueError(
            "EarlyStopping.step: metric must be a single number (a 0-d array), got an array "
            f"of shape {tuple(shape)}; reduce it first (e.g. its mean)"
        )
    try:
        return float(metric)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"EarlyStopping.step: metric must be a real number or a 0-d array, got "
            f"{type(metric).__module__}.{type(metric).__qualname__} ({e}); under jax.jit, "
            "call step outside the traced function"
        ) from None


class EarlyStopping:
    """Stop training once ``patience`` consecutive epochs bring no improvement larger than
    ``min_delta``.

    Feed one metric per epoch to :meth:`step`; epochs are numbered 0, 1, 2, ... in the order
    of the calls. With ``mode="min"`` (a loss) an epoch *improves* when its metric is below the
    best so far by **more** than ``min_delta`` (``metric < best - min_delta``); with
    ``mode="max"`` (an accuracy) when it is above by more (``metric > best + min_delta``). The
    best starts at +inf for ``"min"`` (-inf for ``"max"``), so the first finite metric improves.
    :meth:`step` returns ``True`` (stop) when the last ``patience`` epochs all failed to
    improve, i.e. ``wait >= patience`` with ``wait`` the number of epochs since the last
    improvement: ``patience = 1`` stops at the first epoch without an improvement,
    ``patience = 3`` at the third in a row. An improving epoch never stops. ``patience >= 1``.

    Mapping: PyTorch Lightning's and Keras 3's ``EarlyStopping(patience=p, min_delta=d,
    mode=m)`` (without a ``baseline``) apply the same strict comparison and the same count for
    ``p >= 1``; their ``p = 0`` acts as 1 here (older tf.keras versions, whose check also ran
    after improving epochs, stopped at epoch 1 with ``p = 0`` even while improving).

    **A NaN metric counts as an epoch without improvement** (it never becomes the best; it
    neither resets nor skips the count). An infinite metric follows the comparison: +inf never
    improves in ``"min"`` mode.

    The state is :attr:`epoch` (epochs seen), :attr:`best` (the best metric, ``None`` before
    the first improvement), :attr:`best_epoch` (its epoch, ``None`` likewise), :attr:`wait`
    (epochs since the last improvement, or since the start) and :attr:`should_stop` (the last
    answer of :meth:`step`). Feeding more epochs after a stop keeps applying the same rule (an
    improvement resets ``wait``); a training loop breaks at the first ``True``.

    Bad arguments raise at construction: ``patience`` below 1 or not an integer,
    ``min_delta`` negative, infinite or NaN, ``mode`` other than ``"min"``/``"max"``. A metric
    that is not a real number or a 0-d array raises in :meth:`step`, leaving the state as it was.
    """

    def __init__(self, patience: int, min_delta: float = 0.0, mode: Mode = "min") -> None:
        C.choice("EarlyStopping", "mode", mode, ("min", "max"))
        self.patience = _patience(patience)
        self.min_delta = _min_delta(min_delta)
        self.mode: Mode = mode
        self.epoch = 0
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.should_stop = False

    def improves(self, metric: float) -> bool:
        """Whether ``metric`` (a float) would improve on the best so far (False for NaN)."""
        if self.mode == "min":
            best = math.inf if self.best is None else self.best
            return metric < best - self.min_delta
        best = -math.inf if self.best is None else self.best
        return metric > best + self.min_delta

    def step(self, metric: Any) -> bool:
        """Record this epoch's metric; return whether to stop (``wait >= patience``)."""
        value = _metric(metric)
        if self.improves(value):
            self.best, self.best_epoch, self.wait = value, self.epoch, 0
        else:
            self.wait += 1
        self.epoch += 1
        self.should_stop = self.wait >= self.patience
        return self.should_stop

    def __repr__(self) -> str:
        return (
            f"EarlyStopping(patience={self.patience}, min_delta={self.min_delta}, "
            f"mode={self.mode!r}; epoch={self.epoch}, best={self.best}, "
            f"best_epoch={self.best_epoch}, wait={self.wait}, should_stop={self.should_stop})"
        )
