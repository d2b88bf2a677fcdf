"""Quantization-aware training (QAT) for every keras_acts activation.

``quantize_model(model)`` returns the QAT model: Keras 3 models through keras_acts's own
QAT engine (:mod:`keras_acts.quantization.engine`, no tfmot or tf_keras needed; saved models
load without a scope), tf_keras models through tfmot by default or through the same engine
with ``engine="keras_acts"`` (``quantize_scope()`` loads saved ones). The engine's QAT model
computes, in inference, what the int8 kernels compute, integer for integer.

Design (why QAT models convert to clean int8): a QAT model converts using only the
ranges of its FakeQuant ops. An activation whose int8 graph is one op with a free
output scale (relu, relu6, leaky_relu, hard_tanh, hard_swish, gelu, gelu_tanh) needs
only an output fake-quant. Activations that become chains of int8 ops (elu, selu,
softplus, mish, hard_mish, hard_sigmoid, swish with beta) need a fake-quant on every
intermediate tensor, or the converter leaves float islands. Each such activation is
computed by :class:`QATActivation` in a *QAT formulation*
(:mod:`keras_acts.quantization.formulations`): its exact formula in the order of the
int8 ops, with fixed fake-quant ranges where the math bounds a tensor
(``exp(min(x, 0))`` in [0, 1]; LOGISTIC/TANH fixed output scales) and moving-average
ranges elsewhere. Training therefore rounds where the int8 kernels round, and the
converted model agrees with the QAT model to within 2 output LSB. PReLU's alpha is
fake-quantized as the converter quantizes the constant, and left raw during export so
that the converter fuses a single int8 PRELU.

The layer traces the same formulation while an exporter traces the model under
:func:`keras_acts.lowering.lowering_target`, so QAT exports of chain activations use the
QAT formulation rather than the post-training int8 lowering (which needs calibration
data for its intermediates); single-op activations use the registry's lowering.

Both paths compute every activation with the same formulation
(:func:`keras_acts.quantization.formulations.qat_activation`). The tfmot classes
(QuantizeConfigs, ``QATActivation``) exist only under tf_keras; under Keras 3 asking for them
raises one error pointing to the engine.
"""

from __future__ import annotations

from typing import Any

from keras_acts.quantization.model import QuantizationError, quantize_model, quantize_scope

__all__ = [
    "OutputQuantizeConfig",
    "PReLUQuantizeConfig",
    "QATActivation",
    "QuantizationError",
    "calibrate",
    "quantize_model",
    "quantize_scope",
]

_LAZY = {
    "OutputQuantizeConfig": "keras_acts.quantization.configs",
    "PReLUQuantizeConfig": "keras_acts.quantization.configs",
    "QATActivation": "keras_acts.quantization.layer",
    "calibrate": "keras_acts.quantization.calibration",
}


def __getattr__(name: str) -> Any:
    """Loads the tfmot-based classes on first use (tf_keras only; ``calibrate`` in both)."""
    if name in _LAZY:
        from keras_acts.backend import FRONTEND

        if FRONTEND == "keras3" and name == "calibrate":
            from keras_acts.quantization.engine import calibrate

            return calibrate
        if FRONTEND == "keras3":
            from keras_acts.quantization.model import keras3_error

            raise keras3_error()
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_acts.quantization' has no attribute {name!r}")
