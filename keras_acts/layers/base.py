"""The base of the elementwise activation layers: a thin layer over a pure function."""

from __future__ import annotations

from typing import Any

from keras_acts import registry
from keras_acts.backend import keras, register_serializable


class RegistryActivation(keras.layers.Layer):
    """Applies the registry activation named by the class attribute ``activation_name``.

    Subclasses only declare their parameters in ``__init__``; ``call`` is the pure
    function from the registry, the configuration holds every parameter, masks pass
    through and the output shape is the input shape.
    """

    activation_name: str = ""

    def __init__(self, **kwargs: Any) -> None:
        entry = registry.lookup(self.activation_name)
        names = [p.name for p in entry.params]
        given = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        super().__init__(**kwargs)
        params = entry.check_params({**entry.defaults(), **given})
        self._param_names = tuple(names)
        for name in names:
            setattr(self, name, params[name])
        self.supports_masking = True

    @property
    def activation_params(self) -> dict[str, Any]:
        """The activation's parameters as passed to the function."""
        return {n: getattr(self, n) for n in self._param_names}

    def call(self, inputs: Any) -> Any:
        return registry.lookup(self.activation_name).fn(inputs, **self.activation_params)

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        return mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self.activation_params}


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
        super().__init__(**kwargs)
        from keras_acts.api import get

        fn = get(activation)
        entry = registry.find_by_function(fn)
        if entry is None:  # pragma: no cover - get() only returns registry functions
            raise ValueError(f"{activation!r} is not a keras_acts activation.")
        self._entry_name = entry.name
        self.activation_params = entry.check_params(dict(params or {}))
        self.supports_masking = True

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
        return {**super().get_config(), "activation": self._entry_name, "params": dict(self.activation_params)}


Activation = register_serializable(Activation)
