"""The generic activation layer (any registry activation by name) and the base of the generated ones."""

from __future__ import annotations

from typing import Any

from keras_acts import registry
from keras_acts.backend import keras, register_serializable
from keras_acts.registration import RegistryActivation

__all__ = ["Activation", "RegistryActivation"]


class Activation(keras.layers.Layer):
    """Applies any registry activation, given by name, alias or function, with parameters.

    Args:
        activation: a registry name or alias (``"hard_swish"``), or a keras_acts
            activation function.
        params: keyword parameters of the activation (e.g. ``{"negative_slope": 0.1}``).
        **kwargs: standard layer arguments (``name``, ``dtype``, ...).

    Example:
        >>> layer = keras_acts.layers.Activation("leaky_relu", params={"negative_slope": 0.1})
    """

    def __init__(self, activation: Any, params: dict[str, Any] | None = None, **kwargs: Any) -> None:
        registered_by = kwargs.pop("registered_by", None)  # written for user activations (saved configs)
        super().__init__(**kwargs)
        from keras_acts.api import get

        if registered_by is not None and isinstance(activation, str):
            from keras_acts.registration import _lookup_saved

            _lookup_saved(activation, registered_by)  # the missing-registration error, naming the module
        fn = get(activation)
        entry = registry.find_by_function(fn)
        if entry is None:  # pragma: no cover - get() only returns registry functions
            raise ValueError(f"{activation!r} is not a keras_acts activation.")
        self._entry_name = entry.name
        self.activation_params = entry.check_params(dict(params or {}))
        self.supports_masking = True

    @property
    def activation_name(self) -> str:
        """The registry name of the activation applied."""
        return self._entry_name

    @property
    def activation_kwargs(self) -> dict[str, Any]:
        """The arguments that rebuild this activation as its registry layer."""
        return dict(self.activation_params)

    @property
    def activation(self) -> Any:
        """The activation function applied."""
        return registry.lookup(self._entry_name).fn

    def call(self, inputs: Any) -> Any:
        return self.activation(inputs, **self.activation_params)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask

    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "activation": self._entry_name, "params": dict(self.activation_params)}
        entry = registry.lookup(self._entry_name)
        if not entry.builtin_package:
            config["registered_by"] = entry.origin
        return config


Activation = register_serializable(Activation)
