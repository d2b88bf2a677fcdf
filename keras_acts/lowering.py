"""Export-time lowering of activations.

Training uses each activation's exact formula, written with :mod:`keras_acts._ops` so that it runs
on every Keras 3 backend (and tf_keras); the lowerings are TensorFlow code. When the exporter traces a model
for TFLite it enters :func:`lowering_target`; while that context is active, every
keras_acts activation function emits the formulation registered for the target
(``"float"``, ``"int8"`` or ``"edgetpu"``) instead, so only the exported graph
changes. The context is thread-local and only matters while a graph is being traced.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from typing import Any, Callable, Iterator

from keras_acts import registry

_state = threading.local()


def current_target() -> str | None:
    """The lowering target being traced for, or None during training/inference."""
    return getattr(_state, "target", None)


@contextlib.contextmanager
def lowering_target(target: str | None) -> Iterator[None]:
    """Traces activations in their export form for ``target`` inside the block."""
    if target is not None and target not in registry.LOWERING_TARGETS:
        raise ValueError(
            f"unknown lowering target {target!r}; use one of {registry.LOWERING_TARGETS}."
        )
    previous = current_target()
    _state.target = target
    _count_active(+1)
    try:
        yield
    finally:
        _state.target = previous
        _count_active(-1)


@contextlib.contextmanager
def recording_inputs(recorder: Callable[[str, dict[str, Any], Any], None]) -> Iterator[None]:
    """Calls ``recorder(name, params, x)`` on every activation call in this thread inside the block
    (the exporter's calibration pre-pass records the inputs of automatically lowered activations)."""
    previous = getattr(_state, "recorder", None)
    _state.recorder = recorder
    _count_active(+1)
    try:
        yield
    finally:
        _state.recorder = previous
        _count_active(-1)


# How many lowering_target/recording_inputs blocks are open in any thread. While none is, an activation
# call needs no thread-local lookup (the fast path in activation_function).
_active = 0
_active_lock = threading.Lock()


def _count_active(step: int) -> None:
    global _active
    with _active_lock:
        _active += step


def export_form(name: str, params: dict[str, Any] | None = None) -> Callable[..., Any] | None:
    """The lowering function of registry activation ``name`` for the target being traced.

    The entry's hand-written lowering (:meth:`keras_acts.registry.Activation.lowering`); for an int8
    target without one, the automatic lowering (:meth:`~keras_acts.registry.Activation.auto_lowering`,
    installed by :mod:`keras_acts.export.auto_lowering`: a verified
    form fitted on the calibrated input range). None outside :func:`lowering_target`, or when the
    target's lowering is the training function itself.
    """
    target = current_target()
    if target is None:
        return None
    entry = registry.lookup(name)
    low = entry.lowering(target)
    if low is None and target != "float":
        # No hand-written form for this int8 target (typically a user's activation): the automatic,
        # verified int8 lowering (keras_acts.export.auto_lowering installs the provider).
        low = entry.auto_lowering(target, None, params=dict(params or {}))
    return None if low is None else low.fn


def _bind_positional(
    name: str, names: list[str], args: tuple[Any, ...], params: dict[str, Any]
) -> dict[str, Any]:
    """``params`` with the positional ``args`` bound to ``names`` in order (Python's rules and messages)."""
    if len(args) > len(names):
        given, takes = len(args) + 1, len(names) + 1
        raise TypeError(f"{name}() takes {takes} positional argument(s) but {given} were given")
    bound = dict(params)
    for key, value in zip(names, args):
        if key in bound:
            raise TypeError(f"{name}() got multiple values for argument {key!r}")
        bound[key] = value
    return bound


def activation_function(name: str, public_name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorates the training-time formula of registry activation ``name``.

    The formula is written with :mod:`keras_acts._ops` (every Keras 3 backend, and tf_keras).
    The returned function validates its input and Python-number parameters; when the entry
    has an analytic ``derivative`` it trains with a custom gradient that keeps only the input
    for the backward pass; while a lowering target is active (export, TensorFlow only) it
    dispatches to the registry's lowering for that target.
    """

    def decorate(math_fn: Callable[..., Any]) -> Callable[..., Any]:
        # the parameters after x, in order: they may be passed by position too, as the signature that
        # functools.wraps advertises says (and tf.function, which binds by that signature, passes them)
        positional = [
            p.name for p in list(inspect.signature(math_fn).parameters.values())[1:]
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]

        @functools.wraps(math_fn)
        def activation(x: Any, *args: Any, **params: Any) -> Any:
            if args:
                params = _bind_positional(activation.__name__, positional, args, params)
            if not params and type(x) in _concrete_float_types():
                # The common call (default parameters, a concrete float tensor, no export trace): the
                # prepared function directly, without the per-call validation below (about 10 us of
                # Python per call on torch, more than the activation itself on small tensors).
                fn = _PREPARED.get((name, None))
                if fn is not None and not _active and x.dtype in _CONCRETE_FLOAT_DTYPES:
                    return fn(x)
            entry = registry.lookup(name)
            explicit = bool(params)
            params = entry.check_params({**entry.defaults(), **params}) if entry.params else entry.check_params(params)
            recorder = getattr(_state, "recorder", None)
            if recorder is not None:  # the exporter records automatically lowered activations' input ranges
                recorder(name, params, x)
            lowered = export_form(name, params)
            if lowered is not None:
                return lowered(_as_float_tensor(x, name), **params)
            x = _as_float_tensor(x, name)
            if any(hasattr(v, "dtype") for v in params.values()):
                return math_fn(x, **params)  # a learnable parameter: plain autodiff, also for it
            key = (name, tuple(sorted(params.items())))
            fn = _PREPARED.get(key)
            if fn is None:
                fn = _PREPARED[key] = _prepare(math_fn, entry.derivative, params, entry.gradient)
                if not explicit:
                    _PREPARED[(name, None)] = fn  # the fast path's entry for calls without parameters
            return fn(x)

        activation.__name__ = public_name or math_fn.__name__
        activation.__qualname__ = activation.__name__
        activation.__wrapped_math__ = math_fn  # type: ignore[attr-defined]
        # AutoGraph (tf.function, tf_keras's conversion of a layer's call) calls the activation as it is: it
        # has no Python control flow on tensors to convert (it branches on data with tf.cond), and AutoGraph
        # reads the source through __wrapped__ (inspect follows it), so it converted the formula under this
        # wrapper instead of the wrapper: a TypeError for swish, mish's formula without its custom gradient
        # (and a warning). This is the mark tf.autograph.experimental.do_not_convert sets, without its
        # per-call wrapper (no TensorFlow import here).
        activation.autograph_info__ = None  # type: ignore[attr-defined]
        return activation

    return decorate


# (registry name, parameters) -> the activation of x alone, made once: with its custom gradient
# (creating one costs more than evaluating it on small eager tensors) and, on jax, compiled.
# (name, None): the same function for a call without parameters (the defaults), read by the fast path.
# keras_acts.registration drops a name's entries when it is registered again.
_PREPARED: dict[tuple[str, tuple[tuple[str, Any], ...] | None], Callable[[Any], Any]] = {}

# The backend's concrete (eager) tensor types and float dtypes, for the fast path; symbolic and traced
# tensors (tf.function, jax.jit, torch.compile run the Python once) take the full path.
_CONCRETE_FLOAT_TYPES: frozenset[type] | None = None
_CONCRETE_FLOAT_DTYPES: frozenset[Any] = frozenset()


def _concrete_float_types() -> frozenset[type]:
    global _CONCRETE_FLOAT_TYPES, _CONCRETE_FLOAT_DTYPES
    if _CONCRETE_FLOAT_TYPES is None:
        from keras_acts import _ops

        _CONCRETE_FLOAT_TYPES, _CONCRETE_FLOAT_DTYPES = _ops.concrete_float_types()
    return _CONCRETE_FLOAT_TYPES



def _prepare(
    math_fn: Callable[..., Any],
    derivative: Callable[..., Any] | None,
    params: dict[str, Any],
    gradient: Callable[..., Any] | None = None,
) -> Callable[[Any], Any]:
    """``math_fn`` with fixed ``params``: with the analytic gradient when there is one, and
    compiled into one fused kernel on jax (:func:`keras_acts._ops.fuse`), as jax's own
    activations are, so that it is not dispatched op by op outside ``jit``."""
    from keras_acts import _ops

    if derivative is not None:
        fn = _with_derivative(math_fn, derivative, params, gradient)
    else:
        fn = functools.partial(math_fn, **params)
    return _ops.fuse(fn)


def _as_float_tensor(x: Any, name: str) -> Any:
    """``x`` as a floating-point tensor of the backend in use (NumPy, jax, torch, TF inputs).

    Raises:
        TypeError: a symbolic Keras tensor (``keras.Input``), or a non-float dtype.
    """
    from keras_acts import _ops

    if not _ops.is_tensor(x):
        if type(x).__name__ == "KerasTensor":
            raise TypeError(
                f"{name}: got a symbolic KerasTensor; keras_acts activations run inside layers. Use "
                f"keras_acts.layers.get({name!r})(x), or pass the function as a layer's "
                f"activation=keras_acts.get({name!r})."
            )
        try:
            x = _ops.convert_to_tensor(x)
        except (TypeError, ValueError) as exc:  # a string, an object, a ragged list, ...
            raise TypeError(
                f"{name}: expected a floating-point tensor or array, got {type(x).__name__} ({exc}). "
                f"Pass numbers, e.g. np.asarray(values, 'float32')."
            ) from exc
    dtype = _ops.dtype_name(x)
    if dtype not in _ops.FLOAT_DTYPES:
        raise TypeError(
            f"{name}: expected a floating-point tensor (float16, bfloat16, float32 or float64), "
            f"got {dtype}. Cast first, e.g. keras.ops.cast(x, 'float32') (tf.cast under tf_keras)."
        )
    return x


def _with_derivative(
    math_fn: Callable[..., Any],
    derivative: Callable[..., Any],
    params: dict[str, Any],
    gradient: Callable[..., Any] | None = None,
) -> Callable[[Any], Any]:
    """``math_fn`` with the gradient ``upstream * derivative(x)``.

    The forward pass keeps only its input for the backward pass, which evaluates the
    analytic derivative from it: peak memory of training drops by the intermediates the
    formula would otherwise keep (one to four tensors of the input's size), and the
    formula is not run a second time (measured in benchmarks/bench_activations.py).

    With ``gradient`` (``gradient(upstream, x, **params)``, the registry entry's) the
    backward pass calls it instead of multiplying: a backend with a fused backward kernel
    (torch's ``silu_backward`` and the like) then makes one pass over memory instead of two.
    Both passes run inside :func:`keras_acts._ops.input_scope`, so facts about ``x`` found in
    the forward pass (torch: whether it is all finite) are not computed again.
    """
    from keras_acts import _ops

    def fn(x: Any) -> Any:
        scope = _ops.input_scope(x)

        def grad(upstream: Any) -> Any:
            with scope:
                if gradient is not None:
                    return gradient(upstream, x, **params)
                return upstream * derivative(x, **params)

        with scope:
            return math_fn(x, **params), grad

    # Where no gradient can be recorded (torch.no_grad or an input without requires_grad; TensorFlow eager
    # without a tape) the formula alone runs: no scope, no backward closure, no gradient bookkeeping.
    plain = functools.partial(math_fn, **params)
    if gradient is not None and _ops.BACKEND == "torch" and not _ops.is_tf_keras():
        return _ops.custom_gradient(fn, native_kernels=True, plain=plain)
    return _ops.custom_gradient(fn, plain=plain)
