"""Batch normalization on every backend against the float64 reference: the output and the new
running statistics (training and evaluation, (N, C), (N, C, L), (N, C, H, W), channels first
and last), the gradients (against the reference, finite differences and the frameworks'
autodiff), dtype preservation and untouched inputs.

The properties are plain functions of (implementation, dtype, problem)
(:mod:`properties.batch_norm_properties`) so that ``test_batch_norm_self.py`` can feed them
deliberately wrong implementations. An implementation's ``ops`` must offer ``batch_norm`` and
``batch_norm_backward`` with the signatures of :mod:`primitives.batch_norm`.

Tolerance (``tolerances.BATCH_NORM_RTOL``): |a - b| <= rtol (|b| + terms) + tiny, ``terms`` the
size of what each result is computed from (see :func:`output_terms` and :func:`grad_terms`).
The problems, the terms and the comparison are in :mod:`properties.batch_norm_cases` (shared
with the accuracy atlas).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .batch_norm_properties import (
    SMALL_SHAPES,
    backward_matches_autodiff,
    backward_matches_finite_differences,
    backward_matches_reference,
    batch_norm_matches_reference,
    draw_g,
    problems,
)
from .implementations import PUBLIC_API, framework_of

# judged through the public API (no native kernels; torch's and flax's own are compared in
# test_batch_norm_frameworks.py, torch's measured by the atlas)
IMPLEMENTATION_KINDS = PUBLIC_API
DTYPES = ("float32", "float64")


# --- the tests -------------------------------------------------------------------------------


@given(data=st.data())
def test_batch_norm_matches_reference(impl, dtype, data):
    batch_norm_matches_reference(impl, dtype, data.draw(problems(dtype), label="problem"))


@given(data=st.data())
def test_backward_matches_reference(impl, dtype, data):
    p = data.draw(problems(dtype), label="problem")
    backward_matches_reference(impl, dtype, p, draw_g(data, p.x.shape))


@settings(max_examples=6)  # (jax compiles each drawn momentum and eps anew)
@given(data=st.data())
def test_momentum_and_eps_over_their_domain(impl, dtype, data):
    p = data.draw(problems(dtype, whole_domain=True), label="problem")
    batch_norm_matches_reference(impl, dtype, p)
    backward_matches_reference(impl, dtype, p, draw_g(data, p.x.shape))


@given(data=st.data())
def test_backward_matches_finite_differences(impl, data):
    p = data.draw(problems("float64", shapes=SMALL_SHAPES), label="problem")
    backward_matches_finite_differences(impl, p, draw_g(data, p.x.shape))


@given(data=st.data())
def test_backward_matches_framework_autodiff(impl, dtype, data):
    if framework_of(impl) is None:
        pytest.skip(f"{impl.id}: no framework autodiff (numpy is judged by the other tests)")
    p = data.draw(problems(dtype), label="problem")
    backward_matches_autodiff(impl, dtype, p, draw_g(data, p.x.shape))
