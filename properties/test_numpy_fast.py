"""The numpy backend's fast kernels at scale: blocks, threads and the fallback to the generic
kernels (``primitives/backends/numpy_fast.py``, ``numpy_blocks.py``).

The rest of the suite judges these kernels for accuracy with 4-element blocks (see
``conftest.py``). Here the arrays are large enough for the default blocks and threads, and the
claims are about the mechanics:

* blocks on several threads give bit for bit the results of one block on one thread, so no
  block is lost, repeated or raced over (in-domain values: every block on the fast formula,
  which the rest of the suite judged);
* a value outside a fast formula's domain (NaN, infinities, the far tails) is computed by the
  generic kernel, and no element's result depends on its neighbours (on its row's, for
  softmax);
* what the fast path does not take (float16, broadcasting, non-contiguous arrays, softmax
  along another axis, parameters outside a formula's range) is the generic kernel's result;
* a fast formula used outside its domain or parameter range is rejected by the accuracy
  properties (mutants).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import pytest

from primitives import _dispatch
from primitives.backends import numpy_blocks, numpy_fast
from primitives.kernels import activation_domains as domains
from tools import fit_erfcx

from . import activation_checks as checks
from .cases import EDGE_POINTS, ELEMENTWISE, ActivationCase
from .fast_kernel_cases import CASES, SPECIAL, calls, ids, moderate_inputs
from .mutants import rejects, with_kernels

FAST = _dispatch.kernels("numpy")
GENERIC = _dispatch.Kernels(FAST.backend, use_native=False)
BACKEND = FAST.backend
SIZE = 600_000  # elements: above min_size, three default blocks (2**18) on two threads


class _NoGeneric:
    """A backend whose every attribute raises: the generic kernels cannot run on it."""

    def __getattr__(self, name):
        raise AssertionError(f"the generic kernel ran (backend.{name})")


FAST_ONLY = numpy_fast.kernels(_NoGeneric())


@contextlib.contextmanager
def blocks(**settings) -> Iterator[None]:
    previous = numpy_blocks.configure(**settings)
    try:
        yield
    finally:
        numpy_blocks.configure(**previous._asdict())


def at_scale():
    """The library's default block settings, on two threads."""
    return blocks(
        threads=2, block=numpy_blocks.DEFAULT_BLOCK, min_size=numpy_blocks.DEFAULT_MIN_SIZE
    )


