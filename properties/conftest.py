"""Parametrization of the suite over implementations and dtypes, and known deviations.

A test that takes ``impl`` runs once per selected implementation; one that takes ``impl`` and
``dtype`` runs once per (implementation, floating dtype of its backend).

A test module narrows that at collection (rather than skipping at run time) with two optional
module attributes:

* ``IMPLEMENTATION_KINDS``: the kinds it judges (default: all), e.g.
  ``implementations.PUBLIC_API`` for a family that the frameworks' native tables do not cover
  and that has no native kernels to swap out;
* ``DTYPES``: the dtypes it judges (default: every floating dtype of the backend).

The numpy backend's fast kernels run large arrays in blocks, each block on a fast formula
where its values allow and on the generic kernel elsewhere (``primitives/backends/numpy_fast``).
The suite's arrays are small, so it shrinks the blocks to 4 elements and runs every array
through that path, on two threads: one drawn array then mixes fast and generic blocks.
"""

from __future__ import annotations

import functools
import gc

import pytest
from hypothesis import Phase, settings

from primitives.backends import numpy_blocks

from . import known_deviations
from .implementations import Implementation, default_ids, installed, kind_of, resolve

# the library's own settings, which test_sizes_and_layouts.py restores for its large arrays
PRODUCTION_BLOCKS: dict[str, object] = {
    "numpy": numpy_blocks.configure(threads=2, block=4, min_size=0)
}
if installed("torch"):  # the composed torch kernels on blocks (24: a vector loop and a tail)
    from primitives.backends import torch_activations  # from 48 elements; smaller ones whole

    # (row kernels: blocks of 24 elements' worth of whole rows, one row where longer)
    PRODUCTION_BLOCKS["torch"] = torch_activations.configure_blocks(block=24, min_size=48, rows=24)


def _selected(config: pytest.Config) -> list[tuple[str, str | None]]:
    chosen = [s.strip() for s in config.getoption("--backend").split(",") if s.strip()]
    if not chosen:
        return default_ids(_device(config))
    known = dict(default_ids())
    return [(s, known.get(s)) for s in chosen]


def _device(config: pytest.Config) -> str:
    return config.getoption("--device")


def _device_type(impl_id: str | None, config: pytest.Config) -> str:
    """A selected implementation's device type, for the known deviations; "cpu" for an id
    that is not one (a test's own parameter, such as test_batch_norm_laws' "flax") or whose
    framework is not installed (its tests are skipped or fail anyway)."""
    selected = dict(_selected(config))
    if impl_id not in selected:
        return "cpu"
    framework = selected[impl_id]
    if framework is not None and not installed(framework):
        return "cpu"
    return _implementation(impl_id, _device(config)).device_type


def _dtypes_of(impl_id: str, framework: str | None, device: str) -> list[str]:
    if framework is not None and not installed(framework):
        return ["float64"]  # placeholder: the test is skipped with the reason
    return list(_implementation(impl_id, device).dtypes)


@functools.cache
def _implementation(impl_id: str, device: str) -> Implementation:
    try:
        return resolve(impl_id, device)
    except ValueError as e:  # an implementation that cannot run on --device
        raise pytest.UsageError(f"{impl_id} cannot run with --device {device}: {e}") from e
    except ImportError as e:  # a third-party backend's module path that does not import
        raise pytest.UsageError(f"--backend {impl_id}: {e}") from e


def pytest_configure(config: pytest.Config) -> None:
    """Refuse, before collecting, a ``--device`` that a selected implementation cannot use."""
    device = _device(config)
    for impl_id, framework in _selected(config):
        if framework is None or installed(framework):
            _implementation(impl_id, device)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "impl" not in metafunc.fixturenames:
        return
    kinds = getattr(metafunc.module, "IMPLEMENTATION_KINDS", None)
    only = getattr(metafunc.module, "DTYPES", None)
    selected = [
        (i, fw) for i, fw in _selected(metafunc.config) if kinds is None or kind_of(i) in kinds
    ]
    if "dtype" in metafunc.fixturenames:
        pairs = [
            pytest.param(i, d, id=f"{i}-{d}")
            for i, fw in selected
            for d in _dtypes_of(i, fw, _device(metafunc.config))
            if only is None or d in only
        ]
        metafunc.parametrize(("impl_id", "dtype"), pairs)
    else:
        metafunc.parametrize("impl_id", [i for i, _ in selected])


@pytest.fixture
def impl(request: pytest.FixtureRequest, impl_id: str) -> Implementation:
    framework = dict(default_ids()).get(impl_id)
    if framework is not None and not installed(framework):
        message = f"{impl_id} needs {framework}, which is not installed"
        if request.config.getoption("--require-all-backends"):
            pytest.fail(message)
        pytest.skip(message)
    return _implementation(impl_id, _device(request.config))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(item, "callspec", None)
        if params is None:
            continue
        p = params.params
        case = getattr(p.get("case"), "id", None) or p.get("name") or p.get("case_id")
        impl_id = p.get("impl_id")
        mark = known_deviations.lookup(
            impl_id=impl_id,
            test=item.originalname,
            case=case,
            dtype=p.get("dtype"),
            where=_device_type(impl_id, config),
        )
        if mark is not None:
            item.add_marker(mark)


@pytest.fixture
def production_blocks():
    """The library's own block sizes (numpy's threads and blocks, torch's composed kernels)
    for the duration of a test, as a user's large arrays meet them."""
    shrunk = {"numpy": numpy_blocks.configure(**PRODUCTION_BLOCKS["numpy"]._asdict())}
    if "torch" in PRODUCTION_BLOCKS:
        from primitives.backends import torch_activations

        shrunk["torch"] = torch_activations.configure_blocks(**PRODUCTION_BLOCKS["torch"]._asdict())
    yield
    numpy_blocks.configure(**shrunk["numpy"]._asdict())
    if "torch" in shrunk:
        torch_activations.configure_blocks(**shrunk["torch"]._asdict())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """An expected failure (a known deviation) is run without Hypothesis's shrink phase: its
    failure is the expected outcome, and shrinking it to a minimal example (each step one
    more call, often a fresh compilation) is most of the time the suite spent on it. Its
    outcome, XFAIL or XPASS, is the same. (Hypothesis keeps a test's settings in this private
    attribute; where a version does not, the test runs with its own settings, shrinking.)"""
    test = getattr(item, "obj", None)
    saved = getattr(test, "_hypothesis_internal_use_settings", None)
    if item.get_closest_marker("xfail") is None or saved is None:
        return (yield)
    test._hypothesis_internal_use_settings = settings(
        saved, phases=[p for p in saved.phases if p is not Phase.shrink]
    )
    try:
        return (yield)
    finally:
        test._hypothesis_internal_use_settings = saved


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a pytest-xdist worker, no garbage-collection work after the session. execnet
    interrupts a worker's main thread (KeyboardInterrupt) when it is still busy 5 s after the
    controller ends it; landing in a gc callback (Hypothesis's timer, jax's XLA collector), the
    interrupt cannot propagate and was printed as an "Exception ignored in ... gc_callback"
    traceback after the run's last test. pytest itself calls ``gc.collect()`` at its cleanup
    (to report unraisable exceptions), which ``gc.disable()`` alone does not stop: the
    worker's objects (the reference caches hold up to 2^19 mpmath values) are frozen out of
    collection, and the callbacks dropped, so that collection is quick and calls nothing."""
    if hasattr(session.config, "workerinput"):
        gc.disable()
        gc.freeze()
        gc.callbacks.clear()
