"""Quantization-aware training (QAT) for every keras_acts activation.

``quantize_model(model, calibration_data=...)`` returns the QAT model. Both Keras frontends use
keras_acts's own QAT engine by default (:mod:`keras_acts.quantization.engine`; no tfmot needed;
its QAT model computes, in inference, what the int8 kernels compute, integer for integer).
tf_keras models can use tfmot instead with ``engine="tfmot"`` (:mod:`keras_acts.quantization.tfmot`,
optional); ``quantize_scope()`` loads saved QAT models of either engine under tf_keras. Before
quantizing, ``quantize_model`` refuses non-finite weights and constant outputs and checks (and,
by default, re-estimates when stale) the BatchNorm moving statistics against the calibration
data (:mod:`keras_acts.quantization.batchnorm`).

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

Both engines compute every activation with the same formulation
(:func:`keras_acts.quantization.formulations.qat_activation`) and share the activation lookup,
the PReLU/Swish-β weight copy, the calibration batches and :class:`QuantizationError`. The tfmot
classes (QuantizeConfigs, ``QATActivation``) exist only under tf_keras; under Keras 3 asking for
them raises one error pointing to the engine.
"""

from __future__ import annotations

from typing import Any

from keras_acts.quantization.batchnorm import (
    STALE_KL,
    BatchNormDiscrepancy,
    batchnorm_discrepancies,
    reestimate_batchnorm,
)
from keras_acts.quantization.errors import QuantizationError, UnhealthyModelError
from keras_acts.quantization.model import (
    ENGINES,
    BatchNormStatisticsWarning,
    calibrate,
    quantize_model,
    quantize_scope,
)

__all__ = [
    "ENGINES",
    "STALE_KL",
    "BatchNormDiscrepancy",
    "BatchNormStatisticsWarning",
    "OutputQuantizeConfig",
    "PReLUQuantizeConfig",
    "QATActivation",
    "QuantizationError",
    "UnhealthyModelError",
    "batchnorm_discrepancies",
    "calibrate",
    "quantize_model",
    "quantize_scope",
    "reestimate_batchnorm",
]

_LAZY = {
    "OutputQuantizeConfig": "keras_acts.quantization.tfmot.configs",
    "PReLUQuantizeConfig": "keras_acts.quantization.tfmot.configs",
    "QATActivation": "keras_acts.quantization.tfmot.layer",
}


def __getattr__(name: str) -> Any:
    """Loads the tfmot-based classes on first use (tf_keras with tfmot installed only)."""
    if name in _LAZY:
        from keras_acts.backend import FRONTEND

        if FRONTEND == "keras3":
            from keras_acts.quantization.errors import tfmot_unavailable_error

            raise tfmot_unavailable_error()
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'keras_acts.quantization' has no attribute {name!r}")
