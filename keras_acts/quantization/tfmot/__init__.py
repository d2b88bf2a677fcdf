"""The tfmot QAT path (``quantize_model(model, engine="tfmot")``; tf_keras only, optional).

tensorflow-model-optimization (tfmot) quantizes tf_keras models with its own wrappers; keras_acts
adds what tfmot lacks: a :class:`~keras_acts.quantization.tfmot.layer.QATActivation` with a
QuantizeConfig per registry QAT scheme (:mod:`.configs`) for every keras_acts activation,
Rescaling/Normalization as a 1x1 DepthwiseConv2D and an output config for Multiply
(:mod:`.coverage`), calibration of tfmot's quantizer ranges (:mod:`.calibration`) and the loading
fixes for tfmot's layers in ``.keras`` files (:mod:`.saving`).

Everything both QAT paths need -- which registry activation a layer computes, copying PReLU alpha
and Swish-β beta, the calibration batches and their checks, :class:`QuantizationError`, and the
model checks of :func:`keras_acts.quantization.quantize_model` -- lives once, in
:mod:`keras_acts.quantization` and its engine; this package holds only what is tfmot-specific.
Importing it imports tfmot (``pip install tensorflow-model-optimization tf_keras``).

Since the keras_acts engine became the default in both frontends, this path is used only when asked
for (``engine="tfmot"``) and to load QAT models saved with it (inside
:func:`keras_acts.quantization.quantize_scope`).
"""

from __future__ import annotations

from keras_acts.quantization.tfmot.path import activation_entry, custom_objects, quantize, scope

__all__ = ["activation_entry", "custom_objects", "quantize", "scope"]
