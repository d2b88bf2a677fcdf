"""Export-time lowering of activations.

Training uses each activation's exact TF formula. When the exporter traces a model
for TFLite it enters :func:`lowering_target`; while that context is active, every
keras_acts activation function emits the formulation registered for the target
(``"float"``, ``"int8"`` or ``"edgetpu"``) instead, so only the exported graph
changes. The context is thread-local and only matters while a graph is being traced.
"""

from __future__ import annotations

import contextlib
import functools
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
    try:
        yield
    finally:
        _state.target = previous


def export_form(name: str) -> Callable[..., Any] | None:
    """The lowering function of registry activation ``name`` for the target being traced.

    None outside :func:`lowering_target`, or when the target's lowering is the training
    function itself.
    """
    target = current_target()
    if target is None:
        return None
    low = registry.lookup(name).lowering(target)
    return None if low is None else low.fn


def activation_function(name: str, public_name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorates the training-time TF formula of registry activation ``name``.

    The returned function validates Python-number parameters, and while a lowering
    target is active dispatches to the registry's lowering for that target.
    """

    def decorate(math_fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(math_fn)
        def activation(x: Any, **params: Any) -> Any:
            entry = registry.lookup(name)
            params = entry.check_params(params)
            lowered = export_form(name)
            if lowered is not None:
                return lowered(_as_float_tensor(x, name), **params)
            x = _as_float_tensor(x, name)
            if entry.recompute_gradient and not any(hasattr(v, "dtype") for v in params.values()):
                return _recomputing(math_fn, params)(x)
            return math_fn(x, **params)

        activation.__name__ = public_name or math_fn.__name__
        activation.__qualname__ = activation.__name__
        activation.__wrapped_math__ = math_fn  # type: ignore[attr-defined]
        return activation

    return decorate


def _as_float_tensor(x: Any, name: str) -> Any:
    import tensorflow as tf

    if not tf.is_tensor(x):
        x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(
            f"{name}: expected a floating-point tensor (float16, bfloat16, float32 or float64), "
            f"got {x.dtype.name}. Cast first, e.g. tf.cast(x, tf.float32)."
        )
    return x


def _recomputing(math_fn: Callable[..., Any], params: dict[str, Any]) -> Callable[[Any], Any]:
    """``math_fn`` with a gradient that recomputes it from x in the backward pass.

    The forward pass keeps only its input for the backward pass; the gradient re-runs the
    formula under a tape. Peak memory of training drops by the intermediates the formula
    would otherwise keep (one to four tensors of the input's size), at the cost of one
    more forward evaluation, which for these memory-bound elementwise functions is
    measured in benchmarks/bench_activations.py.
    """
    import tensorflow as tf

    @tf.custom_gradient
    def fn(x):
        def grad(dy):
            # At +-inf the derivative is taken at the largest finite magnitude, where every
            # recomputed activation's derivative has reached its limit (0 or the asymptotic
            # slope) and no inf * 0 = NaN can occur; finite inputs are unchanged.
            xg = tf.clip_by_value(x, x.dtype.min, x.dtype.max)
            with tf.GradientTape() as tape:
                tape.watch(xg)
                y = math_fn(xg, **params)
            return tape.gradient(y, xg, output_gradients=dy)

        return math_fn(x, **params), grad

    return fn
