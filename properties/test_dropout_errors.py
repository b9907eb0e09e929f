"""Bad input to dropout: a clear error, raised before anything changes (no kernel runs, the
generator's state does not advance), with the same message on every backend where the problem
is not backend-specific; random sources of another backend or device are refused."""

from __future__ import annotations

import numpy as np
import pytest

import primitives as P
from primitives import _dispatch

from .dropout_properties import as_bool, source
from .implementations import PUBLIC_API, Implementation, library_backends

IMPLEMENTATION_KINDS = PUBLIC_API

X = np.zeros((3, 4))
BAD_P = [
    (-0.1, r"p must be a drop probability in \[0, 1\], got -0\.1"),
    (1.5, r"p must be a drop probability in \[0, 1\], got 1\.5"),
    (float("nan"), r"p must be a drop probability in \[0, 1\], got nan"),
    (float("inf"), r"got inf"),
]
BAD_P_IDS = ["negative", "above 1", "NaN", "inf"]


def _calls(impl: Implementation, p):
    x = impl.array(X, "float64")
    mask = as_bool(impl, np.ones(X.shape, bool))
    return {
        "dropout": lambda: impl.ops.dropout(x, p, rng=0),
        "dropout (evaluation)": lambda: impl.ops.dropout(x, p, False),
        "dropout_mask": lambda: impl.ops.dropout_mask(x, p, rng=0),
        "dropout_backward": lambda: impl.ops.dropout_backward(x, mask, p),
    }


@pytest.mark.parametrize(("p", "match"), BAD_P, ids=BAD_P_IDS)
def test_bad_p_is_a_clear_error(impl, p, match):
    for name, call in _calls(impl, p).items():
        with pytest.raises(ValueError, match=match) as info:
            call()
        assert str(info.value).startswith(name.split(" ")[0] + ":"), str(info.value)


@pytest.mark.parametrize(("p", "match"), BAD_P, ids=BAD_P_IDS)
def test_bad_p_gives_the_same_message_on_every_backend(p, match):
    messages: dict[str, set[str]] = {}
    for impl in library_backends():
        for name, call in _calls(impl, p).items():
            with pytest.raises(ValueError) as info:
                call()
            messages.setdefault(name, set()).add(str(info.value))
    assert all(len(m) == 1 for m in messages.values()), messages


def test_bad_input_is_rejected_before_anything_changes(monkeypatch):
    """No kernel runs and a numpy Generator does not advance when the input is refused."""
    from primitives.kernels import dropout as kernels

    table = _dispatch.kernels("numpy")

    def ran(*args, **kwargs):
        raise AssertionError("a kernel ran before the input was validated")

    for name in vars(kernels):
        if name.startswith("dropout") and hasattr(table, name):
            monkeypatch.setattr(table, name, ran)
    gen = np.random.default_rng(7)
    state = gen.bit_generator.state
    for kwargs in ({"p": 2.0}, {"p": 0.5, "training": "yes"}, {"p": 0.5, "mask": np.ones(3, bool)}):
        with pytest.raises((ValueError, TypeError)):
            P.dropout(X, rng=gen, **kwargs)
    assert gen.bit_generator.state == state


def test_missing_or_doubled_random_source(impl):
    x = impl.array(X, "float64")
    with pytest.raises(ValueError, match=r"dropout: training with 0 < p < 1 needs a random source"):
        impl.ops.dropout(x, 0.5)
    with pytest.raises(ValueError, match="dropout: pass either rng or mask, not both"):
        impl.ops.dropout(x, 0.5, rng=0, mask=as_bool(impl, np.ones(X.shape, bool)))


def _foreign_sources(impl: Implementation) -> list:
    """Random sources of the other backends (and a few non-sources); a third-party backend
    that draws from one of theirs (the worked example takes NumPy's generators) keeps it."""
    out = [1.5, "seed", True, np.random.RandomState(0)]
    own = impl.backend.random
    for other in library_backends():
        if other.backend.name != impl.backend.name:
            rng = source(other, 0, "native")
            if own is None or not own.is_source(rng):
                out.append(rng)
    return out


