"""The Swish layer, hand-written because its beta can be a trainable weight (Swish-β)."""

from __future__ import annotations

from typing import Any

from keras_acts.activations import swish
from keras_acts.backend import keras
from keras_acts.registration import RegistryActivation, activation_layer


@activation_layer("swish")
class Swish(RegistryActivation):
    """Swish: ``x * sigmoid(beta * x)``; SiLU when ``beta = 1``.

    With ``trainable_beta=True`` beta is a learned scalar weight (Swish-β of
    Ramachandran et al., 2017, arXiv:1710.05941), initialized to ``beta``.

    Args:
        beta: gate sharpness (initial value when trainable).
        trainable_beta: learn beta during training.
    """

    def __init__(self, beta: float = 1.0, trainable_beta: bool = False, **kwargs: Any) -> None:
        super().__init__(beta=beta, **kwargs)
        if not isinstance(trainable_beta, bool):
            raise TypeError(f"Swish: `trainable_beta` must be True or False, got {trainable_beta!r}.")
        self.trainable_beta = trainable_beta
        self.beta_weight = None

    def build(self, input_shape: Any) -> None:
        if self.trainable_beta:
            self.beta_weight = self.add_weight(
                name="beta",
                shape=(),
                initializer=keras.initializers.Constant(self.beta),
                trainable=True,
            )
        super().build(input_shape)

    def call(self, inputs: Any) -> Any:
        beta = self.beta_weight if self.trainable_beta else self.beta
        return swish(inputs, beta=beta)

    @property
    def activation_kwargs(self) -> dict[str, Any]:
        """The arguments (besides the standard layer ones) that rebuild this layer."""
        return {**self.activation_params, "trainable_beta": self.trainable_beta}

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "trainable_beta": self.trainable_beta}
