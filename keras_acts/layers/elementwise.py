"""One thin layer per registry activation without weights (except Swish's optional beta).

Each layer calls the pure function of the same activation in :mod:`keras_acts.activations`;
see there for the formulas and papers.
"""

from __future__ import annotations

from typing import Any

from keras_acts.activations import swish
from keras_acts.backend import keras, register_serializable
from keras_acts.layers.base import RegistryActivation


def _layer(activation_name: str, doc: str) -> type:
    """Declares a parameterless activation layer class."""
    cls = type(
        "_",
        (RegistryActivation,),
        {"activation_name": activation_name, "__doc__": doc, "__module__": __name__},
    )
    return cls


def _named(cls: type, name: str) -> type:
    cls.__name__ = name
    cls.__qualname__ = name
    return register_serializable(cls)


ReLU = _named(_layer("relu", "Applies ``max(x, 0)``."), "ReLU")
ReLU6 = _named(_layer("relu6", "Applies ``min(max(x, 0), 6)``."), "ReLU6")
HardTanh = _named(_layer("hard_tanh", "Applies ``clip(x, -1, 1)``."), "HardTanh")
Sigmoid = _named(_layer("sigmoid", "Applies ``1 / (1 + exp(-x))``."), "Sigmoid")
Tanh = _named(_layer("tanh", "Applies ``tanh(x)``."), "Tanh")
Softplus = _named(_layer("softplus", "Applies ``log(1 + exp(x))`` (stable)."), "Softplus")
Softsign = _named(_layer("softsign", "Applies ``x / (1 + |x|)``."), "Softsign")
Exponential = _named(_layer("exponential", "Applies ``exp(x)``."), "Exponential")
SELU = _named(_layer("selu", "Applies SELU (Klambauer et al., 2017)."), "SELU")
HardSigmoid = _named(
    _layer("hard_sigmoid", "Applies ``relu6(x + 3) / 6`` (MobileNetV3, not tf_keras's 0.2x + 0.5)."),
    "HardSigmoid",
)
HardSwish = _named(_layer("hard_swish", "Applies ``x * relu6(x + 3) / 6`` (MobileNetV3)."), "HardSwish")
Mish = _named(_layer("mish", "Applies ``x * tanh(softplus(x))`` (Misra, 2019)."), "Mish")
HardMish = _named(_layer("hard_mish", "Applies ``0.5 * x * clip(x + 2, 0, 2)``."), "HardMish")
GELUTanh = _named(_layer("gelu_tanh", "Applies GELU's tanh approximation."), "GELUTanh")


@register_serializable
class LeakyReLU(RegistryActivation):
    """Leaky ReLU: ``x`` if ``x >= 0`` else ``negative_slope * x``.

    Args:
        negative_slope: slope for negative inputs, >= 0. Default 0.01 (Maas et al., 2013),
            unlike Keras's LeakyReLU layer (0.3 in tf_keras, 0.2 in Keras 3).
    """

    activation_name = "leaky_relu"

    def __init__(self, negative_slope: float = 0.01, **kwargs: Any) -> None:
        super().__init__(negative_slope=negative_slope, **kwargs)


@register_serializable
class ELU(RegistryActivation):
    """ELU: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)`` (Clevert et al., 2016).

    Args:
        alpha: the negative saturation value is ``-alpha``; must be >= 0.
    """

    activation_name = "elu"

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(alpha=alpha, **kwargs)


@register_serializable
class GELU(RegistryActivation):
    """GELU: ``0.5 x (1 + erf(x / sqrt(2)))`` (Hendrycks & Gimpel, 2016).

    Args:
        approximate: use the tanh approximation instead of erf.
    """

    activation_name = "gelu"

    def __init__(self, approximate: bool = False, **kwargs: Any) -> None:
        super().__init__(approximate=approximate, **kwargs)


@register_serializable
class Swish(RegistryActivation):
    """Swish: ``x * sigmoid(beta * x)``; SiLU when ``beta = 1``.

    With ``trainable_beta=True`` beta is a learned scalar weight (Swish-β of
    Ramachandran et al., 2017, arXiv:1710.05941), initialized to ``beta``.

    Args:
        beta: gate sharpness (initial value when trainable).
        trainable_beta: learn beta during training.
    """

    activation_name = "swish"

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

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "trainable_beta": self.trainable_beta}
