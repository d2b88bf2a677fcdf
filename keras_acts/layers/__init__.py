"""Keras layers for every keras_acts activation, and :func:`get` to make one by name.

The layer classes are derived from the registry: each activation without weights has a
layer generated from its entry (class name ``entry.layer``, e.g. ``HardSwish``), the learnable
ones are hand-written (:class:`PReLU`, :class:`Swish` with a trainable beta) and named by their
entry. ``keras_acts.layers.<LayerName>`` also finds the layers of user-registered activations.
"""

from __future__ import annotations

from typing import Any

from keras_acts import registry
from keras_acts.layers.base import Activation, RegistryActivation
from keras_acts.layers.prelu import PReLU
from keras_acts.layers.swish import Swish


def _package_layers() -> dict[str, type]:
    """The package's own layer classes by name, from the registry."""
    return {e.layer: registry.layer_class(e.name) for e in registry.entries() if e.builtin_package}


globals().update(_package_layers())

__all__ = sorted(["Activation", "RegistryActivation", "get", *_package_layers()])


def __getattr__(name: str) -> Any:
    entry = registry.entry_for_layer_name(name)
    if entry is not None:
        return registry.layer_class(entry.name)
    raise AttributeError(f"module 'keras_acts.layers' has no attribute {name!r}")


def get(identifier: str, /, **kwargs: Any) -> Any:
    """Returns a new layer for a registry name or alias (``"prelu"`` included).

    Args:
        identifier: canonical name or alias, case-insensitive (``"hard_swish"``, ``"silu"``).
            Positional-only, so that the layer's own ``name=`` can be passed in ``kwargs``.
        **kwargs: the layer's arguments (activation parameters and layer arguments,
            e.g. ``name="act1"``).

    Raises:
        ValueError: unknown name (the message suggests close names).
    """
    return registry.layer_class(identifier)(**kwargs)
