"""torch's native activation kernels, guarded to their accurate domain
(``primitives/backends/torch_activations.py``).

The suite's activation properties judge them through the public API (the ``torch`` id, with
``torch:generic`` beside it). Here:

* each native kernel used without its guard (a mutant) is rejected by the accuracy check that
  accepts the library, at the input where the native kernel slips;
* at scale, special values sprinkled in change no other element's result (no other row's,
  for softmax), bit for bit;
* values outside a native kernel's domain get the generic kernel's result.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest

from . import activation_checks as checks
from .cases import ActivationCase
from .fast_kernel_cases import CASES, SPECIAL, calls, ids, moderate_inputs
from .mutants import rejects, with_kernels

torch = pytest.importorskip("torch", reason="these are the torch backend's own kernels")

from primitives import _dispatch  # noqa: E402

NATIVE = _dispatch.kernels("torch")
GENERIC = _dispatch.Kernels(NATIVE.backend, use_native=False)
F = torch.nn.functional


def _unguarded(**kernels):
    return with_kernels(NATIVE, **kernels)


def test_sigmoid_without_its_guard_is_rejected():
    # 1/(1 + exp(-x)) is 0 once exp(-x) overflows: sigma(-95) = 5.5e-42 in float32
    mutant = _unguarded(sigmoid=torch.sigmoid)
    x = np.array([-1.0, -95.0, 3.0])
    rejects(lambda: checks.forward_ulps(mutant, ActivationCase("sigmoid", ()), "float32", x))


def test_silu_without_its_guard_is_rejected():
    mutant = _unguarded(silu=F.silu)
    x = np.array([-1.0, -95.0, 3.0])
    rejects(lambda: checks.forward_ulps(mutant, ActivationCase("silu", ()), "float32", x))


def test_torch_silu_backward_kernel_is_rejected():
    # Why the library composes silu' from two sigmoids: aten's 1 - sigma(x) cancels.
    mutant = _unguarded(silu_backward=torch.ops.aten.silu_backward)
    x = np.array([1.0, 37.43, -2.0])
    case = ActivationCase("silu", ())
    rejects(lambda: checks.backward_ulps(mutant, case, "float64", np.ones(3), x))


def test_relu_backward_without_its_guard_is_rejected():
    # threshold_backward returns g at a NaN input, and 0 for a NaN g where x <= 0
    mutant = _unguarded(relu_backward=lambda g, x: torch.ops.aten.threshold_backward(g, x, 0.0))
    case = ActivationCase("relu", (), (0.0,))
    nan = float("nan")
    rejects(lambda: checks.backward_ulps(mutant, case, "float32", np.ones(2), np.array([nan, 1])))
    rejects(lambda: checks.backward_ulps(mutant, case, "float32", np.array([nan, 1]), -np.ones(2)))


def test_softplus_without_its_guard_is_rejected():
    # threshold = inf lets exp(x) overflow: softplus(100) = 100, not inf
    mutant = _unguarded(softplus=F.softplus)
    case = ActivationCase("softplus", (1.0, float("inf")))
    rejects(lambda: checks.forward_ulps(mutant, case, "float32", np.array([1.0, 100.0])))


def test_softmax_without_its_guard_is_rejected():
    # a row holding +inf is NaN for torch; the library shares the mass among the +inf entries
    mutant = _unguarded(softmax=torch.softmax)
    x = np.array([[1.0, np.inf, 0.0], [1.0, 2.0, 3.0]])
    rejects(lambda: checks.row_ulps(mutant, "softmax", "float64", x, None))


def test_torch_softmax_kernels_are_rejected_on_a_long_row():
    # Why the softmax family is composed from torch.sum: torch.softmax and torch.log_softmax
    # sum a row in one running sum per vector lane, which rounds alike terms alike
    x = np.zeros((1, 8192))
    x[0, 7] = 3.0
    for name, kernel in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
        mutant = _unguarded(**{name: kernel})
        rejects(
            lambda m=mutant, n=name: checks.row_ulps(m, n, "float32", x, None, closed_form=True)
        )


def test_log_softmax_without_its_guard_is_rejected():
    # a confident row: (x - m) - log S forms -log(1 + rest) with 1 + rest rounded first
    from primitives.backends.torch_activations import _log_softmax

    mutant = _unguarded(log_softmax=_log_softmax)
    x = np.array([[10.0, -6.0, -7.0, -8.0], [0.0, 1.0, 2.0, 3.0]])
    rejects(lambda: checks.row_ulps(mutant, "log_softmax", "float32", x, None))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log_softmax_takes_the_composition_where_it_is_accurate(dtype):
    """Rows whose largest entry is below -2 (here 24 entries within 1 of each other) get
    (x - m) - log S, within the ULP bound, along any axis; a confident row of the same
    tensor gets the generic kernel's result."""
    from primitives.backends.torch_activations import _log_softmax

    rng = np.random.default_rng(7)
    x = rng.uniform(-0.5, 0.5, (3, 24)) + rng.uniform(-50.0, 50.0, (3, 1))
    x[1, 0] += 30.0  # confident: its largest entry is -log(1 + 1e-12) in float64
    xt = _torch(x.astype(dtype))
    out, composed = NATIVE.log_softmax(xt, -1), _log_softmax(xt, -1)
    assert torch.equal(out[[0, 2]], composed[[0, 2]])
    assert torch.equal(out[1], GENERIC.log_softmax(xt[1], -1))
    assert not torch.equal(out[1], composed[1])
    checks.row_ulps(_unguarded(), "log_softmax", dtype, x, None)
    assert torch.equal(NATIVE.log_softmax(xt.T, 0).T, out)


