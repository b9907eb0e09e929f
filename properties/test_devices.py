"""The suite's ``--device`` machinery, on the CPU: placement, refusals, per-device known
deviations, and the backends' per-platform arithmetic flags (docs/gpu.md). The GPU itself is
judged by running the whole suite with ``--device cuda`` (tools/gpu_check.sh)."""

from __future__ import annotations

import numpy as np
import pytest

from primitives.backend import Backend

from . import known_deviations
from .implementations import default_ids, installed, resolve


@pytest.mark.parametrize(
    ("spec", "device", "message"),
    [
        ("numpy", "cuda", "cannot put numpy arrays on device 'cuda'"),
        ("numpy", "gpu", "unknown device 'gpu'"),
        ("numpy", "cuda:x", "unknown device 'cuda:x'"),
    ],
)
def test_a_device_an_implementation_cannot_use_is_refused(spec, device, message):
    with pytest.raises(ValueError, match=message):
        resolve(spec, device)


def test_torch_without_cuda_refuses_cuda():
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        assert resolve("torch", "cuda").array(np.ones(2), "float32").device.type == "cuda"
    else:
        with pytest.raises(ValueError, match="torch sees no CUDA device"):
            resolve("torch", "cuda")


@pytest.mark.parametrize("spec", ["numpy", "torch", "jax", "torch-native", "jax-native"])
def test_cpu_placement_keeps_values_dtypes_and_integers(spec):
    framework = dict(default_ids()).get(spec)
    if framework not in (None, "numpy") and not installed(framework):
        pytest.skip(f"{framework} is not installed")
    impl = resolve(spec, "cpu")
    x = impl.array(np.array([1.5, -2.0]), "float32")
    labels = impl.exact(np.array([3, 1]))
    assert impl.numpy(x).tolist() == [1.5, -2.0] and str(x.dtype).endswith("float32")
    assert np.asarray(impl.backend.to_numpy(labels)).tolist() == [3, 1]
    assert str(labels.dtype).endswith("int64")  # (the suite enables jax's x64)
    if framework == "torch":
        assert x.device.type == "cpu" and labels.device.type == "cpu"
    if framework == "jax":
        assert {d.platform for d in x.devices()} == {"cpu"}
    assert impl.device_type == "cpu"


def test_on_a_device_the_default_ids_leave_numpy_out():
    ids = [i for i, _ in default_ids("cuda")]
    assert ids and not [i for i in ids if i.startswith("numpy")]
    assert {"torch", "jax", "torch-native", "jax-native"} <= set(ids)


def test_known_deviations_are_looked_up_per_device_type():
    edge_forward, edge_backward = (
        "test_forward_ulps_at_edge_points",
        "test_backward_ulps_at_edge_points",
    )
    # XLA's float64 tanh: off on the CPU, within the bound on a GPU
    assert known_deviations.lookup("jax-native", edge_forward, "tanh", "float64", "cpu")
    assert known_deviations.lookup("jax-native", edge_forward, "tanh", "float64", "cuda") is None
    # CUDA's float64 elu backward passes a number on at NaN; the CPU's does not
    assert known_deviations.lookup("torch-native", edge_backward, "elu(1.0)", "float64", "cuda")
    assert known_deviations.lookup("torch-native", edge_backward, "elu(1.0)", "float64") is None
    # entries for both ("*") match either
    for where in ("cpu", "cuda"):
        assert known_deviations.lookup("torch-native", edge_forward, "gelu(none)", "float32", where)


def _backend(flushes) -> Backend:
    return Backend(
        name="probe",
        array_types=(np.ndarray,),
        xp=np,
        erf=np.tanh,
        erfc=np.tanh,
        is_floating=lambda a: True,
        low_precision=lambda a: False,
        asarray=np.asarray,
        to_numpy=np.asarray,
        from_numpy=lambda a, dtype: np.asarray(a, dtype),
        flushes_subnormals=flushes,
    )


def test_flushes_subnormals_may_be_a_question_asked_each_time():
    answers = iter([True, False])
    backend = _backend(lambda: next(answers))
    assert backend.flushes_subnormals is True and backend.flushes_subnormals is False
    assert _backend(True).flushes_subnormals and not _backend(False).flushes_subnormals
    assert _backend(False).has_float64()


def test_jax_flushes_by_platform_and_has_float64_by_x64():
    jax = pytest.importorskip("jax")
    backend = resolve("jax").backend
    assert backend.flushes_subnormals == (jax.default_backend() == "cpu")
    assert resolve("jax", "cpu").flushes_subnormals
    assert backend.has_float64()  # (the suite enables x64)
    with jax.enable_x64(False):
        assert not backend.has_float64()


def test_every_non_strict_deviation_says_why():
    """An XPASS is only expected where the entry says why the test can pass although the
    deviation is real (a CPU's vector width, a draw Hypothesis makes in some runs only)."""
    loose = [d for d in known_deviations.DEVIATIONS if not d.strict]
    assert loose, "no non-strict entry left: drop why_not_strict"
    for d in known_deviations.DEVIATIONS:
        assert d.strict or d.why_not_strict, f"{d.impl} {d.test} {d.case}: why not strict?"
        assert bool(d.why_not_strict) == (not d.strict), d
    d = loose[0]
    mark = known_deviations.lookup(d.impl, d.test, d.case.replace("*", "x"), d.dtypes[0], "cpu")
    assert mark is not None and "(not strict: " in mark.kwargs["reason"]
