"""The update rules. Each constructor checks its hyperparameters (ValueError/TypeError, the
same on every backend) and returns an :class:`~primitives.optim.Optimizer`.

Conventions are torch.optim's, with every point where the frameworks differ an explicit
parameter; ``docs/optim.md`` maps each one to torch.optim and optax, with the test behind it.
``lr`` is a number >= 0 or a schedule ``lr(count)`` called with the number of steps already
taken (a 0-d integer array of the params' backend; traced under ``jax.jit``), as optax.
"""

from __future__ import annotations

from collections.abc import Callable

from ..kernels.optim import log_decay
from . import _validate as V
from ._optimizer import Optimizer

LearningRate = float | Callable


def sgd(
    lr: LearningRate,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
) -> Optimizer:
    """Stochastic gradient descent in torch.optim.SGD's convention.

    g ← g + λx (L2, ``weight_decay``); with momentum μ > 0: b ← g on the first step, else
    b ← μb + (1 − τ)g (τ = ``dampening``); d ← g + μb (Nesterov, Sutskever et al. 2013 in
    torch's form) or b; without momentum d ← g. Then x ← x − lr·d.

    optax: ``optax.sgd(lr, momentum=μ, nesterov=...)`` is this rule with τ = 0 (its trace
    t ← g + μt starts from 0, so its first step is also t = g); L2 is
    ``optax.chain(optax.add_decayed_weights(λ), optax.sgd(...))``; there is no dampening.
    """
    fn = "sgd"
    lr = V.learning_rate(fn, lr)
    momentum = V.nonnegative(fn, "momentum", momentum)
    dampening = V.closed_unit_interval(fn, "dampening", dampening)
    nesterov = V.nesterov(fn, nesterov, momentum, dampening)
    weight_decay = V.nonnegative(fn, "weight_decay", weight_decay)
    hyper = dict(
        lr=lr, momentum=momentum, dampening=dampening, nesterov=nesterov, weight_decay=weight_decay
    )
    slots = {"momentum_buffer": 0.0} if momentum else {}
    h = (momentum, 1.0 - dampening, weight_decay)
    return Optimizer(
        fn, hyper, "optim_sgd", h, (bool(momentum), nesterov, bool(weight_decay)), slots
    )


def heavy_ball(lr: LearningRate, momentum: float) -> Optimizer:
    """Polyak's heavy ball (1964): x_{t+1} = x_t − lr·g_t + μ(x_t − x_{t−1}), x_0 = x_{−1}.

    The state keeps the step v = x_t − x_{t−1} as it was computed (v ← μv − lr·g; x ← x + v)
    rather than re-deriving it by a subtraction of nearly equal params. At a constant lr this
    is :func:`sgd` with the same momentum (v = −lr·b); under a schedule they differ (lr
    multiplies the whole buffer in sgd, only the new gradient here). Keras's SGD and
    ``optax.sgd`` with lr inside the trace are this form.
    """
    fn = "heavy_ball"
    lr = V.learning_rate(fn, lr)
    momentum = V.nonnegative(fn, "momentum", momentum)
    hyper = dict(lr=lr, momentum=momentum)
    return Optimizer(fn, hyper, "optim_heavy_ball", (momentum,), (), {"velocity": 0.0})


def rmsprop(
    lr: LearningRate,
    alpha: float = 0.99,
    eps: float = 1e-8,
    centered: bool = False,
    momentum: float = 0.0,
    eps_in_sqrt: bool = False,
    weight_decay: float = 0.0,
    bias_correction: bool = False,
) -> Optimizer:
    """RMSProp (Tieleman & Hinton 2012, lecture 6e) in torch.optim.RMSprop's convention.

    g ← g + λx; v ← αv + (1 − α)g² (an average of squares: the weight α on the old value);
    centered (Graves 2013): a ← αa + (1 − α)g and s = v − a² (clamped at 0: rounding can make
    it slightly negative, where torch takes √ of it and returns NaN), else s = v;
    ``bias_correction``: v and a divided by 1 − α^t first (optax's flag). d = √s + ε, or
    √(s + ε) with ``eps_in_sqrt`` (optax's default); u = g/d; with momentum μ: b ← μb + u
    (b starts at 0), u = b. x ← x − lr·u.

    optax: ``optax.rmsprop(lr, decay=α, eps=ε, eps_in_sqrt=..., centered=..., momentum=μ or
    None, bias_correction=...)`` is this rule (optax's defaults differ: decay 0.9,
    eps_in_sqrt=True). With ``bias_correction=True`` and no momentum or centering it is
    :func:`adam` with ``betas=(0, α)`` and the same ε.
    """
    fn = "rmsprop"
    lr = V.learning_rate(fn, lr)
    alpha = V.unit_interval(fn, "alpha", alpha)
    eps = V.nonnegative(fn, "eps", eps)
    centered = V.flag(fn, "centered", centered)
    momentum = V.nonnegative(fn, "momentum", momentum)
    eps_in_sqrt = V.flag(fn, "eps_in_sqrt", eps_in_sqrt)
    weight_decay = V.nonnegative(fn, "weight_decay", weight_decay)
    bias_correction = V.flag(fn, "bias_correction", bias_correction)
    hyper = dict(
        lr=lr,
        alpha=alpha,
        eps=eps,
        centered=centered,
        momentum=momentum,
        eps_in_sqrt=eps_in_sqrt,
        weight_decay=weight_decay,
        bias_correction=bias_correction,
    )
    slots = {"square_avg": 0.0}
    if centered:
        slots["grad_avg"] = 0.0
    if momentum:
        slots["momentum_buffer"] = 0.0
    h = (alpha, 1.0 - alpha, log_decay(alpha), eps, momentum, weight_decay)
    flags = (centered, bool(momentum), eps_in_sqrt, bool(weight_decay), bias_correction)
    return Optimizer(fn, hyper, "optim_rmsprop", h, flags, slots)


