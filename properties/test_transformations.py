"""The primitives inside the programs users write: under ``jax.jit``, ``jax.grad``,
``jax.value_and_grad`` and ``jax.vmap`` with the targets, masks, labels, weights and keys
closed over (concrete) or passed in (traced), the same values as eagerly and the same
gradients as ``<name>_backward``; an invalid loss target that cannot raise under a
transformation is NaN in its row, the same for the forward, ``<name>_backward`` and
``jax.grad``; class targets of every integer width on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import pytest

import primitives as P

from .implementations import Implementation

IMPLEMENTATION_KINDS = ("library", "third-party")

jax = pytest.importorskip("jax", reason="jax is not installed")
jnp = jax.numpy

RNG = np.random.default_rng(20261206)


class Call(NamedTuple):
    """``P.<name>(*preds, *aux, **kw)``: ``preds`` are differentiated, ``aux`` (targets,
    masks, labels, class weights) are closed over or passed in."""

    id: str
    name: str
    preds: tuple[np.ndarray, ...]
    aux: tuple[np.ndarray, ...]
    kw: dict[str, Any] = {}  # noqa: RUF012 (a NamedTuple field, never mutated)
    aux_kw: tuple[str, ...] = ()  # names of the last len(aux_kw) aux, passed as keywords

    def fn(self, reduction: str | None = None) -> Callable:
        f = getattr(P, self.name)
        n_kw = len(self.aux_kw)
        kw = dict(self.kw)
        if reduction is not None:
            kw["reduction"] = reduction

        def call(*arrays):
            preds, aux = arrays[: len(self.preds)], arrays[len(self.preds) :]
            positional = aux[: len(aux) - n_kw]
            keywords = dict(zip(self.aux_kw, aux[len(aux) - n_kw :], strict=True))
            return f(*preds, *positional, **keywords, **kw)

        return call

    def backward(self, reduction: str | None = None) -> Callable:
        return Call(*self[:1], self.name + "_backward", *self[2:]).fn(reduction)


def _logits(*shape: int) -> np.ndarray:
    z = RNG.normal(size=shape) * 3.0
    return z


def _classes(shape: tuple[int, ...], n: int) -> np.ndarray:
    return RNG.integers(0, n, size=shape)


Z = _logits(6, 5)
T = _classes((6,), 5)
T_IGNORED = np.where(np.arange(6) % 3 == 0, -100, T)
PROBS = RNG.dirichlet(np.ones(5), size=6)
W = RNG.uniform(0.2, 2.0, size=5)
SEQ = _logits(2, 4, 5)
SEQ_T = _classes((2, 4), 5)
SEQ_M = np.array([[True, True, False, True], [True, False, False, True]])
X = RNG.normal(size=(6, 3))
Y = RNG.uniform(0.0, 1.0, size=(6, 3))
PROB = RNG.uniform(0.05, 0.95, size=(6, 3))
LABELS = np.array([0, 1, 1, 0, 1, 0])

LOSSES = [
    Call("mse", "mse_loss", (X,), (Y,)),
    Call("l1", "l1_loss", (X,), (Y,)),
    Call("huber", "huber_loss", (X,), (Y,), {"delta": 0.7}),
    Call("ce-classes", "cross_entropy", (Z,), (T,)),
    Call("ce-ignored", "cross_entropy", (Z,), (T_IGNORED,)),
    Call(
        "ce-weight-smoothing", "cross_entropy", (Z,), (T, W), {"label_smoothing": 0.1}, ("weight",)
    ),
    Call("ce-axis0", "cross_entropy", (Z.T.copy(),), (T,), {"axis": 0}),
    Call("ce-probs", "cross_entropy", (Z,), (PROBS,), {"label_smoothing": 0.2}),
    Call("nll-weight", "nll_loss", (Z,), (T_IGNORED, W), {}, ("weight",)),
    Call("sequence", "sequence_cross_entropy", (SEQ,), (SEQ_T, SEQ_M)),
    Call("bce-logits", "binary_cross_entropy_with_logits", (X,), (Y,)),
    Call(
        "bce-logits-pos-weight",
        "binary_cross_entropy_with_logits",
        (X,),
        (Y, np.array([0.5, 1.0, 2.0])),
        {},
        ("pos_weight",),
    ),
    Call("bce", "binary_cross_entropy", (PROB,), (Y,)),
    Call("contrastive", "contrastive_loss", (X, X[::-1].copy()), (LABELS,), {"margin": 2.0}),
]
REDUCED = {"sequence"}  # always reduced (no reduction parameter)


def _jax(a: np.ndarray) -> Any:
    return jnp.asarray(a)


def _close(actual: Any, expected: Any, what: str) -> None:
    # rtol 1e-12 in float64: XLA may reassociate the sums of a compiled loss, a few ulps of
    # the result; a wrong value (an ignored row counted, a weight dropped) is off by far more
    np.testing.assert_allclose(
        np.asarray(actual), np.asarray(expected), rtol=1e-12, atol=1e-15, err_msg=what
    )


def _reductions(call: Call) -> list[str | None]:
    return [None] if call.id in REDUCED else ["mean", "sum", "none"]


@pytest.mark.parametrize("call", LOSSES, ids=lambda c: c.id)
def test_loss_under_jit_with_closed_over_and_traced_inputs_equals_eager(call):
    preds = [_jax(p) for p in call.preds]
    aux = [_jax(a) for a in call.aux]
    for reduction in _reductions(call):
        f = call.fn(reduction)
        eager = f(*preds, *aux)
        closed = jax.jit(lambda *p, f=f: f(*p, *aux))(*preds)
        traced = jax.jit(f)(*preds, *aux)
        _close(closed, eager, f"{call.id} {reduction}: jit, inputs closed over")
        _close(traced, eager, f"{call.id} {reduction}: jit, inputs traced")


@pytest.mark.parametrize("call", LOSSES, ids=lambda c: c.id)
def test_loss_gradient_under_jit_grad_equals_the_backward(call):
    """jax.grad, jax.value_and_grad and their jit, with the other inputs closed over or
    traced, equal ``<name>_backward`` called eagerly."""
    preds = [_jax(p) for p in call.preds]
    aux = [_jax(a) for a in call.aux]
    argnums = tuple(range(len(preds)))
    reduction = "sum" if call.id not in REDUCED else None
    f = call.fn(reduction)
    expected = call.backward(reduction)(1.0, *preds, *aux)
    expected = expected if isinstance(expected, tuple) else (expected,)
    value = f(*preds, *aux)
    for how, grad in [
        ("grad", jax.grad(lambda *p: f(*p, *aux), argnums=argnums)),
        ("jit(grad) closed", jax.jit(jax.grad(lambda *p: f(*p, *aux), argnums=argnums))),
        ("jit(grad) traced", lambda *p: jax.jit(jax.grad(f, argnums=argnums))(*p, *aux)),
    ]:
        for a, e in zip(grad(*preds), expected, strict=True):
            _close(a, e, f"{call.id}: {how}")
    v, g = jax.jit(jax.value_and_grad(lambda *p: f(*p, *aux), argnums=argnums))(*preds)
    _close(v, value, f"{call.id}: jit(value_and_grad) value")
    for a, e in zip(g, expected, strict=True):
        _close(a, e, f"{call.id}: jit(value_and_grad) gradient")


@pytest.mark.parametrize("call", LOSSES, ids=lambda c: c.id)
def test_loss_under_vmap_equals_a_loop(call):
    """vmap over a leading batch of three problems, the other inputs batched (traced) or
    shared (closed over), equals the eager loss of each problem."""
    stacked = [np.stack([a, a[::-1], a * 0.5 if a.dtype.kind == "f" else a]) for a in call.preds]
    preds = [_jax(p) for p in stacked]
    aux = [_jax(a) for a in call.aux]
    batched_aux = [_jax(np.stack([a] * 3)) for a in call.aux]
    f = call.fn("sum" if call.id not in REDUCED else None)
    loop = [f(*(p[i] for p in preds), *aux) for i in range(3)]
    shared = jax.vmap(lambda *p: f(*p, *aux))(*preds)
    batched = jax.vmap(f)(*preds, *batched_aux)
    _close(shared, loop, f"{call.id}: vmap, inputs closed over")
    _close(batched, loop, f"{call.id}: vmap, inputs batched")
    per_example = jax.jit(jax.vmap(jax.grad(f, argnums=0)))(*preds, *batched_aux)
    for i in range(3):
        one = jax.grad(f, argnums=0)(*(p[i] for p in preds), *aux)
        _close(per_example[i], one, f"{call.id}: jit(vmap(grad)) example {i}")


def _central_differences(f: Callable, arrays: list[np.ndarray], i: int) -> np.ndarray:
    """d sum(f(*arrays)) / d arrays[i] by central differences in float64 on numpy (step 1e-6
    relative: truncation ~1e-12, roundoff ~1e-10 of the loss)."""
    a = arrays[i]
    out = np.zeros_like(a)
    for k in np.ndindex(a.shape):
        h = 1e-6 * max(1.0, abs(a[k]))
        values = []
        for step in (h, -h):
            moved = list(arrays)
            moved[i] = _with(a, k, a[k] + step)
            values.append(float(np.sum(f(*moved))))
        out[k] = (values[0] - values[1]) / (2 * h)
    return out


FLOATING_AUX = [c for c in LOSSES if any(a.dtype.kind == "f" for a in c.aux)]


@pytest.mark.parametrize("framework", ["torch", "jax"])
@pytest.mark.parametrize("call", FLOATING_AUX, ids=lambda c: c.id)
def test_gradient_of_every_floating_input_under_autodiff(call, framework):
    """Probability and regression targets, class weights and pos_weight are differentiable
    too: ``loss.backward()`` with them requiring grad beside the prediction (torch: autograd
    through the forward's operations) and ``jax.grad`` over all of them (the custom_vjp gives
    them the forward's own derivative) equal central differences of the float64 loss."""
    arrays = [*call.preds, *call.aux]
    floating = [i for i, a in enumerate(arrays) if a.dtype.kind == "f"]
    reduction = "sum" if call.id not in REDUCED else None
    f = call.fn(reduction)
    if framework == "torch":
        torch = pytest.importorskip("torch", reason="torch is not installed")
        tensors = [torch.from_numpy(a.copy()) for a in arrays]
        for i in floating:
            tensors[i].requires_grad_(True)
        f(*tensors).backward()
        grads = [tensors[i].grad.numpy() for i in floating]
    else:
        grads = jax.grad(f, argnums=tuple(floating))(*(_jax(a) for a in arrays))
    for i, grad in zip(floating, grads, strict=True):
        np.testing.assert_allclose(
            np.asarray(grad),
            _central_differences(f, arrays, i),
            rtol=1e-6,
            atol=1e-8,
            err_msg=f"{call.id} on {framework}: gradient of input {i}",
        )


# --- invalid values that cannot raise under a transformation ---------------------------------


class Invalid(NamedTuple):
    """``call`` with ``aux[0]`` made invalid by ``aux[0][index] = value``: the rows ``bad``
    of the loss with ``reduction="none"`` are invalid."""

    id: str
    call: Call  # valid
    index: Any
    value: Any
    bad: np.ndarray  # boolean, the shape of the unreduced loss
    message: str  # the eager ValueError's message (a regular expression)

    @property
    def invalid(self) -> Call:
        first = _with(self.call.aux[0], self.index, self.value)
        return self.call._replace(aux=(first, *self.call.aux[1:]))


def _with(a: np.ndarray, index: Any, value: Any) -> np.ndarray:
    a = a.copy()
    a[index] = value
    return a


def _rows(*index: int, shape: tuple[int, ...] = (6,)) -> np.ndarray:
    bad = np.zeros(shape, bool)
    bad[index] = True
    return bad


INVALID = [
    Invalid(
        "ce-class-minus-one",
        Call("", "cross_entropy", (Z,), (T,)),
        1,
        -1,
        _rows(1),
        r"target class -1 at index \(1,\) is out of range",
    ),
    Invalid(
        "ce-class-too-large",
        Call("", "cross_entropy", (Z,), (T, W), {}, ("weight",)),
        3,
        5,
        _rows(3),
        r"target class 5 at index \(3,\)",
    ),
    Invalid(
        "ce-negative-probability",
        Call("", "cross_entropy", (Z,), (PROBS,)),
        (4, 2),
        -0.25,
        _rows(4),
        r"probability targets must be nonnegative; got -0.25",
    ),
    Invalid(
        "nll-class-too-large",
        Call("", "nll_loss", (Z,), (T,)),
        0,
        7,
        _rows(0),
        r"target class 7 at index \(0,\)",
    ),
    Invalid(
        "bce-logits-target",
        Call("", "binary_cross_entropy_with_logits", (X,), (Y,)),
        (2, 1),
        1.5,
        _rows(2, 1, shape=X.shape),
        r"target must be in \[0, 1\]; got 1.5",
    ),
    Invalid(
        "bce-target",
        Call("", "binary_cross_entropy", (PROB,), (Y,)),
        (5, 0),
        -1.0,
        _rows(5, 0, shape=X.shape),
        r"target must be in \[0, 1\]; got -1.0",
    ),
    Invalid(
        "contrastive-label",
        Call("", "contrastive_loss", (X, X[::-1].copy()), (LABELS,)),
        2,
        2,
        _rows(2),
        r"y must be 0 \(similar\) or 1 \(dissimilar\); got 2",
    ),
]


def _nan_exactly_where(a: Any, bad: np.ndarray, what: str) -> None:
    """NaN in every element of the rows ``bad`` (the leading axes of ``a``), finite elsewhere."""
    a = np.asarray(a).reshape((*bad.shape, -1))
    assert np.isnan(a[bad]).all(), f"{what}: not NaN in the invalid rows"
    assert np.isfinite(a[~bad]).all(), f"{what}: not finite outside the invalid rows"


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c.id)
def test_invalid_value_under_a_transformation_is_nan_in_its_row(case):
    """Traced (jit arguments, vmap), an invalid target cannot raise: the forward, the
    ``<name>_backward`` and ``jax.grad`` are NaN in that row, finite elsewhere. Concrete (eager,
    or closed over under jit) it raises the same ValueError."""
    call = case.invalid
    preds = [_jax(p) for p in call.preds]
    aux = [_jax(a) for a in call.aux]
    f = call.fn("none")
    loss = jax.jit(f)(*preds, *aux)
    _nan_exactly_where(loss, case.bad, f"{case.id}: jit forward")
    ones = jnp.ones(case.bad.shape)
    back = jax.jit(call.backward("none"))(ones, *preds, *aux)
    grads = jax.jit(jax.grad(lambda *a: jnp.sum(f(*a)), argnums=0))(*preds, *aux)
    for what, g in [("backward", back), ("jax.grad", grads)]:
        g = g[0] if isinstance(g, tuple) else g
        _nan_exactly_where(g, case.bad, f"{case.id}: jit {what}")
    reduced = jax.jit(call.fn("mean"))(*preds, *aux)
    assert np.isnan(np.asarray(reduced)), f"{case.id}: the mean over an invalid row"
    # vmap: the invalid row's problem is NaN, the valid one is not
    both = [_jax(np.stack([a, a])) for a in call.preds]
    valid = [_jax(np.stack([v, a])) for v, a in zip(case.call.aux, call.aux, strict=True)]
    per = jax.vmap(call.fn("sum"))(*both, *valid)
    assert np.isfinite(np.asarray(per[0])) and np.isnan(np.asarray(per[1])), case.id
    # concrete: the eager error, also under jit when closed over
    with pytest.raises(ValueError, match=case.message):
        f(*preds, *aux)
    with pytest.raises(ValueError, match=case.message):
        jax.jit(lambda *p: f(*p, *aux))(*preds)


