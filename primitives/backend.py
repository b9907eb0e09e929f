"""The backend contract: everything a module must provide to run every primitive.

A primitive is written once (see :mod:`primitives.kernels`) as a function of a
:class:`Backend` and arrays. The backend supplies the array namespace (the Python array
API standard: ``exp``, ``log1p``, ``maximum``, ``where``, ``max``, ``sum``, ...) plus the
few things the standard lacks. A third-party backend is a module with a module-level
``BACKEND = Backend(...)``; ``primitives.load_backend("mypkg.mybackend")`` registers it and
``pytest --backend=mypkg.mybackend`` judges it with the whole property suite.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

Array = Any
"""An array of whichever backend is in use (numpy.ndarray, torch.Tensor, jax.Array, ...)."""


def _no_wrap(spec: Any, forward: Callable, backward: Callable) -> tuple[Callable, Callable]:
    return forward, backward


def _no_wrap_function(spec: Any, forward: Callable, backward: Callable) -> Callable:
    return forward


def _no_compile(kernel: Callable, static_argnums: tuple[int, ...]) -> Callable:
    return kernel


class RandomSource:
    """A backend's own random source, for dropout (an optional :class:`Backend` field).

    description:
        What ``rng`` may be, for error messages: ``"a numpy.random.Generator or an int seed"``.
    is_source:
        ``is_source(rng) -> bool``: whether ``rng`` is one of the library's own sources (an int
        seed is checked, and accepted, before this is asked).
    bernoulli:
        ``bernoulli(x, keep, rng) -> Array``: a boolean array of x's shape on x's device, each
        element True with probability ``keep``, independently, drawn from ``rng`` (an int seed
        or a source that ``is_source`` accepted). The same source in the same state gives the
        same mask. A ``ValueError`` says what is wrong with a source that cannot serve ``x``
        (a generator on another device).
    from_seed:
        ``from_seed(seed, like) -> source``: a fresh source of the library's own kind, from an
        int seed, on ``like``'s device (the property suite draws with it).
    advances:
        True where drawing changes the source's state (numpy and torch generators), so that a
        second draw from it differs; False for immutable keys (jax).
    """

    def __init__(
        self,
        *,
        description: str,
        is_source: Callable[[Any], bool],
        bernoulli: Callable[[Any, float, Any], Any],
        from_seed: Callable[[int, Any], Any],
        advances: bool,
    ) -> None:
        self.description = description
        self.is_source = is_source
        self.bernoulli = bernoulli
        self.from_seed = from_seed
        self.advances = advances


def _full_like(xp: Any) -> Callable[[Any, float], Any]:
    def full_like(x: Any, value: float) -> Any:
        return xp.astype(xp.where(xp.isnan(x), value, value), x.dtype)

    return full_like


class Backend:
    """One array library, adapted for the primitives.

    Required fields:

    name:
        Registry name, e.g. ``"numpy"``; used by ``set_backend`` and in test ids.
    array_types:
        Types whose instances belong to this backend (``isinstance`` is used, so base
        classes and abstract types such as ``jax.Array`` are fine).
    xp:
        The array API namespace of the library (``numpy``, ``array_api_compat.torch``, ...).
        Used: ``abs, exp, expm1, log, log1p, tanh, sqrt, maximum, minimum, where, isnan,
        max(x, axis=, keepdims=), sum(x, axis=, keepdims=), astype, asarray, float32,
        float64`` and ``arange(stop, *, dtype=None, device=None)`` (the losses build one-hot
        masks by comparing class indices with it; ``device`` is the target's ``.device`` or
        None) and ``take_along_axis(a, indices, axis)`` (the array API's; the losses gather
        each row's target class with it).
    erf, erfc:
        Elementwise error functions (the array API standard has neither).
    is_floating:
        ``is_floating(x) -> bool``: whether ``x`` has a real floating dtype. The answer is
        remembered per ``x.dtype`` (which must be hashable, as numpy, torch and jax dtypes
        are), so it must depend on the dtype alone.
    low_precision:
        ``low_precision(x) -> bool``: whether ``x`` is float16/bfloat16; such inputs are
        computed in float32 and rounded once, as torch does on the CPU.
    asarray:
        ``asarray(obj) -> Array``: Python numbers and lists to a floating array of the
        library's default floating dtype (serves the default backend).
    to_numpy, from_numpy:
        Conversions used by the property suite: ``to_numpy(x) -> numpy.ndarray`` (a float16
        or bfloat16 array may come back as float32, exactly), ``from_numpy(a, dtype) -> Array``
        with ``dtype`` a name such as ``"float32"``.
    dtypes:
        Names of the floating dtypes the suite should test on this backend.

    Optional fields:

    native:
        ``{primitive_name: kernel}`` overrides (``"gelu"``, ``"gelu_backward"``, ...) with
        the generic kernel's positional signature, for faster library kernels. The suite
        judges them, and judges the generic path too (backend id ``"<name>:generic"``).
    wrap:
        ``wrap(spec, forward, backward) -> (forward, backward)`` makes the kernels first-class
        for the framework: torch wraps them in ``torch.autograd.Function`` so autograd uses
        the hand-written backward; jax wraps them in ``jax.custom_vjp`` and ``jax.jit``.
    wrap_function:
        ``wrap_function(spec, forward, backward) -> forward`` does the same for a kernel of
        ``primitives.kernels.FUNCTIONS`` that names a hand-written ``backward`` (the losses,
        layer norm): ``spec.static_argnums`` gives its non-array arguments, and
        ``backward(g, *args)`` its gradients with respect to the arguments at ``spec.grads``
        (the first alone for a loss; x, weight and bias for layer norm). torch uses an
        ``autograd.Function`` when only those arguments require grad (otherwise autograd
        differentiates the forward); jax a ``jax.custom_vjp`` whose other floating arguments
        get the forward's own derivative. Default: the forward as it is (no autodiff to
        serve).
    compile:
        ``compile(kernel, static_argnums) -> kernel`` for the kernels of
        ``primitives.kernels.FUNCTIONS`` (losses, optimizers, layers): jax jits them with the
        non-array arguments static.
    flushes_subnormals:
        True where the library computes with subnormal inputs and results flushed to zero
        (XLA on the CPU does); the suite then judges results against that arithmetic. A
        callable is asked each time (jax: whether its default device is a CPU, as XLA on a
        GPU keeps subnormals); where it is False the kernels keep subnormal results accurate.
    has_float64:
        ``has_float64() -> bool``, asked when a kernel would compute in float64 for accuracy
        (float32 GELU where subnormals are kept): whether float64 arithmetic is there now
        (jax: only with ``jax_enable_x64``, context managers included). Default: always.
    is_concrete:
        ``is_concrete(x) -> bool``: whether ``x`` holds values that can be read now. False for
        the abstract arrays of a tracing transformation (jax's tracers under ``jit``,
        ``grad``, ``vmap``). Value checks (a class out of range, a probability outside
        [0, 1]) raise only on concrete values; on abstract ones the affected rows become NaN
        instead (see :mod:`primitives.losses`). Default: always concrete.
    stop_gradient:
        ``stop_gradient(x) -> Array``: ``x`` cut from the framework's autodiff (torch:
        ``detach``, jax: ``lax.stop_gradient``). Batch norm's new running statistics go
        through it: like torch's buffers they are state, not a differentiable output, so a
        training loop does not keep every step's graph alive through them. Default: identity.
    index_dtype:
        ``index_dtype() -> dtype`` or None: the integer dtype that class targets are cast to
        before indexing (torch's ``take_along_dim`` takes only int64). None (the default)
        keeps every integer dtype as it is; integer targets of any width are accepted and
        give the same result as int64.
    row_sum:
        ``row_sum(x, axis) -> Array`` (keeping ``axis``, length 1): the sum along one axis
        that softmax and log_softmax normalize by. Default ``xp.sum``; a library whose sum is
        a running sum per vector lane (error growing with the row's length where its terms
        are alike) gives a pairwise one here.
    random:
        A :class:`RandomSource`: the library's own random source, which ``dropout(x, p,
        rng=...)`` draws its mask from. Default None: dropout then needs ``mask=``.
    errors_ignored:
        ``errors_ignored() -> context manager`` in which the library's floating-point
        exceptions neither warn nor raise (NumPy: ``numpy.errstate(all="ignore")``). The
        losses, layers, optimizers and dropout run in it: a NaN or inf there (an infinite
        grad_output times a zero slope) is a defined result that propagates, not an accident
        to warn about. (The activation kernels are quieted, where needed, by ``wrap``: the
        worked example's ``_quiet``.) Default None: nothing to ignore.
    full_like:
        ``full_like(x, value) -> Array``: ``value`` in x's shape, dtype and device (the
        optimizers' initial state). Default: built from ``xp.where``, ``isnan`` and ``astype``.
    integer_zero:
        ``integer_zero(like) -> Array``: a 0-d integer 0 on like's device, the optimizers'
        step count (int64 where the library has it). Default ``xp.asarray(0)``.
    ensure_array:
        ``ensure_array(value) -> Array``: a kernel's result as an array of the library, where
        its arithmetic on 0-d arrays returns scalars (NumPy's does: ``np.asarray``). Default:
        the value as it is.
    register_tree:
        ``register_tree(cls, flatten, unflatten)``: make a container type (the optimizer state)
        a node of the library's tree utilities (jax's pytrees, so ``jax.jit(opt.step)`` takes
        it); ``flatten(obj) -> (children, aux)`` and ``unflatten(aux, children) -> obj``.
        Called once per type. Default: nothing to register.
    """

    # A plain class rather than a dataclass: ``import primitives`` stays free of ``inspect``.
    def __init__(
        self,
        *,
        name: str,
        array_types: tuple[type, ...],
        xp: Any,
        erf: Callable[[Array], Array],
        erfc: Callable[[Array], Array],
        is_floating: Callable[[Array], bool],
        low_precision: Callable[[Array], bool],
        asarray: Callable[[Any], Array],
        to_numpy: Callable[[Array], Any],
        from_numpy: Callable[[Any, str], Array],
        dtypes: tuple[str, ...] = ("float32", "float64"),
        native: Mapping[str, Callable] | None = None,
        wrap: Callable[[Any, Callable, Callable], tuple[Callable, Callable]] = _no_wrap,
        wrap_function: Callable[[Any, Callable, Callable], Callable] = _no_wrap_function,
        flushes_subnormals: bool | Callable[[], bool] = False,
        compile: Callable[[Callable, tuple[int, ...]], Callable] = _no_compile,
        row_sum: Callable[[Array, int], Array] | None = None,
        has_float64: Callable[[], bool] = lambda: True,
        is_concrete: Callable[[Array], bool] = lambda x: True,
        stop_gradient: Callable[[Array], Array] = lambda x: x,
        index_dtype: Callable[[], Any] | None = None,
        random: RandomSource | None = None,
        errors_ignored: Callable[[], contextlib.AbstractContextManager] | None = None,
        full_like: Callable[[Array, float], Array] | None = None,
        integer_zero: Callable[[Array], Array] | None = None,
        ensure_array: Callable[[Any], Array] = lambda value: value,
        register_tree: Callable[[type, Callable, Callable], None] | None = None,
    ) -> None:
        self.name = name
        self.array_types = tuple(array_types)
        self.xp = xp
        self.erf = erf
        self.erfc = erfc
        self.is_floating = is_floating
        self.low_precision = low_precision
        self.asarray = asarray
        self.to_numpy = to_numpy
        self.from_numpy = from_numpy
        self.dtypes = tuple(dtypes)
        self.native = dict(native or {})
        self.wrap = wrap
        self.wrap_function = wrap_function
        self._flushes_subnormals = flushes_subnormals
        self.compile = compile
        self.has_float64 = has_float64
        self.is_concrete = is_concrete
        self.stop_gradient = stop_gradient
        self.index_dtype = index_dtype
        self.row_sum = row_sum or (lambda x, axis: xp.sum(x, axis=axis, keepdims=True))
        self.random = random
        self.errors_ignored = errors_ignored
        self.full_like = full_like or _full_like(xp)
        self.integer_zero = integer_zero or (lambda like: xp.asarray(0))
        self.ensure_array = ensure_array
        self.register_tree = register_tree or (lambda cls, flatten, unflatten: None)

    def ignoring_errors(self) -> contextlib.AbstractContextManager:
        """The context of ``errors_ignored`` (one that does nothing where there is none)."""
        return contextlib.nullcontext() if self.errors_ignored is None else self.errors_ignored()

    @property
    def flushes_subnormals(self) -> bool:
        flushes = self._flushes_subnormals
        return bool(flushes() if callable(flushes) else flushes)

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"
