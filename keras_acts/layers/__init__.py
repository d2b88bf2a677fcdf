"""Keras layers for every keras_acts activation, and :func:`get` to make one by name."""

from __future__ import annotations

from typing import Any

from keras_acts import registry
from keras_acts.layers.base import Activation, RegistryActivation
from keras_acts.layers.elementwise import (
    ELU,
    GELU,
    Exponential,
    SELU,
    GELUTanh,
    HardMish,
    HardSigmoid,
    HardSwish,
    HardTanh,
    LeakyReLU,
    Mish,
    ReLU,
    ReLU6,
    Sigmoid,
    Softplus,
    Softsign,
    Swish,
    Tanh,
)
from keras_acts.layers.prelu import PReLU

__all__ = [
    "ELU",
    "GELU",
    "SELU",
    "Activation",
    "Exponential",
    "GELUTanh",
    "HardMish",
    "HardSigmoid",
    "HardSwish",
    "HardTanh",
    "LeakyReLU",
    "Mish",
    "PReLU",
    "ReLU",
    "ReLU6",
    "RegistryActivation",
    "Sigmoid",
    "Softplus",
    "Softsign",
    "Swish",
    "Tanh",
    "get",
]


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
    entry = registry.lookup(identifier)
    cls = globals()[entry.layer]
    return cls(**kwargs)