def test_gelu_compositions_without_their_guard_are_rejected():
    # x / (1 + exp(-2u)) is -0 once exp(-2u) overflows: gelu_tanh(-10.5) = -7.4e-43 in
    # float32; erfc(-x/sqrt 2) x / 2 is 0 * -inf = NaN at x = -inf, where gelu is -0
    from primitives.backends import torch_activations as native

    tanh_case, erf_case = ActivationCase("gelu", ("tanh",)), ActivationCase("gelu", ("none",))
    mutant = _unguarded(gelu=native._gelu_tanh)
    x = np.array([-1.0, -10.5, 2.0])
    rejects(lambda: checks.forward_ulps(mutant, tanh_case, "float32", x))
    mutant = _unguarded(gelu_backward=native._gelu_tanh_backward)
    x = np.array([-1.0, -25.0, 2.0])  # (float32 in float64: exp(-2u) overflows at -25)
    rejects(lambda: checks.backward_ulps(mutant, tanh_case, "float32", np.ones(3), x))
    x = np.array([-1.0, -np.inf, 2.0])
    mutant = _unguarded(gelu=native._gelu)
    rejects(lambda: checks.forward_ulps(mutant, erf_case, "float32", x))
    mutant = _unguarded(gelu_backward=native._gelu_backward)
    rejects(lambda: checks.backward_ulps(mutant, erf_case, "float64", np.ones(3), x))


def test_torch_gelu_kernels_are_rejected():
    # Why the library composes gelu from erfc and exp: F.gelu forms 1 + erf (17% off at x = -5
    # in float32, 0 from x = -6) and its tanh form 1 + tanh u (30% off at -5)
    mutant = _unguarded(gelu=lambda x, approximate: F.gelu(x, approximate=approximate))
    x = np.array([1.0, -5.0])
    for case in (ActivationCase("gelu", ("none",)), ActivationCase("gelu", ("tanh",))):
        rejects(partial(checks.forward_ulps, mutant, case, "float32", x))


