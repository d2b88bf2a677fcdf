"""Export-time substitution of Keras's own activations by registry activations.

A model may use Keras built-ins (``Dense(activation="hard_swish")``,
``keras.layers.LeakyReLU()``, ``keras.layers.ELU()`` ...) rather than keras_acts. While
the exporter traces such a model, :func:`substitute_builtins` temporarily replaces each
built-in the registry maps by the registry function (with the parameters that make
the math identical), so it gets the same designed lowering as a keras_acts
activation — e.g. Keras's ELU, which the converter otherwise leaves as a float
``DEQUANTIZE -> ELU -> QUANTIZE`` island in int8 models.

Only exact matches are substituted: a registry entry's ``builtins[FRONTEND]`` must
have ``same_math`` or ``params`` that map it; layers with non-default options (e.g.
``ReLU(threshold=1.0)``) are left alone. Everything is restored when the context
exits, even on error, so training-time math is unchanged.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from keras_acts import registry
from keras_acts.backend import FRONTEND, keras

_MISSING = object()


@dataclass(frozen=True)
class Substitution:
    """One replacement made while tracing.

    Attributes:
        layer: the layer's name.
        attribute: ``"activation"`` or ``"call"``.
        builtin: what was there (e.g. ``"keras.activations.hard_silu"``, ``"LeakyReLU layer"``).
        activation: the registry activation used instead.
        params: its parameters.
    """

    layer: str
    attribute: str
    builtin: str
    activation: str
    params: dict[str, Any]


def builtin_function_map() -> dict[Any, tuple[str, dict[str, Any]]]:
    """Maps the frontend's activation function objects to ``(registry name, params)``."""
    out: dict[Any, tuple[str, dict[str, Any]]] = {}
    for entry in registry.entries(include_layers=False):
        b = entry.builtins.get(FRONTEND)
        if b is None or not b.name or not (b.same_math or b.params):
            continue
        try:
            fn = keras.activations.get(b.name)
        except (ValueError, TypeError):
            continue
        if fn is None or registry.find_by_function(fn) is not None:
            continue  # a keras_acts function already
        out[fn] = (entry.name, dict(b.params))
    return out


def _registry_fn(name: str, params: dict[str, Any]) -> Callable[..., Any]:
    fn = registry.lookup(name).fn
    return functools.partial(fn, **params) if params else fn


def _layer_replacement(layer: Any) -> tuple[str, dict[str, Any], Callable[..., Any]] | None:
    """For Keras's own activation layers: (registry name, params, new call) or None.

    Which layers and options map to which entry is the registry's
    (:func:`keras_acts.registry.keras_builtin_layer_activation`, each entry's ``keras_layers``).
    """
    found = registry.keras_builtin_layer_activation(layer)
    if found is None:
        return None
    entry, kwargs = found
    if entry.weights:
        fn = entry.fn

        def call(inputs: Any, *args: Any, **kw: Any) -> Any:
            return fn(inputs, *(getattr(layer, w) for w in entry.weights))

        return entry.name, {}, call
    names = {p.name for p in entry.params}
    params = {k: float(_number(v)) if not isinstance(v, bool) else v for k, v in kwargs.items() if k in names}
    return entry.name, params, _act_call(entry.name, params)


def _number(v: Any) -> Any:
    if hasattr(v, "numpy"):
        return v.numpy()
    return v


