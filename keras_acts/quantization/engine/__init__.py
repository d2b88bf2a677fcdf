"""keras_acts's own QAT engine: int8 quantization-aware training without tfmot or tf_keras.

:func:`quantize` turns a Keras 3 Sequential/functional model into a QAT model whose layers
(:mod:`.layers`) fake-quantize as the TFLite int8 kernels compute: per-channel symmetric
int8 weights (BatchNorm folded as the converter folds it), per-tensor asymmetric int8
activations with moving-average ranges, and every registry activation in its shared QAT
formulation. :func:`keras_acts.export.to_tflite` converts the result to int8 from its
ranges alone. :func:`keras_acts.quantization.quantize_model` dispatches here for Keras 3.

In inference (``predict``, ``evaluate``, ``model(x)``) the QAT model computes what the int8
model will compute on LiteRT's default CPU runtime (XNNPACK), integer for integer
(:mod:`.integer`): its accuracy *is* the deployed model's. Training uses float fake
quantization with straight-through gradients. To trace a QAT model for conversion yourself
(instead of :func:`keras_acts.export.to_tflite`), trace it inside :func:`exporting`.
"""

from __future__ import annotations

from typing import Any

from keras_acts.quantization.engine.calibrate import calibrate
from keras_acts.quantization.engine.integer import exporting
from keras_acts.quantization.engine.layers import QAT_LAYERS, FakeQuant, QuantizedActivation, QuantizedOutput, QuantizedWeights
from keras_acts.quantization.engine.rewrite import rewrite
from keras_acts.quantization.errors import QuantizationError

__all__ = [
    "FakeQuant",
    "QAT_LAYERS",
    "QuantizationError",
    "QuantizedActivation",
    "QuantizedOutput",
    "QuantizedWeights",
    "calibrate",
    "adopted",
    "exporting",
    "is_qat_model",
    "quantize",
]


def quantize(model: Any, calibration_data: Any = None) -> Any:
    """The QAT model of a Keras Sequential/functional model (see the package docstring).

    Multi-layer activation patterns (``keras.applications`` MobileNetV3's hard-sigmoid and
    hard-swish, ``x * sigmoid(x)``) are first adopted as registry layers (:func:`keras_acts.adopt`).

    Args:
        model: a built Sequential or functional model (TensorFlow backend).
        calibration_data: optional model inputs (array (N, ...) or ``tf.data.Dataset``)
            that initialize every activation range; without it each range starts from
            the first training batch it sees.

    Returns:
        The QAT model; compile and fit it as usual.

    Raises:
        QuantizationError: a subclassed model, layers with no int8 scheme (all named),
            or bad calibration data (the message names the fix).
    """
    qat = rewrite(adopted(model))
    if calibration_data is not None:
        calibrate(qat, calibration_data)
    return qat


def adopted(model: Any) -> Any:
    """``model`` with hard-sigmoid / hard-swish / swish subgraphs as registry layers
    (:func:`keras_acts.adopt`), so they train in their registry QAT formulation; the model
    itself when there is nothing to adopt or its config cannot be rebuilt (the engine then
    quantizes those ops one by one)."""
    from keras_acts.adopt import AdoptError, adopt

    try:
        return adopt(model, builtins=False).model
    except AdoptError:
        return model


def is_qat_model(model: Any) -> bool:
    """True when ``model`` contains layers of this engine."""
    try:
        layers = list(model._flatten_layers(include_self=False, recursive=True))
    except (AttributeError, TypeError):
        layers = list(getattr(model, "layers", []))
    return any(isinstance(layer, QAT_LAYERS) for layer in layers)