def _torch(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_special_values_do_not_change_their_neighbours(case, dtype):
    """The same tensor with and without special values sprinkled in: every other element (for
    softmax, every other row) gets the same result, bit for bit. (Not a shuffle, as for
    numpy: torch's own kernels round an element 1 ULP differently in the scalar tail of a
    vectorized loop, so a native result depends on its position.)"""
    rng = np.random.default_rng(1)
    clean = moderate_inputs(dtype, (300, 1000), rng, case)
    dirty = clean.copy()
    where = rng.choice(clean.size, size=40, replace=False)
    dirty.reshape(-1)[where] = np.resize(np.array(SPECIAL, dtype), 40)
    untouched = np.ones(clean.shape, dtype=bool)
    untouched.reshape(-1)[where] = False
    if case.name in ("softmax", "log_softmax"):
        untouched = np.broadcast_to(untouched.all(axis=-1, keepdims=True), clean.shape)
    g = _torch(rng.uniform(-2.0, 2.0, clean.shape).astype(dtype))
    for name, first in ((case.name, ()), (case.backward, (g,))):
        out_clean = getattr(NATIVE, name)(*first, _torch(clean), *case.params).numpy()
        out_dirty = getattr(NATIVE, name)(*first, _torch(dirty), *case.params).numpy()
        np.testing.assert_array_equal(out_dirty[untouched], out_clean[untouched], err_msg=name)


def test_values_outside_the_domains_take_the_generic_kernel():
    rng = np.random.default_rng(5)
    x = moderate_inputs("float32", (300, 1000), rng)
    x[17, 3], x[17, 5] = np.inf, -100.0
    for case in CASES:
        rows = case.name in ("softmax", "log_softmax")
        at = (17,) if rows else (17, [3, 5])
        for name, arrays, params in calls(case, "float32", rng, x):
            out = getattr(NATIVE, name)(*map(_torch, arrays), *params)
            expected = getattr(GENERIC, name)(*(_torch(a[at]) for a in arrays), *params)
            np.testing.assert_array_equal(out[at].numpy(), expected.numpy(), err_msg=name)


def test_the_domain_check_is_exact_where_a_sum_overflows_or_holds_an_infinity():
    """Domains holding every finite value are checked by one sum first; a sum that overflows
    (finite elements) or holds an infinity goes on to the exact min/max check."""
    from primitives.backends.torch_activations import holds
    from primitives.kernels import activation_domains as domains

    big = torch.tensor([3e38, 3e38, 1.0])  # float32: the sum overflows
    inf, nan = torch.tensor([1.0, float("inf")]), torch.tensor([1.0, float("nan")])
    assert holds([domains.finite(big)]) and holds([domains.not_nan(big)])
    assert holds([domains.not_nan(inf)]) and not holds([domains.finite(inf)])
    assert not holds([domains.not_nan(nan)]) and not holds([domains.finite(nan)])
    assert not holds([domains.not_nan(-inf), domains.finite(big), domains.finite(inf)])


def test_one_sided_domains_are_checked_exactly():
    """A domain open on one side is checked by one reduction (amax or amin), NaN failing."""
    from primitives.backends.torch_activations import holds

    t = torch.tensor([-3.0, 2.0, 5.0])
    assert holds([(t, -math.inf, 5.0)]) and not holds([(t, -math.inf, 4.9)])
    assert holds([(t, -3.0, math.inf)]) and not holds([(t, -2.9, math.inf)])
    nan = torch.tensor([1.0, float("nan")])
    assert not holds([(nan, -math.inf, 5.0)]) and not holds([(nan, 0.0, math.inf)])


def test_softmax_along_any_axis_redoes_the_right_rows():
    rng = np.random.default_rng(6)
    x = torch.from_numpy(moderate_inputs("float64", (6, 5, 7), rng))
    x[2, 1, 3] = float("inf")
    g = torch.from_numpy(moderate_inputs("float64", (6, 5, 7), rng))
    for axis in (0, 1, 2, -1, -3):
        for name, args in (("softmax", (x, axis)), ("softmax_backward", (g, x, axis))):
            torch.testing.assert_close(
                getattr(NATIVE, name)(*args), getattr(GENERIC, name)(*args), equal_nan=True
            )


def test_a_one_dimensional_row_is_redone_whole():
    # (the rows to redo were once taken by nonzero(), which on a 1-D tensor names element 0)
    for name, x in (
        ("softmax", torch.tensor([1.0, float("inf"), 0.0, 2.0])),
        ("log_softmax", torch.tensor([30.0, 0.0, 0.0, 0.0], dtype=torch.float64)),
    ):
        torch.testing.assert_close(getattr(NATIVE, name)(x, -1), getattr(GENERIC, name)(x, -1))
        g = torch.ones_like(x)
        torch.testing.assert_close(
            getattr(NATIVE, name + "_backward")(g, x, -1),
            getattr(GENERIC, name + "_backward")(g, x, -1),
            equal_nan=True,
        )


def test_the_cross_entropy_backward_can_itself_be_differentiated():
    import primitives as P

    z = torch.randn(3, 5, dtype=torch.float64, requires_grad=True)
    t = torch.tensor([0, 1, 2])
    g = P.cross_entropy_backward(torch.tensor(1.0, dtype=torch.float64), z, t)
    (second,) = torch.autograd.grad(g.square().sum(), z)
    # the same from torch's own softmax: (softmax(z) - one_hot) / rows
    expected = (torch.softmax(z, 1) - F.one_hot(t, 5)) / 3
    (reference,) = torch.autograd.grad(expected.square().sum(), z)
    torch.testing.assert_close(second, reference)


# --- reviewed cases: what the native path must hand to the generic kernel ------------------


def test_zero_dimensional_tensors_take_the_generic_kernel():
    for name, args in (
        ("sigmoid", (torch.tensor(-100.0),)),
        ("sigmoid", (torch.tensor(float("nan")),)),
        ("silu_backward", (torch.tensor(1.0), torch.tensor(float("inf")))),
        ("relu_backward", (torch.tensor(float("nan")), torch.tensor(-1.0))),
    ):
        torch.testing.assert_close(
            getattr(NATIVE, name)(*args), getattr(GENERIC, name)(*args), equal_nan=True
        )


def test_a_large_grad_output_does_not_overflow():
    # g exp(z) / (exp(z) + 1) overflows where g sigma(z) does not
    g, x = torch.tensor([1e30, 3e38]), torch.tensor([20.0, 3.0])
    for name, params in (("softplus_backward", (1.0, 20.0)), ("softplus_backward", (1.0, 1e9))):
        expected = GENERIC.softplus_backward(g, x, *params)
        torch.testing.assert_close(getattr(NATIVE, name)(g, x, *params), expected)
    g, x = torch.tensor([1e30]), torch.tensor([-5.0])
    torch.testing.assert_close(NATIVE.elu_backward(g, x, 1e10), GENERIC.elu_backward(g, x, 1e10))


def test_tensor_parameters_take_the_generic_kernel():
    x = torch.randn(50, dtype=torch.float64)
    g = torch.randn(50, dtype=torch.float64)
    two = torch.tensor(2.0, dtype=torch.float64)
    for name, params in (
        ("softplus_backward", (two, 20.0)),
        ("elu_backward", (torch.tensor(0.5, dtype=torch.float64),)),
        ("leaky_relu_backward", (torch.tensor(0.1, dtype=torch.float64),)),
    ):
        expected = getattr(GENERIC, name)(g, x, *params)
        torch.testing.assert_close(getattr(NATIVE, name)(g, x, *params), expected)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "silu", "softplus", "elu", "leaky_relu"])
