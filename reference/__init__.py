"""Independent references for the primitives: float64 NumPy closed forms and mpmath scalars.

This package never imports ``primitives``: a bug in the library cannot leak into the oracle
that judges it.
"""
