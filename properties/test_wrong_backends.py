"""The catalogue of wrong backends (properties/wrong_backends.py) is well formed, and the
``--backend=`` path rejects one while passing the worked backend itself (the full score:
``python -m properties.mutation_score``, minutes)."""

from __future__ import annotations

import os
import subprocess
import sys

from primitives.kernels import FUNCTIONS, SPECS

from .wrong_backends import CATALOGUE, ENVIRONMENT, HERE_TESTS, backend

KERNELS = set(FUNCTIONS) | set(SPECS) | {f"{n}_backward" for n in SPECS}


def test_every_entry_replaces_existing_kernels_and_names_existing_tests():
    for name, wrong in CATALOGUE.items():
        replaced = backend(name).native
        assert replaced and set(replaced) <= KERNELS, (name, set(replaced) - KERNELS)
        for f in wrong.tests:
            assert (HERE_TESTS / f).is_file(), (name, f)


def _pytest(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider", *args],
        env={**os.environ, ENVIRONMENT: name},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_backend_path_kills_a_wrong_backend_and_passes_the_control():
    args = ("--backend=properties.wrong_backends", "properties/test_nonfinite_grad_output.py")
    control = _pytest("control", *args)
    assert control.returncode == 0, control.stdout[-2000:] + control.stderr[-2000:]
    wrong = _pytest("relu_backward_select", *args)
    assert wrong.returncode == 1 and "relu" in wrong.stdout, wrong.stdout[-2000:]