def test_second_derivatives_through_the_library(name):
    """With create_graph the backward runs with grad mode on: the kernels must not write in
    place into tensors autograd saved. Compared with torch's own second derivative."""
    x = torch.linspace(-6.0, 6.0, 41, dtype=torch.float64, requires_grad=True)
    ours = getattr(__import__("primitives"), name)
    theirs = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}.get(name, getattr(F, name))
    second = []
    for f in (ours, theirs):
        (first,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
        second.append(torch.autograd.grad(first.sum(), x)[0])
    torch.testing.assert_close(second[0], second[1])


def _blocked_names() -> list[str]:
    from primitives.backends import torch_activations

    table = torch_activations.kernels(lambda: NATIVE.backend)
    return sorted(name for name, kernel in table.items() if getattr(kernel, "blocked", False))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocks_give_the_one_piece_result(dtype):
    """The composed CPU kernels run on blocks of 2**17 elements: the result of one call on the
    whole tensor, for an odd-sized 2-D tensor (a partial last block), a non-contiguous one,
    and special values (the fallback writes into the blocked output). Bit for bit, on one
    thread: torch's own kernels round an element differently in the scalar tail of a
    vectorized loop, and where those tails fall depends on how a call splits the tensor among
    threads (on 16 threads the two differ by 2 ULPs); on one thread the blocks, multiples of
    the vector width, end their vector loops where the whole tensor's does. (The rest of the
    suite judges the blocks' accuracy: conftest.py sets 24-element blocks.)"""

    names = _blocked_names()
    assert {"gelu_backward", "sigmoid_backward", "tanh_backward"} <= set(names)
    rng = np.random.default_rng(6)
    x = (rng.standard_normal((601, 1001)) * 4.0).astype(dtype)
    x.reshape(-1)[rng.choice(x.size, size=40, replace=False)] = np.resize(
        np.array(SPECIAL, dtype), 40
    )
    g = rng.uniform(-2.0, 2.0, x.shape).astype(dtype)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _compare_blocks_with_one_piece(names, g, x)
    finally:
        torch.set_num_threads(threads)


def _compare_blocks_with_one_piece(names: list[str], g: np.ndarray, x: np.ndarray) -> None:
    from primitives.backends import torch_activations

    for gt, xt in ((_torch(g), _torch(x)), (_torch(g).T, _torch(x).T)):
        for name in names:
            params = ("tanh",) if name == "gelu_backward" else ()
            for p in (params, ("none",)) if params else (params,):
                previous = torch_activations.configure_blocks(block=1 << 17, min_size=1 << 18)
                try:
                    blocked = getattr(NATIVE, name)(gt, xt, *p)
                    torch_activations.configure_blocks(min_size=1 << 40)
                    whole = getattr(NATIVE, name)(gt, xt, *p)
                finally:
                    torch_activations.configure_blocks(**previous._asdict())
                assert blocked.shape == whole.shape and blocked.dtype == whole.dtype
                b, w = blocked.numpy(), whole.numpy()
                np.testing.assert_array_equal(b, w, f"{name}{p}")  # (NaN where NaN)
                np.testing.assert_array_equal(np.signbit(b), np.signbit(w), f"{name}{p}")


def test_block_sizes_are_validated():
    from primitives.backends import torch_activations

    for bad in ({"block": 0}, {"rows": 0}, {"min_size": -1}):
        with pytest.raises(ValueError, match="block and rows must be >= 1"):
            torch_activations.configure_blocks(**bad)


def test_transforms_meta_tensors_and_layouts_take_a_working_path():
    """Reviewed cases: the domain check reads values (a Python bool), which vmap and meta
    tensors cannot give, so there the generic kernel runs; a channels_last input (not
    contiguous in the default format) runs whole, not on blocks, and keeps its layout."""
    import primitives as P

    x = torch.randn(4, 5, dtype=torch.float64)
    for form in ("none", "tanh"):
        batched = torch.func.vmap(lambda row, f=form: P.gelu(row, f))(x)
        np.testing.assert_array_equal(batched.numpy(), GENERIC.gelu(x, form).numpy())
        meta = P.gelu(torch.empty(4, 5, device="meta"), form)
        assert meta.device.type == "meta" and meta.shape == (4, 5)
    from primitives.backends import torch_activations

    previous = torch_activations.configure_blocks(block=64, min_size=0)
    try:
        x4 = torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)
        out = P.sigmoid_backward(torch.ones_like(x4), x4)
        assert out.is_contiguous(memory_format=torch.channels_last)
        torch_activations.configure_blocks(min_size=1 << 40)
        whole = P.sigmoid_backward(torch.ones_like(x4), x4)
        np.testing.assert_array_equal(out.numpy(), whole.numpy())  # the same, whole path
    finally:
        torch_activations.configure_blocks(**previous._asdict())


def test_a_string_parameter_gets_the_generic_kernels_error():
    g = x = torch.ones(3)
    for name, args in (("leaky_relu_backward", (g, x, "0.1")), ("elu_backward", (g, x, "1"))):
        with pytest.raises(Exception) as native_error:
            getattr(NATIVE, name)(*args)
        with pytest.raises(Exception) as generic_error:
            getattr(GENERIC, name)(*args)
        assert type(native_error.value) is type(generic_error.value), name
