"""The QAT activation layer: one registry activation computed as its int8 graph computes it."""

from __future__ import annotations

from typing import Any

import tensorflow as tf
from tensorflow_model_optimization.quantization.keras import quantizers

from keras_acts.backend import keras, register_serializable
from keras_acts.quantization import formulations
from keras_acts.quantization.activation_weights import ActivationWeights


@register_serializable
class QATActivation(ActivationWeights, keras.layers.Layer):
    """A registry activation for quantization-aware training (tf_keras only).

    :func:`keras_acts.quantization.quantize_model` puts one in place of every keras_acts
    activation layer and after every layer whose ``activation=`` is a registry
    activation. Its call is the activation's QAT formulation
    (:mod:`keras_acts.quantization.formulations`): the exact formula with a fake-quant on
    every intermediate tensor the int8 graph requantizes. The output fake-quant is added
    by tfmot's quantize wrapper from the layer's QuantizeConfig.

    PReLU and hard swish are trained in their LiteRT-CPU forms (``x + (1 - alpha) relu(-x)``
    and ``(x / 6) relu6(x + 3)``, see :mod:`~keras_acts.quantization.formulations`), which
    convert to int8 MUL/ADD ops that XNNPACK takes (a single int8 PRELU or HARD_SWISH splits
    its graph). PReLU's ``1 - alpha`` is fake-quantized per tensor from its min/max, as the
    converter quantizes that constant.

    Args:
        activation: registry name of the activation.
        params: the activation's parameters (e.g. ``{"alpha": 1.0}`` for elu).
        trainable_beta: Swish only: beta is a learned scalar (Swish-β).
        shared_axes: PReLU only: axes along which alpha is shared.
        alpha_initializer: PReLU only: initializer of alpha (default 0.25).
        formulation: formulation version (default the current one; layers saved without it are 1).
    """

    def __init__(
        self,
        activation: str,
        params: dict[str, Any] | None = None,
        trainable_beta: bool = False,
        shared_axes: list[int] | None = None,
        alpha_initializer: Any = None,
        formulation: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._init_activation(activation, params, trainable_beta, shared_axes, alpha_initializer, formulation)
        self.form = formulations.form(self.activation, self.formulation)
        self._points: dict[str, Any] = {}

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        self._build_activation_weights(shape)
        if self.form is not None:
            for name in self.form.moving:
                q = quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)
                self._points[name] = (q, q.build(shape, name, self))
        super().build(input_shape)

    def call(self, inputs: Any, training: Any = None) -> Any:
        if training is None:
            training = keras.backend.learning_phase()

        def point(t: Any, name: str) -> Any:
            q, variables = self._points[name]
            return tf.__internal__.smart_cond.smart_cond(
                training,
                lambda: q(t, True, variables),
                lambda: q(t, False, variables),
            )

        return formulations.qat_activation(
            self.activation, inputs, point, self._call_params(), alpha=self.alpha, version=self.formulation
        )

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._activation_config()}
