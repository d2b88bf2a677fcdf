"""Exponential-family activations: elu, selu and softplus."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from keras_acts.activations._common import SELU_ALPHA, SELU_SCALE, np_softplus, param_as
from keras_acts.lowering import activation_function
from keras_acts.registry import Activation, Builtin, EdgeTPU, Param, register


@activation_function("elu")
def elu(x: Any, alpha: float = 1.0) -> Any:
    """Exponential linear unit: ``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``.

    The negative branch is evaluated on ``min(x, 0)`` so that neither the value nor
    the gradient overflows for large positive inputs.

    Reference: Clevert et al., 2016, "Fast and Accurate Deep Network Learning by
    Exponential Linear Units (ELUs)" (arXiv:1511.07289).
    """
    if isinstance(alpha, float) and alpha == 1.0 and x.dtype != tf.float64:
        return tf.nn.elu(x)  # one ELU op in TFLite; its kernel uses exp(x) - 1
    negative = param_as(alpha, x.dtype) * tf.math.expm1(tf.minimum(x, tf.zeros_like(x)))
    return tf.where(x > 0, x, negative)


@activation_function("selu")
def selu(x: Any) -> Any:
    """Scaled ELU: ``scale * (x if x > 0 else alpha * (exp(x) - 1))``.

    ``alpha = 1.6732632423543772``, ``scale = 1.0507009873554805``, the fixed point
    that makes activations self-normalizing under LeCun-normal initialization.

    Reference: Klambauer et al., 2017, "Self-Normalizing Neural Networks"
    (arXiv:1706.02515).
    """
    alpha = tf.constant(SELU_ALPHA, x.dtype)
    scale = tf.constant(SELU_SCALE, x.dtype)
    negative = alpha * tf.math.expm1(tf.minimum(x, tf.zeros_like(x)))
    return scale * tf.where(x > 0, x, negative)


@activation_function("softplus")
def softplus(x: Any) -> Any:
    """Softplus: ``log(1 + exp(x))``, evaluated stably for large ``|x|``.

    Reference: Dugas et al., 2001, "Incorporating Second-Order Functional Knowledge
    for Better Option Pricing"; Glorot et al., 2011.
    """
    return tf.math.softplus(x)


def _np_elu(x, alpha=1.0):
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


register(
    Activation(
        name="elu",
        fn=elu,
        reference=_np_elu,
        formula="x if x > 0 else alpha * (exp(x) - 1)",
        paper="Clevert et al. 2016 (arXiv:1511.07289)",
        params=(Param("alpha", 1.0, "saturation value -alpha for x -> -inf", minimum=0.0),),
        layer="ELU",
        kinks=(0.0,),
        output_range=(-1.0, None),
        builtins={"keras3": Builtin("elu", True), "tf_keras": Builtin("elu", True)},
        qat="output",
        edgetpu=EdgeTPU(
            "unsupported", "ELU/EXP are not Edge TPU ops; use leaky_relu or prelu (PRELU) or hard_swish instead"
        ),
    )
)

register(
    Activation(
        name="selu",
        fn=selu,
        reference=lambda x: SELU_SCALE * _np_elu(x, SELU_ALPHA),
        formula="scale * (x if x > 0 else alpha * (exp(x) - 1)), alpha=1.6733, scale=1.0507",
        paper="Klambauer et al. 2017 (arXiv:1706.02515)",
        layer="SELU",
        kinks=(0.0,),
        output_range=(-SELU_SCALE * SELU_ALPHA, None),
        builtins={"keras3": Builtin("selu", True), "tf_keras": Builtin("selu", True)},
        edgetpu=EdgeTPU(
            "unsupported", "EXP is not an Edge TPU op; use leaky_relu, prelu or hard_swish (with BatchNormalization)"
        ),
    )
)

register(
    Activation(
        name="softplus",
        fn=softplus,
        reference=np_softplus,
        formula="log(1 + exp(x))",
        paper="Dugas et al. 2001; Glorot et al. 2011",
        layer="Softplus",
        output_range=(0.0, None),
        builtins={"keras3": Builtin("softplus", True), "tf_keras": Builtin("softplus", True)},
        edgetpu=EdgeTPU("unsupported", "EXP/LOG are not Edge TPU ops; use relu or relu6 instead"),
    )
)
