"""Initializing a QAT model's activation ranges from calibration data (engine models)."""

from __future__ import annotations

from typing import Any

from keras_acts.quantization.batches import model_batches
from keras_acts.quantization.engine.ranges import RangeObserver, observing
from keras_acts.quantization.errors import QuantizationError


def calibrate(qat_model: Any, data: Any, batch_size: int = 128) -> dict[str, int]:
    """Sets every moving-average range of an engine QAT model from calibration data.

    Runs the model eagerly in inference mode with fake quantization off (tensors pass in
    float, as in post-training calibration) and sets each range to ``[min(x, 0), max(x, 0)]``
    over all of ``data`` -- the ranges post-training int8 quantization would use. Weights,
    BatchNorm statistics and fixed ranges are not changed.

    Args:
        qat_model: a model returned by :func:`keras_acts.quantization.quantize_model`.
        data: model inputs: an array (N, ...) or a ``tf.data.Dataset`` of input batches.
        batch_size: batch size for arrays.

    Returns:
        ``{"activation_ranges": n}``: how many ranges were set.

    Raises:
        TypeError: ``data`` is not an array or a Dataset.
        ValueError: ``data`` is empty.
        QuantizationError: ``data`` is not numeric, misshaped or not finite.
    """
    obs = RangeObserver()
    with observing(obs):
        for batch in model_batches(qat_model, data, batch_size):
            qat_model(batch, training=False)
    if not obs.ranges:
        raise QuantizationError("calibration_data produced no batch; pass a non-empty array or Dataset of model inputs.")
    return {"activation_ranges": obs.assign()}
