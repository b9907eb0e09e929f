"""The optimizer properties' problems, references and judges, outside the test modules so that
the accuracy atlas (``properties.atlas.optim``) judges with the same functions as the tests.

``properties/test_optim.py`` (float32, float64) and ``test_optim_low_precision.py`` (float16,
bfloat16) draw the problems (:mod:`properties.optim_strategies`) and call these, as do the other
optimizer test modules. The comparison is :func:`judge_values` (the per-element verdict, its
error and its bound); :func:`close_values` asserts on it, and :func:`step_verdicts` yields the
verdicts that :func:`each_step_from_the_reference_state` asserts on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import numpy as np

from reference import optim as R

from . import tolerances
from .checks import bounds
from .checks.bounds import within_elements
from .checks.rounding import LOW_PRECISION, round_to
from .implementations import Implementation

# --- problems --------------------------------------------------------------------------------


class Problem(NamedTuple):
    """``x0`` and one gradient per step (float64 arrays holding values of the dtype), the
    hyperparameters, and the base lr of the schedule ``base * 0.5**count`` (None: constant)."""

    x0: np.ndarray
    grads: tuple[np.ndarray, ...]
    hyper: dict[str, Any]
    halving_from: float | None = None

    @property
    def lrs(self) -> list[float]:
        if self.halving_from is None:
            return [self.hyper["lr"]] * len(self.grads)
        return [self.halving_from * 0.5**k for k in range(len(self.grads))]

    def lr_arg(self) -> float | Callable:
        if self.halving_from is None:
            return self.hyper["lr"]
        base = self.halving_from
        return lambda count: base * 0.5**count


# --- running ---------------------------------------------------------------------------------


def construct(ops: Any, rule: str, problem: Problem) -> Any:
    return getattr(ops.optim, rule)(**{**problem.hyper, "lr": problem.lr_arg()})


def run(ops: Any, impl: Implementation, rule: str, problem: Problem, dtype: str):
    """The params after each step (float64 numpy), checking on the way that each step keeps
    the backend and dtype and leaves its arguments unchanged."""
    opt = construct(ops, rule, problem)
    x = impl.array(problem.x0, dtype)
    state = opt.init(x)
    out = []
    for g0 in problem.grads:
        g = impl.array(g0, dtype)
        before = (impl.numpy(x), impl.numpy(g))
        x_new, state = opt.step(x, g, state)
        assert type(x_new) is type(x) and x_new.dtype == x.dtype, (
            f"{rule} on {impl.id}: step returned {type(x_new)} {x_new.dtype}"
        )
        for a, b in zip((x, g), before, strict=True):
            assert np.array_equal(impl.numpy(a), b, equal_nan=True), f"{rule}: input mutated"
        x = x_new
        out.append(impl.numpy(x))
    return out


def reference(rule: str, problem: Problem) -> R.Trajectory:
    hyper = {**problem.hyper, "lr": problem.lrs}
    return R.REFERENCES[rule](problem.x0, list(problem.grads), **hyper)


# --- judging ---------------------------------------------------------------------------------


class Verdict(NamedTuple):
    """:func:`judge_values`'s per-element verdict (``good``), on broadcast float64 arrays."""

    good: np.ndarray  # bool: the element passes
    actual: np.ndarray
    expected: np.ndarray
    err: np.ndarray  # |actual - expected|
    # the absolute bound rtol scale + tiny; for float16/bfloat16, the float32 slack within
    # which the result must round once (``rounds_once_within``)
    allowed: np.ndarray
    rtol: float
    scale: np.ndarray


def judge_values(
    dtype: str, actual: np.ndarray, expected: np.ndarray, scale, factor: float = 1.0
) -> Verdict:
    """|actual - expected| <= factor rtol scale + tiny, elementwise (NaN only where expected),
    rtol and tiny those of the precision ``dtype`` is computed in. A float16/bfloat16 result
    (computed in float32) must be the correct rounding to ``dtype`` of a value within that
    float32 bound of ``expected`` (:func:`properties.checks.rounding.rounds_once_within`)."""
    rtol = factor * tolerances.OPTIM_RTOL[tolerances.working_dtype(dtype)]
    a, e = np.broadcast_arrays(np.asarray(actual, np.float64), expected)
    v = within_elements(dtype, a, e, rtol * np.asarray(scale, np.float64))
    scale = np.broadcast_to(scale, e.shape)
    return Verdict(v.good, a, e, v.err, v.bound, rtol, scale)