def _adam(
    fn: str,
    lr: LearningRate,
    betas: tuple[float, float],
    eps: float,
    eps_root: float,
    weight_decay: float,
    amsgrad: bool,
) -> Optimizer:
    lr = V.learning_rate(fn, lr)
    beta1, beta2 = V.betas(fn, betas)
    eps = V.nonnegative(fn, "eps", eps)
    eps_root = V.nonnegative(fn, "eps_root", eps_root)
    weight_decay = V.nonnegative(fn, "weight_decay", weight_decay)
    amsgrad = V.flag(fn, "amsgrad", amsgrad)
    hyper = dict(
        lr=lr,
        betas=(beta1, beta2),
        eps=eps,
        eps_root=eps_root,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
    )
    slots = {"exp_avg": 0.0, "exp_avg_sq": 0.0}
    if amsgrad:
        slots["max_exp_avg_sq"] = 0.0
    h = (beta1, 1.0 - beta1, log_decay(beta1), beta2, 1.0 - beta2, log_decay(beta2))
    h += (eps, eps_root, weight_decay)
    flags = (bool(weight_decay), fn == "adamw", amsgrad, bool(eps_root))
    return Optimizer(fn, hyper, "optim_adam", h, flags, slots)


def adam(
    lr: LearningRate = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    eps_root: float = 0.0,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
) -> Optimizer:
    """Adam (Kingma & Ba 2015, Algorithm 1) in torch.optim.Adam's convention.

    g ← g + λx (L2, ``weight_decay``); m ← β₁m + (1 − β₁)g; v ← β₂v + (1 − β₂)g²;
    m̂ = m/(1 − β₁^t), v̂ = v/(1 − β₂^t) (t = steps including this one); x ← x − lr·m̂/(√(v̂ +
    ε_root) + ε). ``amsgrad`` (Reddi et al. 2018, torch's form): v̂ uses the running maximum of
    the uncorrected v, then the correction.

    optax: ``optax.adam(lr, b1, b2, eps, eps_root)``; L2 is ``optax.chain(
    optax.add_decayed_weights(λ), optax.adam(...))``. ``optax.amsgrad`` takes the maximum of
    the *corrected* v̂ (or, with ``bias_correction_nu=False``, never corrects): no mapping.
    With ε = 0 the step is invariant to scaling g by c > 0 and the first one is lr·sign(g).
    """
    return _adam("adam", lr, betas, eps, eps_root, weight_decay, amsgrad)


def adamw(
    lr: LearningRate = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    eps_root: float = 0.0,
    amsgrad: bool = False,
) -> Optimizer:
    """AdamW (Loshchilov & Hutter 2019), torch.optim.AdamW's convention: decoupled decay
    x ← x(1 − lr·λ) first, then the :func:`adam` step without L2 (λ = 0.01 as torch).

    optax: ``optax.adamw(lr, b1, b2, eps, weight_decay=λ)`` (its default λ is 1e-4): its decay
    is also multiplied by lr. AdamW is not Adam with L2 (the decay is not divided by √v̂).
    """
    return _adam("adamw", lr, betas, eps, eps_root, weight_decay, amsgrad)


def adagrad(
    lr: LearningRate = 1e-2, eps: float = 1e-10, initial_accumulator_value: float = 0.0
) -> Optimizer:
    """Adagrad (Duchi, Hazan & Singer 2011) in torch.optim.Adagrad's convention.

    s ← s + g² (s starts at ``initial_accumulator_value``); x ← x − lr·g/(√s + ε).

    optax: ``optax.adagrad(lr, initial_accumulator_value, eps)`` puts ε inside the root,
    g/√(s + ε) (and returns 0 where s = 0); its defaults are 0.1 and 1e-7. With ε = 0 and a
    positive start the two agree; otherwise they differ (by a relative ε/(2s) about).
    """
    fn = "adagrad"
    lr = V.learning_rate(fn, lr)
    eps = V.nonnegative(fn, "eps", eps)
    initial = V.nonnegative(fn, "initial_accumulator_value", initial_accumulator_value)
    hyper = dict(lr=lr, eps=eps, initial_accumulator_value=initial)
    return Optimizer(fn, hyper, "optim_adagrad", (eps,), (), {"sum": initial})