@pytest.mark.parametrize("impl_id", ["numpy", "torch", "jax"])
def test_invalid_values_raise_the_same_error_eagerly_on_every_backend(impl_id):
    from .implementations import resolve

    impl = resolve(impl_id)
    for case in INVALID:
        call = case.invalid
        preds = [impl.array(p, "float64") for p in call.preds]
        aux = [
            impl.exact(a) if a.dtype.kind in "iub" else impl.array(a, "float64") for a in call.aux
        ]
        for fn in (call.fn("none"), lambda *a, call=call: call.backward("sum")(1.0, *a)):
            with pytest.raises(ValueError, match=case.message):
                fn(*preds, *aux)


# --- integer widths of class targets ---------------------------------------------------------

INT_DTYPES = ["int8", "uint8", "int16", "int32", "int64"]


def _confident_logits(rows: int, n: int, target: np.ndarray) -> np.ndarray:
    """Logits whose every other row is confident (its target 30 above the rest): the rows
    that the torch backend recomputes by indexing with the target."""
    z = RNG.normal(size=(rows, n))
    z[np.arange(0, rows, 2), target[::2]] += 30.0
    return z


@pytest.mark.parametrize("int_dtype", INT_DTYPES)
def test_class_targets_of_every_integer_width_give_the_int64_result(
    impl: Implementation, int_dtype
):
    """Every loss with class targets, forward and backward, every reduction, the targets of
    each integer width against the same targets as int64 (exactly: the width changes no
    arithmetic). Rows are confident and not, a few hundred of them (the torch backend's
    row-blocked paths), with an ignored row where the width can hold -100."""
    n = 7
    t = RNG.integers(0, n, size=300)
    z = impl.array(_confident_logits(300, n, t), "float64")
    signed = not int_dtype.startswith("u")
    ignore = -100 if signed else 255
    t = _with(t, 5, ignore)
    w = impl.array(RNG.uniform(0.5, 2.0, size=n), "float64")
    seq_z = impl.array(_confident_logits(300, n, t).reshape(3, 100, n), "float64")
    seq_t = np.where(t == ignore, 0, t).reshape(3, 100)
    mask = impl.exact(RNG.random((3, 100)) < 0.8)

    def losses(target, seq_target):
        out = []
        for reduction in ("mean", "sum", "none"):
            kw = {"reduction": reduction, "ignore_index": ignore}
            g = 1.0 if reduction != "none" else impl.array(np.linspace(-1, 1, 300), "float64")
            out += [
                P.cross_entropy(z, target, **kw),
                P.cross_entropy(z, target, weight=w, label_smoothing=0.1, **kw),
                P.cross_entropy_backward(g, z, target, weight=w, **kw),
                P.nll_loss(z, target, weight=w, **kw),
                P.nll_loss_backward(g, z, target, **kw),
            ]
        out += [
            P.sequence_cross_entropy(seq_z, seq_target, mask),
            P.sequence_cross_entropy_backward(1.0, seq_z, seq_target, mask),
        ]
        return [impl.numpy(o) for o in out]

    expected = losses(impl.exact(t.astype(np.int64)), impl.exact(seq_t.astype(np.int64)))
    actual = losses(impl.exact(t.astype(int_dtype)), impl.exact(seq_t.astype(int_dtype)))
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        np.testing.assert_array_equal(a, e, err_msg=f"{int_dtype}: result {i}")


