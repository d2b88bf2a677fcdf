"""The top-level functions: get, serialize, deserialize."""

from __future__ import annotations

from typing import Any, Callable

from keras_acts import registry


def get(identifier: Any) -> Callable[..., Any]:
    """Returns an activation function.

    Args:
        identifier: a registry name or alias (case-insensitive), a callable (returned
            as is), or a config produced by :func:`serialize` or by Keras.

    Returns:
        The activation function.

    Raises:
        ValueError: unknown name (with the closest names), or a learnable activation
            that exists only as a layer (``prelu``).
        TypeError: an identifier of another type.
    """
    if isinstance(identifier, str):
        entry = registry.lookup(identifier)
        if entry.learnable:
            raise ValueError(
                f"{entry.name!r} has learnable weights and exists only as a layer: use "
                f"keras_acts.layers.{entry.layer}(...) (or keras_acts.layers.get({entry.name!r}))."
            )
        return entry.fn
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Cannot interpret {identifier!r} ({type(identifier).__name__}) as an activation: pass a name "
        "such as 'hard_swish', a function, or a config from keras_acts.serialize()."
    )


def serialize(fn: Callable[..., Any]) -> dict[str, Any]:
    """Returns a JSON-serializable config of a keras_acts activation function.

    Raises:
        ValueError: ``fn`` is not a keras_acts activation.
    """
    entry = registry.find_by_function(fn)
    if entry is None:
        raise ValueError(
            f"{fn!r} is not a keras_acts activation; serialize Keras built-ins with keras.activations.serialize."
        )
    params = dict(getattr(fn, "keywords", None) or {})
    config = {"module": "keras_acts", "class_name": "function", "config": entry.name, "params": params}
    if not entry.builtin_package:
        config["registered_by"] = entry.origin  # names the module to import when it is not registered
    return config


def deserialize(config: Any) -> Callable[..., Any]:
    """Inverse of :func:`serialize`; also accepts a bare name or a Keras function config.

    Raises:
        ValueError: the config names no registry activation.
    """
    if isinstance(config, str):
        return get(config)
    if not isinstance(config, dict) or "config" not in config:
        raise ValueError(
            f"Cannot deserialize {config!r}: expected a name or a dict with a 'config' key "
            "(as produced by keras_acts.serialize)."
        )
    name = config["config"]
    if isinstance(name, str) and name.startswith("keras_acts>"):
        name = name.split(">", 1)[1]
    if config.get("registered_by") is not None:
        from keras_acts.registration import _lookup_saved

        _lookup_saved(name, config["registered_by"])  # the missing-registration error, naming the module
    fn = get(name)
    params = config.get("params") or {}
    if params:
        import functools

        entry = registry.lookup(name)
        return functools.partial(fn, **entry.check_params(params))
    return fn