def test_a_random_source_of_another_backend_is_refused(impl):
    x = impl.array(X, "float32")
    name = impl.backend.name
    for rng in _foreign_sources(impl):
        for fn, draw in (("dropout", impl.ops.dropout), ("dropout_mask", impl.ops.dropout_mask)):
            expected = (
                rf"{fn}: rng must be .* for {name} arrays, got .*; "
                r"random sources are not shared between backends"
                if impl.backend.random is not None
                else rf"{fn}: the {name} backend has no random source"
            )
            with pytest.raises(TypeError, match=expected):
                draw(x, 0.5, rng=rng)


def test_a_torch_generator_on_another_device_is_refused():
    torch = pytest.importorskip("torch")
    x = torch.zeros(3, 4, device="meta")
    expected = (
        r"rng is a torch.Generator on cpu but x is on meta; "
        r"create the generator there: torch.Generator\(device=x.device\)"
    )
    with pytest.raises(ValueError, match=expected):
        P.dropout(x, 0.5, rng=torch.Generator())


def test_a_malformed_jax_key_is_refused():
    pytest.importorskip("jax")
    import jax.numpy as jnp

    x = jnp.zeros((3, 4))
    for key in (jnp.zeros(2), jnp.zeros(3, jnp.uint32), jnp.zeros((2, 2), jnp.uint32)):
        with pytest.raises(TypeError, match="rng must be a jax PRNG key"):
            P.dropout(x, 0.5, rng=key)
    # the raw uint32 key of jax.random.PRNGKey is accepted
    import jax

    assert P.dropout(x, 0.5, rng=jax.random.PRNGKey(0)).shape == (3, 4)


def test_bad_masks_and_flags(impl):
    x = impl.array(X, "float64")
    with pytest.raises(TypeError, match="dropout: mask must have a boolean dtype"):
        impl.ops.dropout(x, 0.5, mask=impl.array(np.ones(X.shape), "float64"))
    with pytest.raises(ValueError, match=r"dropout: mask has shape \(4,\) but must have shape"):
        impl.ops.dropout(x, 0.5, mask=as_bool(impl, np.ones(4, bool)))
    with pytest.raises(TypeError, match="dropout: mask must be a boolean array of the same"):
        impl.ops.dropout(x, 0.5, mask=[True] * 4)
    with pytest.raises(TypeError, match="dropout_backward: mask must have a boolean dtype"):
        impl.ops.dropout_backward(x, impl.array(np.ones(X.shape), "float64"), 0.5)
    with pytest.raises(TypeError, match="dropout: training must be True or False, got 1"):
        impl.ops.dropout(x, 0.5, 1, rng=0)
    with pytest.raises(TypeError, match="floating dtype"):
        impl.ops.dropout(as_bool(impl, np.ones(3, bool)), 0.5, rng=0)
    with pytest.raises(TypeError, match="dropout: p must be a real number"):
        impl.ops.dropout(x, "half", rng=0)


def test_a_mask_of_another_backend_is_refused():
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"mask must be a boolean array of the same backend as x"):
        P.dropout(X, 0.5, mask=torch.ones(3, 4, dtype=torch.bool))


def test_a_backend_without_a_random_source_takes_a_mask():
    """A backend that declares no random source (``Backend.random`` None) refuses ``rng`` with
    a message that says to pass ``mask=``, and applies a given mask."""
    import copy

    import primitives as P
    from examples.subclass_backend import BACKEND, ExampleArray

    class NoRandomArray(ExampleArray):
        pass

    backend = copy.copy(BACKEND)
    backend.name, backend.array_types, backend.random = "no-random", (NoRandomArray,), None
    P.register_backend(backend)
    x = np.arange(1.0, 5.0).view(NoRandomArray)
    for draw in (P.dropout, P.dropout_mask):
        with pytest.raises(TypeError, match=r"the no-random backend has no random source; .*mask="):
            draw(x, 0.5, rng=0)
    out = P.dropout(x, 0.5, mask=np.array([True, False, True, False]).view(NoRandomArray))
    assert np.array_equal(np.asarray(out), [2.0, 0.0, 6.0, 0.0])