def _act_call(name: str, params: dict[str, Any]) -> Callable[..., Any]:
    fn = _registry_fn(name, params)

    def call(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(inputs)

    return call


def _all_layers(model: Any) -> list[Any]:
    try:
        found = list(model._flatten_layers(include_self=False, recursive=True))
    except (AttributeError, TypeError):
        found = list(getattr(model, "layers", []))
    seen: set[int] = set()
    out = []
    for layer in found:
        if id(layer) not in seen:
            seen.add(id(layer))
            out.append(layer)
    return out


def _has_registry_entry(name: str) -> bool:
    try:
        registry.lookup(name)
    except ValueError:
        return False
    return True


@contextlib.contextmanager
def substitute_builtins(model: Any) -> Iterator[list[Substitution]]:
    """Replaces mapped Keras built-in activations inside ``model`` for the block.

    Yields the list of :class:`Substitution` made. All attributes are restored on
    exit, including when the block raises.
    """
    fn_map = builtin_function_map()
    undo: list[tuple[Any, str, Any]] = []
    made: list[Substitution] = []
    try:
        for layer in _all_layers(model):
            replacement = _layer_replacement(layer)
            if replacement is not None and _has_registry_entry(replacement[0]):
                name, params, call = replacement
                undo.append((layer, "call", layer.__dict__.get("call", _MISSING)))
                _set(layer, "call", call)
                made.append(Substitution(layer.name, "call", f"{type(layer).__name__} layer", name, params))
                continue
            act = getattr(layer, "activation", None)
            if act is None or not callable(act) or isinstance(act, type):
                continue
            try:
                mapped = fn_map.get(act)
            except TypeError:  # unhashable callable
                mapped = None
            if mapped is None:
                continue
            name, params = mapped
            undo.append((layer, "activation", layer.__dict__.get("activation", _MISSING)))
            _set(layer, "activation", _registry_fn(name, params))
            made.append(
                Substitution(
                    layer.name, "activation", f"{getattr(act, '__module__', '')}.{getattr(act, '__name__', act)}", name, params
                )
            )
        yield made
    finally:
        for layer, attr, old in reversed(undo):
            if old is _MISSING:
                try:
                    object.__delattr__(layer, attr)
                except AttributeError:
                    pass
            else:
                _set(layer, attr, old)


@contextlib.contextmanager
def static_reshapes(model: Any) -> Iterator[int]:
    """Traces Reshape and Flatten layers with a constant shape and a -1 batch axis, for the block.

    Keras builds the new shape from the input's dynamic batch size, which converts to
    SHAPE, STRIDED_SLICE, PACK and a RESHAPE reading a computed shape: four ops that LiteRT's
    XNNPACK delegate refuses, splitting the graph at every squeeze-and-excitation block
    (EfficientNetB0: 17 partitions instead of 1). ``reshape(x, (-1, *target_shape))`` is
    the same function with one constant shape. Layers whose target shape is not fully known
    are left alone. Yields how many layers were changed; restores them on exit.
    """
    import numpy as np
    import tensorflow as tf

    undo: list[tuple[Any, Any]] = []

    def constant_shape(layer: Any) -> tuple[int, ...] | None:
        if isinstance(layer, keras.layers.Reshape):
            shape = tuple(getattr(layer, "target_shape", ()) or ())
            return shape if shape and all(isinstance(d, int) and d > 0 for d in shape) else None
        if isinstance(layer, keras.layers.Flatten) and getattr(layer, "data_format", "channels_last") == "channels_last":
            try:
                dims = tuple(layer.input.shape[1:])
            except (AttributeError, ValueError):
                return None
            return (int(np.prod(dims)),) if dims and all(isinstance(d, int) for d in dims) else None
        return None

    try:
        for layer in _all_layers(model):
            shape = constant_shape(layer)
            if shape is None:
                continue
            undo.append((layer, layer.__dict__.get("call", _MISSING)))

            def call(inputs: Any, *args: Any, _shape: tuple[int, ...] = shape, **kwargs: Any) -> Any:
                return tf.reshape(inputs, (-1, *_shape))

            _set(layer, "call", call)
        yield len(undo)
    finally:
        for layer, old in reversed(undo):
            if old is _MISSING:
                try:
                    object.__delattr__(layer, "call")
                except AttributeError:
                    pass
            else:
                _set(layer, "call", old)


def _set(layer: Any, attr: str, value: Any) -> None:
    """Sets an attribute without Keras's attribute tracking (functions are not state)."""
    object.__setattr__(layer, attr, value)