def close_values(
    what: str, dtype: str, actual: np.ndarray, expected: np.ndarray, scale, factor: float = 1.0
) -> None:
    """:func:`judge_values`, asserted: every element passes."""
    assert_verdict(what, dtype, judge_values(dtype, actual, expected, scale, factor))


def assert_verdict(what: str, dtype: str, v: Verdict) -> None:
    bounds.require(
        what,
        dtype,
        v.actual,
        bounds.Verdict(v.good, v.err, v.allowed, v.expected),
        lambda i: f" = {v.rtol:g} * scale {v.scale.ravel()[i]:.3g}",
    )


def close_trajectory(
    what: str, dtype: str, actual: list[np.ndarray], expected: R.Trajectory, factor: float = 1.0
) -> None:
    """After step k (1-based): |actual - expected| <= factor rtol k scale_k + tiny."""
    for k, (a, e, s) in enumerate(
        zip(actual, expected.params, expected.scale, strict=True), start=1
    ):
        close_values(f"{what}, step {k}", dtype, a, e, s, factor=factor * k)


def trajectory_matches_reference(
    ops: Any, impl: Implementation, rule: str, problem: Problem, dtype: str
) -> None:
    actual = run(ops, impl, rule, problem, dtype)
    close_trajectory(f"{rule}{problem.hyper} on {impl.id}", dtype, actual, reference(rule, problem))


def step_verdicts(
    ops: Any, impl: Implementation, rule: str, problem: Problem, dtype: str
) -> Iterator[tuple[str, Verdict]]:
    """Each step judged alone, with a bound of one step: from the reference's state after k
    steps (params and slots rounded to the dtype, count k), the implementation's step k + 1
    against the reference's step from that same state: the verdict on its params, then on
    every slot of its state (the documented names: ``exp_avg``, ...), each with what it is.
    Lazy: step k + 1 is taken once step k's verdicts have been read."""
    opt = construct(ops, rule, problem)
    hyper = {k: v for k, v in problem.hyper.items() if k != "lr"}

    def rounded(a):
        if dtype in LOW_PRECISION:  # (numpy's casts to bfloat16 go through float32)
            return round_to(a, dtype)
        return np.asarray(a, dtype).astype(np.float64)

    x, slots = rounded(problem.x0), None
    if "initial_accumulator_value" in hyper:  # (Adagrad's: the state is held in the dtype)
        hyper["initial_accumulator_value"] = float(rounded(hyper["initial_accumulator_value"]))
    for k, g in enumerate(problem.grads):
        g = rounded(g)  # (bfloat16 values are drawn as float32)
        one = R.REFERENCES[rule](x, [g], lr=[problem.lrs[k]], **hyper, slots=slots, count=k)
        xa = impl.array(x, dtype)
        state = opt.init(xa)
        if slots is not None:
            given = {name: impl.array(v, dtype) for name, v in slots.items()}
            state = state._replace(count=state.count + k, slots={**state.slots, **given})
        new_x, new_state = opt.step(xa, impl.array(g, dtype), state)
        what = f"{rule}{problem.hyper} on {impl.id}, step {k + 1} from the reference's state"
        yield (
            f"{what}: params",
            judge_values(dtype, impl.numpy(new_x), one.params[0], one.scale[0]),
        )
        for name, expected in one.slots[0].items():
            yield (  # (factor 2: a squared gradient carries its rounding twice)
                f"{what}: slot {name}",
                judge_values(
                    dtype,
                    impl.numpy(new_state.slots[name]),
                    expected,
                    one.slot_scale[0][name],
                    factor=2,
                ),
            )
        x, slots = rounded(one.params[0]), {n: rounded(v) for n, v in one.slots[0].items()}


def each_step_from_the_reference_state(
    ops: Any, impl: Implementation, rule: str, problem: Problem, dtype: str
) -> None:
    """Each step judged alone, with a bound of one step (:func:`step_verdicts`), asserted:
    the implementation's step k + 1 from the reference's state after k steps equals the
    reference's step from that same state, in its params and in every slot of its state. A
    wrong step cannot hide behind the rounding allowance a whole trajectory accumulates (a
    centered RMSProp step whose variance is 0 allows any error, and the cumulative bound then
    any error after it), and a wrong slot cannot hide behind params that come out right."""
    for what, verdict in step_verdicts(ops, impl, rule, problem, dtype):
        assert_verdict(what, dtype, verdict)
