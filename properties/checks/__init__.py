"""Reusable checkers: the ULP measure and the finite-difference gradient checker.

Import them to check your own code::

    from properties.checks import ulp_error, check_ulps, check_vjp
"""

from .finite_differences import GradientReport, check_vjp, finite_difference_vjp, fold_cotangent
from .ulp import (
    FORMATS,
    Judged,
    UlpErrors,
    UlpReport,
    check_ulps,
    relative_errors,
    spacing,
    ulp,
    ulp_error,
    ulp_errors,
    ulps_between,
)

__all__ = [
    "FORMATS",
    "GradientReport",
    "Judged",
    "UlpErrors",
    "UlpReport",
    "check_ulps",
    "check_vjp",
    "finite_difference_vjp",
    "fold_cotangent",
    "relative_errors",
    "spacing",
    "ulp",
    "ulp_error",
    "ulp_errors",
    "ulps_between",
]
