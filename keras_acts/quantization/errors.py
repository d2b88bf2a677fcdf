"""The errors of keras_acts.quantization, shared by the QAT engine and the tfmot path."""

from __future__ import annotations

from keras_acts.health import ModelHealthError


class QuantizationError(ValueError):
    """A model keras_acts.quantization cannot make quantization-aware (the message names the fix)."""


class UnhealthyModelError(QuantizationError, ModelHealthError):
    """A model ``quantize_model`` refuses because its quantized copy would be broken.

    Non-finite weights, or an output that is the same for every calibration sample. It is both a
    :class:`QuantizationError` and a :class:`keras_acts.health.ModelHealthError`, so either
    ``except`` catches it.
    """


def tfmot_unavailable_error() -> QuantizationError:
    """The error for tfmot-only objects (``engine="tfmot"``, QuantizeConfigs) asked for under Keras 3."""
    return QuantizationError(
        "tfmot QuantizeConfigs, the tfmot QATActivation and engine='tfmot' exist only for tf_keras (Keras 2) "
        "models: tensorflow-model-optimization does not run on Keras 3. For a Keras 3 model call "
        "keras_acts.quantization.quantize_model(model) -- its default engine, keras_acts's own QAT engine "
        "(keras_acts.quantization.engine), needs no tfmot -- or set TF_USE_LEGACY_KERAS=1 before importing "
        "TensorFlow to use tfmot."
    )
