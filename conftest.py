"""pytest configuration for the property suite: which implementations to judge, Hypothesis
profiles, and jax's float64 switch.

* ``pytest`` judges every built-in implementation (see ``properties/implementations.py``).
* ``pytest --backend=jax`` or ``--backend=mypkg.mybackend`` (comma-separated, or the
  environment variable ``PRIMITIVES_BACKENDS``) judges only those.
* ``--device cuda`` (or ``PRIMITIVES_DEVICE``) makes the torch and jax implementations' arrays
  on the GPU (default: where each framework puts them; numpy is judged only there).
* ``--require-all-backends`` (CI) turns "framework not installed" from a skip into an error.
* Hypothesis profiles: ``dev`` (default, quick), ``ci`` (derandomized, no deadline) and
  ``thorough`` (many examples, steered by ``hypothesis.target`` towards the largest ULP
  error); choose with ``--hypothesis-profile=NAME`` or ``HYPOTHESIS_PROFILE=NAME``.
* jax: float64 needs ``jax_enable_x64``. The library never changes jax's configuration; the
  suite enables x64 here, before any jax array exists, so that float64 is judged on jax too.
"""

from __future__ import annotations

import importlib.util
import os

import pytest
from hypothesis import HealthCheck, settings

if importlib.util.find_spec("jax") is not None:
    # jax takes 75% of a GPU's memory per process by default: with several test workers
    # on one GPU (pytest -n, --device cuda) all but the first would fail
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    jax.config.update("jax_enable_x64", True)

_COMMON = dict(
    deadline=None,
    # the `impl` fixture is an immutable description of an implementation: safe to share
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    print_blob=True,
)
settings.register_profile("dev", max_examples=20, **_COMMON)
settings.register_profile("ci", max_examples=40, derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=1000, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("primitives")
    group.addoption(
        "--backend",
        default=os.environ.get("PRIMITIVES_BACKENDS", ""),
        help="comma-separated implementation ids or backend module paths to judge "
        "(default: every built-in one; env PRIMITIVES_BACKENDS)",
    )
    group.addoption(
        "--device",
        default=os.environ.get("PRIMITIVES_DEVICE", "default"),
        help="where the judged arrays are made: 'default' (each framework's own placement), "
        "or a torch/jax device such as 'cuda' or 'cpu' (numpy is then left out; env "
        "PRIMITIVES_DEVICE)",
    )
    group.addoption(
        "--require-all-backends",
        action="store_true",
        default=os.environ.get("PRIMITIVES_REQUIRE_ALL_BACKENDS") == "1",
        help="fail, instead of skipping, when a framework of a selected implementation "
        "is not installed",
    )
