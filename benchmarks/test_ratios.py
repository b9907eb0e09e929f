"""The ratio summary pairs each project timing with its target peer's and judges it by the
case's target (no pytest import at module level, see ``test_benchmarks.py``)."""

from __future__ import annotations

from .ratios import HEADER, Timing, ratio_lines


def _t(case, direction, backend, impl, ms, size=1000):
    return Timing(case, direction, size, "float32", "cpu", backend, impl, ms / 1e3)


def test_pairs_project_with_its_target_peer_and_judges_the_target():
    lines = ratio_lines(
        [
            _t("relu", "forward", "torch", "project", 2.0),
            _t("relu", "forward", "torch", "native", 1.0),
            _t("relu", "forward", "jax", "project", 1.0),
            _t("relu", "forward", "jax", "native", 1.0),
            # numpy's target peer is torch's native time (the activations' numpy_peer)
            _t("relu", "forward", "numpy", "project", 1.5),
            _t("relu", "forward", "numpy", "native", 9.0),
            # no peer timing: no row
            _t("gelu", "backward", "torch", "project", 1.0),
        ]
    )
    assert lines[0] == HEADER
    rows = {(line.split()[0], line.split()[4]): line.split() for line in lines[1:]}
    assert set(rows) == {("relu", "torch"), ("relu", "jax"), ("relu", "numpy")}
    torch_row, jax_row, numpy_row = (
        rows["relu", "torch"],
        rows["relu", "jax"],
        rows["relu", "numpy"],
    )
    assert torch_row[5:9] == ["2.000", "1.000", "2.00", "≤1.1×"] and torch_row[9:] == ["NOT", "MET"]
    assert jax_row[7] == "1.00" and jax_row[9] == "met"
    assert numpy_row[6] == "1.000" and numpy_row[7] == "1.50" and numpy_row[9] == "met"
    assert all(len(line) <= 100 for line in lines)
