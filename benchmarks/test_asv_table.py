"""``benchmarks.asv_table`` on a stand-in for asv's ``Results`` (runs with
``pytest benchmarks/``; ``.ci/check-benchmarks`` also reads a real asv results file).

No pytest import at module level (asv imports every module of this package)."""

from __future__ import annotations

import math
from typing import Any

from . import asv_table


class _Results:
    """What ``Stored`` reads of asv's ``Results``: parameter values as ``repr`` strings, one
    result per combination in ``itertools.product`` order (``None``: skipped)."""

    commit_hash, env_name = "0123456789abcdef", "virtualenv-py3.11"

    def __init__(self, stored: dict[str, tuple[list[list[str]], list[Any]]]) -> None:
        self.stored = stored

    def get_all_result_keys(self) -> list[str]:
        return list(self.stored)

    def get_result_params(self, key: str) -> list[list[str]]:
        return self.stored[key][0]

    def get_result_value(self, key: str, params: list[list[str]]) -> list[Any]:
        return self.stored[key][1]


_RATIO_PARAMS = [["'numpy'", "'torch'"], ["4000000"], ["'float32'", "'float64'"], ["'cpu'"]]
_DISPATCH_PARAMS = [["'numpy'", "'torch'"]]


def _stored() -> asv_table.Stored:
    # numpy: 3.0 (float32), 1.5 (float64); torch: skipped (float32), 0.9 (float64)
    return asv_table.Stored(
        _Results(
            {
                "benchmarks.ReluRatio.track_forward": (_RATIO_PARAMS, [3.0, 1.5, None, 0.9]),
                "benchmarks.DispatchRatio.track_relu_8": (_DISPATCH_PARAMS, [1.2, math.nan]),
            }
        )
    )


def _relu(**params: Any) -> float | None:
    return _stored().value("ReluRatio.track_forward", size=4000000, device="cpu", **params)


def test_value_is_the_result_of_exactly_the_wanted_combination() -> None:
    assert _relu(backend="numpy", dtype="float32") == 3.0
    assert _relu(backend="numpy", dtype="float64") == 1.5
    assert _relu(backend="torch", dtype="float64") == 0.9


def test_value_is_none_where_asv_has_none() -> None:
    stored = _stored()
    assert _relu(backend="torch", dtype="float32") is None  # skipped
    assert _relu(backend="jax", dtype="float32") is None  # not a parameter value
    assert _relu(backend="numpy") is None  # a parameter left out matches nothing
    assert stored.value("ReluRatio.track_backward", backend="numpy") is None  # not run
    assert stored.value("DispatchRatio.track_relu_8", backend="torch") is None  # failed: NaN


def test_render_judges_each_ratio_against_its_target() -> None:
    text = asv_table.render(_stored(), "float64", "cpu")
    relu = next(line for line in text.splitlines() if line.startswith("| relu | forward"))
    # numpy 1.5 against <= 2x, torch 0.9 against <= 1.1x, jax not run
    assert relu == "| relu | forward | 1.50 ≤2× met | 0.90 ≤1.1× met | — (not run) |"
    assert "| 1.20 ≤1.3× met | — (not run) | — (not run) |" in text
    assert "activations numpy 1/1; activations torch 1/1;" in text
    assert "dispatch 1/1" in text
    float32 = asv_table.render(_stored(), "float32", "cpu")
    assert "| relu | forward | 3.00 ≤2× **not met** | — (not run) | — (not run) |" in float32
    assert "activations numpy 0/1;" in float32
