"""What both QAT activation layers share: the registry activation, its parameters and its
learnable weights (PReLU alpha, Swish-β beta), their creation and their config.

Used by the tfmot path's :class:`~keras_acts.quantization.tfmot.layer.QATActivation` and the QAT
engine's :class:`~keras_acts.quantization.engine.layers.QuantizedActivation`.
"""

from __future__ import annotations

from typing import Any

from keras_acts import registry
from keras_acts.backend import keras


class ActivationWeights:
    """Mixin for a Keras layer computing one registry activation in QAT."""

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Any:
        """Layers saved before formulations were versioned keep formulation 1."""
        config = dict(config)
        config.setdefault("formulation", 1)
        return super().from_config(config)

    def _init_activation(
        self,
        activation: str,
        params: Any,
        trainable_beta: bool,
        shared_axes: Any,
        alpha_initializer: Any,
        formulation: int | None = None,
    ) -> None:
        if callable(activation):
            # tf_keras's legacy (.h5) loader turns any config string naming a registered custom
            # object into that object: "hard_swish" comes back as keras_acts's hard_swish function.
            found = registry.find_by_function(activation)
            if found is None:
                raise TypeError(
                    f"activation must be a keras_acts registry name (keras_acts.list_activations()), got "
                    f"{getattr(activation, '__name__', activation)!r}."
                )
            activation = found.name
        from keras_acts.quantization import formulations

        entry = registry.lookup(activation)
        self.activation = entry.name
        self.formulation = int(formulation) if formulation is not None else formulations.FORMULATION
        self.params = entry.check_params(dict(params or {}))
        self.trainable_beta = bool(trainable_beta)
        self.shared_axes = sorted(shared_axes) if shared_axes else None
        self.alpha_initializer = keras.initializers.get(
            alpha_initializer if alpha_initializer is not None else keras.initializers.Constant(0.25)
        )
        self.alpha = None
        self.beta = None

    def _build_activation_weights(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        if self.activation == "prelu":
            axes = set(self.shared_axes or ())
            param_shape = tuple(1 if i in axes else shape[i] for i in range(1, len(shape)))
            self.alpha = self.add_weight(name="alpha", shape=param_shape, initializer=self.alpha_initializer)
        if self.activation == "swish" and self.trainable_beta:
            beta0 = float(self.params.get("beta", 1.0))
            self.beta = self.add_weight(name="beta", shape=(), initializer=keras.initializers.Constant(beta0))

    def _call_params(self) -> dict[str, Any]:
        """The parameters for the formulation, with the learned beta of a Swish-β."""
        params = dict(self.params)
        if self.activation == "swish" and self.trainable_beta:
            params["beta"] = self.beta
        return params

    def _activation_config(self) -> dict[str, Any]:
        return {
            "activation": self.activation,
            "params": dict(self.params),
            "trainable_beta": self.trainable_beta,
            "shared_axes": self.shared_axes,
            "alpha_initializer": keras.initializers.serialize(self.alpha_initializer),
            "formulation": self.formulation,
        }
