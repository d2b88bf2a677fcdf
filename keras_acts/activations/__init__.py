"""The activation functions of keras_acts, one family per module.

Importing this package registers every entry in :mod:`keras_acts.registry`.
"""

from keras_acts.activations.exponential import elu, exponential, selu, softplus
from keras_acts.activations.gated import gelu, gelu_tanh, hard_mish, hard_swish, mish, swish
from keras_acts.activations.rectifiers import hard_tanh, leaky_relu, prelu, relu, relu6
from keras_acts.activations.sigmoidal import hard_sigmoid, sigmoid, softsign, tanh

__all__ = [
    "elu",
    "exponential",
    "gelu",
    "gelu_tanh",
    "hard_mish",
    "hard_sigmoid",
    "hard_swish",
    "hard_tanh",
    "leaky_relu",
    "mish",
    "prelu",
    "relu",
    "relu6",
    "selu",
    "sigmoid",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]
