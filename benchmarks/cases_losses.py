"""Benchmark rows of the losses (appended to :data:`benchmarks.cases.CASES`).

The issue's targets: the torch backend within 1.1x of ``torch.nn.functional``; the jax
backend within 1.1x of the jitted optax loss (a ``jnp`` expression where optax has none); the
numpy backend within 3x of that jitted jax peer (``numpy_peer="jax"``). Sizes count the
prediction's elements: cross-entropy on 512 x 32000 logits (8192 x 32768 on a GPU), the
sequence loss on [4, 512, 32000] on the CPU and the issue's [32, 512, 32000] on a GPU (2 GB of
float32 logits: one pass of the sequence loss takes seconds on this 2-core CPU, so the CPU
runs an eighth of the batch), the element-wise losses on 10^5 and 4 * 10^6 elements.

The peers' backwards differentiate with respect to the prediction only; the contrastive
loss's project backward returns both embeddings' gradients (the second is the negated first).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .case import Case, Inputs, shape_of

VOCAB = 32_000
CE_SIZES = (512 * VOCAB,)
CE_GPU_SIZES = (8192 * 32_768,)
SEQUENCE = (512, VOCAB)  # tokens per sequence, vocabulary
SEQUENCE_SIZES = (4 * 512 * VOCAB,)
SEQUENCE_GPU_SIZES = (32 * 512 * VOCAB,)
ELEMENTWISE_SIZES = (10**5, 4 * 10**6)
EMBEDDING = 128
_LOSS = {
    "family": "losses",
    "numpy_peer": "jax",
    "numpy_target": 3.0,
}


def _one(dtype: np.dtype) -> np.ndarray:
    return np.array(1.0, dtype=dtype)


# --- inputs -----------------------------------------------------------------------------------


def _classes(size: int) -> tuple[int, int]:
    """``(rows, classes)`` for ``size`` logits: 32000 classes (32768 at the GPU size)."""
    classes = 32_768 if size in CE_GPU_SIZES else min(VOCAB, size)
    return max(size // classes, 1), classes


def logits_and_classes(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    rows, classes = _classes(size)
    logits = rng.standard_normal((rows, classes), dtype=dtype)
    return Inputs((logits, rng.integers(0, classes, rows)), _one(dtype))


def log_probs_and_classes(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    (z, t), g, _ = logits_and_classes(rng, size, dtype)
    z = z - z.max(axis=-1, keepdims=True)
    log_probs = (z - np.log(np.exp(z).sum(axis=-1, keepdims=True))).astype(dtype)
    return Inputs((log_probs, t), g)


def sequences(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    """Logits [B, T, V], targets [B, T] and a mask of sequences of lengths in [T/2, T]."""
    vocab = min(VOCAB, size)
    steps = min(SEQUENCE[0], max(size // vocab, 1))
    batch = max(size // (steps * vocab), 1)
    logits = rng.standard_normal((batch, steps, vocab), dtype=dtype)
    target = rng.integers(0, vocab, (batch, steps))
    lengths = rng.integers((steps + 1) // 2, steps + 1, batch)
    mask = np.arange(steps) < lengths[:, None]
    return Inputs((logits, target, mask), _one(dtype))


def pairs(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    """A prediction and a random normal target."""
    shape = shape_of(size)
    x, y = (rng.standard_normal(shape, dtype=dtype) for _ in range(2))
    return Inputs((x, y), _one(dtype))


def logits_and_probabilities(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    shape = shape_of(size)
    x = rng.standard_normal(shape, dtype=dtype)
    return Inputs((x, rng.random(shape, dtype=dtype)), _one(dtype))


def probabilities(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    shape = shape_of(size)
    p = (0.01 + 0.98 * rng.random(shape)).astype(dtype)
    return Inputs((p, rng.random(shape, dtype=dtype)), _one(dtype))


def embeddings(rng: np.random.Generator, size: int, dtype: np.dtype) -> Inputs:
    rows = max(size // EMBEDDING, 1)
    x1 = rng.standard_normal((rows, EMBEDDING), dtype=dtype)
    x2 = rng.standard_normal((rows, EMBEDDING), dtype=dtype)
    y = rng.integers(0, 2, rows).astype(dtype)
    return Inputs((x1, x2, y), _one(dtype))


# --- NumPy peers: the plain expressions a user would write --------------------------------------


def _np_log_softmax(m: Any, z: Any) -> Any:
    s = z - z.max(axis=-1, keepdims=True)
    return s - m.np.log(m.np.exp(s).sum(axis=-1, keepdims=True))


def _np_softmax(m: Any, z: Any) -> Any:
    e = m.np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _np_take(a: Any, t: Any) -> Any:
    return np.take_along_axis(a, t[..., None], axis=-1)[..., 0]


def _np_ce(m: Any, z: Any, t: Any) -> Any:
    return -_np_take(_np_log_softmax(m, z), t).mean()


def _np_ce_backward(m: Any, g: Any, z: Any, t: Any) -> Any:
    d = _np_softmax(m, z)
    np.put_along_axis(d, t[..., None], _np_take(d, t)[..., None] - 1.0, axis=-1)
    return d * (g / t.size)


def _np_nll_backward(m: Any, g: Any, lp: Any, t: Any) -> Any:
    d = np.zeros_like(lp)
    np.put_along_axis(d, t[..., None], -g / t.size, axis=-1)
    return d


def _np_sequence(m: Any, z: Any, t: Any, mask: Any) -> Any:
    return -(_np_take(_np_log_softmax(m, z), t) * mask).sum() / mask.sum()


def _np_sequence_backward(m: Any, g: Any, z: Any, t: Any, mask: Any) -> Any:
    d = _np_softmax(m, z)
    np.put_along_axis(d, t[..., None], _np_take(d, t)[..., None] - 1.0, axis=-1)
    return d * (mask[..., None] * (g / mask.sum()))


def _np_bce_logits(m: Any, x: Any, y: Any) -> Any:
    return (m.np.maximum(x, 0) - x * y + m.np.log1p(m.np.exp(-m.np.abs(x)))).mean()


def _np_bce_logits_backward(m: Any, g: Any, x: Any, y: Any) -> Any:
    return (1.0 / (1.0 + m.np.exp(-x)) - y) * (g / x.size)


def _np_bce(m: Any, p: Any, y: Any) -> Any:
    log_p = m.np.maximum(m.np.log(p), -100)
    log_q = m.np.maximum(m.np.log1p(-p), -100)
    return -(y * log_p + (1 - y) * log_q).mean()


def _np_bce_backward(m: Any, g: Any, p: Any, y: Any) -> Any:
    return (p - y) / m.np.maximum(p * (1 - p), 1e-12) * (g / p.size)


def _np_huber(m: Any, x: Any, y: Any, delta: float) -> Any:
    a = m.np.abs(x - y)
    return m.np.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta)).mean()


def _np_contrastive(m: Any, x1: Any, x2: Any, y: Any, margin: float) -> Any:
    d = m.np.sqrt(((x1 - x2) ** 2).sum(-1))
    return (0.5 * ((1 - y) * d * d + y * m.np.maximum(margin - d, 0) ** 2)).mean()


def _np_contrastive_backward(m: Any, g: Any, x1: Any, x2: Any, y: Any, margin: float) -> Any:
    diff = x1 - x2
    d = m.np.sqrt((diff**2).sum(-1))
    hinge = m.np.maximum(margin - d, 0)
    scale = (1 - y) - y * hinge / m.np.where(d > 0, d, 1)
    return diff * (scale * (g / y.size))[..., None]


# --- jax peers ----------------------------------------------------------------------------------


def _jax_sequence(m: Any, z: Any, t: Any, mask: Any) -> Any:
    per_token = m.optax.softmax_cross_entropy_with_integer_labels(z, t)
    return m.jnp.where(mask, per_token, 0).sum() / mask.sum()


def _jax_bce(m: Any, p: Any, y: Any) -> Any:
    log_p = m.jnp.maximum(m.jnp.log(p), -100)
    log_q = m.jnp.maximum(m.jnp.log1p(-p), -100)
    return -(y * log_p + (1 - y) * log_q).mean()


def _jax_contrastive(m: Any, x1: Any, x2: Any, y: Any, margin: float) -> Any:
    d = m.jnp.sqrt(((x1 - x2) ** 2).sum(-1))
    return (0.5 * ((1 - y) * d * d + y * m.jnp.maximum(margin - d, 0) ** 2)).mean()


def _torch_contrastive(m: Any, x1: Any, x2: Any, y: Any, margin: float) -> Any:
    d = (x1 - x2).pow(2).sum(-1).sqrt()
    return (0.5 * ((1 - y) * d * d + y * m.torch.clamp(margin - d, min=0) ** 2)).mean()


LOSS_CASES: tuple[Case, ...] = (
    Case(
        "cross_entropy",
        build=logits_and_classes,
        sizes=CE_SIZES,
        gpu_sizes=CE_GPU_SIZES,
        torch=lambda m, z, t: m.F.cross_entropy(z, t),
        jax=lambda m, z, t: m.optax.softmax_cross_entropy_with_integer_labels(z, t).mean(),
        numpy=_np_ce,
        numpy_backward=_np_ce_backward,
        **_LOSS,
    ),
    Case(
        "nll_loss",
        build=log_probs_and_classes,
        sizes=CE_SIZES,
        torch=lambda m, lp, t: m.F.nll_loss(lp, t),
        jax=lambda m, lp, t: -m.jnp.take_along_axis(lp, t[:, None], axis=-1).mean(),
        numpy=lambda m, lp, t: -_np_take(lp, t).mean(),
        numpy_backward=_np_nll_backward,
        **_LOSS,
    ),
    Case(
        "sequence_cross_entropy",
        build=sequences,
        sizes=SEQUENCE_SIZES,
        gpu_sizes=SEQUENCE_GPU_SIZES,
        # what a torch user writes: padded targets set to ignore_index, then flattened
        torch=lambda m, z, t, mask: m.F.cross_entropy(
            z.reshape(-1, z.shape[-1]), t.masked_fill(~mask, -100).reshape(-1)
        ),
        jax=_jax_sequence,
        numpy=_np_sequence,
        numpy_backward=_np_sequence_backward,
        **_LOSS,
    ),
    Case(
        "mse_loss",
        build=pairs,
        sizes=ELEMENTWISE_SIZES,
        torch=lambda m, x, y: m.F.mse_loss(x, y),
        jax=lambda m, x, y: m.optax.squared_error(x, y).mean(),
        numpy=lambda m, x, y: ((x - y) ** 2).mean(),
        numpy_backward=lambda m, g, x, y: (x - y) * (2 * g / x.size),
        **_LOSS,
    ),
    Case(
        "l1_loss",
        build=pairs,
        sizes=ELEMENTWISE_SIZES,
        torch=lambda m, x, y: m.F.l1_loss(x, y),
        jax=lambda m, x, y: m.jnp.abs(x - y).mean(),
        numpy=lambda m, x, y: m.np.abs(x - y).mean(),
        numpy_backward=lambda m, g, x, y: m.np.sign(x - y) * (g / x.size),
        **_LOSS,
    ),
    Case(
        "huber_loss",
        build=pairs,
        sizes=ELEMENTWISE_SIZES,
        params={"delta": 1.0},
        torch=lambda m, x, y, delta: m.F.huber_loss(x, y, delta=delta),
        jax=lambda m, x, y, delta: m.optax.huber_loss(x, y, delta=delta).mean(),
        numpy=_np_huber,
        numpy_backward=lambda m, g, x, y, delta: m.np.clip(x - y, -delta, delta) * (g / x.size),
        **_LOSS,
    ),
    Case(
        "binary_cross_entropy_with_logits",
        build=logits_and_probabilities,
        sizes=ELEMENTWISE_SIZES,
        torch=lambda m, x, y: m.F.binary_cross_entropy_with_logits(x, y),
        jax=lambda m, x, y: m.optax.sigmoid_binary_cross_entropy(x, y).mean(),
        numpy=_np_bce_logits,
        numpy_backward=_np_bce_logits_backward,
        **_LOSS,
    ),
    Case(
        "binary_cross_entropy",
        build=probabilities,
        sizes=ELEMENTWISE_SIZES,
        torch=lambda m, p, y: m.F.binary_cross_entropy(p, y),
        jax=_jax_bce,
        numpy=_np_bce,
        numpy_backward=_np_bce_backward,
        **_LOSS,
    ),
    Case(
        "contrastive_loss",
        build=embeddings,
        sizes=ELEMENTWISE_SIZES,
        params={"margin": 1.0},
        torch=_torch_contrastive,
        jax=_jax_contrastive,
        numpy=_np_contrastive,
        numpy_backward=_np_contrastive_backward,
        **_LOSS,
    ),
)
