"""Performance benchmarks: this project's primitives against each framework's own functions.

One table of cases (:mod:`benchmarks.cases`) generates two runners:

* asv (airspeed velocity, performance history per commit): :mod:`benchmarks.benchmarks`,
  configured by ``asv.conf.json`` at the repository root;
* pytest-benchmark (quick local comparisons, no asv needed): :mod:`benchmarks.test_benchmarks`.

:mod:`benchmarks.report` measures the issue's targets side by side and writes
``docs/benchmarks.md``. No module here imports torch or jax at import time.
"""
