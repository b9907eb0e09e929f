"""``benchmarks.asv_table`` on a stand-in for asv's ``Results`` (runs with
``pytest benchmarks/``; ``.ci/check-benchmarks`` also reads a real asv results file).

No pytest import at module level (asv imports every module of this package)."""

from __future__ import annotations

import math
from typing import Any

from . import asv_table


class _Results:
    """What ``Stored`` reads of asv's ``Results``: parameter values as ``repr`` strings, one
    result per combination in ``itertools.product`` order (``None``: failed, NaN: skipped)."""

    commit_hash, env_name = "0123456789abcdef", "virtualenv-py3.11"

    def __init__(self, stored: dict[str, tuple[list[list[str]], list[Any]]]) -> None:
        self.stored = stored

    def get_all_result_keys(self) -> list[str]:
        return list(self.stored)

    def get_result_params(self, key: str) -> list[list[str]]:
        return self.stored[key][0]

    def get_result_value(self, key: str, params: list[list[str]]) -> list[Any]:
        assert params == self.stored[key][0]
        return self.stored[key][1]


_RATIO = "benchmarks.ReluRatio.track_forward"
_DISPATCH = "benchmarks.DispatchRatio.track_relu_8"
_NAMES = {_RATIO: ["backend", "size", "dtype", "device"], _DISPATCH: ["backend"]}
_RATIO_PARAMS = [["'numpy'", "'torch'"], ["4000000"], ["'float32'", "'float64'"], ["'cpu'"]]


def _stored(dispatch: tuple[Any, Any] = (1.2, math.nan), device: str = "cpu") -> asv_table.Stored:
    # numpy: 3.0 (float32), 1.5 (float64); torch: skipped (float32), 0.9 (float64)
    # (on a GPU the activations' ratios are tracked at 2**27 elements)
    size = "4000000" if device == "cpu" else str(2**27)
    ratio_params = [_RATIO_PARAMS[0], [size], _RATIO_PARAMS[2], [repr(device)]]
    results = {
        _RATIO: (ratio_params, [3.0, 1.5, math.nan, 0.9]),
        _DISPATCH: ([["'numpy'", "'torch'"]], list(dispatch)),
    }
    return asv_table.Stored(_Results(results), _NAMES)


def _relu(**params: Any) -> float | str:
    return _stored().value("ReluRatio.track_forward", size=4000000, device="cpu", **params)


def test_value_is_the_result_of_exactly_the_wanted_combination() -> None:
    assert _relu(backend="numpy", dtype="float32") == 3.0
    assert _relu(backend="numpy", dtype="float64") == 1.5
    assert _relu(backend="torch", dtype="float64") == 0.9


def test_value_says_why_asv_has_no_result() -> None:
    stored = _stored(dispatch=(None, 1.0))
    assert _relu(backend="torch", dtype="float32") == asv_table.SKIPPED
    assert _relu(backend="jax", dtype="float32") == asv_table.NOT_RUN  # not a parameter value
    assert _relu(backend="numpy") == asv_table.NOT_RUN  # a parameter left out matches nothing
    assert stored.value("ReluRatio.track_backward", backend="numpy") == asv_table.NOT_RUN
    assert stored.value("DispatchRatio.track_relu_8", backend="numpy") == asv_table.FAILED


def test_render_judges_each_ratio_against_its_target() -> None:
    text = asv_table.render(_stored(), "float64", "cpu").text
    relu = next(line for line in text.splitlines() if line.startswith("| relu | forward"))
    # numpy 1.5 against <= 2x, torch 0.9 against <= 1.1x, jax not run
    assert relu == "| relu | forward | 1.50 ≤2× met | 0.90 ≤1.1× met | — (not run) |"
    assert "| 1.20 ≤1.3× met | — (skipped) | — (not run) |" in text
    assert "activations numpy 1/1; activations torch 1/1;" in text
    assert "dispatch 1/1" in text
    float32 = asv_table.render(_stored(), "float32", "cpu").text
    assert "| relu | forward | 3.00 ≤2× **not met** | — (skipped) | — (not run) |" in float32
    assert "activations numpy 0/1;" in float32


def test_render_on_a_gpu_judges_torch_by_throughput_and_jax_not_at_all() -> None:
    text = asv_table.render(_stored(device="cuda"), "float64", "cuda").text
    # torch 0.9 against 1/0.9 (>= 0.9x the native throughput); numpy and jax have no target
    relu = next(line for line in text.splitlines() if line.startswith("| relu | forward"))
    assert relu == "| relu | forward | 1.50 — (no target) | 0.90 ≤1.11× met | — (not run) |"
    assert "Dispatch" not in text and "memory" not in text


def test_a_failed_benchmark_counts_as_not_met_and_fails_main(monkeypatch: Any) -> None:
    failed = _stored(dispatch=(None, 1.0))
    text = asv_table.render(failed, "float64", "cpu").text
    assert "| — (failed) ≤1.3× **not met** | 1.00 ≤1.3× met |" in text
    assert "dispatch 1/2" in text
    monkeypatch.setattr(asv_table, "load", lambda *args: failed)
    assert asv_table.main([]) == 1
    monkeypatch.setattr(asv_table, "load", lambda *args: _stored())
    assert asv_table.main(["--dtype", "float64"]) == 0
    assert asv_table.main(["--device", "cuda"]) == 1  # no result on cuda: nothing judged
