"""The property suite: every primitive, on every backend, judged against independent oracles.

Importable parts for users: :mod:`properties.checks` (ULP measure, finite-difference checker)
and :mod:`properties.tolerances` (the one tolerance table).
"""