@pytest.mark.parametrize("int_dtype", INT_DTYPES)
def test_int_targets_through_torch_autograd(int_dtype):
    torch = pytest.importorskip("torch", reason="torch is not installed")
    t = RNG.integers(0, 5, size=64)
    z0 = torch.from_numpy(_confident_logits(64, 5, t))
    grads = []
    for dtype in (int_dtype, "int64"):
        z = z0.clone().requires_grad_(True)
        target = torch.from_numpy(t.astype(dtype))
        (P.cross_entropy(z, target) + P.nll_loss(P.log_softmax(z), target)).backward()
        grads.append(z.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


@pytest.mark.parametrize("int_dtype", INT_DTYPES)
def test_int_targets_under_jax_jit_grad(int_dtype):
    t = RNG.integers(0, 5, size=16)
    z = _jax(_confident_logits(16, 5, t))
    grads = []
    for dtype in (int_dtype, "int64"):
        y = _jax(t.astype(dtype))
        grads.append(jax.jit(jax.grad(lambda v, y=y: P.cross_entropy(v, y)))(z))
    np.testing.assert_array_equal(np.asarray(grads[0]), np.asarray(grads[1]))


# --- the other primitives ----------------------------------------------------------------------


class Layer(NamedTuple):
    """``P.<name>(x, *aux, **kw)`` (the first output, for those returning a tuple) and
    ``P.<name>_backward(g, x, *aux, **kw)`` (its first result: the gradient for ``x``)."""

    id: str
    name: str
    x: np.ndarray
    aux: tuple[Any, ...] = ()
    kw: dict[str, Any] = {}  # noqa: RUF012 (a NamedTuple field, never mutated)
    backward_aux: tuple[Any, ...] | None = None  # when the backward takes other inputs

    def forward(self, x: Any, *aux: Any) -> Any:
        out = getattr(P, self.name)(x, *aux, **self.kw)
        return out[0] if isinstance(out, tuple) else out

    def backward(self, g: Any, x: Any, *aux: Any) -> Any:
        out = getattr(P, self.name + "_backward")(g, x, *aux, **self.kw)
        return out[0] if isinstance(out, tuple) else out


XL = RNG.normal(size=(4, 6)) * 2.0
KEEP = RNG.random((4, 6)) < 0.7
BN_WEIGHT = RNG.normal(size=6)
LAYERS = [
    *(
        Layer(name, name, XL)
        for name in ("relu", "sigmoid", "tanh", "gelu", "silu", "softmax", "log_softmax")
    ),
    Layer("softplus(beta=2)", "softplus", XL, (), {"beta": 2.0, "threshold": 5.0}),
    Layer("elu(alpha=0.5)", "elu", XL, (), {"alpha": 0.5}),
    Layer("leaky_relu(0.2)", "leaky_relu", XL, (), {"negative_slope": 0.2}),
    Layer("gelu(tanh)", "gelu", XL, (), {"approximate": "tanh"}),
    Layer("log_softmax(axis=0)", "log_softmax", XL, (), {"axis": 0}),
    Layer("layer_norm", "layer_norm", XL, ((6,), RNG.normal(size=6), RNG.normal(size=6))),
    Layer("linear", "linear", XL, (RNG.normal(size=(3, 6)), RNG.normal(size=3))),
    Layer(
        "batch_norm",
        "batch_norm",
        XL,
        (np.zeros(6), np.ones(6), BN_WEIGHT, RNG.normal(size=6)),
        backward_aux=(BN_WEIGHT,),  # batch_norm_backward(g, x, weight)
    ),
    Layer("dropout(mask)", "dropout", XL, (0.25,), {"mask": jnp.asarray(KEEP)}, backward_aux=()),
]


def _backward_of(layer: Layer) -> Callable:
    if layer.name == "dropout":
        return lambda g, x, *aux: P.dropout_backward(g, aux[0], 0.25)
    return layer.backward


def _as_jax(v: Any) -> Any:
    return _jax(v) if isinstance(v, np.ndarray) and v.dtype.kind in "fb" else v


@pytest.mark.parametrize("layer", LAYERS, ids=lambda c: c.id)
def test_primitive_under_jit_grad_vmap_equals_eager(layer):
    """The forward under jit (its arrays closed over, or passed in), jax.grad of <out, G> (and
    under jit) against ``<name>_backward(G, ...)``, and vmap over a batch of three against a
    loop, all equal to the eager call."""
    x = _jax(layer.x)
    aux = [_as_jax(a) for a in layer.aux]
    arrays = [i for i, a in enumerate(aux) if not isinstance(a, (tuple, float))]
    static = {i: a for i, a in enumerate(aux) if i not in arrays}

    def forward(v, *traced):
        full = dict(static)
        full.update(zip(arrays, traced, strict=True))
        return layer.forward(v, *(full[i] for i in range(len(aux))))

    traced_aux = [aux[i] for i in arrays]
    eager = forward(x, *traced_aux)
    _close(jax.jit(lambda v: forward(v, *traced_aux))(x), eager, f"{layer.id}: jit, closed over")
    _close(jax.jit(forward)(x, *traced_aux), eager, f"{layer.id}: jit, passed in")
    G = _jax(RNG.normal(size=np.shape(eager)))
    back_aux = aux if layer.backward_aux is None else [_as_jax(a) for a in layer.backward_aux]
    if layer.name == "dropout":
        back_aux = [_jax(KEEP)]
    expected = _backward_of(layer)(G, x, *back_aux)

    def inner(v, *t):
        return jnp.sum(forward(v, *t) * G)

    _close(jax.grad(inner)(x, *traced_aux), expected, f"{layer.id}: jax.grad")
    _close(jax.jit(jax.grad(inner))(x, *traced_aux), expected, f"{layer.id}: jit(grad)")
    _close(
        jax.jit(lambda v: jax.grad(inner)(v, *traced_aux))(x),
        expected,
        f"{layer.id}: jit(grad), closed over",
    )
    if layer.name == "batch_norm":
        return  # a batch statistic: vmap over the batch axis would change the statistic
    batch = jnp.stack([x, -x, 0.5 * x])
    loop = jnp.stack([forward(b, *traced_aux) for b in batch])
    _close(jax.vmap(lambda v: forward(v, *traced_aux))(batch), loop, f"{layer.id}: vmap")
    grads = jax.jit(jax.vmap(jax.grad(inner), in_axes=(0, *([None] * len(traced_aux)))))(
        batch, *traced_aux
    )
    for i, b in enumerate(batch):
        _close(grads[i], _backward_of(layer)(G, b, *back_aux), f"{layer.id}: vmap(grad) {i}")


def test_dropout_and_penalties_under_jit():
    """dropout with its key closed over or passed in draws the eager mask; the penalties'
    jax.grad under jit equals their backward."""
    x, key = _jax(XL), jax.random.key(7)
    eager, mask = P.dropout(x, 0.3, rng=key, return_mask=True)
    _close(jax.jit(lambda v: P.dropout(v, 0.3, rng=key))(x), eager, "dropout, key closed over")
    _close(jax.jit(lambda v, k: P.dropout(v, 0.3, rng=k))(x, key), eager, "dropout, key passed")
    grad = jax.jit(jax.grad(lambda v: jnp.sum(P.dropout(v, 0.3, rng=key))))(x)
    _close(grad, P.dropout_backward(jnp.ones_like(x), mask, 0.3), "dropout jax.grad")
    tree = {"a": x, "b": _jax(XL[0])}
    for name in ("l1_penalty", "l2_penalty"):
        f = getattr(P, name)
        got = jax.jit(jax.grad(lambda t, f=f: f(t, 0.1)))(tree)
        want = getattr(P, name + "_backward")(1.0, tree, 0.1)
        for k in tree:
            _close(got[k], want[k], f"{name} jit(grad) {k}")


# The losses whose argument checks read no values: torch.func.vmap can batch them. Class
# targets, probabilities in [0, 1] and the like are checked on concrete values (torch has no
# tracers), which vmap cannot do: a limitation of torch.func with these losses, before the
# autograd.Functions as now.
TORCH_VMAPPABLE = {"mse", "l1", "huber", "ce-probs", "nll-weight", "bce-logits"}
TORCH_VMAPPABLE |= {"bce-logits-pos-weight"}


@pytest.mark.parametrize("call", [c for c in LOSSES if c.id != "contrastive"], ids=lambda c: c.id)
def test_loss_under_torch_func_grad_vmap_hessian(call):
    """torch.func's transforms (which the losses' autograd.Functions have no rules for) go
    through the forward's own operations: grad equals the backward; where vmap can run the
    loss's checks (TORCH_VMAPPABLE), vmap(grad) equals a loop of backwards and hessian runs
    (both raised 'does not have vmap support' while the Functions were used under them)."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    preds = [torch.from_numpy(p.copy()) for p in call.preds]
    aux = [torch.from_numpy(a.copy()) for a in call.aux]
    reduction = "sum" if call.id not in REDUCED else None
    f = call.fn(reduction)
    one = torch.tensor(1.0, dtype=torch.float64)
    expected = call.backward(reduction)(one, *preds, *aux)
    grad = torch.func.grad(lambda p: f(p, *aux))(preds[0])
    _close(grad.numpy(), expected.numpy(), f"{call.id}: torch.func.grad")
    if call.id not in TORCH_VMAPPABLE:
        return
    stacked = torch.stack([preds[0], preds[0] * 0.5])
    per_example = torch.func.vmap(torch.func.grad(lambda p: f(p, *aux)))(stacked)
    for i in range(2):
        each = call.backward(reduction)(one, stacked[i], *aux)
        _close(per_example[i].numpy(), each.numpy(), f"{call.id}: vmap(grad) example {i}")
    hessian = torch.func.hessian(lambda p: f(p, *aux))(preds[0])
    assert hessian.shape == preds[0].shape * 2 and bool(torch.isfinite(hessian).all())


def test_bce_with_logits_through_its_forward_operations_keeps_the_tails():
    """torch.func (and autograd, where the target also requires grad) differentiates the
    forward's operations: the derivative of confident, correct predictions (sigma(x) = 2e-9
    at x = -20 with y = 0, 4e-18 at -40, 1e-304 at -700) must survive the order in which
    autodiff adds the parts of softplus (a form |x|/2 + x/2 + log1p(exp(-|x|)) returned 0
    there), and the second derivative is sigma(x) sigma(-x), 1/4 at 0."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    f64 = torch.float64
    x = torch.tensor([-700.0, -40.0, -20.0, -5.0, -0.0, 0.0, 5.0, 20.0, 40.0, 700.0], dtype=f64)
    y = (x > 0).to(f64)  # the correct labels: the gradients are the tails
    one = torch.tensor(1.0, dtype=f64)
    expected = P.binary_cross_entropy_with_logits_backward(one, x, y, reduction="sum")

    def f(v):
        return P.binary_cross_entropy_with_logits(v, y, reduction="sum")

    eps = float(torch.finfo(f64).eps)
    torch.testing.assert_close(torch.func.grad(f)(x), expected, rtol=8 * eps, atol=0)
    xr, yr = x.clone().requires_grad_(True), y.clone().requires_grad_(True)
    P.binary_cross_entropy_with_logits(xr, yr, reduction="sum").backward()
    torch.testing.assert_close(xr.grad, expected, rtol=8 * eps, atol=0)
    e = torch.exp(-x.abs())
    curvature = e / (1.0 + e) ** 2  # sigma(x) sigma(-x)
    hessian = torch.func.hessian(f)(x).diagonal()
    torch.testing.assert_close(hessian, curvature, rtol=16 * eps, atol=0)


def test_a_loss_whose_target_is_its_prediction_gets_both_shares_of_the_gradient():
    """``cross_entropy(z, z)``: one tensor as the prediction and the probability target; its
    gradient has both shares (autograd through the forward), as ``F.cross_entropy(z, z)``'s.
    The hand-written gradient covers the prediction only and must not be used here."""
    torch = pytest.importorskip("torch", reason="torch is not installed")
    probs = [[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]]
    z = torch.tensor(probs, dtype=torch.float64, requires_grad=True)
    P.cross_entropy(z, z).backward()
    ref = torch.tensor(probs, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.cross_entropy(ref, ref).backward()
    torch.testing.assert_close(z.grad, ref.grad, rtol=1e-12, atol=1e-15)