def assert_same_bits(actual: np.ndarray, expected: np.ndarray, msg: str = "") -> None:
    """Equal values, NaN where NaN, and the same sign of zero (assert_array_equal alone
    takes -0.0 for 0.0)."""
    np.testing.assert_array_equal(actual, expected, err_msg=msg, strict=True)
    number = ~np.isnan(expected)  # a NaN's sign bit means nothing
    np.testing.assert_array_equal(np.signbit(actual[number]), np.signbit(expected[number]), msg)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_blocks_on_threads_give_the_one_block_results(case, dtype):
    """In-domain values: default blocks on two threads == one block on one thread, and every
    block took the fast formula (kernels whose generic fallback raises give the same)."""
    rng = np.random.default_rng(0)
    x = moderate_inputs(dtype, (SIZE // 1000, 1000), rng, case)
    for name, arrays, params in calls(case, dtype, rng, x):
        with blocks(threads=1, block=SIZE, min_size=0):
            judged = getattr(FAST, name)(*arrays, *params)
        with at_scale():
            out = getattr(FAST, name)(*arrays, *params)
            # (float64's exact GELU runs the generic formula itself, on blocks)
            if name in FAST_ONLY and not (case.id == "gelu(none)" and dtype == "float64"):
                fast_only = FAST_ONLY[name](*arrays, *params)
                assert_same_bits(fast_only, out)
        assert_same_bits(out, judged, f"{name} [{dtype}]")


GELU_CASES = [c for c in ELEMENTWISE if c.name == "gelu"]


@pytest.mark.parametrize("case", GELU_CASES, ids=[c.id for c in GELU_CASES])
def test_float64_pieces_give_the_one_piece_results(case, monkeypatch):
    """The float32 GELU kernels that compute in float64 split each block into pieces
    (numpy_fast._FLOAT64_PIECE): pieces of an odd size give bit for bit the block computed in
    one piece, so no piece is lost or repeated."""
    rng = np.random.default_rng(2)
    x = moderate_inputs("float32", (SIZE // 1000, 1000), rng, case)
    for name, arrays, params in calls(case, "float32", rng, x):
        with blocks(threads=1, block=SIZE, min_size=0):
            monkeypatch.setattr(numpy_fast, "_FLOAT64_PIECE", SIZE)
            whole = getattr(FAST, name)(*arrays, *params)
            monkeypatch.setattr(numpy_fast, "_FLOAT64_PIECE", 4099)
            in_pieces = getattr(FAST, name)(*arrays, *params)
        assert_same_bits(in_pieces, whole, name)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=ids)
def test_a_result_depends_on_its_own_value_only(case, dtype):
    """NaN, infinities, signed zeros, tails and subnormals sprinkled over a large array send
    some elements of their blocks to the generic kernel; shuffling the elements (softmax: the
    rows) among the blocks shuffles the results, bit for bit."""
    rng = np.random.default_rng(1)
    x = moderate_inputs(dtype, (SIZE // 1000, 1000), rng, case)
    flat = x.reshape(-1)
    flat[rng.choice(flat.size, size=40, replace=False)] = np.resize(np.array(SPECIAL, dtype), 40)
    rows = case.name in ("softmax", "log_softmax")
    perm = rng.permutation(x.shape[0] if rows else x.size)

    def shuffled(a):
        return a[perm] if rows else a.reshape(-1)[perm].reshape(a.shape)

    for name, arrays, params in calls(case, dtype, rng, x):
        with at_scale():
            out = getattr(FAST, name)(*arrays, *params)
            out_shuffled = getattr(FAST, name)(*(shuffled(a) for a in arrays), *params)
        assert_same_bits(out_shuffled, shuffled(out), f"{name} [{dtype}]")


def test_values_outside_the_domains_take_the_generic_kernel():
    """sigmoid(-100) = 3.7e-44 where 1/(1 + exp(100)) is 0 in float32; a row with +inf shares
    its mass among the +inf entries where the fast formula gives NaN."""
    rng = np.random.default_rng(5)
    x = moderate_inputs("float32", (SIZE // 1000, 1000), rng)
    x[17, 3], x[17, 5] = np.inf, -100.0
    with at_scale():
        for case in CASES:
            rows = case.name in ("softmax", "log_softmax")
            at = (17,) if rows else (17, [3, 5])
            for name, arrays, params in calls(case, "float32", rng, x):
                out = getattr(FAST, name)(*arrays, *params)
                expected = getattr(GENERIC, name)(*(a[at] for a in arrays), *params)
                assert_same_bits(out[at], expected, name)


def _generic_equal(name: str, *args) -> None:
    assert_same_bits(getattr(FAST, name)(*args), getattr(GENERIC, name)(*args), name)


def test_what_the_fast_path_does_not_take_is_generic():
    rng = np.random.default_rng(2)
    x = moderate_inputs("float32", (400, 1000), rng)
    with at_scale():
        _generic_equal("sigmoid", x[:, ::2])  # not contiguous
        _generic_equal("sigmoid", x.astype(np.float16))
        _generic_equal("silu_backward", np.float32(2.0), x)  # broadcasting grad_output
        _generic_equal("softmax", x, 0)  # not the last axis
        _generic_equal("log_softmax_backward", x, x, -2)
        _generic_equal("elu", x, 2.0)  # alpha > 1: the max form would be wrong
        _generic_equal("leaky_relu", x, -0.5)
        _generic_equal("leaky_relu_backward", x, x, 3.0)
        _generic_equal("elu", x, np.float64(0.5))  # a numpy scalar would change the dtype
        _generic_equal("softplus_backward", x, x, np.float32(2.0), 20.0)
        for bad_axis in (2, True):
            with pytest.raises(Exception) as fast_error:
                FAST.softmax(x, bad_axis)
            with pytest.raises(Exception) as generic_error:
                GENERIC.softmax(x, bad_axis)
            assert type(fast_error.value) is type(generic_error.value)


def test_edge_values_at_scale_match_the_generic_kernel():
    """Reviewed cases: leaky_relu(+inf) with a slope that rounds to 0 in float32 (inf * 0),
    elu(-0.0) (which zero the tie-break of maximum returns)."""
    with at_scale():
        _generic_equal("leaky_relu", np.full(SIZE, np.inf, np.float32), 1e-50)
        _generic_equal("leaky_relu", np.full(SIZE, -0.0, np.float32), 0.01)
        for alpha in (1.0, 0.5):
            _generic_equal("elu", np.full(SIZE, -0.0, np.float32), alpha)
            g, x = -np.ones(SIZE, np.float32), np.full(SIZE, -0.0, np.float32)
            _generic_equal("elu_backward", g, x, alpha)


def test_threads_and_block_sizes_are_configurable_and_validated():
    with blocks(threads=3, block=10, min_size=0):
        assert numpy_blocks.settings() == numpy_blocks.Settings(3, 10, 0)
        x = moderate_inputs("float64", (7, 13), np.random.default_rng(3))
        _generic_equal("relu_backward", x, x)  # 91 elements in 10-element blocks
    for bad in ({"threads": 0}, {"block": 0}, {"min_size": -1}):
        with pytest.raises(ValueError, match="threads and block must be"):
            numpy_blocks.configure(**bad)


def test_inputs_are_not_mutated():
    x = moderate_inputs("float32", (SIZE // 1000, 1000), np.random.default_rng(4))
    x.reshape(-1)[::9973] = np.nan
    g = x[::-1].copy()
    before = x.copy(), g.copy()
    with at_scale():
        for case in CASES:
            getattr(FAST, case.name)(x, *case.params)
            getattr(FAST, case.backward)(g, x, *case.params)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(g, before[1])


# --- mutants: the fast formulas outside their domains ---------------------------------------


def _everywhere(x, *params):
    return x, -np.inf, np.inf


def _always(*params) -> bool:
    return True


def _mutant(name: str, fast, *, backward: bool, domain=_everywhere, applies=_always):
    kernel = numpy_fast.elementwise(BACKEND, name, fast, domain, applies, backward=backward)
    return with_kernels(GENERIC, **{name + ("_backward" if backward else ""): kernel})


EDGES = np.array([p for p in EDGE_POINTS if abs(p) <= 3e38], dtype=np.float64)


def test_sigmoid_without_its_tail_domain_is_rejected():
    # 1/(1 + exp(-x)) is 0 once exp(-x) overflows (x < -88.7 in float32): sigma(-100) = 3.7e-44
    mutant = _mutant("sigmoid", numpy_fast._sigmoid_into, backward=False)
    case = ActivationCase("sigmoid", ())
    x = np.array([-1.0, -100.0, 2.0, -95.0])
    rejects(lambda: checks.forward_ulps(mutant, case, "float32", x))


def test_silu_backward_at_infinity_is_rejected():
    # sigma + x sigma' at x = +inf is inf * 0 = NaN: the domain excludes infinities
    mutant = _mutant("silu", numpy_fast._silu_backward, backward=True)
    case = ActivationCase("silu", ())
    x = np.array([1.0, np.inf, -2.0, 0.5])
    rejects(lambda: checks.backward_ulps(mutant, case, "float64", np.ones(4), x))


def test_elu_max_form_with_alpha_above_one_is_rejected():
    # max(x, alpha expm1(x)) picks x near 0- when alpha > 1 (alpha expm1(x) < x there)
    mutant = _mutant("elu", numpy_fast._elu, backward=False)
    case = ActivationCase("elu", (2.0,), (0.0,))
    rejects(lambda: checks.forward_ulps(mutant, case, "float32", EDGES))


def test_gelu_tanh_without_its_tail_domain_is_rejected():
    # x / (1 + exp(-2u)) is -0 once exp(-2u) overflows: gelu_tanh(-10.5) = -7.4e-43 in
    # float32; the backward's r (1 + x 2u' E r), computed in float64 for float32, is NaN
    # where E = exp(-2u) overflows float64 (x = -25: inf * 0)
    case = ActivationCase("gelu", ("tanh",))
    mutant = _mutant("gelu", numpy_fast._gelu_tanh, backward=False)
    rejects(lambda: checks.forward_ulps(mutant, case, "float32", np.array([-1.0, -10.5, 2.0])))
    mutant = _mutant("gelu", numpy_fast._gelu_tanh_backward, backward=True)
    x = np.array([-1.0, -25.0, 2.0])
    rejects(lambda: checks.backward_ulps(mutant, case, "float32", np.ones(3), x))


def test_float32_exact_gelu_without_its_domain_or_with_a_shorter_fit_is_rejected():
    # at x = -inf, t = 0 and exp(-x^2/2) = 0 give Phi = 0 and -inf * 0 = NaN (gelu(-inf) = -0);
    # and P of degree 6 instead of 9 (erfcx fitted to 2.8e-6 instead of 7.8e-9) is ~20 ULPs off
    case = ActivationCase("gelu", ("none",))
    mutant = _mutant("gelu", numpy_fast._gelu_erf_float32, backward=False)
    rejects(lambda: checks.forward_ulps(mutant, case, "float32", np.array([-1.0, -np.inf])))

    def shorter(out, x, approximate):
        full = numpy_fast._HALF_ERFCX
        numpy_fast._HALF_ERFCX = tuple(0.5 * fit_erfcx.fit(degree=6)[::-1])
        try:
            numpy_fast._gelu_erf_float32(out, x, approximate)
        finally:
            numpy_fast._HALF_ERFCX = full

    mutant = _mutant("gelu", shorter, backward=False, domain=domains.gelu_normal)
    x = np.linspace(-5.0, 3.0, 401)
    checks.forward_ulps(
        _mutant("gelu", numpy_fast._gelu_erf_float32, backward=False, domain=domains.gelu_normal),
        case,
        "float32",
        x,
    )  # the library's own fit passes the same check
    rejects(lambda: checks.forward_ulps(mutant, case, "float32", x))


def test_softplus_with_log_of_one_plus_e_is_rejected():
    # log(1 + e) instead of the corrected form: softplus(-30) = 9.4e-14 comes out 0 in float32
    def naive(out, x, beta, threshold):
        z = np.multiply(x, beta)
        np.log(1.0 + np.exp(-np.abs(z)), out=out)
        out += np.maximum(z, 0.0)
        out /= beta

    mutant = _mutant("softplus", naive, backward=False, domain=numpy_fast._softplus_domain)
    case = ActivationCase("softplus", (1.0, 20.0))
    rejects(lambda: checks.forward_ulps(mutant, case, "float32", np.array([-30.0, 1.0])))


def test_a_numpy_string_parameter_is_not_taken_for_an_array():
    # np.str_ has a dtype: the float64 detour of float32 GELU must not cast it
    x = moderate_inputs("float32", (4, 5), np.random.default_rng(7))
    _generic_equal("gelu", x, np.str_("tanh"))
    assert FAST.gelu(x, np.str_("none")).dtype == np.float32
