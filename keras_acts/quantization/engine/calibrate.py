"""Initializing a QAT model's activation ranges from calibration data (engine models)."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from keras_acts.quantization.batches import input_batches
from keras_acts.quantization.engine.ranges import RangeObserver, observing
from keras_acts.quantization.engine.rewrite import QuantizationError


def _check(batch: Any, shape: tuple) -> Any:
    dtype = getattr(batch, "dtype", None)
    if dtype is None or not (np.issubdtype(np.dtype(getattr(dtype, "as_numpy_dtype", dtype)), np.number)):
        raise QuantizationError(
            f"calibration_data must be numeric model inputs, got dtype {dtype}; convert it, e.g. x.astype('float32')."
        )
    x = np.asarray(batch, dtype=np.float32)
    want = tuple(shape[1:])
    if x.ndim != len(shape) or any(w is not None and w != g for w, g in zip(want, x.shape[1:])):
        raise QuantizationError(
            f"calibration_data batches have shape {x.shape}, but the model takes inputs of shape "
            f"(batch, {', '.join(str(d) for d in want)}); pass inputs shaped like the training inputs."
        )
    if not np.all(np.isfinite(x)):
        raise QuantizationError("calibration_data contains NaN or inf; pass finite inputs scaled like the training inputs.")
    return tf.convert_to_tensor(x)


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
    shape = tuple(qat_model.inputs[0].shape)
    obs = RangeObserver()
    with observing(obs):
        for batch in input_batches(data, batch_size):
            qat_model(_check(batch, shape), training=False)
    if not obs.ranges:
        raise QuantizationError("calibration_data produced no batch; pass a non-empty array or Dataset of model inputs.")
    return {"activation_ranges": obs.assign()}
