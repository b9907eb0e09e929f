"""The table of activation cases the properties iterate over: a primitive with parameters,
its references and the points where it is not smooth."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import NamedTuple

from reference import activations as ref64
from reference import mp as ref_mp


class ActivationCase(NamedTuple):
    name: str
    params: tuple
    kinks: tuple[float, ...] = ()  # x where f or f' jumps: finite differences keep away

    @property
    def id(self) -> str:
        return self.name + ("(" + ",".join(map(str, self.params)) + ")" if self.params else "")

    @property
    def backward(self) -> str:
        return self.name + "_backward"

    # references ------------------------------------------------------------------
    @property
    def mp(self) -> Callable:
        return partial(ref_mp.ELEMENTWISE[self.name][0], **self._kw)

    @property
    def mp_prime(self) -> Callable:
        return partial(ref_mp.ELEMENTWISE[self.name][1], **self._kw)

    @property
    def f64(self) -> Callable:
        return partial(getattr(ref64, self.name), **self._kw)

    @property
    def f64_prime(self) -> Callable:
        return partial(getattr(ref64, self.name + "_prime"), **self._kw)

    @property
    def _kw(self) -> dict:
        from primitives.kernels import SPECS

        names = [n for n, _ in SPECS[self.name].params]
        return dict(zip(names, self.params, strict=True))


def _softplus(beta: float, threshold: float) -> ActivationCase:
    kink = threshold / beta
    return ActivationCase("softplus", (beta, threshold), (kink,) if math.isfinite(kink) else ())


ELEMENTWISE = [
    ActivationCase("relu", (), (0.0,)),
    ActivationCase("leaky_relu", (0.01,), (0.0,)),
    ActivationCase("leaky_relu", (0.2,), (0.0,)),
    ActivationCase("sigmoid", ()),
    ActivationCase("tanh", ()),
    ActivationCase("gelu", ("none",)),
    ActivationCase("gelu", ("tanh",)),
    ActivationCase("silu", ()),
    _softplus(1.0, 20.0),
    _softplus(2.0, 5.0),
    _softplus(1.0, math.inf),
    ActivationCase("elu", (1.0,), (0.0,)),
    ActivationCase("elu", (0.5,), (0.0,)),
]

ROWS = ["softmax", "log_softmax"]

WITHOUT_EDGE_POINTS = "PRIMITIVES_WITHOUT_EDGE_POINTS"
"""The environment variable that leaves the edge points out of the large arrays (see
``python -m properties.mutation_score --without-edge-points``)."""

# Inputs every elementwise accuracy check sees, whatever Hypothesis draws: the tails where
# frameworks are known to slip (GELU at -5.5 and -6, sigmoid' at 37.43), extremes, zeros.
EDGE_POINTS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    2.0,
    -2.0,
    3.0,
    -3.0,
    5.0,
    -5.0,
    -5.5,
    -6.0,
    -8.0,
    -10.0,
    10.0,
    20.0,
    -20.0,
    37.43,
    -37.43,
    50.0,
    -50.0,
    90.0,
    -90.0,
    710.0,
    -710.0,
    1e-30,
    -1e-30,
    1e-7,
    -1e-7,
    1e4,
    -1e4,
    1e30,
    -1e30,
    3e38,
    -3e38,
    1e300,
    -1e300,
    math.inf,
    -math.inf,
    math.nan,
    2.5,
    10.0 + 1e-6,
    19.99,
    20.01,
    -0.75,
    # float32 GELU where Phi(x) or sigma(2u) is subnormal (the factor x amplifies its rounding)
    -14.147,
    -13.85,
    -10.51,
    -1.2785,
    # float64 GELU where Phi(x) or sigma(2u) is subnormal (the same, in float64)
    -21.478,
    -21.516,
    -38.094,
    -38.404,
    # GELU's derivative where Phi(x) or sigma(2u) is below the smallest normal number and the
    # result is normal: arithmetic that flushes subnormals (XLA on the CPU) must not flush it
    # (found by the accuracy atlas: float32 -13.02 and -10.04, bfloat16 -13.125, float64
    # -37.53 and -21.18)
    -13.0217,
    -10.0417,
    -13.125,
    -37.5313,
    -21.1843,
    # float16 where jax.nn's elu and softplus(beta=2), computed in float16, miss by 1.1 ULP
    # (found by the accuracy atlas; known deviations)
    -0.2335205078125,
    -1.0341796875,
    # float16 where jax.nn.softplus, computed in float16, misses by 1.12 ULP (found by the dev
    # profile's drawn test; a known deviation)
    0.01198577880859375,
]
