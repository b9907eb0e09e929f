"""Known deviations of the frameworks' native functions from this project's properties.

Each entry marks matching tests as expected failures (``strict``: if the framework is fixed,
the test passes and the suite says so). Patterns are fnmatch-style.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import NamedTuple

import pytest


class Deviation(NamedTuple):
    impl: str
    test: str
    case: str
    dtypes: tuple[str, ...]
    reason: str
    strict: bool = True


DEVIATIONS: list[Deviation] = []


def lookup(impl_id: str | None, test: str, case: str | None, dtype: str | None):
    """An xfail mark for a known deviation matching this test, or None."""
    for d in DEVIATIONS:
        if (
            impl_id is not None
            and fnmatchcase(impl_id, d.impl)
            and fnmatchcase(test, d.test)
            and fnmatchcase(case or "", d.case)
            and (dtype is None or dtype in d.dtypes or d.dtypes == ("*",))
        ):
            return pytest.mark.xfail(reason=d.reason, strict=d.strict)
    return None
